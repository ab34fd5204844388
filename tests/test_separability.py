"""NTP-separability (Definition 2): decisions, witnesses, certificates and the NTP margin.

Independent checks: hand-built instances with known answers, and an LP feasibility test of
(6a)-(6b) solved by HiGHS (a different formulation and solver from the min-norm point).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse
from _builders import instance_on_supports as _instance

from ntpprops import (
    InvalidInstanceError,
    NTPInstance,
    is_separable,
    ntp_margin,
    ntp_svm,
    project_f,
)
from ntpprops._separability import (
    SeparabilityResult,
    raw_margin,
    separability_certificate_bound,
    separation_atoms,
)
from ntpprops._subspace import f_generators


def _random_instance(m, V, d, S, seed, integer=False):
    rng = np.random.default_rng(seed)
    H = rng.integers(-2, 3, (m, d)).astype(float) if integer else rng.standard_normal((m, d))
    H[np.all(H == 0, axis=1), 0] = 1.0
    supports = np.zeros((m, V), dtype=bool)
    for j in range(m):
        supports[j, rng.choice(V, size=int(rng.integers(1, S + 1)), replace=False)] = True
    return _instance(H, supports, seed)


def _lp_separable(inst: NTPInstance) -> bool:
    """Feasibility of (6a)-(6b) as an LP in (W, t): logits on S_j equal t_j, others <= t_j - 1."""
    H, sup = inst.embeddings, inst.supports
    m, V, d = inst.m, inst.vocab_size, inst.dim
    # Row (j, v) of the logit map W -> (H W^T)[j, v] acts on vec(W) (row-major (V, d)).
    logit = scipy.sparse.kron(scipy.sparse.identity(V), scipy.sparse.csr_matrix(H)).tocsr()
    order = np.arange(m * V).reshape(V, m).T.ravel()  # (j, v) row-major
    logit = logit[order]
    pick_t = scipy.sparse.kron(scipy.sparse.identity(m), np.ones((V, 1))).tocsr()
    A = scipy.sparse.hstack([logit, -pick_t]).tocsr()
    flat = sup.ravel()
    res = scipy.optimize.linprog(
        np.zeros(V * d + m),
        A_ub=A[~flat],
        b_ub=-np.ones(int((~flat).sum())),
        A_eq=A[flat],
        b_eq=np.zeros(int(flat.sum())),
        bounds=(None, None),
        method="highs",
    )
    assert res.status in (0, 2), res.message
    return res.status == 0


def _raw_margins(inst, W):
    atoms = separation_atoms(inst)
    scores = inst.embeddings @ W.T
    return scores[atoms.ctx, atoms.pos] - scores[atoms.ctx, atoms.neg]


# -- atoms and margin --------------------------------------------------------------------


def test_separation_atoms_cover_out_of_support_pairs_with_default_anchor():
    inst = _instance(np.eye(3), [[1, 0, 1, 0], [0, 1, 1, 1], [1, 1, 1, 1]])
    atoms = separation_atoms(inst)
    assert list(zip(atoms.ctx, atoms.pos, atoms.neg, strict=True)) == [
        (0, 0, 1),
        (0, 0, 3),
        (1, 1, 0),
    ]
    gens = f_generators(inst)
    anchors = dict(zip(gens.ctx.tolist(), gens.pos.tolist(), strict=True))
    assert all(anchors[j] == a for j, a in zip(atoms.ctx, atoms.pos, strict=True) if j in anchors)


def test_ntp_margin_matches_hand_computation():
    # One context h = (1, 2), support {0, 1}, V = 3. Logits W h = (3, 1, -1): the worst
    # in-support logit is 1, the best outside is -1, so the margin is 2 / ||W||.
    inst = _instance([[1.0, 2.0]], [[1, 1, 0]])
    W = np.array([[1.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])
    assert ntp_margin(inst, W) == pytest.approx(2.0 / np.linalg.norm(W), rel=1e-15)


def test_ntp_margin_is_infinite_on_full_supports_and_rejects_bad_weights():
    inst = _instance([[1.0], [2.0]], [[1, 1], [1, 1]])
    assert ntp_margin(inst, np.ones((2, 1))) == np.inf
    with pytest.raises(InvalidInstanceError, match="W = 0"):
        ntp_margin(inst, np.zeros((2, 1)))
    with pytest.raises(InvalidInstanceError, match="shape"):
        ntp_margin(inst, np.ones((1, 2)))


# -- non-separable instances and certificates ----------------------------------------------


@pytest.mark.parametrize(
    ("H", "supports"),
    [
        # Identical embeddings, disjoint one-hot supports: w0 - w1 >= 1 and w1 - w0 >= 1.
        ([[1.0], [1.0]], [[1, 0], [0, 1]]),
        # Identical embeddings, disjoint supports of size 2: equal logits on {0, 1} and on
        # {2, 3} force every logit equal, so no margin is positive.
        ([[1.0, 2.0], [1.0, 2.0]], [[1, 1, 0, 0], [0, 0, 1, 1]]),
        # h = 0 on a context with an out-of-support token: every logit is 0 there.
        ([[1.0], [0.0]], [[1, 0], [0, 1]]),
        # Opposite embeddings and the same support: w0 - w1 >= 1 at h and at -h.
        ([[1.0, -1.0], [-1.0, 1.0]], [[1, 0, 0], [1, 0, 0]]),
    ],
)
def test_hand_built_non_separable_instances_have_exact_certificates(H, supports):
    inst = _instance(H, supports)
    result = is_separable(inst)
    assert isinstance(result, SeparabilityResult)
    assert not result and not result.separable
    assert result.witness is None and result.margin == 0.0
    y = result.certificate
    assert y.shape == (len(separation_atoms(inst)),)
    assert np.all(y >= 0) and y.sum() == pytest.approx(1.0, abs=1e-12)
    # The combination cancels in exact arithmetic; the computed one is at rounding level
    # (entries of size <= 2, a handful of atoms: well under 1e-12).
    assert result.certificate_norm <= 1e-12
    assert separability_certificate_bound(inst, y) >= 1e12
    assert not _lp_separable(inst)


def test_certificate_bound_rejects_invalid_weights():
    inst = _instance([[1.0], [1.0]], [[1, 0], [0, 1]])
    assert separability_certificate_bound(inst, [0.5, 0.5]) == np.inf
    assert separability_certificate_bound(inst, [-0.5, 1.5]) == 0.0
    assert separability_certificate_bound(inst, [0.0, 0.0]) == 0.0
    assert separability_certificate_bound(inst, [1.0]) == 0.0
    # One atom alone proves nothing: its projection has norm sqrt(2) |h| = sqrt(2).
    assert separability_certificate_bound(inst, [1.0, 0.0]) == pytest.approx(2**-0.5)


def test_certificate_bound_is_a_valid_lower_bound_on_separator_norms():
    # Separable instance: any y gives 1 / ||P_perp sum y A|| <= ||W^mm|| = 1 / margin.
    inst = _random_instance(5, 4, 6, 2, seed=3)  # d > m: separable by Lemma 1
    result = is_separable(inst)
    assert result
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.random(len(separation_atoms(inst)))
        bound = separability_certificate_bound(inst, y)
        assert bound <= (1.0 / result.margin) * (1 + 1e-12)


# -- separable instances and witnesses -----------------------------------------------------


def _check_witness(inst, result):
    W = result.witness
    assert W.shape == inst.weight_shape
    assert np.min(_raw_margins(inst, W)) >= 1.0
    # Every in-support token, not only the anchor, beats every other token by >= 1.
    scores = inst.embeddings @ W.T
    for j in np.flatnonzero(~np.all(inst.supports, axis=1)):
        sup = inst.supports[j]
        assert scores[j, sup].min() - scores[j, ~sup].max() >= 1.0
    # W^mm comes from an exact solve: P_F W is rounding, relative to ||W||.
    assert np.linalg.norm(project_f(inst, W)) <= 1e-10 * np.linalg.norm(W)
    # The witness is W^mm scaled by 1 + O(1e-9), so its normalised margin is the optimum.
    assert ntp_margin(inst, W) == pytest.approx(result.margin, rel=1e-10)


def test_full_rank_embeddings_are_separable_lemma_1():
    rng = np.random.default_rng(7)
    inst = _instance(rng.standard_normal((8, 10)), rng.random((8, 5)) < 0.5 + np.eye(8, 5))
    result = is_separable(inst)
    assert result.separable and result.certificate is None
    _check_witness(inst, result)


def test_full_supports_are_vacuously_separable():
    inst = _instance([[1.0], [2.0]], [[1, 1, 1], [1, 1, 1]])
    result = is_separable(inst)
    assert result.separable and result.margin == np.inf
    assert not np.any(result.witness)


@pytest.mark.parametrize("seed", range(12))
def test_decision_agrees_with_lp_feasibility(seed):
    # Rank-deficient (d < m) integer instances: both outcomes occur (7 of 12 separable),
    # with exact degeneracies.
    inst = _random_instance(5, 4, 2 + seed % 3, 2, seed, integer=True)
    result = is_separable(inst)
    assert result.separable == _lp_separable(inst)
    if result:
        _check_witness(inst, result)
    else:
        assert separability_certificate_bound(inst, result.certificate) >= 1e10


def test_result_is_cached_and_independent_of_weights_and_probabilities():
    inst = _random_instance(6, 5, 3, 3, seed=11)
    first = is_separable(inst)
    assert is_separable(inst) is first
    rng = np.random.default_rng(1)
    other = _instance(inst.embeddings, inst.supports, seed=5, weights=rng.random(inst.m) + 0.1)
    second = is_separable(other)
    assert second.separable == first.separable
    assert second.margin == pytest.approx(first.margin, rel=1e-12)


def _clustered_one_hot(m, V, seed):
    """One-hot contexts in the plane, class v near angle 2 pi v / V: separable, rank 2."""
    rng = np.random.default_rng(seed)
    labels = np.arange(m) % V
    angles = 2 * np.pi * labels / V + rng.uniform(-0.3, 0.3, m)
    H = rng.uniform(0.5, 2.0, m)[:, None] * np.column_stack([np.cos(angles), np.sin(angles)])
    return NTPInstance(H, np.eye(V)[labels])


@pytest.mark.parametrize("seed", range(3))
def test_column_generation_on_many_atoms_in_low_rank(seed):
    # n_out = 60 * 4 = 240 atoms > 4 (V r + 1) = 44: the min-norm point is found by column
    # generation over working sets; its answer must match the LP and the clean KKT solution.
    sep_inst = _clustered_one_hot(60, 5, seed)
    result = is_separable(sep_inst)
    assert result and _lp_separable(sep_inst)
    _check_witness(sep_inst, result)
    # Flip one label to the opposite cluster's token with a duplicate embedding: not separable.
    H = np.vstack([sep_inst.embeddings, sep_inst.embeddings[:1]])
    P = np.vstack([sep_inst.probs, np.eye(5)[[2]]])
    bad = NTPInstance(H, P)
    verdict = is_separable(bad)
    assert not verdict and not _lp_separable(bad)
    assert separability_certificate_bound(bad, verdict.certificate) >= 1e12


def test_an_undecided_answer_is_remembered_with_its_budget(monkeypatch):
    # The dual ascent's undecided error takes its whole budget: asking again with no more time
    # must not repeat it, asking with more time must.
    from ntpprops import _svm_active
    from ntpprops._errors import SeparabilityUndecidedError

    budgets = []

    def undecided(inst, *, max_seconds, **kwargs):
        budgets.append(max_seconds)
        raise SeparabilityUndecidedError(
            "out of time", norm_lower_bound=10.0, margin_upper_bound=0.1, threshold=1e-8
        )

    monkeypatch.setattr(_svm_active, "decide_separability", undecided)
    inst = NTPInstance(np.array([[1.0], [2.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    for budget in (10.0, 5.0, 10.0, 20.0):
        with pytest.raises(SeparabilityUndecidedError, match="out of time"):
            is_separable(inst, max_seconds=budget)
    assert budgets == [10.0, 20.0]
    with pytest.raises(ValueError, match="max_seconds"):
        is_separable(inst, max_seconds=float("nan"))


@pytest.mark.parametrize("scale", [1e-4, 1e4])
def test_dual_ascent_verdict_does_not_depend_on_the_scale_of_h(scale):
    from ntpprops._svm_active import decide_separability

    # Separability is invariant under H -> c H (the atoms scale, the cone does not). Two
    # contexts on one ray with different supports: never separable, at any scale; the dual
    # ascent's stopping threshold must scale with the atoms to see it (a threshold that
    # shrank with the scale ran out of budget at c = 1e4).
    inst = _instance(scale * np.array([[1.0, 1.0], [1.0, 1.0]]), [[1, 0, 0], [0, 1, 1]])
    assert not decide_separability(inst, method="dual-cd")


def test_rank_not_width_routes_wide_rank_deficient_instances_to_the_dual_ascent():
    # d = 50 >= m = 40 but rank H = 20 < m, and the dense min-norm point would need
    # V r = 4000 rows x 16004 columns > DENSE_MAX_ENTRIES: only the dual ascent can decide it.
    # (A rule on d instead of rank H sends it to the dense solver, which refuses the size.)
    rng = np.random.default_rng(0)
    m, V, d, r = 40, 200, 50, 20
    H = rng.standard_normal((m, r)) @ rng.standard_normal((r, d))
    P = np.zeros((m, V))
    for j in range(m):
        P[j, rng.choice(V, 2, replace=False)] = 0.5
    inst = NTPInstance(H, P)
    assert np.linalg.matrix_rank(H) == r
    result = is_separable(inst)
    assert result.separable  # V r = 4000 free parameters for 40 contexts: a generic witness
    W = ntp_svm(inst)
    assert raw_margin(inst, W) >= 1.0 - 1e-8  # the KKT check's relative tolerance
