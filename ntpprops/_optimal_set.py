"""Distance of a direction to the *set* of optimal directions of a ``q``-NTP-SVM.

Outside ``l2`` the ``q``-NTP-SVM (:mod:`ntpprops._svm_norms`) may have a whole face of
minimisers, so "the iterate's direction converges to ``W_q``" is not well posed; the distance
to the optimal set is. For a weight matrix ``W`` (shape (V, d)) and ``r* = ||W_q||_q``, the
certified optimal norm, let

    W_hat = r* P_perp W / ||P_perp W||_q             (the direction, at the optimal scale),
    S_r   = {X : (6a), (6b) <X, A_i> >= 1, ||X||_q <= r},   r = r* (1 + GAP_RTOL[q]),

and return ``dist = min_{X in S_r} ||W_hat - X||_q`` and ``dist / r*`` (in ``[0, 2]``).
``S_{r*}`` is exactly the optimal set; ``S_r`` adds the solutions within the certificate's
relative gap of the optimum, the finest set the certified ``r*`` resolves (by Hoffman's
bound ``S_r`` lies within ``O(r - r*)`` of ``S_{r*}``). A direction is optimal iff its
distance is 0 (up to that slack), whichever optimal solution a solver happens to return.

``"max"`` and ``"l1"`` are linear programs solved by HiGHS (epigraph variables for the
distance, box bounds or a split ``X = X+ - X-`` for the radius). ``"l2"`` has a unique optimum
``W^mm`` (strict convexity), so the distance is ``||W_hat - W^mm||_F`` in closed form.
``"spectral"`` would need a semidefinite program per call and is not offered.

Certificate (weak duality, checked from the instance alone, as in :mod:`ntpprops._svm_norms`).
For ``lambda >= 0`` on (6b), any ``mu`` on (6a) and any ``U`` with ``||U||_{q*} <= 1``, put
``C = sum_i lambda_i A_i + sum_e mu_e E_e``. For every ``X`` in ``S_r``,
``||W_hat - X||_q >= <U, W_hat - X>`` and ``<C, X> >= sum(lambda)`` and
``<C + U, X> <= r ||C + U||_{q*}``, so

    ||W_hat - X||_q  >=  <U, W_hat> + sum(lambda) - r ||C + U||_{q*}   (the lower bound),

while the returned nearest point ``X`` (feasible to :data:`FEAS_RTOL`) gives the upper
bound ``||W_hat - X||_q``. A distance is returned only when the two agree to
:data:`DIST_ATOL` ``* r*``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray

from ntpprops._atoms import Atoms, atom_coefficients, atom_values
from ntpprops._errors import SolverError
from ntpprops._instance import NTPInstance, as_weights
from ntpprops._separability import separation_atoms
from ntpprops._subspace import f_generators, project_f_perp
from ntpprops._svm import ntp_svm_result
from ntpprops._svm_norms import (
    FEAS_RTOL,
    GAP_RTOL,
    LP_MAX_NONZEROS,
    _atom_matrix,
    _run_highs,
    dual_norm,
    matrix_norm,
)

__all__ = ["DIST_ATOL", "OptimalSetDistance", "optimal_set_distance"]

FloatArray = NDArray[np.float64]

#: Largest ``(upper - lower) / r*`` of a returned distance. HiGHS's primal and dual
#: feasibility tolerances (1e-10) on the ``V d`` entries move ``||C + U||_{q*}`` and the
#: nearest point's norm by at most ``V d 1e-10`` relative (1e-8 at ``V d = 100``; measured
#: gaps are 1e-15..1e-11), so 1e-7 of the optimal norm certifies distances to 7 digits of
#: ``r*``.
DIST_ATOL = 1e-7


@dataclass(frozen=True, eq=False)
class OptimalSetDistance:
    """The certified distance of a direction to the ``q``-NTP-SVM's optimal set.

    Attributes
    ----------
    norm : str
    distance : float
        ``||W_hat - X||_q`` at the returned nearest point ``X`` (an upper bound, within
        ``DIST_ATOL * optimum`` of the true minimum).
    relative : float
        ``distance / optimum``, in ``[0, 2]``: 0 for an optimal direction.
    lower : float
        The weak-duality lower bound of the module notes (``distance`` for ``"l2"``).
    optimum : float
        ``r* = ||W_q||_q``, the certified optimal norm.
    radius : float
        ``r = r* (1 + GAP_RTOL[norm])``, the radius of the set measured against.
    direction : ndarray, shape (V, d)
        ``W_hat = r* P_perp W / ||P_perp W||_q``.
    nearest : ndarray, shape (V, d)
        A nearest point ``X`` of the optimal set (``W^mm`` for ``"l2"``).
    primal_infeasibility : float
        ``max(max_i (1 - <X, A_i>)^+, max_e |<X, E_e>| / (||E_e||_F ||X||_F),
        (||X||_q - r)^+ / r)``.
    """

    norm: str
    distance: float
    relative: float
    lower: float
    optimum: float
    radius: float
    direction: FloatArray = field(repr=False)
    nearest: FloatArray = field(repr=False)
    primal_infeasibility: float


def _distance_lp(
    norm: str,
    w_hat: FloatArray,
    A: Any,
    E: Any,
    radius: float,
    max_seconds: float | None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``min ||w_hat - x||_q`` over ``A x >= 1``, ``E x = 0``, ``||x||_q <= radius``.

    Returns ``(x, lambda, mu, U)``, the multipliers of the module notes read off HiGHS's
    marginals (``lambda, alpha, beta = -y_ub >= 0`` on the ``<=`` rows, ``mu = y_eq``,
    ``U = beta - alpha`` from the two rows ``+-(x - w_hat) <= t``).
    """
    n_w, n_a = w_hat.size, A.shape[0]
    eye = scipy.sparse.identity(n_w, format="csr")
    if norm == "max":  # variables (x, t): min t, |x - w_hat| <= t, -radius <= x <= radius
        ones = scipy.sparse.csr_matrix(np.ones((n_w, 1)))
        rows = [
            scipy.sparse.hstack([eye, -ones]),
            scipy.sparse.hstack([-eye, -ones]),
            scipy.sparse.hstack([-A, scipy.sparse.csr_matrix((n_a, 1))]),
        ]
        c = np.zeros(n_w + 1)
        c[-1] = 1.0
        bounds: Any = [(-radius, radius)] * n_w + [(0.0, None)]
        lift = scipy.sparse.hstack([E, scipy.sparse.csr_matrix((E.shape[0], 1))])
        b_extra: list[float] = []
    else:  # variables (x+, x-, s) >= 0: min sum s, |x - w_hat| <= s, sum(x+ + x-) <= radius
        rows = [
            scipy.sparse.hstack([eye, -eye, -eye]),
            scipy.sparse.hstack([-eye, eye, -eye]),
            scipy.sparse.hstack([-A, A, scipy.sparse.csr_matrix((n_a, n_w))]),
            scipy.sparse.csr_matrix(np.concatenate([np.ones(2 * n_w), np.zeros(n_w)])[None]),
        ]
        c = np.concatenate([np.zeros(2 * n_w), np.ones(n_w)])
        bounds = (0.0, None)
        lift = scipy.sparse.hstack([E, -E, scipy.sparse.csr_matrix((E.shape[0], n_w))])
        b_extra = [radius]
    problem: dict[str, Any] = {
        "c": c,
        "A_ub": scipy.sparse.vstack(rows, format="csr"),
        "b_ub": np.concatenate([w_hat, -w_hat, -np.ones(n_a), b_extra]),
        "bounds": bounds,
    }
    if E.shape[0]:
        problem |= {"A_eq": lift.tocsr(), "b_eq": np.zeros(E.shape[0])}
    result = _run_highs(max_seconds, **problem)
    x = np.asarray(result.x)
    x = x[:n_w] if norm == "max" else x[:n_w] - x[n_w : 2 * n_w]
    y = -np.asarray(result.ineqlin.marginals)
    alpha, beta, lam = y[:n_w], y[n_w : 2 * n_w], y[2 * n_w : 2 * n_w + n_a]
    mu = np.asarray(result.eqlin.marginals) if E.shape[0] else np.zeros(0)
    return x, np.maximum(lam, 0.0), mu, beta - alpha


def _infeasibility(
    inst: NTPInstance, X: FloatArray, atoms: Atoms, gens: Atoms, norm: str, radius: float
) -> float:
    scores = inst.embeddings @ X.T
    worst = float(np.max(1.0 - atom_values(atoms, scores), initial=0.0))
    x_fro = float(np.linalg.norm(X))
    if len(gens) and x_fro > 0.0:
        gen_norms = np.sqrt(2.0) * np.linalg.norm(inst.embeddings, axis=1)[gens.ctx]
        inner = np.abs(atom_values(gens, scores))
        scaled = np.where(gen_norms > 0.0, inner / np.where(gen_norms > 0.0, gen_norms, 1.0), 0.0)
        worst = max(worst, float(np.max(scaled)) / x_fro)
    return max(worst, (matrix_norm(X, norm) - radius) / radius)


def optimal_set_distance(
    inst: NTPInstance,
    W: ArrayLike,
    norm: str,
    *,
    optimum: float | None = None,
    max_seconds: float | None = None,
) -> OptimalSetDistance:
    """Certified distance of the direction of ``P_perp W`` to the ``norm``-NTP-SVM's optima.

    Parameters
    ----------
    inst : NTPInstance
        NTP-separable, with some support smaller than ``V``.
    W : array_like, shape (V, d)
        Any weight matrix (an iterate); only the direction of ``P_perp W`` matters.
    norm : {"max", "l1", "l2"}
    optimum : float, optional
        ``r* = ||W_q||_q`` if known (else from :func:`ntpprops.ntp_svm_result`, cached).
    max_seconds : float, optional
        HiGHS's time limit (``None``: none).

    Returns
    -------
    OptimalSetDistance

    Raises
    ------
    ValueError
        ``norm`` not among ``"max"``, ``"l1"``, ``"l2"``, or ``P_perp W = 0`` (no direction).
    InvalidInstanceError
        ``W`` malformed.
    SolverError
        The linear program would exceed :data:`ntpprops._svm_norms.LP_MAX_NONZEROS`, HiGHS
        fails or runs out of time, or the answer fails its certificate.
    NotSeparableError
        From :func:`ntpprops.ntp_svm_result`.
    """
    if norm not in ("max", "l1", "l2"):
        raise ValueError(
            f"norm must be 'max', 'l1' or 'l2' (the spectral set would need an SDP), got {norm!r}"
        )
    W = np.asarray(as_weights(inst, W), dtype=np.float64)
    W_perp = project_f_perp(inst, W)
    size = matrix_norm(W_perp, norm)
    if not (size > 0.0 and math.isfinite(size)):
        raise ValueError(f"P_perp W has {norm}-norm {size!r}: no direction to measure")
    if norm == "l2":
        W_mm = np.asarray(ntp_svm_result(inst).W)
        r_star = float(np.linalg.norm(W_mm))
        direction = r_star * W_perp / size
        dist = float(np.linalg.norm(direction - W_mm))
        return OptimalSetDistance(
            "l2", dist, dist / r_star, dist, r_star, r_star, direction, W_mm, 0.0
        )
    if optimum is None:
        optimum = 1.0 / ntp_svm_result(inst, norm=norm).margin
    r_star = float(optimum)
    if not (r_star > 0.0 and math.isfinite(r_star)):
        raise ValueError(f"optimum must be positive and finite, got {optimum!r}")
    radius = r_star * (1.0 + GAP_RTOL[norm])
    direction = r_star * W_perp / size
    atoms, gens = separation_atoms(inst), f_generators(inst)
    n_w = inst.vocab_size * inst.dim
    nonzeros = 2 * inst.dim * (len(atoms) + len(gens)) * (2 if norm == "l1" else 1) + 6 * n_w
    if nonzeros > LP_MAX_NONZEROS:
        raise SolverError(
            f"the distance to the {norm}-optimal set needs a linear program with "
            f"{nonzeros:.3g} constraint nonzeros (> {LP_MAX_NONZEROS:.3g}); use fewer contexts "
            "or a smaller vocabulary, or report margin_fraction instead"
        )
    H, V = inst.embeddings, inst.vocab_size
    A, E = _atom_matrix(atoms, H, V), _atom_matrix(gens, H, V)
    x, lam, mu, U = _distance_lp(norm, direction.ravel(), A, E, radius, max_seconds)
    X = x.reshape(inst.weight_shape)
    U_mat = U.reshape(inst.weight_shape)
    dual = "l1" if norm == "max" else "max"
    u_size = matrix_norm(U_mat, dual)
    if u_size > 1.0:  # rounding of HiGHS's marginals: rescale into the dual unit ball
        U_mat = U_mat / u_size
    C = (atom_coefficients(atoms, lam, inst.m, V) + atom_coefficients(gens, mu, inst.m, V)).T @ H
    lower = float(np.sum(U_mat * direction) + lam.sum() - radius * dual_norm(C + U_mat, norm))
    upper = matrix_norm(direction - X, norm)
    infeasible = _infeasibility(inst, X, atoms, gens, norm, radius)
    if infeasible > FEAS_RTOL or not upper - lower <= DIST_ATOL * r_star:
        raise SolverError(
            f"the distance to the {norm}-optimal set failed its certificate (upper {upper:.6g}, "
            f"lower {lower:.6g}, allowed gap {DIST_ATOL * r_star:.3g}; primal infeasibility "
            f"{infeasible:.2e}, tolerance {FEAS_RTOL:g}); rescale the embeddings"
        )
    return OptimalSetDistance(
        norm, upper, upper / r_star, lower, r_star, radius, direction, X, infeasible
    )
