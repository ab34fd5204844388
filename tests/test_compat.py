"""NTP_H-compatibility (Definition 1), W* and the incompatibility certificate.

``W*`` is compared with the minimum-norm least-squares solution of the dense Eq. 4 system
over *all* pairs ``z != z'`` (which lies in F); certificates are re-checked with dense
generators built in the test.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from _builders import random_probs
from _oracles import EPS, dense_w_star, pair_generators, project_f_dense

from ntpprops import (
    CompatibilityResult,
    InvalidInstanceError,
    NotCompatibleError,
    NTPInstance,
    ce_f_loss,
    f_dimension,
    incompatibility_bound,
    is_compatible,
    logits,
    project_f,
    project_f_perp,
    w_star,
)
from ntpprops._subspace import f_generators, gram_factor


def compatible_instance(family: str, seed: int) -> NTPInstance:
    """Compatible by construction: rank H = m, or dependencies that the targets respect."""
    rng = np.random.default_rng(seed)
    m, V, d = 3, 4, 4
    H = rng.standard_normal((m, d))
    P = random_probs(rng, m, V)
    if family == "duplicate-context":  # same embedding, same law: one equation twice
        H = np.vstack([H, H[0]])
        P = np.vstack([P, P[0]])
    elif family == "square":
        H = H[:, :m]
    elif family == "full-supports":
        P = rng.dirichlet(np.ones(V), size=m)
    elif family == "tiny-probabilities":
        P = np.array(
            [[1 - 2e-300, 1e-300, 1e-300, 0.0], [0.5, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]]
        )
    return NTPInstance(H, P, rng.random(H.shape[0]) + 0.1)


FAMILIES = ["generic", "duplicate-context", "square", "full-supports", "tiny-probabilities"]
CASES = [(family, seed) for family in FAMILIES for seed in range(4)]
CASE_IDS = [f"{family}-{seed}" for family, seed in CASES]


def eq4_tolerance(inst: NTPInstance) -> float:
    """Error bound for Eq. 4 residuals and for ``W*`` itself.

    ``W*`` comes from normal equations on the unit-scaled basis Gram matrix (condition
    number ``cond(L)^2``), refined once against residuals read off the logits: the error is
    about ``n * eps * cond`` relative to the targets ``b`` (and ``||W*||``).
    """
    gens, factor = gram_factor(inst)
    cond = float(np.linalg.cond(np.tril(factor.cholesky))) ** 2 if factor.rank else 1.0
    _, b = pair_generators(inst)
    scale = 1.0 + (float(np.max(np.abs(b))) if b.size else 0.0)
    return 16 * max(len(gens), 1) * EPS * cond * scale


def eq4_residuals(inst: NTPInstance, W: np.ndarray) -> np.ndarray:
    """``(e_z - e_z')^T W h_j - log(p_jz / p_jz')`` for every j and z != z' in S_j."""
    L = logits(inst, W)
    out = []
    for j in range(inst.m):
        support = np.flatnonzero(inst.supports[j])
        for z in support:
            for zp in support:
                if z != zp:
                    target = math.log(inst.probs[j, z]) - math.log(inst.probs[j, zp])
                    out.append(L[j, z] - L[j, zp] - target)
    return np.array(out)


@pytest.mark.parametrize(("family", "seed"), CASES, ids=CASE_IDS)
def test_w_star_matches_dense_least_squares(family, seed):
    inst = compatible_instance(family, seed)
    expected, dense_residual = dense_w_star(inst)
    assert dense_residual <= eq4_tolerance(inst)  # the reference agrees it is compatible
    result = is_compatible(inst)
    assert result and result.compatible and result.certificate is None
    assert result.certificate_norm == 0.0 and result.f_dim == f_dimension(inst)
    tol = eq4_tolerance(inst) * (1 + float(np.linalg.norm(expected)))
    np.testing.assert_allclose(w_star(inst), expected, rtol=0, atol=tol)


@pytest.mark.parametrize(("family", "seed"), CASES, ids=CASE_IDS)
def test_w_star_solves_eq_4_and_lies_in_f(family, seed):
    inst = compatible_instance(family, seed)
    W = w_star(inst)
    tol = eq4_tolerance(inst) * (1 + float(np.linalg.norm(W)))
    assert np.max(np.abs(eq4_residuals(inst, W)), initial=0.0) <= tol
    assert is_compatible(inst).residual <= tol
    np.testing.assert_allclose(project_f_perp(inst, W), 0.0, rtol=0, atol=tol)
    np.testing.assert_allclose(project_f_dense(inst, W), W, rtol=0, atol=tol)


@pytest.mark.parametrize(("family", "seed"), CASES, ids=CASE_IDS)
def test_every_solution_is_w_star_plus_f_perp(family, seed):
    inst = compatible_instance(family, seed)
    W = w_star(inst)
    N = project_f_perp(inst, np.random.default_rng(seed).standard_normal(inst.weight_shape))
    tol = eq4_tolerance(inst) * (1 + float(np.linalg.norm(W)) + float(np.linalg.norm(N)))
    assert np.max(np.abs(eq4_residuals(inst, W + N)), initial=0.0) <= tol
    np.testing.assert_allclose(project_f(inst, W + N), W, rtol=0, atol=tol)


@pytest.mark.parametrize(("family", "seed"), CASES, ids=CASE_IDS)
def test_w_star_does_not_depend_on_pi_and_ce_f_at_w_star_is_the_entropy(family, seed):
    inst = compatible_instance(family, seed)
    reweighted = inst.replace(context_weights=np.arange(1.0, inst.m + 1.0))
    tol = eq4_tolerance(inst) * (1 + float(np.linalg.norm(w_star(inst))))
    np.testing.assert_allclose(w_star(reweighted), w_star(inst), rtol=0, atol=tol)
    # Lemma 4.1: CE_F(W*) = H. The in-support softmax equals p up to the Eq. 4 residual.
    assert ce_f_loss(inst, w_star(inst)) == pytest.approx(inst.entropy, abs=tol)


def test_w_star_of_full_supports_has_centred_log_probabilities_as_logits():
    # Full supports and rank H = m: W* h_j = log p_j - mean_z log p_jz (zero-sum because F
    # is orthogonal to 1 h^T, and with the right differences).
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(5), size=3)
    inst = NTPInstance(rng.standard_normal((3, 4)), P)
    log_p = np.log(P)
    expected = log_p - log_p.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(
        logits(inst, w_star(inst)), expected, rtol=0, atol=eq4_tolerance(inst)
    )


def test_w_star_closed_form_in_one_dimension():
    # d = 1, V = 2, h_j = j: Eq. 4 reads 2 a h_j = t_j for W = a (e_0 - e_1); compatible iff
    # t_j is proportional to h_j.
    t = 0.4
    P = [[1 / (1 + math.exp(-t * h)), 1 / (1 + math.exp(t * h))] for h in (1.0, 2.0, 3.0)]
    inst = NTPInstance([[1.0], [2.0], [3.0]], P)
    np.testing.assert_allclose(w_star(inst), [[t / 2], [-t / 2]], rtol=64 * EPS)
    assert f_dimension(inst) == 1


def test_one_hot_supports_give_w_star_zero():
    inst = NTPInstance([[1.0, 2.0], [3.0, -1.0]], [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    result = is_compatible(inst)
    assert result.compatible and result.f_dim == 0 and result.residual == 0.0
    np.testing.assert_array_equal(w_star(inst), np.zeros((3, 2)))


@pytest.mark.parametrize("seed", range(6))
def test_rank_h_equal_m_implies_compatible(seed):
    # Lemma 1 (first half): independent embeddings make the Eq. 4 blocks independent.
    rng = np.random.default_rng(seed)
    m, V = int(rng.integers(1, 5)), int(rng.integers(2, 6))
    H = rng.standard_normal((m, m + int(rng.integers(0, 3))))
    inst = NTPInstance(H, random_probs(rng, m, V))
    assert is_compatible(inst).compatible


def test_scale_disparity_does_not_fake_incompatibility():
    # Regression: with ||h_1|| = 1e4 and ||h_2|| = 1e-4 the small context's generators were
    # dropped as dependent and the instance was declared incompatible.
    H = np.array([[1e4, 0.0], [0.0, 1e-4]])
    P = np.array([[0.5, 0.3, 0.2], [0.7, 0.3, 0.0]])
    inst = NTPInstance(H, P)
    result = is_compatible(inst)
    assert result.compatible and result.f_dim == 3
    # W* has entries ~1e4 in the small context's direction; Eq. 4 holds to rounding of
    # logits ~ eps * ||W*|| * ||h||.
    W = w_star(inst)
    assert np.max(np.abs(eq4_residuals(inst, W))) <= 64 * EPS * (
        1 + np.max(np.abs(np.log(P[P > 0])))
    )


# -- incompatible instances and their certificates ------------------------------------------


def dense_certificate_check(inst: NTPInstance, y: np.ndarray) -> tuple[float, float]:
    """``(y . b, ||sum_g y_g g||)`` with generators and targets built densely in the test."""
    gens = f_generators(inst)
    D = np.zeros(inst.weight_shape)
    target = 0.0
    for weight, j, pos, neg in zip(y, gens.ctx, gens.pos, gens.neg, strict=True):
        D[pos] += weight * inst.embeddings[j]
        D[neg] -= weight * inst.embeddings[j]
        target += weight * (math.log(inst.probs[j, pos]) - math.log(inst.probs[j, neg]))
    return target, float(np.linalg.norm(D))


INCOMPATIBLE = {
    # Same embedding, different in-support ratios: (e_0 - e_1) h must equal log 1 and log 1/4.
    "same-embedding": ([[1.0, 0.0], [1.0, 0.0]], [[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]]),
    # Parallel embeddings (d = 1) whose log-ratios are not proportional to h.
    "not-proportional": ([[1.0], [2.0], [3.0]], [[0.5, 0.5], [0.7, 0.3], [0.5, 0.5]]),
    # A zero embedding can only produce equal logits.
    "zero-embedding": ([[0.0, 0.0], [1.0, 1.0]], [[0.3, 0.7, 0.0], [0.5, 0.25, 0.25]]),
    # d < m: h_3 = h_1 + h_2 with full supports forces log-ratios to add up.
    "dependent-context": (
        [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
        [[0.5, 0.5], [0.5, 0.5], [0.9, 0.1]],
    ),
}


@pytest.mark.parametrize(("H", "P"), INCOMPATIBLE.values(), ids=INCOMPATIBLE)
def test_incompatible_instance_has_a_checkable_certificate(H, P):
    inst = NTPInstance(H, P)
    result = is_compatible(inst)
    assert not result and result.w_star is None and result.certificate is not None
    y = result.certificate
    target, norm = dense_certificate_check(inst, y)
    # y . b = 1 up to the rounding of an n-term dot product; D is an exact dependency, so
    # it vanishes up to rounding: eps * sum |y_g| ||g||.
    n_terms = y.size
    assert target == pytest.approx(1.0, abs=4 * n_terms * EPS * (1 + np.abs(y).sum()))
    g_norm = math.sqrt(2) * float(np.max(np.linalg.norm(inst.embeddings, axis=1)))
    assert norm <= 8 * EPS * float(np.abs(y).sum()) * g_norm
    assert result.certificate_norm <= 8 * EPS * float(np.abs(y).sum()) * g_norm
    bound = incompatibility_bound(inst, y)
    assert bound >= 1 / (16 * EPS * float(np.abs(y).sum()) * max(g_norm, 1.0))


def test_zero_embedding_certificate_is_exact():
    inst = NTPInstance(*INCOMPATIBLE["zero-embedding"])
    assert incompatibility_bound(inst, is_compatible(inst).certificate) == math.inf


@pytest.mark.parametrize(("H", "P"), INCOMPATIBLE.values(), ids=INCOMPATIBLE)
def test_w_star_raises_with_the_certificate(H, P):
    inst = NTPInstance(H, P)
    with pytest.raises(NotCompatibleError, match=r"not NTP_H-compatible.*\|\|W\|\| >= ") as info:
        w_star(inst)
    evidence = info.value.certificate
    assert isinstance(evidence, CompatibilityResult) and not evidence.compatible
    np.testing.assert_array_equal(evidence.certificate, is_compatible(inst).certificate)
    # The message's number is the proven bound 1 / ||sum_g y_g g|| of that certificate.
    printed = re.search(r"\|\|W\|\| >= (\S+) ", str(info.value))
    assert printed is not None
    norm = evidence.certificate_norm
    proven = math.inf if norm == 0.0 else 1.0 / norm
    assert float(printed.group(1)) == pytest.approx(proven, rel=5e-3)  # printed with %.3g


@pytest.mark.parametrize(("family", "seed"), CASES, ids=CASE_IDS)
def test_incompatibility_bound_never_exceeds_the_norm_of_a_solution(family, seed):
    # For a compatible instance, W* solves Eq. 4, so |y . b| = |<W*, D>| <= ||W*|| ||D|| for
    # every y: the bound must stay below ||W*|| (up to rounding of both sides).
    inst = compatible_instance(family, seed)
    rng = np.random.default_rng(seed + 10)
    norm = float(np.linalg.norm(w_star(inst)))
    for _ in range(5):
        y = rng.standard_normal(len(f_generators(inst)))
        assert incompatibility_bound(inst, y) <= norm * (1 + 1e-9) + eq4_tolerance(inst)


def test_incompatibility_bound_rejects_malformed_certificates():
    inst = NTPInstance(*INCOMPATIBLE["same-embedding"])
    with pytest.raises(
        InvalidInstanceError, match=r"certificate must be a finite vector of shape \(2,\)"
    ):
        incompatibility_bound(inst, np.ones(3))
    with pytest.raises(InvalidInstanceError, match="finite"):
        incompatibility_bound(inst, [np.nan, 1.0])
    assert incompatibility_bound(inst, np.zeros(2)) == 0.0  # proves nothing


def _two_rays(a: float, rel: float) -> NTPInstance:
    """``h = 1`` and ``h = 2`` (d = 1, V = 2, full supports) with log-ratios ``a`` and
    ``2 a (1 + rel)``: Eq. 4 asks ``w = a`` and ``2 w = 2 a (1 + rel)`` for
    ``w = W_0 - W_1``, so it holds exactly only at ``rel = 0`` and fails by ``a rel``."""
    ratios = np.array([a, 2 * a * (1 + rel)])
    P = np.stack([1 / (1 + np.exp(-ratios)), 1 / (1 + np.exp(ratios))], axis=1)
    return NTPInstance([[1.0], [2.0]], P)


def test_compatibility_tolerance_scales_with_the_size_of_the_equation():
    from ntpprops._compat import COMPAT_RTOL

    # With a = 10 the generator g = (e_0 - e_1) h has ||g|| = sqrt 2 |h|, b_g = a (or 2 a),
    # ||W|| ||g|| = |w| |h| ~ b_g: the documented tolerance COMPAT_RTOL (1 + |b_g| + ||W|| ||g||)
    # is ~21 COMPAT_RTOL on the first equation (~41 on the second, whose residual is twice as
    # big: the same ratio), while the residual is a rel. A relative miss 4x inside the scaled
    # tolerance is rounding; 4x outside is a real inconsistency.
    a = 10.0
    scale = 1 + 2 * a
    inside = _two_rays(a, 0.25 * COMPAT_RTOL * scale / a)
    outside = _two_rays(a, 4.0 * COMPAT_RTOL * scale / a)
    assert is_compatible(inside).compatible
    assert not is_compatible(outside).compatible
    # And the unscaled size of the miss would have been read the other way: the residual of
    # `inside` is ~5 COMPAT_RTOL, far above COMPAT_RTOL itself.
    assert is_compatible(inside).residual >= 4 * COMPAT_RTOL


def test_compatibility_tolerance_floor_on_a_near_zero_equation():
    from ntpprops._compat import COMPAT_RTOL

    # One embedding h = 1 twice, with log-ratios 0 and eps: whichever of the two equations
    # the factorisation keeps, w = W_0 - W_1 solves it exactly and the other misses by eps,
    # against COMPAT_RTOL (1 + |b_g| + ||W|| ||g||) = COMPAT_RTOL (1 + O(eps)): the floor 1
    # dominates. So eps = 0.7 COMPAT_RTOL is rounding and eps = 1.5 COMPAT_RTOL a real
    # inconsistency.
    def rays(eps: float) -> NTPInstance:
        ratios = np.array([0.0, eps])
        P = np.stack([1 / (1 + np.exp(-ratios)), 1 / (1 + np.exp(ratios))], axis=1)
        return NTPInstance([[1.0], [1.0]], P)

    assert is_compatible(rays(0.7 * COMPAT_RTOL)).compatible
    assert not is_compatible(rays(1.5 * COMPAT_RTOL)).compatible


def test_cached_result_is_shared_and_read_only():
    inst = compatible_instance("generic", 0)
    first, second = is_compatible(inst), is_compatible(inst)
    assert first is second
    assert not first.w_star.flags.writeable
    incompatible = is_compatible(NTPInstance(*INCOMPATIBLE["same-embedding"]))
    assert not incompatible.certificate.flags.writeable


def test_all_zero_embeddings_are_compatible_only_with_uniform_in_support_laws():
    # H = 0: every generator is 0, F = {0}; Eq. 4 holds iff every log-ratio is 0.
    uniform = NTPInstance(np.zeros((2, 3)), [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    result = is_compatible(uniform)
    assert result.compatible and result.f_dim == 0
    np.testing.assert_array_equal(w_star(uniform), np.zeros((3, 3)))
    skewed = NTPInstance(np.zeros((2, 3)), [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    result = is_compatible(skewed)
    assert not result.compatible and result.f_dim == 0
    assert incompatibility_bound(skewed, result.certificate) == math.inf
    # The violated equation first in line (context 0's only pair), the others satisfied: no
    # generator may be treated as a solved basis equation when F = {0}.
    first = NTPInstance(np.zeros((2, 3)), [[0.3, 0.7, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    assert not is_compatible(first).compatible
