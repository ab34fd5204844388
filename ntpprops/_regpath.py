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

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray

from ntpprops._compat import is_compatible
from ntpprops._errors import InvalidInstanceError, NotSeparableError, SolverError
from ntpprops._instance import NTPInstance
from ntpprops._linalg import symmetric_eigh
from ntpprops._loss import excess_terms
from ntpprops._subspace import RANK_RTOL, f_generators
from ntpprops._threads import single_blas_thread

__all__ = ["MIN_MULTIPLIER", "RegularizationPath", "regularization_path"]

FloatArray = NDArray[np.float64]

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
        ``cos(W_B, W^mm)``; None when ``W^mm`` does not exist (not separable).
    dist_f_wstar : ndarray, shape (k,), or None
        ``||P_F W_B - W*||_F``; None when ``W*`` does not exist (not compatible).
    converged : ndarray of bool, shape (k,)
        The solver met its tolerances (relative Newton step ``STEP_RTOL``, norm ``NORM_RTOL``).
    multipliers : ndarray, shape (k,)
        ``lam_B >= 0`` with ``grad CE(W_B) + lam_B W_B = 0`` (KKT of the ball constraint).
    active : ndarray of bool, shape (k,)
        The constraint binds (``||W_B|| = B``, ``lam_B > 0``). False once ``B`` exceeds the
        norm of a finite minimiser of ``CE``: then ``W_B`` is that minimiser.
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
    cached = inst._cache.get("regpath_reduced")
    if cached is not None:
        return cached
    H, S = inst.embeddings, inst.supports
    V = S.shape[1]
    U, sing, Vt = np.linalg.svd(H, full_matrices=False)
    r = int(np.sum(sing > max(H.shape) * np.finfo(float).eps * sing[0])) if sing.size else 0
    G, row_basis = U[:, :r] * sing[:r], Vt[:r]
    gens = f_generators(inst)
    phi = np.zeros((len(gens), V, r))
    rows = np.arange(len(gens))
    phi[rows, gens.pos] += G[gens.ctx]
    phi[rows, gens.neg] -= G[gens.ctx]
    phi = phi.reshape(len(gens), V * r)
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
        return M

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
    return scale[:, None] * sol


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
    return (np.log(norm) if norm > 0 else -np.inf) - np.log(B)


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


def _continuation(start: float, stop: float) -> list[float]:
    """Norms from ``start`` (exclusive) to ``stop`` with ratios at most ``MAX_NORM_RATIO``.

    Newton on the exponential tails of the loss moves the norm by about ``1 / gamma`` per
    step, so each solve is warm-started from a nearby norm along the path.
    """
    steps = max(1, int(np.ceil(np.log(stop / start) / np.log(MAX_NORM_RATIO) - 1e-9)))
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


def _w_mm(inst: NTPInstance) -> FloatArray | None:
    from ntpprops._svm import ntp_svm  # lazily: a sibling module

    try:
        return np.asarray(ntp_svm(inst), dtype=np.float64)
    except (NotSeparableError, NotImplementedError):
        return None


@single_blas_thread
def regularization_path(inst: NTPInstance, norms: ArrayLike) -> RegularizationPath:
    """The regularisation path ``W_B = argmin_{||W||_F <= B} CE(W)`` of Theorem 1.

    Parameters
    ----------
    inst : NTPInstance
    norms : array_like, shape (k,)
        Positive, finite bounds ``B`` (sorted into increasing order).

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
    SolverError
        If some ``B`` is so large that the multiplier ``lam_B`` (of order ``e^{-gamma B}``,
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
    V = inst.vocab_size
    prob = _Problem(inst)
    n = prob.red.size
    k = B.size
    coords = np.zeros((k, n))
    excess = np.zeros(k)
    lams = np.zeros(k)
    converged = np.ones(k, dtype=bool)
    active = np.zeros(k, dtype=bool)
    finite = _Unconstrained()
    c = np.zeros(n)
    g0 = np.linalg.norm(prob.point(c).grad) if n else 0.0
    if n == 0 or g0 == 0.0:
        # W = 0 (or no free direction) already minimises CE: nothing ever binds.
        excess[:] = prob.point(c).excess
    else:
        # ||c_lam|| ~ ||grad CE(0)|| / lam for small B.
        t = float(np.log(g0 / min(B[0], MAX_NORM_RATIO)))
        previous = min(B[0], MAX_NORM_RATIO) / MAX_NORM_RATIO
        for i, b in enumerate(B):
            for target in _continuation(previous, float(b)):
                sol = _solve_one(prob, target, c, t, finite)
                c = sol.pt.c
                if sol.lam > 0:
                    c, t = _predict(sol, float(np.log(min(b, target * MAX_NORM_RATIO) / target)))
            previous = float(b)
            coords[i], excess[i], lams[i] = sol.pt.c, sol.pt.excess, sol.lam
            converged[i], active[i] = sol.converged, sol.lam > 0
    weights = np.stack([prob.red.weights(ci, V) for ci in coords])
    return RegularizationPath(
        norms=B,
        weights=weights,
        loss=inst.entropy + excess,
        excess_loss=excess,
        cos_mm=_cosines(weights, _w_mm(inst)),
        dist_f_wstar=_dist_f_wstar(inst, prob.red, coords),
        converged=converged,
        multipliers=lams,
        active=active,
    )


def _cosines(weights: FloatArray, w_mm: FloatArray | None) -> FloatArray | None:
    if w_mm is None or not np.any(w_mm):
        return None
    dots = np.tensordot(weights, w_mm, axes=2)
    norms = np.linalg.norm(weights.reshape(len(weights), -1), axis=1) * np.linalg.norm(w_mm)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)


def _dist_f_wstar(inst: NTPInstance, red: _Reduced, coords: FloatArray) -> FloatArray | None:
    compat = is_compatible(inst)
    if not compat.compatible or compat.w_star is None:
        return None
    f_part = coords.copy()
    f_part[:, red.n_f :] = 0.0  # P_F W_B: the F coordinates only
    V = inst.vocab_size
    return np.array([np.linalg.norm(red.weights(c, V) - compat.w_star) for c in f_part])
