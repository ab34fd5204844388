"""The matrix-free active-set polish (:func:`ntpprops._svm_polish.cg_polish`).

It must reproduce the dense active-set solver's ``W^mm`` from the exact active set and from
approximate ones (supersets and subsets, as a dual ascent hands it over), pass the KKT
check, and never return an uncertifiable answer: when it cannot solve it says None.

Tolerance for ``W^mm`` across methods: both answers pass the KKT check at ``KKT_RTOL``; a KKT
residual ``eps`` of a strongly convex QP moves the solution by ``O(eps)`` relative times a
conditioning factor, so ``1e3 * KKT_RTOL`` leaves three orders for that factor.
"""

from __future__ import annotations

import numpy as np
from _builders import random_support_instance, relative_error
from hypothesis import HealthCheck, given, settings
from ntpprops.strategies import separable_instances

from ntpprops import NTPInstance, ntp_svm_result
from ntpprops._separability import separation_atoms
from ntpprops._svm import KKT_RTOL, kkt_report
from ntpprops._svm_active import _to_solution, reduced_factor
from ntpprops._svm_polish import cg_polish

W_RTOL = 1e3 * KKT_RTOL


def _true_active(inst: NTPInstance) -> tuple[np.ndarray, np.ndarray]:
    """The reference ``W^mm`` (dense active set) and its active set as an (m, V) mask."""
    ref = ntp_svm_result(NTPInstance(inst.embeddings, inst.probs), method="active-set")
    atoms = separation_atoms(inst)
    mask = np.zeros(inst.supports.shape, dtype=bool)
    mask[atoms.ctx[ref.duals > 0], atoms.neg[ref.duals > 0]] = True
    return ref.W, mask


def _polished(inst: NTPInstance, active: np.ndarray) -> np.ndarray | None:
    B, _ = reduced_factor(inst)
    C = cg_polish(B, inst.supports, active)
    if C is None:
        return None
    W, duals, _ = _to_solution(inst, C)
    report = kkt_report(inst, W, duals)
    assert report.ok, report
    return W


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(separable_instances(max_contexts=6, max_vocab=5, max_dim=4))
def test_from_the_exact_active_set_it_gives_w_mm(inst: NTPInstance) -> None:
    ref, active = _true_active(inst)
    W = _polished(inst, active)
    assert W is not None
    assert relative_error(W, ref) <= W_RTOL


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(separable_instances(max_contexts=6, max_vocab=5, max_dim=4))
def test_from_a_subset_of_the_active_set_it_adds_the_violated_atoms(inst: NTPInstance) -> None:
    ref, active = _true_active(inst)
    fewer = active.copy()
    dropped = np.argwhere(active)[::2]  # every other active atom removed
    fewer[dropped[:, 0], dropped[:, 1]] = False
    W = _polished(inst, fewer)
    # A subset is always consistent (fewer equalities), so the iteration must finish.
    assert W is not None
    assert relative_error(W, ref) <= W_RTOL


def test_rank_deficient_instances_beyond_the_kernel_size() -> None:
    # d < m: the Gram of all atoms is singular; started from near-tight atoms (margin of the
    # reference below 1.05, a superset of the active set) the iteration drops the extra ones.
    ran = 0
    for seed in range(3):
        inst = random_support_instance(30, 12, 16, 2, seed)  # separable, rank 16 < m
        ref, _ = _true_active(inst)
        scores = inst.embeddings @ ref.T
        anchor = np.argmax(inst.supports, axis=1)
        margins = scores[np.arange(inst.m), anchor][:, None] - scores
        near = ~inst.supports & (margins < 1.05)
        W = _polished(inst, near)
        assert W is not None
        assert relative_error(W, ref) <= W_RTOL
        ran += 1
    assert ran == 3


def test_an_inconsistent_active_set_gives_none_or_a_certified_answer() -> None:
    # Every out atom tight at once is infeasible when V r is below their count: the solve
    # must not return numbers that fail the KKT check (_polished asserts that).
    inst = random_support_instance(30, 6, 3, 2, 0)
    _polished(inst, ~inst.supports)


def test_too_many_rows_is_refused(monkeypatch) -> None:
    import ntpprops._svm_polish as polish

    inst = random_support_instance(10, 4, 3, 2, 0)
    monkeypatch.setattr(polish, "CG_POLISH_MAX_ENTRIES", 1.0)
    B, _ = reduced_factor(inst)
    assert cg_polish(B, inst.supports, ~inst.supports) is None
