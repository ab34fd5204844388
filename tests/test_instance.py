"""NTPInstance: validation messages, degenerate-but-valid data, immutability, equality, pickling,
repr, ``from_counts``; and the rejection of a bad ``W`` by every function that takes one."""

from __future__ import annotations

import copy
import math
import pickle
import re

import numpy as np
import pytest

from ntpprops import (
    InvalidInstanceError,
    NTPInstance,
    ce_f_loss,
    ce_grad,
    ce_loss,
    excess_loss,
    is_compatible,
    logits,
    project_f,
    project_f_perp,
    w_star,
)
from ntpprops._instance import PROB_SUM_TOL
from ntpprops._subspace import kernel

H2 = [[1.0, 0.0], [0.0, 1.0]]
P2 = [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]


def random_instance(seed: int, m: int = 4, V: int = 5, d: int = 3) -> NTPInstance:
    rng = np.random.default_rng(seed)
    P = rng.random((m, V)) * (rng.random((m, V)) < 0.6)
    P[np.arange(m), rng.integers(V, size=m)] += 0.5  # every row has some mass
    return NTPInstance(
        rng.standard_normal((m, d)), P / P.sum(axis=1, keepdims=True), rng.random(m) + 0.1
    )


# -- validation of the constructor ---------------------------------------------------------

NAN, INF = float("nan"), float("inf")

BAD_INSTANCES = {
    # id: (embeddings, probs, context_weights, pattern the message must contain)
    "embeddings-1d": ([1.0, 2.0], P2, None, r"embeddings must be 2-dimensional, got ndim=1"),
    "probs-3d": (H2, [P2], None, r"probs must be 2-dimensional, got ndim=3"),
    "rows-mismatch": ([[1.0, 0.0]] * 3, P2, None, r"embeddings has 3 rows but probs has 2"),
    "nan-embedding": ([[1.0, NAN], [0.0, 1.0]], P2, None, r"embeddings contains a non-finite"),
    "inf-embedding": ([[1.0, 0.0], [-INF, 1.0]], P2, None, r"embeddings contains a non-finite"),
    "nan-prob": (H2, [[0.5, NAN, 0.5], P2[1]], None, r"probs contains a non-finite .* \(0, 1\)"),
    "inf-prob": (H2, [[INF, 0.0, 0.0], P2[1]], None, r"probs contains a non-finite"),
    "negative-prob": (H2, [[0.6, 0.6, -0.2], P2[1]], None, r"non-negative; probs\[0, 2\] = -0\.2$"),
    "row-sum": (
        H2,
        [P2[0], [0.2, 0.3, 0.4]],
        None,
        r"rows must sum to 1 \(tolerance 1e-09\); row 1",
    ),
    "nan-weight": (H2, P2, [1.0, NAN], r"context_weights contains a non-finite"),
    "inf-weight": (H2, P2, [INF, 1.0], r"context_weights contains a non-finite"),
    "zero-weight": (H2, P2, [1.0, 0.0], r"must be positive; context_weights\[1\] = 0\.0"),
    "negative-weight": (H2, P2, [-1.0, 2.0], r"context_weights must be positive"),
    "weights-shape": (H2, P2, [1.0, 1.0, 1.0], r"context_weights must have shape \(2,\)"),
    "m-zero": (np.zeros((0, 2)), np.zeros((0, 3)), None, r"at least one context \(m = 0"),
    "vocab-one": (H2, [[1.0], [1.0]], None, r"V >= 2 tokens, got V=1"),
    "dim-zero": (np.zeros((2, 0)), P2, None, r"dimension d >= 1 \(d = 0"),
    "complex-embedding": (np.array(H2) + 1j, P2, None, r"embeddings must be a real numeric array"),
    "text-probs": (H2, [["0.5", "0.5", "0"], ["1", "0", "0"]], None, r"probs must be a real"),
    "ragged-probs": (H2, [[0.5, 0.5], [1.0]], None, r"probs must be a real numeric array"),
}


@pytest.mark.parametrize(("H", "P", "pi", "pattern"), BAD_INSTANCES.values(), ids=BAD_INSTANCES)
def test_invalid_instance_is_rejected_with_a_message_naming_the_problem(H, P, pi, pattern):
    with pytest.raises(InvalidInstanceError, match=pattern):
        NTPInstance(H, P, pi)


def test_invalid_instance_error_is_a_value_error():
    # Callers that catch ValueError (numpy habits) still catch bad data.
    with pytest.raises(ValueError, match="probs"):
        NTPInstance(H2, [[0.5, 0.6, 0.0], P2[1]])


def test_labels_of_the_wrong_length_are_rejected():
    with pytest.raises(InvalidInstanceError, match="token_labels must have length 3, got 2"):
        NTPInstance(H2, P2, token_labels=["a", "b"])
    with pytest.raises(InvalidInstanceError, match="context_labels must have length 2, got 1"):
        NTPInstance(H2, P2, context_labels=["x"])


def test_a_single_string_is_not_taken_for_a_sequence_of_labels():
    # "abc" has length V = 3 and would silently become ("a", "b", "c").
    with pytest.raises(InvalidInstanceError, match="not the single string 'abc'"):
        NTPInstance(H2, P2, token_labels="abc")
    with pytest.raises(InvalidInstanceError, match="context_labels must be a sequence"):
        NTPInstance(H2, P2, context_labels="xy")
    assert NTPInstance(H2, P2, token_labels=list("abc")).token_labels == ("a", "b", "c")


def test_row_sum_tolerance_is_the_stated_one_and_rows_are_renormalised():
    inside = [[0.5, 0.5 + 0.5 * PROB_SUM_TOL, 0.0], P2[1]]
    outside = [[0.5, 0.5 + 2 * PROB_SUM_TOL, 0.0], P2[1]]
    inst = NTPInstance(H2, inside)
    # Renormalised by one division: the row sum is 1 up to a few ulps of the 2-term sum.
    np.testing.assert_allclose(inst.probs.sum(axis=1), 1.0, rtol=0, atol=4 * np.finfo(float).eps)
    with pytest.raises(InvalidInstanceError, match="tolerance"):
        NTPInstance(H2, outside)


def test_rows_and_weights_that_are_already_normalised_are_kept_exactly():
    P = np.array([[0.25, 0.75, 0.0], [0.125, 0.375, 0.5]])  # dyadic: sums are exactly 1
    inst = NTPInstance(H2, P, [0.25, 0.75])
    assert np.array_equal(inst.probs, P)
    assert np.array_equal(inst.context_weights, [0.25, 0.75])


def test_weights_are_normalised_without_overflow():
    inst = NTPInstance(H2, P2, [1e308, 1.5e308])  # the plain sum overflows
    np.testing.assert_allclose(inst.context_weights, [0.4, 0.6], rtol=1e-15)
    assert NTPInstance(H2, P2).context_weights.tolist() == [0.5, 0.5]


# -- degenerate but valid data ---------------------------------------------------------------

DEGENERATE = {
    "duplicate-embeddings": ([[1.0, 2.0], [1.0, 2.0]], [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]),
    "zero-embeddings": ([[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]),
    "full-supports": ([[1.0, 0.0], [0.3, 2.0]], [[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]]),
    "one-hot": ([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    "m1-V2-d1": ([[2.0]], [[0.25, 0.75]]),
    "tiny-probability": ([[1.0]], [[1.0 - 1e-300, 1e-300]]),
}


@pytest.mark.parametrize(("H", "P"), DEGENERATE.values(), ids=DEGENERATE)
def test_degenerate_but_valid_data_is_accepted_and_every_function_is_finite(H, P):
    inst = NTPInstance(H, P)
    W = np.random.default_rng(0).standard_normal(inst.weight_shape)
    values = [ce_loss(inst, W), excess_loss(inst, W), ce_f_loss(inst, W), inst.entropy]
    arrays = [ce_grad(inst, W), project_f(inst, W), project_f_perp(inst, W)]
    assert all(math.isfinite(v) for v in values)
    assert all(np.all(np.isfinite(a)) for a in arrays)
    assert inst.supports.tolist() == (np.asarray(P) > 0).tolist()


def test_shape_properties():
    inst = NTPInstance(H2, P2)
    assert (inst.m, inst.vocab_size, inst.dim, inst.weight_shape) == (2, 3, 2, (3, 2))
    assert inst.support_sizes.tolist() == [2, 3]


def test_entropy_against_hand_computed_values():
    # Uniform over k tokens: log k; one-hot: 0 (and +0.0, not -0.0).
    assert NTPInstance([[1.0]], [[0.25] * 4]).entropy == pytest.approx(math.log(4), rel=1e-15)
    one_hot = NTPInstance([[1.0]], [[0.0, 1.0]]).entropy
    assert one_hot == 0.0 and math.copysign(1.0, one_hot) == 1.0
    # pi = (1/4, 3/4); H(p_1) = log 2, H(p_2) = -(0.2 log 0.2 + 0.8 log 0.8).
    inst = NTPInstance([[1.0], [2.0]], [[0.5, 0.5, 0.0], [0.2, 0.0, 0.8]], [1.0, 3.0])
    h2 = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))
    assert inst.entropy == pytest.approx(0.25 * math.log(2) + 0.75 * h2, rel=1e-14)


# -- bad W, for every function that takes one ------------------------------------------------

W_FUNCTIONS = {
    "ce_loss": ce_loss,
    "ce_grad": ce_grad,
    "excess_loss": excess_loss,
    "ce_f_loss": ce_f_loss,
    "project_f": project_f,
    "project_f_perp": project_f_perp,
    "logits": logits,
}

BAD_W = {
    # For an instance with V = 3, d = 2 whose first context is h = (1, 1).
    "transposed": (np.zeros((2, 3)), r"W must have shape \(V, d\) = \(3, 2\).*got \(2, 3\)"),
    "flat": (np.zeros(6), r"W must have shape .* got \(6,\)"),
    "nan": (np.array([[0.0, 0.0], [NAN, 0.0], [0.0, 0.0]]), r"W contains a non-finite .* \(1, 0\)"),
    "inf": (np.array([[0.0, INF], [0.0, 0.0], [0.0, 0.0]]), r"W contains a non-finite"),
    "complex": (np.zeros((3, 2)) + 1j, r"W must be a real numeric array"),
    "overflowing-logits": (np.full((3, 2), 1e308), r"logits H W\^T overflow"),
}


@pytest.mark.parametrize("function", W_FUNCTIONS.values(), ids=W_FUNCTIONS)
@pytest.mark.parametrize(("W", "pattern"), BAD_W.values(), ids=BAD_W)
def test_bad_w_is_rejected_by_every_function(function, W, pattern):
    with pytest.raises(InvalidInstanceError, match=pattern):
        function(NTPInstance([[1.0, 1.0], [0.0, 1.0]], P2), W)


# -- immutability ----------------------------------------------------------------------------

ARRAYS = ["embeddings", "probs", "context_weights", "supports"]


@pytest.mark.parametrize("name", [*ARRAYS, "entropy", "counts", "_cache"])
def test_attributes_cannot_be_set_or_deleted(name):
    inst = NTPInstance(H2, P2)
    with pytest.raises(AttributeError, match="immutable"):
        setattr(inst, name, None)
    with pytest.raises(AttributeError, match="immutable"):
        delattr(inst, name)


@pytest.mark.parametrize("name", ARRAYS)
def test_arrays_are_read_only_and_cannot_be_made_writeable(name):
    array = getattr(NTPInstance.from_counts(H2, [[1, 1, 0], [1, 2, 3]]), name)
    with pytest.raises(ValueError, match="read-only"):
        array[0] = array[0]
    with pytest.raises(ValueError, match="WRITEABLE"):
        array.setflags(write=True)


def test_the_instance_does_not_alias_its_inputs():
    H, P, pi = np.array(H2), np.array(P2), np.array([1.0, 3.0])
    inst = NTPInstance(H, P, pi)
    H[0, 0], P[0, 0], pi[0] = 9.0, 9.0, 9.0
    assert inst == NTPInstance(H2, P2, [1.0, 3.0])


def test_cached_results_are_read_only_so_callers_cannot_poison_the_cache():
    inst = NTPInstance(H2, P2)
    first = w_star(inst)
    first[:] = 7.0  # w_star returns a private copy
    np.testing.assert_array_equal(w_star(inst), is_compatible(inst).w_star)
    assert not np.any(w_star(inst) == 7.0)
    for shared in (is_compatible(inst).w_star, kernel(inst)):
        with pytest.raises(ValueError, match="read-only"):
            shared[0, 0] = 1.0


# -- equality, pickling, replace -------------------------------------------------------------


def test_equality_is_by_value_and_instances_are_unhashable():
    inst = NTPInstance(H2, P2, [1.0, 2.0])
    assert inst == NTPInstance(H2, P2, [2.0, 4.0])  # weights are normalised first
    assert inst != NTPInstance(H2, P2)
    assert inst != NTPInstance(H2, [P2[0], [0.2, 0.5, 0.3]], [1.0, 2.0])
    assert inst != "not an instance"
    with pytest.raises(TypeError, match="unhashable"):
        hash(inst)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("seed", range(5))
def test_pickle_round_trip_is_exact(seed, protocol):
    inst = random_instance(seed)
    expected = w_star(inst) if is_compatible(inst) else None  # fills the cache
    clone = pickle.loads(pickle.dumps(inst, protocol=protocol))
    assert clone == inst
    assert clone.entropy == inst.entropy
    assert clone._cache == {}  # never ships the (potentially huge) Gram factor
    assert not clone.probs.flags.writeable
    if expected is not None:
        np.testing.assert_array_equal(w_star(clone), expected)


def test_pickle_and_deepcopy_keep_counts_and_labels_read_only():
    inst = NTPInstance.from_counts(H2, [[1, 1, 0], [1, 2, 3]], token_labels=list("abc"))
    for clone in (pickle.loads(pickle.dumps(inst)), copy.deepcopy(inst), copy.copy(inst)):
        assert clone == inst
        assert clone.counts.tolist() == [[1, 1, 0], [1, 2, 3]]
        assert clone.token_labels == ("a", "b", "c")
        with pytest.raises(ValueError, match="WRITEABLE"):
            clone.counts.setflags(write=True)


def test_replace_keeps_unchanged_fields_exactly():
    inst = NTPInstance.from_counts(H2, [[1, 2, 0], [1, 2, 4]])
    relabelled = inst.replace(token_labels=["x", "y", "z"])
    assert relabelled == inst and relabelled.token_labels == ("x", "y", "z")
    assert relabelled.counts is not None  # probs and weights unchanged: counts still apply
    moved = inst.replace(embeddings=[[0.0, 1.0], [1.0, 0.0]])
    assert np.array_equal(moved.probs, inst.probs) and moved.counts is not None
    reweighted = inst.replace(context_weights=[1.0, 1.0])
    assert reweighted.counts is None and reweighted.context_weights.tolist() == [0.5, 0.5]
    with pytest.raises(TypeError, match="unknown fields"):
        inst.replace(vocab=4)
    with pytest.raises(InvalidInstanceError, match="rows"):
        inst.replace(embeddings=[[1.0, 0.0]])


# -- repr ------------------------------------------------------------------------------------


def test_repr_of_a_small_instance_shows_sizes_and_exact_numbers():
    text = repr(NTPInstance([[1.0], [2.0]], [[1 / 3, 2 / 3], [1.0, 0.0]], [1.0, 3.0]))
    assert text.startswith("NTPInstance(m=2, V=2, d=1, S=[2, 1], entropy=")
    assert "embeddings=[[1], [2]]" in text  # integer-valued entries print as integers
    assert f"[{1 / 3!r}, {2 / 3!r}]" in text  # others print exactly: the example rebuilds
    assert "context_weights=[0.25, 0.75]" in text
    assert "uniform" in repr(NTPInstance(H2, P2))


@pytest.mark.parametrize(
    ("given", "expected"),
    [([1.0, 1.0], [0.5, 0.5]), ([3.0, 3.0], [0.5, 0.5]), ([2.0, 1.0, 1.0], [0.5, 0.25, 0.25])],
)
def test_given_weights_are_normalised_to_sum_one(given, expected):
    # Exact in binary: every weight here is a power of two times the others.
    H = np.eye(len(given))
    P = np.eye(len(given), 3)
    np.testing.assert_array_equal(NTPInstance(H, P, given).context_weights, expected)


@pytest.mark.parametrize("gap", [0.5, 1e-6, 1e-12])
def test_repr_prints_non_uniform_weights_as_numbers(gap):
    # Weights that differ, by a lot or by a little, are not "uniform": the repr must print
    # them, exactly enough to rebuild the instance's weights.
    inst = NTPInstance(H2, P2, [1.0, 1.0 + gap])
    text = repr(inst)
    assert "uniform" not in text
    printed = re.search(r"context_weights=\[([^\]]*)\]", text)
    assert printed is not None, text
    values = np.array([float(x) for x in printed.group(1).split(",")])
    np.testing.assert_array_equal(values, inst.context_weights)


def test_repr_of_a_big_instance_is_one_short_line():
    text = repr(random_instance(0, m=200, V=50, d=30))
    assert "\n" not in text and len(text) < 120
    assert re.match(r"NTPInstance\(m=200, V=50, d=30, S=\.\.\., entropy=[\d.]+\)$", text)


# -- from_counts -----------------------------------------------------------------------------


def test_from_counts_against_hand_computed_frequencies():
    inst = NTPInstance.from_counts([[1.0], [2.0]], [[1, 3, 0], [0, 0, 2]])
    # Row totals 4 and 2: pi = (2/3, 1/3); p_1 = (1/4, 3/4, 0); p_2 one-hot.
    np.testing.assert_allclose(inst.context_weights, [2 / 3, 1 / 3], rtol=1e-15)
    np.testing.assert_array_equal(inst.probs, [[0.25, 0.75, 0.0], [0.0, 0.0, 1.0]])
    assert inst.counts.tolist() == [[1, 3, 0], [0, 0, 2]] and inst.counts.dtype == np.int64


def test_from_counts_accepts_integer_valued_floats_and_booleans():
    floats = NTPInstance.from_counts(H2, [[1.0, 3.0, 0.0], [2.0, 2.0, 2.0]])
    ints = NTPInstance.from_counts(H2, [[1, 3, 0], [2, 2, 2]])
    assert floats == ints
    assert NTPInstance.from_counts(H2, np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)).m == 2


BAD_COUNTS = {
    "non-integer": ([[1.5, 1, 0], [1, 1, 1]], r"counts must be integers; counts\[0, 0\] = 1\.5"),
    "negative": ([[1, -1, 0], [1, 1, 1]], r"counts must be non-negative; counts\[0, 1\] = -1"),
    "all-zero-row": ([[1, 1, 0], [0, 0, 0]], r"counts row 1 is all zero"),
    "ndim-1": ([1, 2, 3], r"counts must be 2-dimensional, got ndim=1"),
    "ndim-3": ([[[1, 2, 3]]], r"counts must be 2-dimensional, got ndim=3"),
    "text": ([["1", "2", "3"], ["1", "1", "1"]], r"counts must be an integer array, got dtype <U1"),
    "nan": ([[1.0, NAN, 0.0], [1, 1, 1]], r"counts contains a non-finite"),
    "too-large": ([[1e30, 1, 0], [1, 1, 1]], r"counts must fit in int64"),
    "vocab-one": ([[1], [2]], r"V >= 2 tokens"),
    "m-zero": (np.zeros((0, 3), dtype=int), r"at least one context"),
}


@pytest.mark.parametrize(("counts", "pattern"), BAD_COUNTS.values(), ids=BAD_COUNTS)
def test_from_counts_rejects_bad_counts(counts, pattern):
    with pytest.raises(InvalidInstanceError, match=pattern):
        NTPInstance.from_counts(np.ones((np.shape(counts)[0], 2)), counts)
