"""The regularisation path of Theorem 1: ``W_B = argmin_{||W||_F <= B} CE(W)``.

Reduction. ``CE`` depends on ``W`` only through the logits ``H W^T``, and a per-context constant
added to the logits changes nothing. So the minimiser lies in the row space of ``H`` (thin SVD
``H = U S V^T``, rank ``r``; ``W = X V^T`` with ``X`` of shape ``(V, r)`` and ``||W|| = ||X||``)
and has zero column sums (the directions ``1 u^T`` move no softmax). The remaining space splits
orthogonally into ``F`` (Eq. 5) and ``P = F^perp`` (within it), with orthonormal bases
``Q_F``, ``Q_P``; the problem is posed over the coordinates ``c = (a, b)``, ``X = Q_F a + Q_P b``,
and ``CE`` is strictly convex in ``c``.

Accuracy at large ``B``. Along the path the out-of-support probabilities fall like
``e^{-gamma B}`` (``gamma`` the NTP margin), and so do the ``P``-block of the gradient, of the
Hessian and the multiplier. Formed naively (``P_perp`` of a gradient built from ``softmax - P``),
those are lost in the ``eps``-rounding of the ``O(1)`` in-support terms once
``e^{-gamma B} < 1e-16``. Here the logit map of every ``P`` direction is shifted per context
(softmax-invariant) to be exactly zero on the support, so the ``P`` components of the gradient
and Hessian are sums over out-of-support tokens only, with full relative accuracy; the loss is
tracked as ``CE - H`` in the form of :func:`ntpprops.excess_loss`. The path is then accurate
until ``e^{-gamma B}`` underflows, ``gamma B ~ 630`` (:data:`MIN_MULTIPLIER`); beyond that a
:class:`SolverError` says so.

Solver. For a multiplier ``lam`` the ridge problem ``min CE + lam/2 ||c||^2`` is solved by
Newton's method with Armijo backtracking on a Jacobi-scaled dense Hessian (the ``F`` and ``P``
blocks differ in scale by ``e^{-gamma B}``). A block whose step is at its rounding floor is
frozen and the other solved alone; with ``a`` frozen the line search compares only the
``P``-dependent part of the objective. Steps are capped at ``MAX_LOGIT_STEP`` nats of logit
change (directions of exponentially small curvature give huge Newton steps), and a numerically
singular scaled Hessian (a graded ``P`` block) is inverted with floored eigenvalues, so steps
stay descent directions. ``lam(B)`` solves ``log ||c_lam|| = log B`` by a safeguarded Newton
iteration in ``t = log lam`` to ``1e-3``; then Newton on the bordered KKT system
(``grad CE + lam c = 0``, ``||c||^2 = B^2``) puts ``||W_B||`` on the sphere to ``NORM_RTOL``.
Norms are solved in increasing order with ratios at most ``MAX_NORM_RATIO`` (intermediate
norms are inserted and not reported), each warm-started with the tangent
``dc/dt = -lam (Hess + lam I)^{-1} c``. Dense linear algebra in ``V r`` unknowns (a Hessian costs
``O((V r)^2 m V)``): meant for paper-sized instances (``m = 50, V = 10, d = 60``, ``V r = 500``:
the path to ``B = 1800``, ``gamma B = 570``, takes about 15 s on one core).

Matrix-free method (``V r > DENSE_MAX_COORDINATES``; ``RegularizationPath.method``). No dense
basis of ``F`` or ``P`` and no Hessian are formed. ``F`` is carried by its independent
generators from the cached pivoted-Cholesky Gram factor of :mod:`ntpprops._subspace`
(orthonormal coordinates ``a = L^T (s alpha)``): ``dim F`` is at most the number of generators
(30 on the Zen of Python, 2221 on GPL-3), so ``F`` logits and gradients cost ``O(m dim F)``,
and the same factor gives ``P_F`` in kernel form (applied twice for orthogonality). ``P`` is a
``(V, r)`` matrix kept in ``P`` by ``I - P_F - P_1``; the large-``B`` device is kept: its
logits are shifted to be exactly zero on the supports, and its gradient and Hessian products
are built from out-of-support terms only. Each norm is solved on the sphere ``||c|| = B`` by
Riemannian Newton-CG (projected PCG, Jacobi preconditioners, forcing
``min(0.1, ||r_k|| / ||r_0||)`` floored at what the KKT target needs; each Hessian-vector
product is two ``O(m V r)`` GEMMs, ``G (X_F + D)^T`` and ``M^T G``, the ``F`` adjoint taking a
sparse support term on top), with the same block freezing (read off the joint step), logit-step
cap and Armijo search as the dense method; norms are continued with ratio
``MF_MAX_NORM_RATIO`` from a secant predictor. A point is certified converged once its relative
KKT residual is at most ``MF_KKT_RTOL`` (norms inserted for the continuation:
``MF_CONTINUATION_KKT_RTOL``, they are warm starts only), or at ``MF_STEP_RTOL`` relative
steps, and reports the KKT residual it reached; caps on Newton steps, CG iterations and
Hessian-vector products per norm raise :class:`SolverError` instead of running on. Work
counters per norm are logged at DEBUG level (``bench/bench_regpath.py``).

When the infimum of ``CE`` is attained (e.g. not separable, or full supports) at a finite
``W_inf``, the constraint is inactive for ``B >= ||W_inf||``: there ``W_B = W_inf``, the
multiplier is 0, ``active`` is False and ``||W_B|| < B``. ``W_inf`` is accepted only with a
well-conditioned Hessian (a Newton stall on rounding noise is not a minimiser).

Limitation. The exact ``P`` maps cover the mass that vanishes on *every* out-of-support token,
as in separable instances. If an instance is not separable yet its infimum is not attained,
only part of the out-of-support mass vanishes along the path, and the diverging direction is
resolved only while its probability is above about ``1e-16`` of the rest; past that a
:class:`SolverError` says so (rather than returning a stalled point).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import scipy.linalg
import scipy.sparse
from numpy.typing import ArrayLike, NDArray

from ntpprops._embedding_ops import EmbeddingOperator, embedding_operator, logits_of, pull_back
from ntpprops._errors import InvalidInstanceError, SolverError
from ntpprops._instance import NTPInstance
from ntpprops._limits import Limits, limits_for
from ntpprops._linalg import symmetric_eigh
from ntpprops._loss import excess_terms
from ntpprops._subspace import RANK_RTOL, f_generators, gram_factor
from ntpprops._threads import single_blas_thread

__all__ = ["MIN_MULTIPLIER", "RegularizationPath", "regularization_path"]

FloatArray = NDArray[np.float64]

_log = logging.getLogger(__name__)

#: Relative Newton step (per block) at which an inner ridge solve counts as converged.
STEP_RTOL = 1e-11
#: Tolerance on ``|log ||W_B|| - log B|``.
NORM_RTOL = 1e-13
#: Smallest multiplier handled: below it ``e^{-gamma B}`` is near the float64 underflow.
MIN_MULTIPLIER = 1e-280
#: Largest ratio between consecutive norms solved (intermediate norms are inserted).
MAX_NORM_RATIO = 1.25
#: Largest change of any logit in one Newton step (nats).
MAX_LOGIT_STEP = 20.0
_MAX_NEWTON = 200
_MAX_OUTER = 200


@dataclass(frozen=True, eq=False)
class RegularizationPath:
    """The norm-constrained minimisers ``W_B`` of Theorem 1 along a grid of norms ``B``.

    Attributes
    ----------
    norms : ndarray, shape (k,)
        The bounds ``B`` (sorted increasing).
    weights : ndarray, shape (k, V, d)
        ``W_B = argmin_{||W||_F <= B} CE(W)``.
    loss : ndarray, shape (k,)
        ``CE(W_B)``.
    excess_loss : ndarray, shape (k,)
        ``CE(W_B) - H``, computed directly: accurate far below ``eps * H``, down to a floor of
        about ``1e-30`` (the in-support KL is quadratic in the ``~1e-15`` rounding of the
        ``F`` coordinates).
    cos_mm : ndarray, shape (k,), or None
        ``cos(W_B, W^mm)``; None when ``W^mm`` does not exist (not separable) or could not be
        had (see ``metric_notes``). The matrix-free method does not solve the SVM (minutes on
        its sizes): it uses a ``W^mm`` given in ``limits=`` or already computed on the
        instance (:func:`ntpprops.ntp_svm_result`), else None.
    dist_f_wstar : ndarray, shape (k,), or None
        ``||P_F W_B - W*||_F``; None when ``W*`` does not exist (not compatible).
    converged : ndarray of bool, shape (k,)
        The solver met its tolerances (relative Newton step ``STEP_RTOL``, norm ``NORM_RTOL``).
    multipliers : ndarray, shape (k,)
        ``lam_B >= 0`` with ``grad CE(W_B) + lam_B W_B = 0`` (KKT of the ball constraint).
    active : ndarray of bool, shape (k,)
        The constraint binds (``||W_B|| = B``, ``lam_B > 0``). False once ``B`` exceeds the
        norm of a finite minimiser of ``CE``: then ``W_B`` is that minimiser.
    kkt_residual : ndarray, shape (k,)
        The accuracy reached: ``max`` over the blocks ``F``, ``P`` of
        ``||grad CE + lam_B c|| / (||g_abs|| + lam_B ||c||)`` in the solver's coordinates
        ``c``, with ``g_abs`` the gradient of the absolute residuals ``pi_j |q_j - p_j|``
        (the size of the terms summed): about ``1e-16`` means exact in float64. Per block, so
        that the ``P`` block's ``e^{-gamma B}``-small gradient is measured against its own
        terms. 0 at an exact zero.
    norm_error : ndarray, shape (k,)
        ``| ||W_B|| - B | / B`` where the constraint binds, ``max(||W_B|| - B, 0) / B`` where
        it does not.
    method : {"dense", "matrix-free"}
        The solver used (chosen by size: ``V rank(H) <= DENSE_MAX_COORDINATES`` is dense).
    requested : int
        How many norms were asked for. Fewer were solved (``len(norms) < requested``) when
        ``max_seconds`` ran out: the path then holds the smallest ``len(norms)`` of them.
    metric_notes : mapping of str to str
        Why ``cos_mm`` or ``dist_f_wstar`` is None, by field name (as
        :attr:`ntpprops.TrainResult.metric_notes`); empty when both are there.
    """

    norms: FloatArray
    weights: FloatArray = field(repr=False)
    loss: FloatArray
    excess_loss: FloatArray
    cos_mm: FloatArray | None
    dist_f_wstar: FloatArray | None
    converged: NDArray[np.bool_]
    multipliers: FloatArray = field(repr=False)
    active: NDArray[np.bool_] = field(repr=False)
    kkt_residual: FloatArray = field(repr=False)
    norm_error: FloatArray = field(repr=False)
    method: str = "dense"
    requested: int = 0
    metric_notes: Mapping[str, str] = field(default_factory=dict)


# -- the reduced problem -------------------------------------------------------------------


@dataclass(frozen=True)
class _Reduced:
    """Coordinates ``c = (a, b)`` and the logit map of every basis direction."""

    n_f: int
    basis: FloatArray  # (V r, n): columns Q_F then Q_P, orthonormal
    row_basis: FloatArray  # (r, d): V^T of the thin SVD of H
    logit_maps: FloatArray  # (n, m, V): per-context-centred logits of each basis direction

    @property
    def size(self) -> int:
        return int(self.basis.shape[1])

    def logits(self, c: FloatArray) -> FloatArray:
        return np.tensordot(c, self.logit_maps, axes=1)

    def weights(self, c: FloatArray, V: int) -> FloatArray:
        """``W = X V^T`` of shape (V, d) for coordinates ``c``."""
        X = (self.basis @ c).reshape(V, -1)
        return X @ self.row_basis


def _reduce(inst: NTPInstance) -> _Reduced:
    cached: _Reduced | None = inst._cache.get("regpath_reduced")
    if cached is not None:
        return cached
    H, S = inst.embeddings, inst.supports
    V = S.shape[1]
    U, sing, Vt = np.linalg.svd(H, full_matrices=False)
    r = int(np.sum(sing > max(H.shape) * np.finfo(float).eps * sing[0])) if sing.size else 0
    G, row_basis = U[:, :r] * sing[:r], Vt[:r]
    gens = f_generators(inst)
    per_token = np.zeros((len(gens), V, r))
    rows = np.arange(len(gens))
    per_token[rows, gens.pos] += G[gens.ctx]
    per_token[rows, gens.neg] -= G[gens.ctx]
    phi = per_token.reshape(len(gens), V * r)
    if len(gens) and r:
        _, s_phi, vt_phi = np.linalg.svd(phi, full_matrices=False)
        # Same cut-off as dim F of ntpprops._subspace (eigenvalues of the Gram = s^2).
        q_f = vt_phi[s_phi**2 > RANK_RTOL * s_phi[0] ** 2].T
    else:
        q_f = np.zeros((V * r, 0))
    ones = np.kron(np.ones((V, 1)) / np.sqrt(V), np.eye(r))  # (V r, r): the directions 1 u^T
    q_p = scipy.linalg.null_space(np.hstack([q_f, ones]).T) if r else np.zeros((0, 0))
    basis = np.hstack([q_f, q_p]) if r else np.zeros((0, 0))
    maps = np.einsum("jk,nzk->njz", G, basis.T.reshape(-1, V, r))
    # Shift each context's logits by their mean over the support (softmax-invariant); on the
    # P directions they are then zero on the support up to rounding: make that exact.
    counts = S.sum(axis=1)
    maps -= (np.where(S, maps, 0.0).sum(axis=2) / counts)[:, :, None]
    maps[q_f.shape[1] :, S] = 0.0
    reduced = _Reduced(q_f.shape[1], basis, row_basis, maps)
    inst._cache["regpath_reduced"] = reduced
    return reduced


@dataclass(frozen=True)
class _Point:
    """Loss quantities at coordinates ``c``."""

    c: FloatArray
    kl_in: float  # sum_j pi_j KL(p_j || q_j restricted to S_j): depends on the F part only
    out: float  # sum_j pi_j -log(1 - q_out_j)
    grad: FloatArray  # gradient of CE in c
    q: FloatArray  # softmax of the logits, (m, V)

    @property
    def excess(self) -> float:
        return self.kl_in + self.out


class _Problem:
    def __init__(self, inst: NTPInstance) -> None:
        self.inst = inst
        self.red = _reduce(inst)
        self.pi = inst.context_weights

    def point(self, c: FloatArray) -> _Point:
        inst = self.inst
        # The excess loss as in ntpprops.excess_loss: every term non-negative, no cancellation.
        kl, log_out, log_q_support = excess_terms(inst, self.red.logits(c))
        q = np.exp(log_q_support - log_out[:, None])
        residual = self.pi[:, None] * (q - inst.probs)
        # P maps vanish on the support: their components only see out-of-support q.
        grad = np.tensordot(self.red.logit_maps, residual, axes=([1, 2], [0, 1]))
        return _Point(c, float(self.pi @ kl), float(self.pi @ log_out), grad, q)

    def hessian(self, pt: _Point, lam: float) -> FloatArray:
        """``sum_j pi_j Cov_{q_j}(u_k, u_l) + lam I`` over the logit maps ``u`` of the basis."""
        T = self.red.logit_maps
        n = T.shape[0]
        A = (T * np.sqrt(self.pi[:, None] * pt.q)).reshape(n, -1)
        means = np.einsum("njz,jz->nj", T, pt.q) * np.sqrt(self.pi)
        M = A @ A.T - means @ means.T
        M[np.diag_indices(n)] += lam
        hessian: FloatArray = M
        return hessian

    def blocks(self) -> tuple[slice, slice]:
        return slice(None, self.red.n_f), slice(self.red.n_f, None)

    def small(self, step: FloatArray, c: FloatArray, rtol: float = STEP_RTOL) -> list[bool]:
        """Per block (F, P): is the step below ``rtol`` relative to the block of ``c``?"""
        return [
            bool(np.linalg.norm(step[b]) <= rtol * (1.0 + np.linalg.norm(c[b])))
            for b in self.blocks()
        ]


def _scaled_solve(M: FloatArray, rhs: FloatArray) -> FloatArray:
    """Solve ``M x = rhs`` (columns) for SPD ``M`` whose diagonal spans many magnitudes."""
    scale = 1.0 / np.sqrt(np.diag(M))
    Ms = scale[:, None] * M * scale[None, :]
    # Entries below 1e-200 next to a unit diagonal change nothing but, as products inside the
    # factorisation, would run at subnormal speed.
    Ms[np.abs(Ms) < 1e-200] = 0.0
    try:
        # Cholesky is backward stable; the exponentially graded P block can leave the scaled
        # matrix ill-conditioned at trial multipliers far below the solution's, where the
        # Newton step only needs to be a descent direction.
        factor = scipy.linalg.cho_factor(Ms, check_finite=False)
        sol = scipy.linalg.cho_solve(factor, scale[:, None] * rhs, check_finite=False)
    except scipy.linalg.LinAlgError:
        # Numerically singular (a graded block whose smallest curvatures are below eps of
        # its diagonal): floor the eigenvalues, which keeps the step a descent direction;
        # the huge steps along flat directions are then capped by the caller.
        vals, vecs = symmetric_eigh(Ms)
        vals = np.maximum(vals, Ms.shape[0] * np.finfo(float).eps * vals[-1])
        sol = vecs @ ((vecs.T @ (scale[:, None] * rhs)) / vals[:, None])
    step: FloatArray = scale[:, None] * sol
    return step


@dataclass(frozen=True)
class _Solution:
    pt: _Point
    lam: float
    hess: FloatArray  # Hessian of CE + lam/2 ||c||^2 at pt
    converged: bool


def _objective(prob: _Problem, pt: _Point, lam: float, p_only: bool) -> float:
    """``CE - H + lam/2 ||c||^2``, or only its P-dependent part when ``a`` is held fixed.

    With ``a`` fixed the in-support logits (hence ``kl_in``) are bitwise unchanged, and the
    remaining part is of the size of the out-of-support mass, so comparing it alone resolves
    decreases far below ``eps * (CE - H)``.
    """
    f_blk, p_blk = prob.blocks()
    out = pt.out + 0.5 * lam * float(pt.c[p_blk] @ pt.c[p_blk])
    if p_only:
        return out
    return out + pt.kl_in + 0.5 * lam * float(pt.c[f_blk] @ pt.c[f_blk])


def _line_search(
    prob: _Problem, pt: _Point, lam: float, step: FloatArray, slope: float, p_only: bool
) -> _Point | None:
    """Armijo backtracking along ``step``; None when no step length decreases the objective."""
    obj = _objective(prob, pt, lam, p_only)
    slack = 8 * np.finfo(float).eps * abs(obj)  # the rounding of obj itself
    t = 1.0
    while t > 1e-12:
        trial = prob.point(pt.c + t * step)
        if _objective(prob, trial, lam, p_only) <= obj + 1e-4 * t * slope + slack:
            return trial
        t *= 0.5
    return None


def _ridge(prob: _Problem, c: FloatArray, lam: float, rtol: float = STEP_RTOL) -> _Solution:
    """Newton's method with backtracking for ``min CE(c) + lam/2 ||c||^2`` (strictly convex).

    A block (``F`` or ``P``) whose step is below ``rtol`` is at its rounding floor and is
    frozen: its noise would cost more in the objective (curvature x step^2) than the other
    block gains. With ``a`` frozen, the line search compares only the ``P``-dependent part of
    the objective, which resolves changes far below ``eps`` times the in-support part. If the
    joint step fails, the blocks are stepped one after the other (their coupling is of order
    ``sqrt(e^{-gamma B})`` in the scaled Hessian).
    """
    f_blk, p_blk = prob.blocks()
    pt = prob.point(c)
    M = prob.hessian(pt, lam)
    for _ in range(_MAX_NEWTON):
        g = pt.grad + lam * pt.c
        step = _scaled_solve(M, -g[:, None])[:, 0]
        small = prob.small(step, pt.c, rtol)
        if all(small):
            pt = prob.point(pt.c + step)
            return _Solution(pt, lam, prob.hessian(pt, lam), True)
        if small[0] != small[1]:
            # Freeze the small block and solve for the other alone: through the inverse's
            # cross block, the frozen block's gradient noise would leak into the step.
            frozen, free = (f_blk, p_blk) if small[0] else (p_blk, f_blk)
            step[frozen] = 0.0
            step[free] = _scaled_solve(M[free, free], -g[free, None])[:, 0]
        # Directions of exponentially small curvature give huge Newton steps, and the loss
        # grows exponentially past the minimiser: cap the change of any logit first.
        biggest = float(np.max(np.abs(prob.red.logits(step))))
        if biggest > MAX_LOGIT_STEP:
            step *= MAX_LOGIT_STEP / biggest
        new = _line_search(prob, pt, lam, step, float(g @ step), small[0])
        if new is None and not any(small):
            f_step, p_step = step.copy(), step.copy()
            f_step[p_blk], p_step[f_blk] = 0.0, 0.0
            new = _line_search(prob, pt, lam, f_step, float(g @ f_step), False)
            new = _line_search(prob, new or pt, lam, p_step, float(g @ p_step), True) or new
        if new is None:
            return _Solution(pt, lam, M, False)
        pt = new
        M = prob.hessian(pt, lam)
    return _Solution(pt, lam, M, False)


class _Unconstrained:
    """The finite minimiser of ``CE`` (if any), searched for once, when the norm saturates."""

    def __init__(self) -> None:
        self.tried = False
        self.solution: _Solution | None = None

    def find(self, prob: _Problem, c: FloatArray) -> None:
        if not self.tried:
            self.tried = True
            sol = _ridge(prob, c, 0.0)
            # Certify: a true minimiser has a well-conditioned Hessian; a point where Newton
            # stalled on rounding noise (an unattained infimum) has a numerically flat one.
            curv = np.linalg.eigvalsh(sol.hess) if sol.converged else np.zeros(1)
            self.solution = sol if curv[0] > 1e-10 * curv[-1] else None

    def within(self, B: float) -> _Solution | None:
        sol = self.solution
        return sol if sol is not None and np.linalg.norm(sol.pt.c) <= B else None


def _log_norm_gap(c: FloatArray, B: float) -> float:
    norm = float(np.linalg.norm(c))
    return float((np.log(norm) if norm > 0 else -np.inf) - np.log(B))


def _find_multiplier(
    prob: _Problem,
    B: float,
    c: FloatArray,
    t: float,
    finite: _Unconstrained,
    psi_tol: float,
    rtol: float,
) -> _Solution | None:
    """Safeguarded Newton on ``psi(t) = log ||c_{e^t}|| - log B`` until ``|psi| <= psi_tol``.

    The ridge problems are solved to relative steps ``rtol``. Returns None when the
    constraint turns out inactive (``finite`` then holds the answer).
    """
    lo, hi = -np.inf, np.inf  # t below lo: norm > B; t above hi: norm < B
    sol = _ridge(prob, c, np.exp(t), rtol)
    last = (t, np.nan)
    for _ in range(_MAX_OUTER):
        psi = _log_norm_gap(sol.pt.c, B)
        if abs(psi) <= psi_tol:
            return sol
        if abs(psi - last[1]) < 1e-12 and abs(t - last[0]) > 1e-6 and psi < 0:
            raise SolverError(
                f"regularization_path: B = {B:.6g} is beyond what float64 resolves for this "
                f"instance: the norm is stuck at {np.exp(psi) * B:.6g} as the multiplier falls "
                "(typically the gradient along the diverging direction is below the rounding "
                "of the non-vanishing terms: an instance that is not separable but whose "
                "infimum is not attained); use smaller B"
            )
        last = (t, psi)
        norm = float(np.linalg.norm(sol.pt.c))
        v = _scaled_solve(sol.hess, sol.pt.c[:, None])[:, 0]  # (Hess + lam I)^{-1} c
        dpsi = -sol.lam * float(sol.pt.c @ v) / norm**2 if norm > 0 else -1.0
        if psi > 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
            if dpsi > -1e-10:  # the norm stopped growing as lam -> 0: a finite minimiser?
                finite.find(prob, sol.pt.c)
                if finite.within(B) is not None:
                    return None
        step = -psi / dpsi if np.isfinite(psi) else 1.0
        t_new = t + float(np.clip(step, -50.0, 50.0))
        if not lo < t_new < hi and np.isfinite(lo) and np.isfinite(hi):
            t_new = 0.5 * (lo + hi)
        if np.exp(t_new) < MIN_MULTIPLIER:
            raise SolverError(
                f"regularization_path: B = {B:.6g} is beyond the float64 range for this "
                f"instance (the multiplier would fall below {MIN_MULTIPLIER:g}: out-of-support "
                f"probabilities near underflow); use B <= {norm:.4g}"
            )
        if t_new == t:
            return sol
        lam_new = float(np.exp(t_new))
        # Tangent predictor dc/dt = -lam (Hess + lam I)^{-1} c, kept only if it helps.
        guess = prob.point(sol.pt.c - sol.lam * v * (t_new - t))
        here = prob.point(sol.pt.c)
        start = (
            guess
            if _objective(prob, guess, lam_new, False) < _objective(prob, here, lam_new, False)
            else here
        )
        t = t_new
        sol = _ridge(prob, start.c, lam_new, rtol)
    return sol


def _polish(prob: _Problem, sol: _Solution, B: float) -> tuple[_Solution, str]:
    """Newton on the KKT system ``grad CE + lam c = 0``, ``||c||^2 = B^2`` (bordered).

    Returns the last iterate and ``"ok"``, ``"crossing"`` (the multiplier would turn
    negative: the constraint is not binding) or ``"failed"``.
    """
    pt, lam, M = sol.pt, sol.lam, sol.hess
    for _ in range(10):
        c = pt.c
        r = pt.grad + lam * c
        s = 0.5 * (float(c @ c) - B * B)
        v = _scaled_solve(M, np.column_stack([-r, c]))
        dlam = (float(c @ v[:, 0]) + s) / float(c @ v[:, 1])
        step = v[:, 0] - dlam * v[:, 1]
        if lam + dlam <= 0:
            return _Solution(pt, lam, M, False), "crossing"
        pt, lam = prob.point(c + step), lam + dlam
        M = prob.hessian(pt, lam)
        if all(prob.small(step, c)) and abs(_log_norm_gap(pt.c, B)) <= NORM_RTOL:
            return _Solution(pt, lam, M, True), "ok"
    return _Solution(pt, lam, M, False), "failed"


def _solve_one(
    prob: _Problem, B: float, c: FloatArray, t: float, finite: _Unconstrained
) -> _Solution:
    inactive = finite.within(B)
    if inactive is not None:
        return inactive
    # Coarse multiplier first, then the bordered KKT Newton (quadratic); if that fails, a
    # tight multiplier search and a second polish.
    sol: _Solution | None = None
    for psi_tol, rtol in ((1e-3, 1e-6), (1e-8, STEP_RTOL)):
        start = c if sol is None else sol.pt.c
        t = t if sol is None else float(np.log(sol.lam))
        sol = _find_multiplier(prob, B, start, t, finite, psi_tol, rtol)
        if sol is None:
            inactive = finite.within(B)
            assert inactive is not None
            return inactive
        polished, status = _polish(prob, sol, B)
        if status == "ok":
            return polished
        if status == "crossing":
            break
    assert sol is not None
    # The polish fails when the multiplier wants to cross 0: B is at (or, by rounding, just
    # past) the norm of a finite minimiser.
    finite.find(prob, sol.pt.c)
    inactive = finite.within(B * (1.0 + 1e-9))
    if inactive is not None:
        return inactive
    return _Solution(sol.pt, sol.lam, sol.hess, False)


def _continuation(start: float, stop: float, ratio: float = MAX_NORM_RATIO) -> list[float]:
    """Norms from ``start`` (exclusive) to ``stop`` with ratios at most ``ratio``.

    Newton on the exponential tails of the loss moves the norm by about ``1 / gamma`` per
    step, so each solve is warm-started from a nearby norm along the path.
    """
    steps = max(1, int(np.ceil(np.log(stop / start) / np.log(ratio) - 1e-9)))
    return [float(x) for x in np.geomspace(start, stop, steps + 1)[1:]]


def _predict(sol: _Solution, log_ratio: float) -> tuple[FloatArray, float]:
    """First-order prediction of ``(c, log lam)`` at the norm ``e^{log_ratio}`` times larger.

    Along the path ``dc/dt = -lam v`` and ``d log||c|| / dt = -lam c.v / ||c||^2`` with
    ``v = (Hess + lam I)^{-1} c``; ``t = log lam`` moves by ``log_ratio`` over the latter.
    """
    c, lam = sol.pt.c, sol.lam
    v = _scaled_solve(sol.hess, c[:, None])[:, 0]
    slope = -lam * float(c @ v) / float(c @ c)
    t = float(np.log(lam))
    if not slope < 0:
        return c, t
    dt = float(np.clip(log_ratio / slope, -50.0, 0.0))
    return c - lam * v * dt, t + dt


# -- the matrix-free method ----------------------------------------------------------------

#: Largest ``V r`` (unknowns of the dense method) solved densely; above it the dense Hessian
#: (``(V r)^2`` floats, ``O((V r)^2 m V)`` per Newton step) is replaced by the matrix-free one.
DENSE_MAX_COORDINATES = 1500
#: Relative Newton step (per block) at which a matrix-free sphere solve counts as converged:
#: the conjugate-gradient steps are exact only to their own residual, and the Hessian's
#: rounding (``eps`` times its condition) puts a floor near ``1e-10`` on badly scaled
#: instances, so the dense ``STEP_RTOL`` is not always reachable; the reached accuracy is
#: reported per point (``RegularizationPath.kkt_residual``).
MF_STEP_RTOL = 1e-9
#: Relative KKT residual (:func:`_mf_kkt`) at which a matrix-free point counts as converged
#: (reported per point as ``kkt_residual``), and the looser one of the norms inserted for the
#: continuation, which only serve as warm starts.
MF_KKT_RTOL = 1e-9
MF_CONTINUATION_KKT_RTOL = 1e-4
#: Largest ratio between consecutive norms of the matrix-free continuation.
MF_MAX_NORM_RATIO = 2.0
#: Caps of the matrix-free solver: Newton steps per norm, CG iterations per Newton step, and
#: Hessian-vector products per reported norm (the work bound that makes it never hang).
_MF_MAX_NEWTON = 60
_MF_MAX_CG = 250
_MF_MAX_PRODUCTS = 4000
#: CG iterations without halving the residual after which it counts as at its rounding floor.
_MF_STAGNATION = 25


@dataclass(frozen=True, eq=False)
class _Factored:
    """The matrix-free reduction: ``F`` through its generators, ``P`` as projected matrices.

    ``F``: the independent generators ``(e_pos - e_neg) g_ctx^T`` picked by the pivoted
    Cholesky factor of :func:`ntpprops._subspace.gram_factor` (``G_hat = L L^T`` on unit
    atoms, scale ``s``); the coordinates ``a = L^T (s * alpha)`` of ``X_F = sum alpha_i atom_i``
    are orthonormal (``||X_F|| = ||a||``), so ``||c||`` is ``||W||`` as in the dense method.
    ``P``: a ``(V, r)`` matrix kept in ``P`` by :meth:`project_p` (``I - P_F - P_1``, ``P_F``
    in the kernel form, twice for orthogonality). Nothing of size ``(V r) x dim`` is formed.
    """

    # (m, r) = U S: the context embeddings in row-space coordinates; H itself (CSR, with
    # row_basis None for the identity) when H is sparse with orthogonal columns (one-hot).
    G: EmbeddingOperator
    row_basis: FloatArray | None  # (r, d)
    ctx: NDArray[np.intp]  # (n_f,) basis atoms
    pos: NDArray[np.intp]
    neg: NDArray[np.intp]
    scale: FloatArray  # (n_f,) atom norms
    chol: EmbeddingOperator  # (n_f, n_f) lower: unit Gram of the basis atoms = L L^T
    chol_inv: EmbeddingOperator  # (n_f, n_f) L^{-1}: the factor is reused in every product
    incidence: scipy.sparse.csr_matrix  # (n_f, V): +1 at pos, -1 at neg
    incidence_t: scipy.sparse.csr_matrix  # (V, n_f), its transpose (built once)
    k_ctx: FloatArray  # (m, n_f) = K[:, ctx]
    g_ctx: EmbeddingOperator  # (n_f, r) = G[ctx] (CSR when G is)
    supports: NDArray[np.bool_]  # (m, V)
    anchor: NDArray[np.intp]  # (m,) a token of each support
    support_at: tuple[NDArray[np.intp], NDArray[np.intp]]  # (rows, tokens) of every support
    g_squared: EmbeddingOperator  # (m, r) entrywise G**2, for the Jacobi diagonal

    @property
    def n_f(self) -> int:
        return int(self.ctx.shape[0])

    @property
    def shape_p(self) -> tuple[int, int]:
        return (self.supports.shape[1], self.G.shape[1])

    @property
    def size(self) -> int:
        return self.n_f + self.shape_p[0] * self.shape_p[1]

    def split(self, c: FloatArray) -> tuple[FloatArray, FloatArray]:
        return c[: self.n_f], c[self.n_f :].reshape(self.shape_p)

    def inner(self, Y: FloatArray) -> FloatArray:
        """``<Y, (e_pos - e_neg) g_ctx^T>`` for every basis atom, shape (n_f,); Y is (V, r)."""
        g = self.g_ctx
        if isinstance(g, np.ndarray):
            return np.asarray(np.einsum("ir,ir->i", Y[self.pos] - Y[self.neg], g), dtype=np.float64)
        # O(nnz(g_ctx)): one entry a generator for one-hot embeddings, not r.
        rows = np.repeat(np.arange(self.n_f), np.diff(g.indptr))
        cols = g.indices
        gap = Y[self.pos[rows], cols] - Y[self.neg[rows], cols]
        return np.bincount(rows, weights=g.data * gap, minlength=self.n_f).astype(np.float64)

    def combine(self, coef: FloatArray) -> FloatArray:
        """``sum_i coef_i (e_pos - e_neg) g_ctx^T``, shape (V, r)."""
        scaled = (
            self.g_ctx * coef[:, None]
            if isinstance(self.g_ctx, np.ndarray)
            else (scipy.sparse.diags_array(coef) @ self.g_ctx)
        )
        return _dense(self.incidence_t @ scaled)

    def alpha(self, a: FloatArray) -> FloatArray:
        """Generator coefficients ``alpha = L^{-T} a / s`` of the ``F`` coordinates ``a``."""
        return (self.chol_inv.T @ a) / self.scale

    def f_matrix(self, a: FloatArray) -> FloatArray:
        """``X_F = sum alpha_i atom_i``, shape (V, r)."""
        return self.combine(self.alpha(a))

    def f_logits(self, a: FloatArray) -> FloatArray:
        """Logits ``G X_F^T`` (m, V) in ``O(m n_f)``: each atom moves two tokens' logits."""
        if self.n_f == 0:
            return np.zeros(self.supports.shape)
        return np.asarray(self.incidence_t @ (self.alpha(a)[:, None] * self.k_ctx.T)).T

    def f_adjoint(self, R: FloatArray) -> FloatArray:
        """``d/da <R, G X_F^T>`` for an (m, V) matrix ``R``, shape (n_f,)."""
        if self.n_f == 0:
            return np.zeros(0)
        diff = np.asarray(self.incidence @ R.T)  # (n_f, m): R[:, pos] - R[:, neg]
        vals = np.einsum("ik,ki->i", diff, self.k_ctx)
        adjoint: FloatArray = self.chol_inv @ (vals / self.scale)
        return adjoint

    def f_precond(self, a: FloatArray, diag_beta: FloatArray) -> FloatArray:
        """``L^T D^{-1} L a``: Jacobi in the unit-atom coordinates, carried to ``a``."""
        return self.chol.T @ ((self.chol @ a) / diag_beta)

    def project_p(self, Y: FloatArray) -> FloatArray:
        """Orthogonal projection of ``Y`` (V, r) onto ``P`` (``I - P_F - P_1``), twice."""
        for _ in range(2):
            if self.n_f:
                vals = self.inner(Y)
                unit = self.chol_inv.T @ (self.chol_inv @ (vals / self.scale))
                Y = Y - self.combine(unit / self.scale)
            Y = Y - Y.mean(axis=0)
        return np.asarray(Y)

    def p_logits(self, Xp: FloatArray) -> FloatArray:
        """Logits of a ``P`` matrix, shifted per context to be exactly zero on the support."""
        L = logits_of(self.G, Xp)
        S = self.supports
        L -= (np.where(S, L, 0.0).sum(axis=1) / S.sum(axis=1))[:, None]
        L[S] = 0.0
        return L

    def p_adjoint(self, R: FloatArray) -> FloatArray:
        """``d/dX_P <R, logits>`` projected onto ``P``, from the out-of-support ``R`` only.

        ``R`` has zero row sums, so the in-support part is ``-(out-of-support sum)`` spread
        over the support; any spread differs by an element of ``F`` (removed by the
        projection), so it is put on one anchor token: ``P`` components of the gradient and
        of Hessian products are then sums of out-of-support terms, with full relative accuracy.
        """
        M = np.where(self.supports, 0.0, R)
        M[np.arange(M.shape[0]), self.anchor] = -M.sum(axis=1)
        return self.project_p(pull_back(self.G, M))

    def f_from_tokens(self, Y: FloatArray) -> FloatArray:
        """``d/da <R, G X_F^T>`` from ``Y = R^T G`` (V, r): the ``F`` adjoint without ``K``."""
        if self.n_f == 0:
            return np.zeros(0)
        adjoint: FloatArray = self.chol_inv @ (self.inner(Y) / self.scale)
        return adjoint

    def adjoints(self, R: FloatArray, want_f: bool = True) -> tuple[FloatArray, FloatArray]:
        """:meth:`f_adjoint` (zeros unless ``want_f``) and :meth:`p_adjoint` with one GEMM.

        ``M^T G`` (``M`` the out-of-support part of ``R`` with the anchor's entry) is the
        ``P`` adjoint before projection; ``R - M`` lives on the supports (about 2.6 tokens a
        context on GPL-3), so ``R^T G`` for the ``F`` adjoint is that GEMM plus a sparse
        product, instead of a second ``O(m V r)`` pass.
        """
        M = np.where(self.supports, 0.0, R)
        M[np.arange(M.shape[0]), self.anchor] = -M.sum(axis=1)
        Y = pull_back(self.G, M)
        out_p = self.project_p(Y)
        if not want_f or self.n_f == 0:
            return np.zeros(self.n_f), out_p
        rows, tokens = self.support_at
        inside = scipy.sparse.csr_matrix(
            (R[rows, tokens] - M[rows, tokens], (tokens, rows)), shape=R.shape[::-1]
        )
        moved = inside @ self.G
        return self.f_from_tokens(Y + _dense(moved)), out_p

    def weights(self, c: FloatArray, V: int) -> FloatArray:
        """``W = (X_F + X_P) V^T`` of shape (V, d): the adapter :func:`_dist_f_wstar` reads."""
        a, Xp = self.split(c)
        X = self.f_matrix(a) + Xp
        return X if self.row_basis is None else X @ self.row_basis


def _dense(x: object) -> FloatArray:
    """A sparse product as a dense array (dense ones unchanged)."""
    if scipy.sparse.issparse(x):
        return np.asarray(x.toarray())  # type: ignore[attr-defined]
    return np.asarray(x)


def _sparse_if_sparse(A: FloatArray) -> EmbeddingOperator:
    """``A`` as CSR when at most 5 % of it is non-zero: the Gram of F's generators is block
    diagonal over orthogonal groups of contexts (one block a context for one-hot ones), so
    its factor and inverse factor are too, and their products cost ``O(nnz)``."""
    if A.size and np.count_nonzero(A) <= 0.05 * A.size:
        return scipy.sparse.csr_array(A)
    return np.ascontiguousarray(A)


def _orthogonal_columns(H: scipy.sparse.csr_array) -> bool:
    """Whether the columns of the sparse ``H`` (m, d) are orthogonal and non-zero (so
    ``rank H = d``): no two share a row, as in one-hot embeddings."""
    gram = scipy.sparse.csr_array(abs(H).T @ abs(H))
    return bool(gram.nnz == gram.shape[0] and np.all(gram.diagonal() > 0.0))


def _factor(inst: NTPInstance) -> _Factored:
    cached: _Factored | None = inst._cache.get("regpath_factored")
    if cached is not None:
        return cached
    H, S = inst.embeddings, inst.supports
    V = S.shape[1]
    G: EmbeddingOperator
    row_basis: FloatArray | None
    H_op = embedding_operator(inst)
    if not isinstance(H_op, np.ndarray) and _orthogonal_columns(H_op):
        # The columns of H are then an orthogonal basis of its row space: no SVD, and every
        # product below stays O(nnz(H) V) (a dense G = U S costs m V d per product).
        G, row_basis = H_op, None
    else:
        U, sing, Vt = np.linalg.svd(H, full_matrices=False)
        r = int(np.sum(sing > max(H.shape) * np.finfo(float).eps * sing[0])) if sing.size else 0
        G, row_basis = U[:, :r] * sing[:r], Vt[:r]
    gens, factor = gram_factor(inst)
    basis = factor.basis
    rows_s, tokens_s = np.nonzero(S)
    ctx, pos, neg = gens.ctx[basis], gens.pos[basis], gens.neg[basis]
    n_f = int(basis.size)
    incidence = scipy.sparse.csr_matrix(
        (
            np.concatenate([np.ones(n_f), -np.ones(n_f)]),
            (np.tile(np.arange(n_f), 2), np.concatenate([pos, neg])),
        ),
        shape=(n_f, V),
    )
    chol = np.tril(factor.cholesky) if n_f else np.zeros((0, 0))
    # An explicit L^{-1}: products cost the same as triangular solves without their
    # per-call overhead, and L is well conditioned (pivots >= RANK_RTOL, unit diagonal Gram).
    chol_inv = scipy.linalg.solve_triangular(chol, np.eye(n_f), lower=True) if n_f else chol
    fac = _Factored(
        G=G,
        row_basis=row_basis,
        ctx=ctx,
        pos=pos,
        neg=neg,
        scale=np.asarray(factor.scale),
        chol=_sparse_if_sparse(chol),
        chol_inv=_sparse_if_sparse(chol_inv),
        incidence=incidence,
        incidence_t=incidence.T.tocsr(),
        k_ctx=_dense(G @ G[ctx].T),
        g_ctx=G[ctx] if isinstance(G, np.ndarray) else scipy.sparse.csr_array(G[ctx]),
        g_squared=G**2 if isinstance(G, np.ndarray) else G.power(2),
        supports=S,
        anchor=np.argmax(S, axis=1),
        support_at=(rows_s, tokens_s),
    )
    inst._cache["regpath_factored"] = fac
    return fac


@dataclass(frozen=True)
class _MFPoint:
    """Loss quantities at coordinates ``c``, with the logits of each block kept apart."""

    c: FloatArray
    l_f: FloatArray  # (m, V) logits of X_F
    l_p: FloatArray  # (m, V) logits of X_P, exactly zero on the support
    kl_in: float
    out: float
    grad: FloatArray
    q: FloatArray  # (m, V) softmax

    @property
    def excess(self) -> float:
        return self.kl_in + self.out


@dataclass
class _MFStats:
    """Work counters of the matrix-free solver (logged per norm at DEBUG level)."""

    newton: int = 0  # Newton steps (sphere or unconstrained)
    cg: int = 0  # CG iterations (each one Hessian-vector product)
    products: int = 0  # Hessian-vector products with the P block free (O(m V r) each)
    backtracks: int = 0  # halvings in the line searches
    points: int = 0  # loss and gradient evaluations

    def snapshot(self) -> tuple[int, ...]:
        return (self.newton, self.cg, self.products, self.backtracks, self.points)


class _MFProblem:
    """``CE`` on the coordinates of :class:`_Factored`: values, gradients, Hessian products."""

    def __init__(self, inst: NTPInstance) -> None:
        self.inst = inst
        self.fac = _factor(inst)
        self.pi = inst.context_weights
        self.stats = _MFStats()
        self.deadline: float | None = None  # perf_counter() time at which Newton gives up

    @property
    def products(self) -> int:
        """Hessian-vector products so far (the work bound)."""
        return self.stats.products

    @property
    def size(self) -> int:
        return self.fac.size

    def blocks(self) -> tuple[slice, slice]:
        return slice(None, self.fac.n_f), slice(self.fac.n_f, None)

    def logits(self, c: FloatArray) -> tuple[FloatArray, FloatArray]:
        a, Xp = self.fac.split(c)
        return self.fac.f_logits(a), self.fac.p_logits(Xp)

    def point(self, c: FloatArray) -> _MFPoint:
        return self.at(c, *self.logits(c))

    def at(self, c: FloatArray, l_f: FloatArray, l_p: FloatArray) -> _MFPoint:
        """The point ``c`` whose block logits are already known (linear in ``c``)."""
        self.stats.points += 1
        inst = self.inst
        kl, log_out, log_q_support = excess_terms(inst, l_f + l_p)
        q = np.exp(log_q_support - log_out[:, None])
        residual = self.pi[:, None] * (q - inst.probs)
        g_f, g_p = self.fac.adjoints(residual)
        grad = np.concatenate([g_f, g_p.ravel()])
        return _MFPoint(c, l_f, l_p, float(self.pi @ kl), float(self.pi @ log_out), grad, q)

    def hess_vec(
        self, pt: _MFPoint, lam: float, v: FloatArray, free: tuple[bool, bool]
    ) -> FloatArray:
        """``(Hess CE + lam I) v`` on the free blocks (F, P), in ``O(m V r)``.

        The product acts through the logits: ``Lambda = G D^T`` for the direction, then the
        softmax Jacobian row by row, ``U_j = pi_j (q_j * Lambda_j - q_j (q_j . Lambda_j))``,
        then the adjoint of each block (``P`` from the out-of-support ``U`` only).
        """
        self.stats.cg += 1
        self.stats.products += free[1]  # only P products cost O(m V r)
        fac = self.fac
        a, D = fac.split(v)
        if free[0] and free[1]:
            # One GEMM for both blocks: on the supports the P logits are a per-context
            # constant (P is orthogonal to F), which the softmax Jacobian ignores.
            lam_map = logits_of(fac.G, fac.f_matrix(a) + D)
        elif free[1]:
            lam_map = fac.p_logits(D)
        else:
            lam_map = fac.f_logits(a)
        q = pt.q
        U = self.pi[:, None] * q * (lam_map - np.sum(q * lam_map, axis=1, keepdims=True))
        if free[1]:
            out_f, out_p = fac.adjoints(U, free[0])
            out_f, out_p = out_f + lam * a * free[0], out_p + lam * D
        else:
            out_f, out_p = fac.f_adjoint(U) + lam * a, np.zeros(fac.shape_p)
        return np.concatenate([out_f, out_p.ravel()])

    def preconditioner(self, pt: _MFPoint, lam: float) -> tuple[FloatArray, FloatArray]:
        """Jacobi diagonals: unit-atom ``F`` coordinates (n_f,) and ``P`` entries (V, r).

        The ``P`` diagonal counts out-of-support curvature only (the exact ``P`` maps vanish
        on the support) plus ``lam``; floored at ``1e-12`` of its largest entry when
        ``lam = 0``.
        """
        fac, q, pi = self.fac, pt.q, self.pi
        d_f = np.zeros(fac.n_f)
        if fac.n_f:
            qp, qn = q[:, fac.pos], q[:, fac.neg]  # (m, n_f)
            var = qp + qn - (qp - qn) ** 2
            d_f = np.einsum("k,ki->i", pi, (fac.k_ctx / fac.scale) ** 2 * var) + lam
            d_f = np.maximum(d_f, 1e-12 * max(float(d_f.max()), np.finfo(float).tiny))
        off = np.where(fac.supports, 0.0, pi[:, None] * q * (1.0 - q))
        d_p = pull_back(fac.g_squared, off) + lam
        d_p = np.maximum(d_p, 1e-12 * max(float(d_p.max()), np.finfo(float).tiny))
        return d_f, d_p

    def retract(
        self, c: FloatArray, l_f: FloatArray, l_p: FloatArray, B: float
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Back onto ``||c|| = B``, by scaling the ``P`` block alone when it can carry it.

        Scaling all of ``c`` would move the ``F`` coordinates (``O(1)``, converged to
        ``eps``) by the relative size of a ``P`` step; scaling ``P`` alone is a
        second-order retraction too (it agrees with the sphere's tangent to first order).
        """
        f_blk, p_blk = self.blocks()
        nf2 = float(c[f_blk] @ c[f_blk])
        np_ = float(np.linalg.norm(c[p_blk]))
        c = c.copy()
        if np_ > 0 and nf2 < (1 - 1e-6) * B * B:
            kappa = np.sqrt(B * B - nf2) / np_
            c[p_blk] *= kappa
            return c, l_f, l_p * kappa
        kappa = B / float(np.linalg.norm(c))
        return c * kappa, l_f * kappa, l_p * kappa


def _pcg(
    apply: Callable[[FloatArray], FloatArray],
    precond: Callable[[FloatArray], FloatArray],
    rhs: FloatArray,
    rtol: float,
    maxiter: int,
) -> tuple[FloatArray, bool]:
    """Preconditioned conjugate gradients for ``A x = rhs`` (``A`` SPD on the iterates' space).

    Stops at ``||r||_{M^-1} <= rtol ||rhs||_{M^-1}`` or ``maxiter``; on non-positive
    curvature (possible away from the solution of the sphere problem, where the multiplier
    estimate can be negative) returns the iterate so far, or the preconditioned residual at
    the first iteration (a descent direction). Returns ``(x, met_tolerance)``.
    """
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = precond(r)
    rz = float(r @ z)
    if not rz > 0:
        return x, True
    stop = rtol * rtol * rz
    p = z
    best, since = rz, 0
    for k in range(maxiter):
        Ap = apply(p)
        pAp = float(p @ Ap)
        if not pAp > 0:
            return (z if k == 0 else x), False
        alpha = rz / pAp
        x += alpha * p
        r -= alpha * Ap
        z = precond(r)
        rz_new = float(r @ z)
        if rz_new <= stop:
            return x, True
        # Stagnation: the residual has hit the rounding floor of the products.
        best, since = (rz_new, 0) if rz_new < 0.25 * best else (best, since + 1)
        if since >= _MF_STAGNATION:
            return x, False
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, False


@dataclass(frozen=True)
class _MFSolution:
    pt: _MFPoint
    lam: float
    converged: bool
    f_frozen: bool


def _mf_multiplier(prob: _MFProblem, pt: _MFPoint, f_frozen: bool) -> float:
    """``lam = -<c, grad> / ||c||^2``, over ``P`` alone once ``F`` is at its rounding floor.

    At large ``B`` the ``F`` gradient is rounding noise of size ``eps`` while the true
    multiplier is ``~ e^{-gamma B}``: only the ``P`` block (exact out-of-support sums) sees it.
    """
    _, p_blk = prob.blocks()
    c, g = pt.c, pt.grad
    cp2 = float(c[p_blk] @ c[p_blk])
    if f_frozen and cp2 > 0:
        return -float(c[p_blk] @ g[p_blk]) / cp2
    return -float(c @ g) / float(c @ c)


class _NewtonSystem:
    """The Newton equation of :func:`_mf_newton` on the free blocks, for PCG.

    ``(Hess + lam I) s = -(grad + lam c)`` restricted to the free blocks and, on the sphere
    (``B`` given), projected on the tangent space ``c_free^perp`` (``P_c``). The
    preconditioner is ``P_c M^{-1} P_c`` with ``M`` the Jacobi diagonals of
    :meth:`_MFProblem.preconditioner` (``P_P`` keeps the ``P`` part in ``P``): SPD on the
    tangent space, as projected CG requires.
    """

    def __init__(
        self,
        prob: _MFProblem,
        pt: _MFPoint,
        lam: float,
        free: tuple[bool, bool],
        d_f: FloatArray,
        d_p: FloatArray,
        B: float | None,
    ) -> None:
        self.prob, self.pt, self.lam, self.free = prob, pt, lam, free
        self.d_f, self.d_p = d_f, d_p
        f_blk, p_blk = prob.blocks()
        self.mask = np.ones(pt.c.size)
        self.mask[f_blk] = float(free[0])
        self.mask[p_blk] = float(free[1])
        self.u = pt.c * self.mask if B is not None else np.zeros(pt.c.size)
        self.uu = float(self.u @ self.u)

    def tangent(self, x: FloatArray) -> FloatArray:
        x = x * self.mask
        return x - self.u * (float(self.u @ x) / self.uu) if self.uu > 0 else x

    def rhs(self) -> FloatArray:
        return self.tangent(-(self.pt.grad + self.lam * self.pt.c))

    def apply(self, v: FloatArray) -> FloatArray:
        return self.tangent(self.prob.hess_vec(self.pt, self.lam, v, self.free))

    def precond(self, r: FloatArray) -> FloatArray:
        fac = self.prob.fac
        a, R = fac.split(self.tangent(r))
        z_f = fac.f_precond(a, self.d_f) if self.free[0] else np.zeros(fac.n_f)
        z_p = fac.project_p(R / self.d_p) if self.free[1] else np.zeros(fac.shape_p)
        return self.tangent(np.concatenate([z_f, z_p.ravel()]))


class _OutOfTime(Exception):
    """The path's ``max_seconds`` ran out inside a Newton solve (caught by the path)."""


def _mf_newton(
    prob: _MFProblem, c: FloatArray, B: float | None, rtol: float, kkt_tol: float = 0.0
) -> _MFSolution:
    """Truncated Newton (Newton-CG) on the sphere ``||c|| = B``, or unconstrained (``B=None``).

    On the sphere each step solves the Riemannian Newton equation
    ``P_c (Hess + lam I) P_c s = -P_c (grad + lam c)`` (``P_c`` the projection on the tangent
    space, ``lam`` the multiplier estimate of :func:`_mf_multiplier`) by projected PCG, with
    the forcing tolerance ``min(0.1, sqrt(||r_k|| / ||r_0||))`` (superlinear convergence), then
    retracts (:meth:`_MFProblem.retract`) with Armijo backtracking. As in the dense method the
    ``F`` block is frozen once its step is at ``rtol`` (read off the joint step: a separate
    ``F``-only solve costs as many ``(m, V)`` softmax passes as the joint one); the line
    search then compares the ``P``-dependent part only.

    Stops (converged) at relative steps ``rtol``, or once the relative KKT residual of
    :func:`_mf_kkt` is at most ``kkt_tol`` (a certificate of the accuracy reached; the forcing
    tolerance is then not driven below what that residual needs).
    """
    f_blk, p_blk = prob.blocks()
    n_f = prob.fac.n_f
    pt = prob.at(c, *prob.logits(c)) if B is None else prob.at(*prob.retract(c, *prob.logits(c), B))
    first_norm = None
    f_frozen = n_f == 0
    lam = 0.0
    for _ in range(_MF_MAX_NEWTON):
        if prob.deadline is not None and time.perf_counter() > prob.deadline:
            raise _OutOfTime
        prob.stats.newton += 1
        c, g = pt.c, pt.grad
        # Once F is frozen the multiplier is read off P alone: exact at any B (out-of-support
        # sums), while the F gradient is rounding noise next to an e^{-gamma B} multiplier.
        lam = 0.0 if B is None else _mf_multiplier(prob, pt, f_frozen)
        kkt = _mf_kkt(prob, pt, lam) if kkt_tol > 0 else np.inf
        if kkt <= kkt_tol:
            return _MFSolution(pt, lam, True, f_frozen)
        d_f, d_p = prob.preconditioner(pt, max(lam, 0.0))
        system = _NewtonSystem(prob, pt, lam, (not f_frozen, True), d_f, d_p, B)
        rhs = system.rhs()
        res = float(np.sqrt(max(float(rhs @ system.precond(rhs)), 0.0)))
        first_norm = res if first_norm is None else first_norm
        # Forcing: superlinear (sqrt) without a target; with one, eta ~ the residual's
        # reduction so far (quadratic: each Newton step costs a point, its logits, the KKT
        # residual and the preconditioner, several CG iterations' worth).
        ratio = res / first_norm if first_norm > 0 else 1.0
        eta = min(0.1, ratio if kkt_tol > 0 else np.sqrt(ratio))
        if kkt_tol > 0:
            # The linear model reduces the residual by eta: no need to go below the target.
            eta = min(0.1, max(eta, 0.5 * kkt_tol / kkt))
        before = prob.stats.cg
        step, solved = _pcg(system.apply, system.precond, rhs, max(eta, 1e-10), _MF_MAX_CG)
        small = [
            bool(np.linalg.norm(step[b]) <= rtol * (1.0 + np.linalg.norm(c[b])))
            for b in (f_blk, p_blk)
        ]
        if all(small) or (f_frozen and small[1]):
            # (CG iterates grow in norm from 0: a small step that stopped at the rounding
            # floor of the residual is small.)
            return _MFSolution(pt, lam, True, f_frozen)
        if small[0] and not f_frozen:
            # F is at its floor: step P alone from here (F's noise would leak into P).
            f_frozen = True
            step[f_blk] = 0.0
        # Cap the change of any logit (exponentially flat directions give huge steps).
        s_lf, s_lp = prob.logits(step)
        biggest = float(np.max(np.abs(s_lf + s_lp), initial=0.0))
        if biggest > MAX_LOGIT_STEP:
            shrink = MAX_LOGIT_STEP / biggest
            step, s_lf, s_lp = step * shrink, s_lf * shrink, s_lp * shrink
        slope = float(g @ step)
        obj = pt.out if f_frozen else pt.excess
        slack = 8 * np.finfo(float).eps * abs(obj)
        if f_frozen and -slope <= slack and solved:
            # The predicted decrease is below the rounding of the objective: the step is at
            # the floor of what the loss resolves (a few times rtol), not a descent.
            return _MFSolution(pt, lam, True, f_frozen)
        t, new = 1.0, None
        while t > 1e-12:
            trial_args = (c + t * step, pt.l_f + t * s_lf, pt.l_p + t * s_lp)
            if B is not None:
                trial_args = prob.retract(*trial_args, B)
            trial = prob.at(*trial_args)
            if (trial.out if f_frozen else trial.excess) <= obj + 1e-4 * t * slope + slack:
                new = trial
                break
            t *= 0.5
            prob.stats.backtracks += 1
        _log.debug(
            "  newton: kkt=%.3g lam=%.3g eta=%.2g cg=%d solved=%s t=%.3g F frozen=%s",
            kkt,
            lam,
            eta,
            prob.stats.cg - before,
            solved,
            t if new is not None else 0.0,
            f_frozen,
        )
        if new is None:
            if f_frozen:
                return _MFSolution(pt, lam, False, f_frozen)
            f_frozen = True  # the joint step failed: step P alone (the F noise is gone)
            continue
        pt = new
        if prob.products > _MF_MAX_PRODUCTS:
            break
    return _MFSolution(pt, lam, False, f_frozen)


def _mf_kkt(prob: _MFProblem, pt: _MFPoint, lam: float) -> float:
    """Blockwise ``||grad + lam c|| / (||grad of |residual||| + lam ||c||)``, max over blocks."""
    fac = prob.fac
    size = prob.pi[:, None] * (pt.q + prob.inst.probs)
    s_f, s_p = fac.adjoints(size)
    scale = np.concatenate([s_f, s_p.ravel()])
    return _block_kkt(prob.blocks(), pt.grad, pt.c, lam, scale)


def _block_kkt(
    blocks: tuple[slice, slice], grad: FloatArray, c: FloatArray, lam: float, scale: FloatArray
) -> float:
    worst = 0.0
    for b in blocks:
        num = float(np.linalg.norm(grad[b] + lam * c[b]))
        den = float(np.linalg.norm(scale[b])) + lam * float(np.linalg.norm(c[b]))
        if num > 0:
            worst = max(worst, num / den if den > 0 else np.inf)
    return worst


def _mf_path(inst: NTPInstance, B: FloatArray, deadline: float | None = None) -> _PathArrays:
    """The path by the matrix-free method: continuation over the norms, Newton-CG per norm."""
    prob = _MFProblem(inst)
    prob.deadline = deadline
    n, k = prob.size, B.size
    out = _PathArrays.empty(k, n)
    c = np.zeros(n)
    pt0 = prob.point(c)
    g0 = float(np.linalg.norm(pt0.grad))
    if n == 0 or g0 == 0.0:
        out.excess[:] = pt0.excess
        return out
    start = min(float(B[0]), 1.0) / MF_MAX_NORM_RATIO
    c = -start * pt0.grad / g0  # the path leaves 0 along -grad CE(0)
    history: list[tuple[float, FloatArray]] = [(0.0, np.zeros(n))]
    finite: _MFSolution | None = None  # a certified finite minimiser of CE, once found
    previous = start
    for i, b in enumerate(B):
        budget = prob.products + _MF_MAX_PRODUCTS
        if _out_of_time(deadline, i):
            out.done = i
            out.reduced = prob.fac
            return out
        try:
            sol, finite = _mf_norm(prob, float(b), previous, start, c, history, finite, budget)
        except _OutOfTime:
            if i == 0:
                raise SolverError(
                    f"regularization_path: the first norm B = {b:.6g} was not reached within "
                    f"max_seconds (matrix-free, {prob.fac.size} coordinates); give more time "
                    "or a smaller first norm"
                ) from None
            out.done = i
            out.reduced = prob.fac
            return out
        previous = float(b)
        out.coords[i], out.excess[i], out.lams[i] = sol.pt.c, sol.pt.excess, sol.lam
        out.kkt[i] = _mf_kkt(prob, sol.pt, sol.lam)
        out.converged[i], out.active[i] = sol.converged, sol.lam > 0
    out.reduced = prob.fac
    return out


def _mf_norm(
    prob: _MFProblem,
    b: float,
    previous: float,
    start: float,
    c: FloatArray,
    history: list[tuple[float, FloatArray]],
    finite: _MFSolution | None,
    budget: int,
) -> tuple[_MFSolution, _MFSolution | None]:
    """Solve one reported norm ``b`` by continuation from ``previous`` (appends to
    ``history``); returns the solution and the certified finite minimiser, if found."""
    for target in _continuation(previous, float(b), MF_MAX_NORM_RATIO):
        if finite is not None and np.linalg.norm(finite.pt.c) <= target:
            sol = finite
            break
        (b0, c0), (b1, c1) = history[-2:] if len(history) > 1 else (history[0], (start, c))
        # Secant predictor, linear in B (exact asymptotically: c_P ~ B u + const).
        guess = c1 + (c1 - c0) * ((target - b1) / (b1 - b0)) if b1 > b0 else c1
        tick, before = time.perf_counter(), prob.stats.snapshot()
        # Norms inserted for the continuation only need to be good warm starts.
        tol = MF_KKT_RTOL if target == float(b) else MF_CONTINUATION_KKT_RTOL
        sol = _mf_newton(prob, guess, target, MF_STEP_RTOL, tol)
        _log.debug(
            "matrix-free B=%.6g: %.1f s, (newton, cg, products, backtracks, points) += %s, "
            "lam=%.3g, converged=%s, F frozen=%s, kkt=%.3g",
            target,
            time.perf_counter() - tick,
            tuple(np.subtract(prob.stats.snapshot(), before).tolist()),
            sol.lam,
            sol.converged,
            sol.f_frozen,
            _mf_kkt(prob, sol.pt, sol.lam),
        )
        if sol.lam <= 0:
            # The sphere's multiplier is negative: the ball's minimiser is inside.
            free = _mf_newton(prob, sol.pt.c, None, MF_STEP_RTOL)
            if free.converged and np.linalg.norm(free.pt.c) <= target * (1 + 1e-9):
                finite = sol = _MFSolution(free.pt, 0.0, True, free.f_frozen)
                break
        elif sol.lam < MIN_MULTIPLIER:
            raise SolverError(
                f"regularization_path: B = {target:.6g} is beyond the float64 range for "
                f"this instance (the multiplier is {sol.lam:.3g} < {MIN_MULTIPLIER:g}: "
                f"out-of-support probabilities near underflow); use B <= {history[-1][0]:.4g}"
            )
        if prob.products > budget:
            raise SolverError(
                f"regularization_path (matrix-free): B = {target:.6g} not reached within "
                f"{_MF_MAX_PRODUCTS} Hessian-vector products (last relative KKT residual "
                f"{_mf_kkt(prob, sol.pt, sol.lam):.3g}); the instance is too badly "
                "conditioned at this norm: use smaller B, or fewer points"
            )
        history.append((target, sol.pt.c))
    return sol, finite


# -- public --------------------------------------------------------------------------------


def _check_norms(norms: ArrayLike) -> FloatArray:
    try:
        B = np.array(norms, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidInstanceError(f"norms must be a 1-D array of floats: {exc}") from exc
    if B.size == 0:
        raise InvalidInstanceError("norms is empty: give at least one bound B > 0")
    if np.ndim(norms) > 1:
        raise InvalidInstanceError(f"norms must be 1-D, got shape {np.shape(norms)}")
    if not np.all(np.isfinite(B)) or np.any(B <= 0):
        bad = B[~(np.isfinite(B) & (B > 0))][0]
        raise InvalidInstanceError(f"norms must be positive and finite, got {bad!r}")
    return np.sort(B)


@single_blas_thread
def regularization_path(
    inst: NTPInstance,
    norms: ArrayLike,
    *,
    max_seconds: float | None = None,
    limits: Limits | None = None,
) -> RegularizationPath:
    """The regularisation path ``W_B = argmin_{||W||_F <= B} CE(W)`` of Theorem 1.

    Parameters
    ----------
    inst : NTPInstance
    norms : array_like, shape (k,)
        Positive, finite bounds ``B`` (sorted into increasing order).
    max_seconds : float, optional
        Wall-time budget. Once it has run out, no new norm is started and the matrix-free
        Newton stops at its next step: the path returns the norms solved so far
        (``result.requested`` says how many were asked for). The dense method (small
        instances) always finishes the norm it is in, so it solves at least the first.
    limits : Limits, optional
        ``W*`` and ``W^mm`` of ``inst`` for ``dist_f_wstar`` and ``cos_mm`` (default
        ``Limits.of(inst)``): pass the object the other analyses use, so that each limit is
        solved once. The matrix-free method reads only a ``W^mm`` it can have without a
        solve (:meth:`Limits.known`).

    Returns
    -------
    RegularizationPath
        ``W_B`` for each ``B``, with ``CE``, ``CE - H``, ``cos(W_B, W^mm)``,
        ``||P_F W_B - W*||``, the multipliers and convergence flags. When the instance is
        separable and compatible, ``||W_B|| = B`` (to ``~1e-13`` relative) and
        ``W_B / B -> W^mm / ||W^mm||``, ``P_F W_B -> W*`` as ``B`` grows.

    Raises
    ------
    InvalidInstanceError
        If ``norms`` is empty, not 1-D, or holds a non-positive or non-finite value.
    TypeError, ValueError
        If ``limits`` is not a :class:`Limits` of ``inst``.
    SolverError
        If ``max_seconds`` ran out before the first norm was reached (matrix-free), or
        if some ``B`` is so large that the multiplier ``lam_B`` (of order ``e^{-gamma B}``,
        ``gamma`` the NTP margin) would fall below :data:`MIN_MULTIPLIER` ``= 1e-280``: the
        out-of-support probabilities then underflow float64. Roughly ``gamma B <~ 630``.
        Also when the norm stops moving toward ``B`` as the multiplier falls (an instance that
        is not separable but whose infimum is not attained, past ``~1e-16`` of vanishing
        mass; see the module notes). The message names the largest ``B`` reached.

    Notes
    -----
    See the module docstring for the reduction and the solver. ``W_B`` is unique (``CE`` is
    strictly convex on the reduced coordinates, which drop only directions that do not change
    any softmax and would only add norm).
    """
    B = _check_norms(norms)
    if max_seconds is not None and not max_seconds > 0:  # also rejects nan
        raise InvalidInstanceError(f"max_seconds must be > 0, got {max_seconds!r}")
    chosen = limits_for(inst, limits)
    deadline = None if max_seconds is None else time.perf_counter() + float(max_seconds)
    method = _choose_method(inst)
    return _solve_path(inst, B, method, deadline, chosen)


Method = Literal["dense", "matrix-free"]


def _choose_method(inst: NTPInstance) -> Method:
    """Dense Newton up to ``V r = DENSE_MAX_COORDINATES`` unknowns, matrix-free above."""
    r = int(np.linalg.matrix_rank(inst.embeddings)) if inst.m and inst.dim else 0
    return "dense" if inst.vocab_size * r <= DENSE_MAX_COORDINATES else "matrix-free"


def _solve_path(
    inst: NTPInstance,
    B: FloatArray,
    method: Method,
    deadline: float | None = None,
    limits: Limits | None = None,
) -> RegularizationPath:
    """:func:`regularization_path` by the given method (sorted, checked norms ``B``)."""
    limits = limits_for(inst, limits)
    V = inst.vocab_size
    path = _dense_path if method == "dense" else _mf_path
    arrays = path(inst, B, deadline)
    requested = B.size
    if arrays.done >= 0:  # out of time: keep the points solved
        k = arrays.done
        B = B[:k]
        for name in ("coords", "excess", "lams", "kkt", "converged", "active"):
            setattr(arrays, name, getattr(arrays, name)[:k])
    coords, reduced = arrays.coords, arrays.reduced
    assert reduced is not None  # both path methods set it
    weights = np.stack([reduced.weights(ci, V) for ci in coords])
    sizes = np.linalg.norm(weights.reshape(len(B), -1), axis=1)
    # On the sphere where active; inside the ball (no error) where not.
    norm_error = np.where(arrays.active, np.abs(sizes - B), np.maximum(sizes - B, 0.0)) / B
    w_mm, mm_note = _w_mm(limits, solve=method == "dense")
    w_star = limits.w_star
    notes = {} if mm_note is None else {"cos_mm": mm_note}
    if w_star is None:
        notes["dist_f_wstar"] = str(limits.w_star_reason)
    return RegularizationPath(
        norms=B,
        weights=weights,
        loss=inst.entropy + arrays.excess,
        excess_loss=arrays.excess,
        cos_mm=_cosines(weights, w_mm),
        dist_f_wstar=None if w_star is None else _dist_f_wstar(reduced, coords, w_star),
        converged=arrays.converged,
        multipliers=arrays.lams,
        active=arrays.active,
        kkt_residual=arrays.kkt,
        norm_error=norm_error,
        method=method,
        requested=requested,
        metric_notes=MappingProxyType(notes),
    )


def _w_mm(limits: Limits, *, solve: bool) -> tuple[FloatArray | None, str | None]:
    """``W^mm`` for ``cos_mm`` and, when it is None, why: solved when ``solve`` (small
    instances), else only if it costs no solve (:meth:`Limits.known`).

    On instances large enough for the matrix-free method, deciding separability can take
    minutes (GPL-3 with d = 384: the dual-cd budget runs out undecided), longer than the path
    itself; call :func:`ntpprops.ntp_svm_result` first (or pass ``limits``) to get ``cos_mm``
    there.
    """
    if solve:
        return limits.w_mm, limits.w_mm_reason
    known = limits.known("w_mm")
    if known is None:
        return None, (
            "W^mm not solved at the matrix-free size (the path would wait for the SVM); "
            "call ntpprops.ntp_svm_result(inst) first or pass limits with W^mm"
        )
    return known.value, known.reason


@dataclass
class _PathArrays:
    """What a path method returns: per-point coordinates and diagnostics."""

    coords: FloatArray  # (k, n)
    excess: FloatArray  # (k,)
    lams: FloatArray  # (k,)
    kkt: FloatArray  # (k,)
    converged: NDArray[np.bool_]  # (k,)
    active: NDArray[np.bool_]  # (k,)
    reduced: _Reduced | _Factored | None = None
    done: int = -1  # points solved (-1: all); fewer when the time budget ran out

    @classmethod
    def empty(cls, k: int, n: int) -> _PathArrays:
        return cls(
            np.zeros((k, n)),
            np.zeros(k),
            np.zeros(k),
            np.zeros(k),
            np.ones(k, dtype=bool),
            np.zeros(k, dtype=bool),
        )


def _out_of_time(deadline: float | None, solved: int) -> bool:
    """Whether to stop: past the deadline with at least one reported point solved."""
    return deadline is not None and solved > 0 and time.perf_counter() > deadline


def _dense_path(inst: NTPInstance, B: FloatArray, deadline: float | None = None) -> _PathArrays:
    """The path by dense Newton (module notes): continuation over the norms."""
    prob = _Problem(inst)
    n, k = prob.red.size, B.size
    out = _PathArrays.empty(k, n)
    out.reduced = prob.red
    finite = _Unconstrained()
    c = np.zeros(n)
    g0 = np.linalg.norm(prob.point(c).grad) if n else 0.0
    if n == 0 or g0 == 0.0:
        # W = 0 (or no free direction) already minimises CE: nothing ever binds.
        out.excess[:] = prob.point(c).excess
        return out
    # ||c_lam|| ~ ||grad CE(0)|| / lam for small B.
    t = float(np.log(g0 / min(B[0], MAX_NORM_RATIO)))
    previous = min(B[0], MAX_NORM_RATIO) / MAX_NORM_RATIO
    for i, b in enumerate(B):
        if _out_of_time(deadline, i):
            out.done = i
            return out
        for target in _continuation(previous, float(b)):
            sol = _solve_one(prob, target, c, t, finite)
            c = sol.pt.c
            if sol.lam > 0:
                c, t = _predict(sol, float(np.log(min(b, target * MAX_NORM_RATIO) / target)))
        previous = float(b)
        out.coords[i], out.excess[i], out.lams[i] = sol.pt.c, sol.pt.excess, sol.lam
        out.converged[i], out.active[i] = sol.converged, sol.lam > 0
        size = prob.pi[:, None] * (sol.pt.q + inst.probs)
        scale = np.tensordot(prob.red.logit_maps, size, axes=([1, 2], [0, 1]))
        out.kkt[i] = _block_kkt(prob.blocks(), sol.pt.grad, sol.pt.c, sol.lam, scale)
    return out


def _cosines(weights: FloatArray, w_mm: FloatArray | None) -> FloatArray | None:
    if w_mm is None or not np.any(w_mm):
        return None
    dots = np.tensordot(weights, w_mm, axes=2)
    norms = np.linalg.norm(weights.reshape(len(weights), -1), axis=1) * np.linalg.norm(w_mm)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)


def _dist_f_wstar(red: _Reduced | _Factored, coords: FloatArray, w_star: FloatArray) -> FloatArray:
    """``||P_F W_B - W*||_F`` per point: the ``F`` coordinates of ``W_B`` are its projection."""
    f_part = coords.copy()
    f_part[:, red.n_f :] = 0.0  # P_F W_B: the F coordinates only
    V = w_star.shape[0]
    return np.array([np.linalg.norm(red.weights(c, V) - w_star) for c in f_part])
