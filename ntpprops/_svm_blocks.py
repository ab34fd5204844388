"""Separability and ``W^mm`` split over mutually orthogonal groups of contexts.

When the contexts fall into groups whose embeddings are orthogonal across groups (the
connected components of the non-zero pattern of ``K = H H^T``), Definition 3 separates: a
context's constraints see only ``W h_j``, which depends only on the part of ``W`` in its
group's span, and ``||W||^2`` is the sum over the groups. So ``W^mm`` is the sum of the
groups' ``W^mm``, the instance is separable iff every group is, and a group's Farkas
certificate (zero on the other atoms) is one for the whole instance.

One-hot corpora (``H = I`` up to row order) split into single contexts, each with a closed
form: with ``n = ||h||^2`` and ``s = |S|`` of ``V`` tokens, ``W = u h^T / n`` where ``u`` is
``(V - s) / V`` on ``S`` and ``-s / V`` off it (minimise ``s a^2 + (V - s) b^2`` subject to
``a - b = 1``), and every out-of-support atom has the multiplier ``s / (V n)``. Larger groups
are solved as sub-instances by :func:`ntpprops._svm_active.decide_separability`. The assembled
``W^mm`` passes :func:`ntpprops._kkt.kkt_report` on the whole instance before it is cached.

The split is looked for only when ``H`` is held sparse (:mod:`ntpprops._embedding_ops`): the
pattern of ``K`` then costs ``O(nnz)``, and dense generic embeddings never split.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from ntpprops import _svm_active
from ntpprops._embedding_ops import context_groups, embedding_operator, pull_back
from ntpprops._errors import SolverError
from ntpprops._instance import NTPInstance
from ntpprops._kkt import kkt_report
from ntpprops._separation import (
    SeparabilityResult,
    perp_combination_norm,
    separation_atoms,
    sub_atom_index,
)

__all__ = ["decide_separability"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


def decide_separability(inst: NTPInstance, max_seconds: float) -> SeparabilityResult:
    """Definition 2 by groups when :func:`context_groups` splits ``inst``, else as a whole.

    As :func:`ntpprops._svm_active.decide_separability` (same result, same cache entry
    ``"svm_active_solution"`` holding ``(W^mm, duals, active, seconds)`` when separable).

    Raises
    ------
    SeparabilityUndecidedError
        If a group's dual ascent runs out of the remaining budget.
    SolverError
        If a group's solve fails, or the assembled ``W^mm`` fails the KKT check.
    """
    labels = context_groups(inst)
    if labels is None:
        return _svm_active.decide_separability(inst, max_seconds=max_seconds)
    start = time.perf_counter()
    atoms = separation_atoms(inst)
    if len(atoms) == 0:
        return SeparabilityResult(True, np.zeros(inst.weight_shape), float(np.inf))
    V = inst.vocab_size
    H, H_op = inst.embeddings, embedding_operator(inst)
    sizes = np.bincount(labels)
    single = sizes[labels] == 1
    n = np.einsum("ij,ij->i", H, H)
    # h_j = 0 with a support that is not full: its atoms are zero (a full support has none).
    zero = single & (n == 0.0) & (inst.support_sizes < V)
    if np.any(zero):
        return _as_certificate(inst, np.flatnonzero(zero)[:1], None, None)
    W = np.zeros(inst.weight_shape)
    duals = np.zeros(len(atoms))
    # Single contexts: the closed form of the module docstring, all at once.
    s = inst.support_sizes.astype(np.float64)
    solo = single & (n > 0.0)
    u = np.where(inst.supports, (V - s)[:, None] / V, -s[:, None] / V)
    u[~solo] = 0.0
    W += pull_back(H_op, u / np.where(solo, n, 1.0)[:, None])
    on_solo = solo[atoms.ctx]
    duals[on_solo] = (s / (V * np.where(n > 0.0, n, 1.0)))[atoms.ctx[on_solo]]
    for group in np.flatnonzero(sizes > 1):
        rows = np.flatnonzero(labels == group)
        sub = NTPInstance(H[rows], inst.probs[rows])
        left = max_seconds - (time.perf_counter() - start)
        result = _svm_active.decide_separability(sub, max_seconds=max(left, 1e-3))
        if not result:
            return _as_certificate(inst, rows, sub, result)
        if _svm_active.active_set_fits(sub):
            W_g, duals_g, _, _ = _svm_active.solve_active_set(sub)
        else:
            _, solved = _svm_active.solve_dual_cd(sub)
            if solved is None:  # pragma: no cover - the decision above found it separable
                raise SolverError("a group decided separable has no NTP-SVM solution")
            W_g, duals_g, _, _ = solved
        duals[sub_atom_index(inst, sub, rows)] = duals_g
        W += W_g
    report = kkt_report(inst, W, duals)
    if not report.ok:
        raise SolverError(
            "the NTP-SVM assembled from orthogonal groups of contexts failed the KKT check "
            f"(stationarity {report.stationarity:.2e}); try method='dual-cd'"
        )
    inst._cache["svm_active_solution"] = (W, duals, duals > 0.0, time.perf_counter() - start)
    return SeparabilityResult(True, _svm_active.witness(inst, W), 1.0 / float(np.linalg.norm(W)))


def _as_certificate(
    inst: NTPInstance,
    rows: IntArray,
    sub: NTPInstance | None,
    result: SeparabilityResult | None,
) -> SeparabilityResult:
    """The whole instance's Farkas certificate from that of the group ``sub`` on ``rows``.

    ``result`` is None for a single context with ``h = 0``: each of its atoms is zero, so the
    uniform weights over them are a certificate.
    """
    atoms = separation_atoms(inst)
    y = np.zeros(len(atoms))
    if sub is None or result is None or result.certificate is None:
        on_rows = np.isin(atoms.ctx, rows)
        y[on_rows] = 1.0 / np.count_nonzero(on_rows)
    else:
        y[sub_atom_index(inst, sub, rows)] = result.certificate
    return SeparabilityResult(False, None, 0.0, y, perp_combination_norm(inst, y))
