"""Shared, solver-free assertion helpers for the property suite.

Everything here is computed from the definitions in docs/theory.md with dense linear algebra on
small instances (``V * d`` of a few hundred at most), independently of the kernel-form code
in ``ntpprops``: the subspace ``F`` is rebuilt from its generators ``(e_z - e_z') h_j^T``
flattened row-major (``W[z, k]`` at index ``z * d + k``), margins are read off the logits
by brute force over every ``(j, z in S_j, v not in S_j)``.

Besides plain assertions the module offers three certificates that turn a numerical answer
into a proven bound:

- :func:`margin_upper_bound` — for any ``lambda >= 0`` over the separation atoms, no unit
  direction in ``F^perp`` has an NTP margin above ``||P_perp(sum lambda A)|| / sum lambda``;
- :func:`svm_distance_bound` — how far a candidate ``W`` can be from the exact ``W^mm``,
  by strong convexity of ``||W||^2 / 2`` and weak duality;
- :func:`f_curvature` — the curvature constants of ``CE_F`` on ``F``, from the dense basis,
  fed to the package's proven bounds :func:`ntpprops.f_distance_bound` (how far ``P_F W``
  can be from ``W*`` given ``CE(W) - H``) and :func:`ntpprops.alignment_lower_bound`
  (``cos(W, W^mm)`` from the excess). The suite always passes its own :func:`f_curvature`, so
  those bounds see an ``F`` built independently of ``ntpprops._subspace``.

The dense references themselves (the basis of ``F``, projections, ``W*``) live in
``tests/_oracles.py``.
"""

from __future__ import annotations

import math

import numpy as np
from _oracles import (
    EPS,
    all_pairs,
    atom_rows,
    condition,
    dense_f_basis,
    project_f_dense,
    project_perp_dense,
)
from hypothesis import strategies as st
from numpy.typing import NDArray

from ntpprops import NTPInstance
from ntpprops import f_curvature as package_f_curvature
from ntpprops import strategies as nst
from ntpprops._subspace import f_generators

__all__ = [
    "COMPATIBLE",
    "assert_farkas_certificate",
    "assert_in_f_perp",
    "assert_kkt_optimal",
    "assert_separator",
    "f_curvature",
    "genie_constant",
    "logit_rounding",
    "loss_rounding",
    "margin_upper_bound",
    "out_margins",
    "support_spread",
    "svm_distance_bound",
    "unit_margin",
    "w_star_tolerance",
]

FloatArray = NDArray[np.float64]

#: Compatible instances of every kind the strategies build (W* exists).
COMPATIBLE = st.one_of(
    nst.ntp_instances(compatible=True),
    nst.separable_instances(),
    nst.separable_instances(overparameterized=False, max_contexts=5),
    nst.full_support_instances(compatible=True),
)

# -- rounding -------------------------------------------------------------------------------------


def loss_rounding(inst: NTPInstance, W: np.ndarray) -> float:
    """Absolute rounding bound for one evaluation of ``CE``, ``H`` or the KL sum.

    Each logit is a length-``d`` dot product, wrong by at most ``d eps |w||h|`` (Higham);
    ``-log q`` adds ``eps`` relative on the log-partition; ``log p`` is correctly rounded.
    Every term is then weighted by ``pi_j p_jz`` (summing to 1), so the total error is below
    ``4 (d + 2) eps (max |logit scale| + max |log p| + 1)``; doubled for the two computations
    being compared.
    """
    logit_scale = float(np.abs(W).sum(axis=1).max() * np.abs(inst.embeddings).max(initial=0.0))
    log_p = np.log(inst.probs[inst.supports])
    return 8.0 * (inst.dim + 2) * EPS * (logit_scale + float(np.abs(log_p).max()) + 1.0)


# -- margins, by brute force ----------------------------------------------------------------


def _row_norm_max(inst: NTPInstance) -> float:
    return float(np.max(np.linalg.norm(inst.embeddings, axis=1)))


def logit_rounding(inst: NTPInstance, W: FloatArray) -> float:
    """Absolute rounding bound on one logit difference ``(e_z - e_v)^T W h_j``.

    A dot product of length ``d`` errs by at most ``d u |w|.|h| <= d u ||W|| ||h_j||``
    (Higham, ``u = EPS / 2``); a difference of two plus the subtraction gives the
    ``4 (d + 2) EPS`` factor, with room to spare.
    """
    return 4.0 * (inst.dim + 2) * EPS * float(np.linalg.norm(W)) * _row_norm_max(inst)


def support_spread(inst: NTPInstance, W: FloatArray) -> float:
    """``max_j (max_{z in S_j} l_jz - min_{z in S_j} l_jz)``: 0 exactly when (6a) holds."""
    L = inst.embeddings @ np.asarray(W, dtype=np.float64).T
    hi = np.where(inst.supports, L, -np.inf).max(axis=1)
    lo = np.where(inst.supports, L, np.inf).min(axis=1)
    return float(np.max(hi - lo))


def out_margins(inst: NTPInstance, W: FloatArray) -> FloatArray:
    """Margins ``min_{z in S_j} l_jz - l_jv`` over every ``(j, v not in S_j)``, shape (n_out,).

    Ordered by context then token (``np.nonzero(~supports)``).
    """
    L = inst.embeddings @ np.asarray(W, dtype=np.float64).T
    lo = np.where(inst.supports, L, np.inf).min(axis=1)
    ctx, tok = np.nonzero(~inst.supports)
    return lo[ctx] - L[ctx, tok]


def unit_margin(inst: NTPInstance, W: FloatArray) -> float:
    """Brute-force NTP margin of ``W / ||W||`` (``inf`` when every support is full)."""
    margins = out_margins(inst, W)
    if margins.size == 0:
        return math.inf
    return float(margins.min() / np.linalg.norm(W))


def assert_in_f_perp(inst: NTPInstance, W: FloatArray, tol: float) -> None:
    """Assert ``W in F^perp`` to relative accuracy ``tol``.

    Two independent readings: equal logits on every support (6a), relative to the logit
    scale ``sqrt(2) ||W|| max_j ||h_j||``; and ``||P_F W|| <= tol ||W||`` with the dense
    projector.
    """
    norm = float(np.linalg.norm(W))
    scale = math.sqrt(2.0) * norm * _row_norm_max(inst)
    spread = support_spread(inst, W)
    assert spread <= tol * scale + logit_rounding(inst, W), (
        f"W is not in F^perp: logits differ by {spread:.3g} on a support (scale {scale:.3g})"
    )
    in_f = float(np.linalg.norm(project_f_dense(inst, W)))
    assert in_f <= tol * norm + 1e3 * EPS * norm, (
        f"W is not in F^perp: ||P_F W|| = {in_f:.3g} vs ||W|| = {norm:.3g}"
    )


def assert_separator(inst: NTPInstance, W: FloatArray, tol: float) -> None:
    """Assert ``W`` satisfies Definition 2: (6a) in ``F^perp`` and (6b) every margin ``>= 1``.

    ``tol`` is relative: margins may fall short of 1 by ``tol`` plus rounding.
    """
    assert_in_f_perp(inst, W, tol)
    margins = out_margins(inst, W)
    worst = float(margins.min()) if margins.size else math.inf
    assert worst >= 1.0 - tol - logit_rounding(inst, W), f"a margin is {worst!r} < 1"


# -- certificates -----------------------------------------------------------------------------


def _atom_sum(inst: NTPInstance, atoms: object, weights: FloatArray) -> FloatArray:
    """``sum_i weights_i (e_{pos_i} - e_{neg_i}) h_{ctx_i}^T``, shape (V, d)."""
    ctx, pos, neg = (np.asarray(a) for a in atoms)  # type: ignore[attr-defined]
    C = np.zeros((inst.m, inst.vocab_size))
    np.add.at(C, (ctx, pos), weights)
    np.subtract.at(C, (ctx, neg), weights)
    return C.T @ inst.embeddings


def _check_separation_atoms(inst: NTPInstance, atoms: object) -> None:
    """Each atom is ``(e_z - e_v) h_j^T`` with ``z in S_j``, ``v not in S_j``; every pair once."""
    ctx, pos, neg = (np.asarray(a) for a in atoms)  # type: ignore[attr-defined]
    assert np.all(inst.supports[ctx, pos]), "a separation atom's positive token is off-support"
    assert not np.any(inst.supports[ctx, neg]), "a separation atom's negative token is in-support"
    pairs = set(zip(ctx.tolist(), neg.tolist(), strict=True))
    expected = set(zip(*(a.tolist() for a in np.nonzero(~inst.supports)), strict=True))
    assert pairs == expected and len(pairs) == len(ctx), "atoms must cover each (j, v) once"


def margin_upper_bound(inst: NTPInstance, atoms: object, weights: FloatArray) -> float:
    """Largest possible NTP margin of a unit direction in ``F^perp``, from any ``lambda >= 0``.

    For unit ``U in F^perp`` with every margin ``>= g``:
    ``g sum(lambda) <= <U, sum lambda A> = <U, P_perp sum lambda A> <= ||P_perp sum lambda A||``.
    At the SVM optimum the bound equals ``1 / ||W^mm||`` (complementarity gives
    ``sum lambda = ||W^mm||^2``).
    """
    lam = np.asarray(weights, dtype=np.float64)
    assert np.all(lam >= 0), "multipliers must be non-negative"
    total = float(lam.sum())
    assert total > 0, "all multipliers are zero: the bound is vacuous"
    return float(np.linalg.norm(project_perp_dense(inst, _atom_sum(inst, atoms, lam)))) / total


def svm_distance_bound(inst: NTPInstance, W: FloatArray, atoms: object, duals: FloatArray) -> float:
    """A proven upper bound on ``||W - W^mm||`` for a candidate ``W`` and multipliers.

    ``W_f = P_perp W / min_margin(P_perp W)`` is feasible for Definition 3, and the dual
    value ``D = (sum lambda)^2 / (2 ||P_perp sum lambda A||^2) <= ||W^mm||^2 / 2``. Strong
    convexity of ``||.||^2 / 2`` over the feasible set gives
    ``||W_f - W^mm||^2 <= ||W_f||^2 - ||W^mm||^2 <= ||W_f||^2 - 2 D``; add ``||W - W_f||``.
    The square root of a difference of two nearly equal squares carries a rounding floor of
    about ``sqrt(8 EPS) ||W_f||``, added.
    """
    U = project_perp_dense(inst, W)
    margins = out_margins(inst, U)
    lowest = float(margins.min())
    assert lowest > 0, "the candidate does not separate: no feasible rescaling"
    W_f = U / lowest
    dual_margin = margin_upper_bound(inst, atoms, duals)  # = sqrt(2 D)^{-1}
    gap = float(np.linalg.norm(W_f)) ** 2 - dual_margin**-2
    floor = math.sqrt(8.0 * EPS) * float(np.linalg.norm(W_f))
    return float(np.linalg.norm(W - W_f)) + math.sqrt(max(gap, 0.0)) + floor


def assert_kkt_optimal(inst: NTPInstance, result: object, tol: float) -> None:
    """Check an ``SVMResult`` against the KKT conditions of Definition 3, from its duals.

    ``min ||W||^2 / 2`` s.t. ``W in F^perp``, ``<W, A_i> >= 1`` over the separation atoms
    ``A_i = (e_{a_j} - e_v) h_j^T``. KKT: primal feasibility, ``lambda >= 0``,
    ``lambda_i (<W, A_i> - 1) = 0``, and ``W = P_perp(sum lambda A)`` (the equality
    multipliers absorb the ``F`` part). All relative to ``tol``; the duality gap
    ``1/||W|| - margin_upper_bound`` is checked to the same ``tol``.
    """
    from ntpprops._separability import separation_atoms

    W = np.asarray(result.W)  # type: ignore[attr-defined]
    lam = np.asarray(result.duals)  # type: ignore[attr-defined]
    atoms = separation_atoms(inst)
    _check_separation_atoms(inst, atoms)
    norm = float(np.linalg.norm(W))
    assert_separator(inst, W, tol)
    assert lam.shape == (len(np.asarray(atoms[0])),), "one dual per separation atom"
    assert np.all(lam >= 0), f"a dual is negative: {lam.min()!r}"
    ctx, pos, neg = (np.asarray(a) for a in atoms)
    L = inst.embeddings @ W.T
    slack = L[ctx, pos] - L[ctx, neg] - 1.0
    compl = float(np.sum(lam * np.abs(slack)))
    assert compl <= tol * norm**2, f"complementarity violated: {compl:.3g} vs ||W||^2 {norm**2:.3g}"
    station = float(np.linalg.norm(W - project_perp_dense(inst, _atom_sum(inst, atoms, lam))))
    assert station <= tol * norm, f"stationarity violated: {station:.3g} vs ||W|| {norm:.3g}"
    bound = margin_upper_bound(inst, atoms, lam)
    assert abs(bound * norm - 1.0) <= tol, f"duality gap: 1/||W|| = {1 / norm!r}, bound {bound!r}"


def assert_farkas_certificate(inst: NTPInstance, y: FloatArray, min_bound: float) -> float:
    """Check a non-separability certificate with no solver; return the implied norm bound.

    ``y >= 0``, ``sum y = 1`` over the separation atoms: every separator ``W in F^perp``
    has ``1 <= <W, sum y A> <= ||W|| ||P_perp sum y A||``, so ``||W|| >= 1 / ||D||``.
    Asserts that bound is at least ``min_bound``.
    """
    from ntpprops._separability import separation_atoms

    atoms = separation_atoms(inst)
    _check_separation_atoms(inst, atoms)
    y = np.asarray(y, dtype=np.float64)
    assert y.shape == (len(np.asarray(atoms[0])),), "one weight per separation atom"
    assert np.all(y >= 0), f"a certificate weight is negative: {y.min()!r}"
    assert abs(y.sum() - 1.0) <= 4 * y.size * EPS, f"certificate sums to {y.sum()!r}, not 1"
    D = float(np.linalg.norm(project_perp_dense(inst, _atom_sum(inst, atoms, y))))
    bound = math.inf if D == 0.0 else 1.0 / D
    assert bound >= min_bound, f"certificate only proves ||W|| >= {bound:.3g} < {min_bound:.3g}"
    return bound


# -- loss-side certificates ---------------------------------------------------------------------


def genie_constant(inst: NTPInstance, w_star_norm: float) -> float:
    """``C = V exp(||W*|| M)`` with ``M = sqrt(2) max_j ||h_j||`` (Eq. 9), as a float."""
    return inst.vocab_size * math.exp(w_star_norm * math.sqrt(2.0) * _row_norm_max(inst))


def f_curvature(inst: NTPInstance) -> tuple[float, float]:
    """:func:`ntpprops._bounds.f_curvature` on the dense basis of ``F`` built here.

    The Hessian formula is the package's; the subspace it is restricted to comes from
    :func:`dense_f_basis` (all in-support pairs, SVD), not from ``ntpprops._subspace``.
    """
    return package_f_curvature(inst, basis=dense_f_basis(inst))


def w_star_tolerance(inst: NTPInstance, W: np.ndarray) -> float:
    """Forward-error bound for ``W*`` computed two ways.

    The package solves the Gram (normal) equations of the anchored generators, whose error is
    ``O(eps cond(A_anchored)^2 ||W*||)``; dense least squares over all pairs errs by
    ``O(eps cond(A_all) ||W*||)``. The constant 100 covers the modest sizes (``<= 24`` rows).
    """
    kappa_anchor = condition(atom_rows(inst, f_generators(inst)))
    kappa_all = condition(atom_rows(inst, all_pairs(inst)))
    return 100.0 * EPS * (kappa_anchor**2 + kappa_all) * (float(np.linalg.norm(W)) + 1.0)
