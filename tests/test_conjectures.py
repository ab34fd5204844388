"""The conjecture registry of ``ntpprops explore`` and the built-in default instances.

Separability and compatibility are decided here independently of ``ntpprops``: as a dense
linear program (scipy's HiGHS) and a dense least-squares solve over ``vec(W)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis.strategies import SearchStrategy
from scipy.optimize import linprog

from ntpprops import NTPInstance
from ntpprops._defaults import paper_instance, toy_instance
from ntpprops.conjectures import (
    CONJECTURES,
    EXPECTATIONS,
    conjecture,
    explore,
    get_conjecture,
)

REQUIRED = (
    "separable-needs-d-ge-m",
    "d-ge-m-implies-separable",
    "lemma1-overparameterised",
    "adam-aligns-with-wmm",
)


def atom_row(inst: NTPInstance, j: int, z: int, v: int) -> np.ndarray:
    """``vec((e_z - e_v) h_j^T)`` (row-major ``W[z, k]`` at ``z * d + k``)."""
    row = np.zeros(inst.weight_shape)
    row[z] += inst.embeddings[j]
    row[v] -= inst.embeddings[j]
    return row.ravel()


def lp_separable(inst: NTPInstance) -> bool:
    """Definition 2 as an LP feasibility problem: (6a) equalities, (6b) margins >= 1."""
    equal, margin = [], []
    for j in range(inst.m):
        support = np.flatnonzero(inst.supports[j])
        anchor = support[0]
        equal += [atom_row(inst, j, anchor, z) for z in support[1:]]
        margin += [atom_row(inst, j, anchor, v) for v in np.flatnonzero(~inst.supports[j])]
    n = inst.vocab_size * inst.dim
    result = linprog(
        np.zeros(n),
        A_ub=-np.array(margin) if margin else None,
        b_ub=-np.ones(len(margin)) if margin else None,
        A_eq=np.array(equal) if equal else None,
        b_eq=np.zeros(len(equal)) if equal else None,
        bounds=(None, None),
        method="highs",
    )
    assert result.status in (0, 2), result.message  # 0 feasible, 2 infeasible
    return result.status == 0


def lstsq_compatible(inst: NTPInstance) -> bool:
    """Definition 1: Eq. 4 on every in-support pair, solved by dense least squares."""
    rows, rhs = [], []
    for j in range(inst.m):
        support = np.flatnonzero(inst.supports[j])
        for z in support:
            for v in support:
                if z != v:
                    rows.append(atom_row(inst, j, z, v))
                    rhs.append(np.log(inst.probs[j, z] / inst.probs[j, v]))
    if not rows:
        return True
    A, b = np.array(rows), np.array(rhs)
    w = np.linalg.lstsq(A, b, rcond=None)[0]
    # Residual of an exactly solvable well-scaled system is rounding, ~1e-15 * |b|.
    return bool(np.max(np.abs(A @ w - b)) <= 1e-9 * max(1.0, float(np.abs(b).max())))


# -- the registry ---------------------------------------------------------------------------


def test_required_conjectures_are_registered_with_valid_fields():
    for name in REQUIRED:
        assert name in CONJECTURES
    for name, conj in CONJECTURES.items():
        assert conj.name == name and conj.statement and conj.expected in EXPECTATIONS
        assert isinstance(conj.strategy(), SearchStrategy)
    assert get_conjecture("adam-aligns-with-wmm").expected == "open"
    assert {CONJECTURES[n].expected for n in REQUIRED[:2]} == {"false"}
    assert CONJECTURES["lemma1-overparameterised"].expected == "true"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="separable-needs-d-ge-m"):
        get_conjecture("nope")


def test_registration_rejects_duplicates_and_bad_expectations():
    with pytest.raises(ValueError, match="already registered"):
        conjecture("adam-aligns-with-wmm", "x", strategy=lambda: None, expected="open")
    with pytest.raises(ValueError, match="expected"):
        conjecture("new-name", "x", strategy=lambda: None, expected="maybe")


def test_a_new_conjecture_takes_a_few_lines_and_explore_shrinks_it(monkeypatch):
    from ntpprops import strategies

    monkeypatch.setattr("ntpprops.conjectures.CONJECTURES", dict(CONJECTURES))

    @conjecture(
        "zero-entropy",
        "Every instance has zero entropy.",
        strategy=lambda: strategies.ntp_instances(max_contexts=1, max_vocab=3, max_dim=1),
        expected="false",
    )
    def _zero(inst: NTPInstance) -> bool:
        return inst.entropy == 0.0

    result = explore("zero-entropy", max_examples=50, seed=0)
    assert result.found
    cex = result.counterexample
    # Independent entropy by hand: some context has two tokens with positive probability.
    assert np.any((cex.probs > 0).sum(axis=1) >= 2)
    # Shrinking reaches the smallest such instance: one context, two tokens.
    assert (cex.m, cex.vocab_size) == (1, 2)


# -- the shipped predicates on hand-built instances ----------------------------------------


def test_separable_needs_d_ge_m_is_false_on_a_ray():
    # Two contexts on one ray in d = 1 with the same support {0}: w_0 > w_1 separates both.
    inst = NTPInstance(np.array([[1.0], [2.0]]), np.array([[1.0, 0.0], [1.0, 0.0]]))
    assert inst.dim < inst.m and lp_separable(inst)
    assert CONJECTURES["separable-needs-d-ge-m"].predicate(inst) is False


def test_d_ge_m_implies_separable_is_false_without_full_rank():
    # d = m = 2 but h_1 = h_2 with disjoint supports: no W ranks token 0 and token 1 first.
    inst = NTPInstance(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert inst.dim >= inst.m and not lp_separable(inst)
    assert CONJECTURES["d-ge-m-implies-separable"].predicate(inst) is False


def test_lemma1_control_holds_on_random_overparameterised_instances():
    rng = np.random.default_rng(7)
    predicate = CONJECTURES["lemma1-overparameterised"].predicate
    for _ in range(5):
        m, V = 3, 4
        H = rng.standard_normal((m, m + 1))
        probs = rng.dirichlet(np.ones(V), size=m) * (rng.random((m, V)) < 0.6)
        probs[np.arange(m), rng.integers(V, size=m)] += 0.1
        inst = NTPInstance(H, probs / probs.sum(axis=1, keepdims=True))
        assert lp_separable(inst) and lstsq_compatible(inst)
        assert predicate(inst) is True


def test_adam_conjecture_is_vacuous_off_its_hypotheses_and_decides_on_them():
    predicate = CONJECTURES["adam-aligns-with-wmm"].predicate
    not_separable = NTPInstance(np.array([[1.0], [1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert predicate(not_separable) is True
    separable = NTPInstance(np.eye(2), np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))
    assert isinstance(predicate(separable), bool)


# -- explore on the shipped conjectures ------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_explore_shrinks_separable_needs_d_ge_m_to_the_smallest_counterexample(seed):
    """A violation needs d < m, so m >= 2 and V >= 2, d >= 1: (m, V, d) = (2, 2, 1) is least."""
    cex = explore("separable-needs-d-ge-m", seed=seed).counterexample
    assert cex is not None
    assert cex.dim < cex.m and lp_separable(cex)  # a counterexample, decided independently
    assert (cex.m, cex.vocab_size, cex.dim) == (2, 2, 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_explore_shrinks_d_ge_m_implies_separable_to_the_smallest_counterexample(seed):
    """(m, V, d) = (1, 2, 1) is the least size any instance has; h = 0 makes it non-separable."""
    cex = explore("d-ge-m-implies-separable", seed=seed).counterexample
    assert cex is not None
    assert cex.dim >= cex.m and not lp_separable(cex)
    assert (cex.m, cex.vocab_size, cex.dim) == (1, 2, 1)


def test_explore_finds_a_one_context_counterexample_for_adam():
    """One context, d = 1, one-hot support on V = 3: W^mm ~ (2, -1, -1) h, Adam ~ (1, -1, -1) h.

    With V = 2 (and m = d = 1) both directions are (1, -1) h, so three tokens are needed; the
    search must shrink to that size.
    """
    cex = explore("adam-aligns-with-wmm", seed=0).counterexample
    assert cex is not None
    assert lp_separable(cex) and lstsq_compatible(cex)  # inside the statement's hypotheses
    assert (cex.m, cex.vocab_size, cex.dim) == (1, 3, 1)


# -- the default instances ------------------------------------------------------------------


def test_paper_instance_is_the_app_a2_setting_with_empirical_frequencies():
    inst = paper_instance()
    assert (inst.m, inst.dim, inst.vocab_size) == (50, 60, 10)
    assert np.all(inst.support_sizes == 6)
    assert inst.counts is not None and int(inst.counts.sum()) == 5000
    totals = inst.counts.sum(axis=1)
    np.testing.assert_allclose(inst.context_weights, totals / 5000, rtol=1e-15)
    np.testing.assert_allclose(inst.probs, inst.counts / totals[:, None], rtol=1e-15)
    assert paper_instance() == inst  # deterministic
    assert paper_instance(seed=1) != inst


def test_toy_instance_is_the_fig1_setting_and_compatible_and_separable():
    inst = toy_instance()
    assert (inst.m, inst.dim, inst.vocab_size) == (3, 2, 5)
    assert np.all(inst.support_sizes == 3)
    # d = 2 < m = 3: neither property is automatic (Lemma 1 needs d > m); this draw has both.
    assert lstsq_compatible(inst) and lp_separable(inst)
