"""The subspace F (Eq. 5) and the projections P_F, P_perp, against a dense reference.

The reference builds every pair generator ``vec((e_z - e_z') h_j^T)`` explicitly (tiny sizes
only) and projects with an SVD basis; ntpprops uses anchor generators, their Gram matrix
and a pivoted Cholesky factor, so the two share no code.
"""

from __future__ import annotations

import numpy as np
import pytest
from _builders import random_probs
from _oracles import EPS, atom_rows, dense_f_dimension, orthonormal_basis, project_f_dense

from ntpprops import (
    InvalidInstanceError,
    NTPInstance,
    f_dimension,
    logits,
    project_f,
    project_f_perp,
)
from ntpprops._subspace import f_generators, gram_factor


def make_instance(family: str, seed: int) -> NTPInstance:
    """Tiny instances, generic and degenerate (exact dependencies among the generators)."""
    rng = np.random.default_rng(seed)
    m, V, d = 4, 4, 3
    H = rng.standard_normal((m, d))
    P = random_probs(rng, m, V)
    if family == "duplicate-embeddings":
        H[1] = H[0]
        P[1] = P[0]
    elif family == "duplicate-embedding-other-support":
        H[2] = H[0]
    elif family == "d-below-m":
        H = rng.standard_normal((m, 1)) @ rng.standard_normal((1, 2))  # rank 1, d = 2
    elif family == "zero-embedding":
        H[0] = 0.0
    elif family == "full-supports":
        P = random_probs(rng, m, V, full=True)
    elif family == "one-hot":
        P = np.eye(V)[rng.integers(V, size=m)]
    elif family == "dependent-contexts":
        H[3] = H[0] - 2 * H[1]
        P = random_probs(rng, m, V, full=True)
    return NTPInstance(H, P, rng.random(m) + 0.1)


FAMILIES = [
    "generic",
    "duplicate-embeddings",
    "duplicate-embedding-other-support",
    "d-below-m",
    "zero-embedding",
    "full-supports",
    "one-hot",
    "dependent-contexts",
]
CASES = [(family, seed) for family in FAMILIES for seed in range(4)]
CASE_IDS = [f"{family}-{seed}" for family, seed in CASES]


def projection_tolerance(inst: NTPInstance, W: np.ndarray) -> float:
    """Error bound for ``P_F W``: normal equations lose ``cond(G)`` digits.

    ntpprops solves with the Gram matrix of the (unit-scaled) basis generators, whose
    condition number is ``cond(L)^2``; the error is about ``n * eps * cond * ||W||``. The
    SVD reference is backward stable (``eps * ||W||`` per operation).
    """
    _, factor = gram_factor(inst)
    chol = np.tril(factor.cholesky)
    cond = float(np.linalg.cond(chol)) ** 2 if factor.rank else 1.0
    return 16 * max(factor.size, 1) * EPS * cond * (1.0 + float(np.linalg.norm(W)))


def frobenius(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.sum(A * B))


@pytest.mark.parametrize(("family", "seed"), CASES, ids=CASE_IDS)
def test_f_dimension_matches_the_dense_rank(family, seed):
    inst = make_instance(family, seed)
    assert f_dimension(inst) == dense_f_dimension(inst)


@pytest.mark.parametrize(("family", "seed"), CASES, ids=CASE_IDS)
def test_projection_matches_the_dense_reference(family, seed):
    inst = make_instance(family, seed)
    W = np.random.default_rng(seed + 50).standard_normal(inst.weight_shape)
    np.testing.assert_allclose(
        project_f(inst, W), project_f_dense(inst, W), rtol=0, atol=projection_tolerance(inst, W)
    )


@pytest.mark.parametrize(("family", "seed"), CASES, ids=CASE_IDS)
def test_projections_are_complementary_idempotent_and_self_adjoint(family, seed):
    inst = make_instance(family, seed)
    rng = np.random.default_rng(seed + 60)
    X, Y = rng.standard_normal((2, *inst.weight_shape))
    tol = projection_tolerance(inst, X) * (1 + float(np.linalg.norm(Y)))
    PX, PY = project_f(inst, X), project_f(inst, Y)
    # P_perp = I - P_F up to the rounding of one subtraction and one addition.
    np.testing.assert_allclose(PX + project_f_perp(inst, X), X, rtol=4 * EPS, atol=4 * EPS)
    np.testing.assert_allclose(project_f(inst, PX), PX, rtol=0, atol=tol)
    perp = project_f_perp(inst, X)
    np.testing.assert_allclose(project_f_perp(inst, perp), perp, rtol=0, atol=tol)
    assert frobenius(PX, Y) == pytest.approx(frobenius(X, PY), abs=tol)
    assert frobenius(PX, project_f_perp(inst, Y)) == pytest.approx(0.0, abs=tol)


@pytest.mark.parametrize(("family", "seed"), CASES, ids=CASE_IDS)
def test_f_perp_means_equal_logits_on_every_support(family, seed):
    # W in F^perp iff <W, (e_z - e_z') h_j^T> = 0 for all z, z' in S_j: the logits of
    # P_perp W are constant on each support (Eq. 6a), whatever the anchors.
    inst = make_instance(family, seed)
    X = np.random.default_rng(seed + 70).standard_normal(inst.weight_shape)
    L = logits(inst, project_f_perp(inst, X))
    tol = projection_tolerance(inst, X) * (
        1 + float(np.max(np.linalg.norm(inst.embeddings, axis=1)))
    )
    for j in range(inst.m):
        on_support = L[j, inst.supports[j]]
        assert np.ptp(on_support) <= tol


def test_zero_embeddings_give_f_equal_zero():
    # Every generator (e_z - e_z') h_j^T vanishes when H = 0, whatever the supports.
    inst = NTPInstance(np.zeros((2, 3)), [[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    assert f_dimension(inst) == 0
    W = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(project_f(inst, W), 0.0)


def test_one_hot_supports_give_f_equal_zero():
    inst = make_instance("one-hot", 0)
    W = np.random.default_rng(1).standard_normal(inst.weight_shape)
    assert f_dimension(inst) == 0
    np.testing.assert_array_equal(project_f(inst, W), np.zeros(inst.weight_shape))
    np.testing.assert_array_equal(project_f_perp(inst, W), W)


@pytest.mark.parametrize("seed", range(4))
def test_full_supports_give_dim_f_equal_v_minus_one_times_rank_h(seed):
    # With every S_j = V, F = {W : 1^T W = 0, rows of W in the row space of H}.
    for family in ("full-supports", "dependent-contexts"):
        inst = make_instance(family, seed)
        rank_h = np.linalg.matrix_rank(inst.embeddings)
        assert f_dimension(inst) == (inst.vocab_size - 1) * rank_h


def test_orthogonal_contexts_at_wildly_different_scales_are_independent():
    # Regression: the rank cutoff was relative to the largest generator, so the generators
    # of a context with ||h|| = 1e-4 next to one with ||h|| = 1e4 counted as dependent.
    H = np.array([[1e4, 0.0, 0.0], [0.0, 1e-4, 0.0], [0.0, 0.0, 1.0]])
    P = np.array([[0.5, 0.3, 0.2], [0.7, 0.3, 0.0], [0.0, 0.1, 0.9]])
    inst = NTPInstance(H, P)
    # Orthogonal embeddings make generators of different contexts orthogonal, and those of
    # one context are independent: dim F = sum_j (S_j - 1) = 2 + 1 + 1.
    assert f_dimension(inst) == 4
    W = np.random.default_rng(0).standard_normal((3, 3))
    # Each context's block is a projection within the span of its own row of H.
    perp_logits = logits(inst, project_f_perp(inst, W))
    for j in range(3):
        values = perp_logits[j, inst.supports[j]]
        assert np.ptp(values) <= 64 * EPS * np.max(np.abs(W)) * np.abs(H[j]).max()


@pytest.mark.parametrize(("family", "seed"), CASES, ids=CASE_IDS)
def test_anchor_generators_span_f_for_any_choice_of_anchors(family, seed):
    inst = make_instance(family, seed)
    rng = np.random.default_rng(seed + 80)
    anchors = [rng.choice(np.flatnonzero(row)) for row in inst.supports]
    atoms = f_generators(inst, anchors=anchors)
    assert len(atoms) == int(np.sum(inst.support_sizes - 1))
    assert np.all(inst.supports[atoms.ctx, atoms.pos]) and np.all(
        inst.supports[atoms.ctx, atoms.neg]
    )
    assert np.all(atoms.pos == np.asarray(anchors)[atoms.ctx])
    Q = orthonormal_basis(atom_rows(inst, atoms))
    assert Q.shape[1] == f_dimension(inst)
    W = rng.standard_normal(inst.weight_shape)
    from_anchors = (Q @ (Q.T @ W.ravel())).reshape(inst.weight_shape)
    np.testing.assert_allclose(
        from_anchors, project_f(inst, W), rtol=0, atol=projection_tolerance(inst, W)
    )


BAD_ANCHORS = {
    "outside-support": lambda inst: [int(np.argmin(row)) for row in inst.supports],
    "out-of-range": lambda inst: [inst.vocab_size] * inst.m,
    "negative": lambda inst: [-1] * inst.m,
    "wrong-shape": lambda inst: [0] * (inst.m + 1),
    "fractional": lambda inst: [0.5] * inst.m,
}


@pytest.mark.parametrize("anchors", BAD_ANCHORS.values(), ids=BAD_ANCHORS)
def test_bad_anchors_are_rejected(anchors):
    inst = NTPInstance([[1.0], [2.0]], [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    with pytest.raises(InvalidInstanceError, match="anchor"):
        f_generators(inst, anchors=anchors(inst))


def test_projection_is_linear_at_huge_norm():
    inst = make_instance("generic", 3)
    W = np.random.default_rng(9).standard_normal(inst.weight_shape)
    big = project_f(inst, 1e6 * W)
    np.testing.assert_allclose(
        big, 1e6 * project_f(inst, W), rtol=0, atol=1e6 * projection_tolerance(inst, W)
    )


def test_projection_of_an_element_of_f_is_itself():
    # A combination of pair generators is in F by definition (built without ntpprops).
    inst = make_instance("duplicate-embedding-other-support", 1)
    rng = np.random.default_rng(4)
    W = np.zeros(inst.weight_shape)
    for j in range(inst.m):
        support = np.flatnonzero(inst.supports[j])
        for z in support:
            for zp in support:
                if z != zp:
                    c = rng.standard_normal()
                    W[z] += c * inst.embeddings[j]
                    W[zp] -= c * inst.embeddings[j]
    np.testing.assert_allclose(project_f(inst, W), W, rtol=0, atol=projection_tolerance(inst, W))
