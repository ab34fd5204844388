"""Raw corpora to NTP instances (App. C): hand-counted corpora, loss preservation, embedders."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpprops import InvalidInstanceError, NTPInstance, ce_loss
from ntpprops.corpus import (
    conditional_entropy,
    corpus_loss,
    distinct_contexts,
    instance_from_sequences,
)
from ntpprops.embeddings import (
    gaussian_context_vector,
    gaussian_embedding,
    onehot_embedding,
    position_onehot_embedding,
)

# Hand-counted: prefixes of "a b a c" and "a b b".
#   (a) -> b, b;  (a b) -> a, b;  (a b a) -> c.   5 events.
CORPUS = [["a", "b", "a", "c"], ["a", "b", "b"]]

corpora = st.lists(
    st.lists(st.integers(0, 3), min_size=3, max_size=7), min_size=1, max_size=4
).filter(lambda seqs: len({t for s in seqs for t in s}) >= 2)


def test_prefix_mode_hand_counts() -> None:
    inst = instance_from_sequences(CORPUS)
    assert inst.context_labels == ("a", "a b", "a b a")
    assert inst.token_labels == ("a", "b", "c")
    np.testing.assert_array_equal(inst.counts, [[0, 2, 0], [1, 1, 0], [0, 0, 1]])
    np.testing.assert_allclose(inst.context_weights, [2 / 5, 2 / 5, 1 / 5], rtol=1e-15)
    np.testing.assert_array_equal(inst.embeddings, np.eye(3))
    # Only (a b) is uncertain: entropy = pi * log 2.
    assert inst.entropy == pytest.approx(0.4 * np.log(2), rel=1e-14)


def test_window_mode_hand_counts() -> None:
    # k = 1: (a) -> b, c, b;  (b) -> a, b.
    one = instance_from_sequences(CORPUS, context_length=1)
    assert one.context_labels == ("a", "b")
    np.testing.assert_array_equal(one.counts, [[0, 2, 1], [1, 1, 0]])
    np.testing.assert_allclose(one.context_weights, [3 / 5, 2 / 5], rtol=1e-15)
    # k = 2: (a b) -> a, b;  (b a) -> c.
    two = instance_from_sequences(CORPUS, context_length=2)
    assert two.context_labels == ("a b", "b a")
    np.testing.assert_array_equal(two.counts, [[1, 1, 0], [0, 0, 1]])


def test_integer_tokens_and_explicit_vocabulary_with_unseen_token() -> None:
    inst = instance_from_sequences([[2, 0, 2, 0]], context_length=1, vocabulary=[0, 1, 2])
    # (0) -> 2;  (2) -> 0, 0.  Token 1 never occurs: a zero column.
    assert inst.context_labels == ("0", "2")
    np.testing.assert_array_equal(inst.counts, [[0, 0, 1], [2, 0, 0]])
    assert inst.vocab_size == 3


def test_numpy_arrays_and_numpy_scalars_are_tokens() -> None:
    a = instance_from_sequences([np.array([1, 0, 1, 1])])
    b = instance_from_sequences([[1, 0, 1, 1]])
    assert a == b


@settings(deadline=None)
@given(corpora, st.permutations(range(4)))
def test_instance_does_not_depend_on_sequence_order(seqs: list[list[int]], perm: list[int]) -> None:
    order = [i for i in perm if i < len(seqs)]
    shuffled = [seqs[i] for i in order]
    for k in (None, 1, 2):
        assert instance_from_sequences(seqs, context_length=k) == instance_from_sequences(
            shuffled, context_length=k
        )


def _check_loss_equality(seqs: list[list[int]], k: int | None, embed: str, seed: int) -> None:
    kwargs = {"dim": 5, "seed": seed} if embed == "gaussian" else {}
    inst = instance_from_sequences(seqs, embed, k, **kwargs)
    rows = dict(zip(distinct_contexts(seqs, k), inst.embeddings, strict=True))
    W = np.random.default_rng(seed).normal(scale=2.0, size=inst.weight_shape)
    brute = corpus_loss(seqs, W, rows, k)
    # Both sum O(n) terms of size O(|W h|) ~ 10: a few ulps of 10 per term.
    assert ce_loss(inst, W) == pytest.approx(brute, rel=1e-12, abs=1e-12)


@settings(deadline=None)
@given(
    corpora,
    st.sampled_from([None, 1, 2]),
    st.sampled_from(["onehot", "position-onehot", "gaussian"]),
    st.integers(0, 2**16),
)
def test_average_event_loss_equals_reduced_ce(
    seqs: list[list[int]], k: int | None, embed: str, seed: int
) -> None:
    _check_loss_equality(seqs, k, embed, seed)


def test_average_event_loss_with_callable_embedding() -> None:
    # Independent of the instance's rows: the brute force calls the embedder itself.
    def embed(context: tuple[int, ...]) -> list[float]:
        return [len(context), sum(context), context[-1] ** 2 - 1.0]

    seqs = [[0, 1, 2, 1, 0], [2, 2, 1], [1, 0, 1, 0]]
    for k in (None, 1, 2):
        inst = instance_from_sequences(seqs, embed, k)
        W = np.random.default_rng(1).normal(size=inst.weight_shape)
        assert ce_loss(inst, W) == pytest.approx(corpus_loss(seqs, W, embed, k), rel=1e-12)


def test_conditional_entropy_hand_values() -> None:
    # All next tokens: b, a, c, b, b.
    h0 = -(0.6 * np.log(0.6) + 2 * 0.2 * np.log(0.2))
    assert conditional_entropy(CORPUS, 0) == pytest.approx(h0, rel=1e-14)
    # Truncated to 1 token: (a) -> b, c, b;  (b) -> a, b: 3/5 H(2/3) + 2/5 log 2.
    h1 = 0.6 * -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)) + 0.4 * np.log(2)
    assert conditional_entropy(CORPUS, 1) == pytest.approx(h1, rel=1e-14)
    assert conditional_entropy(CORPUS) == pytest.approx(instance_from_sequences(CORPUS).entropy)


@settings(deadline=None)
@given(corpora)
def test_shannon_entropy_decreases_with_context_length(seqs: list[list[int]]) -> None:
    values = [conditional_entropy(seqs, t) for t in range(8)] + [conditional_entropy(seqs)]
    # Each H_t is a sum of <= 28 terms: rounding at most ~1e-14 in nats.
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(values))
    # Beyond the longest prefix, truncation does nothing.
    assert values[7] == pytest.approx(values[-1], abs=1e-12)
    assert values[-1] == pytest.approx(instance_from_sequences(seqs).entropy, abs=1e-12)


# -- embedders ---------------------------------------------------------------------------


def test_onehot_and_position_onehot_shapes_and_left_padding() -> None:
    assert onehot_embedding([("a",), ("b",)]).shape == (2, 2)
    inst = instance_from_sequences([["a", "b", "c"]], "position-onehot")
    # Contexts (a), (a b); blocks of V = 3; the last token always sits in the last block.
    np.testing.assert_array_equal(inst.embeddings, [[0, 0, 0, 1, 0, 0], [1, 0, 0, 0, 1, 0]])
    win = instance_from_sequences(CORPUS, "position-onehot", context_length=2)
    assert win.dim == 2 * 3
    assert position_onehot_embedding([("x",)], ["x", "y"], length=3).shape == (1, 6)
    with pytest.raises(InvalidInstanceError, match="not in the vocabulary"):
        position_onehot_embedding([("z",)], ["x", "y"])


def test_gaussian_embedding_is_deterministic_and_per_context() -> None:
    a = gaussian_embedding([(1, 2), (3,)], dim=6, seed=7)
    b = gaussian_embedding([(3,), (1, 2), (0,)], dim=6, seed=7)
    # A context's vector does not depend on the other contexts or their order.
    np.testing.assert_array_equal(a[0], b[1])
    np.testing.assert_array_equal(a[1], b[0])
    np.testing.assert_array_equal(gaussian_context_vector((np.int64(1), np.int64(2)), 6, 7), a[0])
    assert not np.array_equal(gaussian_context_vector((1, 2), 6, 8), a[0])
    assert not np.array_equal(gaussian_context_vector(("1", "2"), 6, 7), a[0])
    inst = instance_from_sequences(CORPUS, "gaussian", dim=4, seed=3)
    assert inst.embeddings.shape == (3, 4)
    assert inst == instance_from_sequences(CORPUS, "gaussian", dim=4, seed=3)


def test_gaussian_embedding_has_variance_one_over_dim() -> None:
    dim = 4000
    v = gaussian_context_vector(("a",), dim, 0)
    # dim * mean(v^2) ~ chi2_dim / dim: sd sqrt(2/dim) = 0.022; 7 sd.
    assert dim * np.mean(v**2) == pytest.approx(1.0, abs=0.16)
    with pytest.raises(InvalidInstanceError, match="dim"):
        gaussian_embedding([("a",)], dim=0)


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sequences", "kwargs", "match"),
    [
        ([], {}, "no sequences"),
        ("abc", {}, "sequence of token sequences"),
        ([["a", "b"], []], {}, "sequence 1 is empty"),
        ([["a", "b"], ["a"]], {}, "sequence 1 has 1 token"),
        ([["a", "b", "c"], ["a", "b"]], {"context_length": 2}, "sequence 1 has 2 token"),
        ([["a", "b", "c"]], {"context_length": 0}, "context_length must be >= 1"),
        ([["a", "b", "c"]], {"context_length": 1.5}, "context_length must be None or"),
        ([["a", "b"], ["a", "c"]], {"vocabulary": ["a", "b"]}, "sequence 1 holds token 'c'"),
        ([["a", "b"]], {"vocabulary": ["a", "b", "a"]}, "more than once"),
        ([["a", 1]], {}, "mutually sortable"),
        ([["a", "a"]], {}, "V >= 2"),
        ([["a", ["b"]]], {}, "unhashable"),
        ([["a", "b"]], {"embed": "word2vec"}, "unknown embed"),
        ([["a", "b"]], {"embed": 3}, "built-in name"),
        ([["a", "b"]], {"embed": "gaussian"}, "needs dim"),
        ([["a", "b"]], {"dim": 3}, "dim= applies only"),
    ],
)
def test_invalid_corpora_are_rejected(sequences: object, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInstanceError, match=match):
        NTPInstance.from_sequences(sequences, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("embed", "match"),
    [
        (lambda c: 1 / 0, r"embed failed on context \('a',\) \(first seen in sequence 0\)"),
        (lambda c: np.ones(len(c)), "all embeddings need the same length"),
        (lambda c: [np.nan], "non-finite"),
        (lambda c: np.ones((2, 2)), "1-D vector"),
    ],
)
def test_bad_embedding_callables_are_rejected(embed: object, match: str) -> None:
    with pytest.raises(InvalidInstanceError, match=match):
        instance_from_sequences([["a", "b", "a"]], embed)  # type: ignore[arg-type]
