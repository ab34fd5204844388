"""The strategies themselves: valid instances within their bounds, the defining property of
each family (checked independently of the package's solvers), argument validation, and
shrinking to small readable counterexamples.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _oracles import EPS, line_obstruction
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ntpprops import NTPInstance
from ntpprops import strategies as nst

#: ``find`` runs its own search: bounded, and without the explain phase (which re-runs the
#: shrunk example many times to report which parts vary: useless here, and slow).
FIND_SETTINGS = settings(
    max_examples=300, database=None, deadline=None, phases=[Phase.generate, Phase.shrink]
)

FAMILIES = {
    "ntp": nst.ntp_instances(),
    "ntp-compatible": nst.ntp_instances(compatible=True),
    "ntp-incompatible": nst.ntp_instances(compatible=False, min_contexts=2),
    "separable": nst.separable_instances(),
    "separable-prototypes": nst.separable_instances(overparameterized=False, max_contexts=5),
    "separable-incompatible": nst.separable_instances(
        overparameterized=False, compatible=False, min_contexts=2, min_vocab=3
    ),
    "one-hot": nst.one_hot_instances(),
    "one-hot-separable": nst.one_hot_instances(separable=True, max_contexts=5),
    "full-support": nst.full_support_instances(),
    "full-support-compatible": nst.full_support_instances(compatible=True),
    "non-separable": nst.non_separable_instances(),
    "incompatible": nst.incompatible_instances(),
}


# -- independent, solver-free readings of the defining properties ----------------------------


def eq4_system(inst: NTPInstance) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 4 over all pairs ``z < z'`` of each support: rows ``vec((e_z - e_z') h_j^T)``."""
    V, d = inst.weight_shape
    rows, rhs = [], []
    for j in range(inst.m):
        support = np.flatnonzero(inst.supports[j])
        for i, z in enumerate(support):
            for w in support[i + 1 :]:
                diff = np.zeros(V)
                diff[z], diff[w] = 1.0, -1.0
                rows.append(np.kron(diff, inst.embeddings[j]))
                rhs.append(math.log(inst.probs[j, z] / inst.probs[j, w]))
    return np.array(rows).reshape(-1, V * d), np.array(rhs)


def eq4_residual(inst: NTPInstance) -> tuple[float, float]:
    """``min_W ||Eq. 4 residual||_2`` by dense least squares (0 iff compatible), and the
    rounding scale ``||A||_2 ||w|| + ||b||`` of that computation."""
    A, b = eq4_system(inst)
    if A.shape[0] == 0:
        return 0.0, 0.0
    w = np.linalg.lstsq(A, b, rcond=None)[0]
    scale = float(np.linalg.norm(A, 2) * np.linalg.norm(w) + np.linalg.norm(b))
    return float(np.linalg.norm(A @ w - b)), scale


def ray_witness(inst: NTPInstance) -> np.ndarray:
    """A separator for instances whose contexts on one ray share a support.

    Target logits ``0`` on ``S_j`` and ``-||h_j||`` off it are consistent along every ray
    (they scale with ``h_j``), so when ``H`` has independent rays the least-squares ``W``
    reaches them; the caller checks that it does.
    """
    norms = np.linalg.norm(inst.embeddings, axis=1)
    targets = np.where(inst.supports, 0.0, -norms[:, None])
    return np.linalg.lstsq(inst.embeddings, targets, rcond=None)[0].T


# -- validity -----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILIES.keys())
@given(data=st.data())
def test_strategies_draw_valid_instances(family, data):
    inst = data.draw(family)
    assert isinstance(inst, NTPInstance)
    assert inst.m >= 1 and inst.vocab_size >= 2 and inst.dim >= 1
    assert np.all(inst.support_sizes >= 1)
    # Integer embeddings (or integer multiples of integer prototypes): exact, readable.
    assert np.array_equal(inst.embeddings, np.round(inst.embeddings))
    assert np.all(np.isfinite(inst.probs)) and np.all(inst.context_weights > 0)


@given(
    nst.ntp_instances(
        min_contexts=2, max_contexts=3, min_vocab=3, max_vocab=3, min_dim=2, max_dim=2
    )
)
def test_strategies_respect_size_bounds(inst):
    assert 2 <= inst.m <= 3 and inst.vocab_size == 3 and inst.dim == 2
    assert np.all(np.abs(inst.embeddings) <= 3)


@given(nst.ntp_instances(weights=False))
def test_strategies_weights_false_is_uniform(inst):
    assert np.array_equal(inst.context_weights, np.full(inst.m, 1.0 / inst.m))


@given(nst.one_hot_instances())
def test_strategies_one_hot_supports(inst):
    assert np.all(inst.support_sizes == 1) and inst.entropy == 0.0


@given(nst.full_support_instances())
def test_strategies_full_supports(inst):
    assert inst.supports.all()


# -- the defining property of each family, checked independently --------------------------------


@pytest.mark.parametrize(
    "family",
    [
        nst.separable_instances(),
        nst.separable_instances(overparameterized=False, max_contexts=5),
        nst.separable_instances(
            overparameterized=False, compatible=False, min_contexts=2, min_vocab=3
        ),
        nst.one_hot_instances(separable=True, max_contexts=5),
    ],
    ids=["overparameterized", "prototypes", "prototypes-incompatible", "one-hot"],
)
@given(data=st.data())
def test_strategies_separable_by_construction(family, data):
    inst = data.draw(family)
    assert not inst.supports.all(), "W^mm would be 0: some support must miss a token"
    W = ray_witness(inst)
    L = inst.embeddings @ W.T
    # Least squares on a consistent integer system of size <= 5 x 4: residual ~ eps * scale.
    scale = float(np.abs(inst.embeddings).sum(axis=1).max() * np.abs(W).max() + 1.0)
    tol = 1e3 * EPS * scale
    norms = np.linalg.norm(inst.embeddings, axis=1)
    target = np.where(inst.supports, 0.0, -norms[:, None])
    assert np.max(np.abs(L - target)) <= tol, f"the witness misses its targets: {inst!r}"
    assert norms.min() >= 1.0  # so every out-of-support margin is >= 1 - tol


@given(nst.separable_instances(max_contexts=4, max_dim=5))
def test_strategies_overparameterized_is_rank_m(inst):
    assert inst.dim >= inst.m
    assert np.linalg.matrix_rank(inst.embeddings) == inst.m


@given(nst.non_separable_instances())
def test_strategies_non_separable_by_construction(inst):
    assert line_obstruction(inst), f"no obstruction to separability in {inst!r}"


@pytest.mark.parametrize(
    "family",
    [
        nst.incompatible_instances(),
        nst.full_support_instances(compatible=False, min_contexts=2),
        nst.separable_instances(
            overparameterized=False, compatible=False, min_contexts=2, min_vocab=3
        ),
    ],
    ids=["incompatible", "full-support", "separable"],
)
@given(data=st.data())
def test_strategies_incompatible_by_construction(family, data):
    inst = data.draw(family)
    # The clash delta = |c_i log r_k - c_k log r_i| = |log(X / Y)| for distinct integers
    # X, Y <= 5^3 * 5^3 (counts <= max_count + 1 = 5, scales <= 3), so delta >= 1 / 15625.
    # The two clashing equations read one number x (c_i x = log r_i, c_k x = log r_k), so no
    # W leaves a residual below delta / sqrt(c_i^2 + c_k^2) >= 6.4e-5 / sqrt(18) > 1.5e-5.
    residual, _ = eq4_residual(inst)
    assert residual > 1e-5, f"Eq. 4 is solvable for {inst!r}"


@pytest.mark.parametrize(
    "family",
    [
        nst.ntp_instances(compatible=True),
        nst.full_support_instances(compatible=True),
        nst.separable_instances(),
        nst.separable_instances(overparameterized=False, max_contexts=5),
    ],
    ids=["ntp", "full-support", "overparameterized", "prototypes"],
)
@given(data=st.data())
def test_strategies_compatible_by_construction(family, data):
    inst = data.draw(family)
    # A backward-stable least-squares solve of a consistent system leaves a residual of a
    # few eps * (||A|| ||w|| + ||b||); 1e3 covers the constant for these <= 24-row systems.
    residual, scale = eq4_residual(inst)
    assert residual <= 1e3 * EPS * scale, f"Eq. 4 has no solution for {inst!r}"


@given(nst.token_sequences(min_vocab=3, max_vocab=3, max_sequences=3, max_length=4))
def test_strategies_token_sequences_within_bounds(sequences):
    assert 1 <= len(sequences) <= 3
    assert all(2 <= len(seq) <= 4 for seq in sequences)
    assert all(0 <= token < 3 for seq in sequences for token in seq)
    NTPInstance.from_sequences(sequences, vocabulary=range(3))


# -- argument validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "kwargs", "needle"),
    [
        (nst.ntp_instances, {"min_contexts": 0}, "min_contexts=0"),
        (nst.ntp_instances, {"min_vocab": 1}, "min_vocab=1"),
        (nst.ntp_instances, {"min_dim": 3, "max_dim": 2}, "min_dim=3 is greater than max_dim=2"),
        (nst.ntp_instances, {"max_entry": 0}, "max_entry=0"),
        (nst.ntp_instances, {"max_count": 2.5}, "max_count=2.5 must be an integer"),
        (nst.ntp_instances, {"weights": "yes"}, "weights='yes'"),
        (nst.ntp_instances, {"compatible": False}, "min_contexts=1 must be at least 2"),
        (nst.ntp_instances, {"compatible": True, "max_dim": 20}, "compatible=True"),
        (nst.separable_instances, {"min_contexts": 3, "max_dim": 2}, "min_contexts=3"),
        (nst.separable_instances, {"compatible": False}, "overparameterized=False"),
        (
            nst.separable_instances,
            {"overparameterized": False, "compatible": False, "min_contexts": 2},
            "min_vocab=2 must be at least 3",
        ),
        (nst.one_hot_instances, {"separable": False}, "non_separable_instances"),
        (nst.non_separable_instances, {"min_contexts": 1}, "min_contexts=1"),
        (nst.incompatible_instances, {"max_contexts": 1}, "max_contexts=1"),
        (nst.token_sequences, {"min_length": 1}, "min_length=1"),
        (nst.token_sequences, {"min_sequences": 4, "max_sequences": 2}, "min_sequences=4"),
    ],
)
def test_strategies_reject_bad_arguments(factory, kwargs, needle):
    with pytest.raises(InvalidArgument) as info:
        factory(**kwargs)
    assert needle in str(info.value)


# -- shrinking -------------------------------------------------------------------------------


def assert_small_integer_instance(inst: NTPInstance, m: int, V: int, d: int) -> None:
    assert inst.m <= m and inst.vocab_size <= V and inst.dim <= d, f"did not shrink: {inst!r}"
    assert np.array_equal(inst.embeddings, np.round(inst.embeddings))
    assert np.abs(inst.embeddings).max() <= 1, f"entries did not shrink: {inst!r}"


def test_strategies_shrink_positive_entropy():
    # False statement: "every instance has zero entropy".
    inst = find(nst.ntp_instances(), lambda i: i.entropy > 0, settings=FIND_SETTINGS)
    assert_small_integer_instance(inst, 1, 2, 1)
    np.testing.assert_array_equal(inst.probs, [[0.5, 0.5]])


def test_strategies_shrink_incompatible():
    # False statement: "every instance with a non-zero embedding is compatible".
    inst = find(
        nst.ntp_instances(),
        lambda i: i.embeddings.any() and eq4_residual(i)[0] > 1e-6,
        settings=FIND_SETTINGS,
    )
    assert_small_integer_instance(inst, 2, 2, 1)


def test_strategies_shrink_non_separable_family():
    inst = find(nst.non_separable_instances(), lambda i: True, settings=FIND_SETTINGS)
    assert_small_integer_instance(inst, 2, 2, 1)
    np.testing.assert_array_equal(inst.embeddings, [[1.0], [1.0]])


def test_strategies_shrink_separable_family():
    inst = find(nst.separable_instances(), lambda i: i.m >= 2, settings=FIND_SETTINGS)
    assert_small_integer_instance(inst, 2, 2, 2)
    np.testing.assert_array_equal(np.abs(inst.embeddings), np.eye(2))


def test_strategies_shrink_token_sequences():
    seqs = find(nst.token_sequences(), lambda s: len(s) >= 2, settings=FIND_SETTINGS)
    assert seqs == [[0, 0], [0, 0]]
