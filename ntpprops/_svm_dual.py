"""NTP-separability and the NTP-SVM by dual block-coordinate ascent, for large instances.

The dual of Definition 3 in coefficient form (see :mod:`ntpprops._svm_active`): ``W = C^T H``
with ``C`` (m, V), rows summing to zero, ``C[j, v] = -lambda_{jv} <= 0`` for ``v not in S_j``
and free entries on the supports; maximise

    D(C) = -sum_{v not in S_j} C[j, v] - 1/2 ||C^T H||_F^2.

It is block separable over contexts. With the other rows fixed, ``g = W_{-j} h_j`` (the logits
of context ``j`` under the other contexts' part of ``W``) and ``k = ||h_j||^2``, row ``j``
solves

    max_{c : sum c = 0, c_out <= 0}  -sum_out c_v - c.g - k/2 ||c||^2,

whose KKT conditions give, for a threshold ``tau`` (the multiplier of ``sum c = 0``),
``c_z = (tau - g_z) / k`` on the support and ``c_v = min(0, (tau - g_v - 1) / k)`` outside;
``sum c`` is increasing in ``tau``, and the root is found by sorting the breakpoints
``g_v + 1`` above ``mean_{S_j} g`` (:func:`solve_block`). This is the sequential dual method
of Crammer and Singer's multiclass SVM (Keerthi, Sundararajan, Chang, Hsieh and Lin, KDD
2008; liblinear), with the equal-logit constraints (6a) of the supports added. Everything
runs in the rank-r coordinates ``B = H V_r`` (:func:`ntpprops._svm_active.reduced_factor`):
the iterate keeps ``X = C^T B`` (V, r), so ``g = X b_j - k c_j`` and a block step costs
``O(V r)`` (a product, a sort of the candidate breakpoints, a rank-one update of the changed
rows of ``X``): ``O(m V r)`` per epoch, memory ``O(m V + V r)``. Contexts whose block did not
move in the last visit are skipped (shrinking) until a full pass re-checks them.

Separable instances. The ascent converges to the dual optimum; its atoms with
``lambda > 0`` are then handed to an exact polish (the caller's: the dense PDAS, or beyond
``m = 1000`` the matrix-free active-set iteration of :mod:`ntpprops._svm_polish`, then the KKT
check of :func:`ntpprops._svm.kkt_report` at ``KKT_RTOL``), which is retried at tighter block
tolerances until it passes. A polished ``W^mm`` is accepted as a separability
witness only if its margin ``1 / ||W^mm||`` is above the decision threshold.

Non-separable instances: a solver-free lower bound on every separator's norm. Let ``C`` be
any matrix with rows summing to zero and ``C_out <= 0``, ``s = -sum_out C > 0``, and let
``W`` satisfy (6a)-(6b). Row ``j`` contributes ``c_j . (W h_j)`` to ``<W, C^T H>``. By (6a)
the logits ``W h_j`` equal a common value ``t_j`` on ``S_j``; by (6b)
``(W h_j)_v <= t_j - 1`` outside. Since ``sum_v c_jv = 0``,
``c_j . (W h_j) = sum_v c_jv ((W h_j)_v - t_j) = sum_{v out} (-c_jv) (t_j - (W h_j)_v)
>= sum_{v out} (-c_jv)``, using ``-c_jv >= 0``. Summing over ``j`` and by Cauchy-Schwarz,

    s <= <W, C^T H> <= ||W|| ||C^T H||,   so   ||W|| >= s / ||C^T H||.

(With ``y = -C_out / s`` in the simplex and ``C / s`` one coefficient matrix of
``sum_i y_i A_i`` plus a part in ``F``, the projected norm ``||P_perp(sum_i y_i A_i)||`` is at
most ``||C^T H|| / s``: ``y`` is a Farkas certificate as in
:func:`ntpprops._separability.separability_certificate_bound`.) On a non-separable instance
the dual is unbounded and ``s / ||C^T H||`` grows along the ascent; once it proves
``gamma* <= threshold`` the answer is "not separable" with that certificate. It grows about
linearly in the number of epochs (each block step moves a bounded distance), so reaching
the default threshold (``gamma* <= 1e-8 max_i ||A_i||``) can take far longer than the time
budget: the ascent then stops with :class:`~ntpprops.SeparabilityUndecidedError`, which
carries the proven bound. It never answers "separable" without a checked separator: a
KKT-verified ``W^mm``, or the primal iterate's (below).

A plateau of the bound is the other case: on a separable instance ``s / ||C^T H||`` rises
to ``||W^mm||`` and ``s / ||C^T H||^2`` tends to 1 (at the dual optimum ``s = ||W^mm||^2``).
Measured on the GPL-3 word bigrams at d = 384 (m = 1421, V = 1557, r = 384): 69.5, 97.9,
103.0, 105.3, 105.7 after 1, 8, 16, 32, 45 epochs with ``s / ||C^T H||^2`` = 1.02 at the
last; HiGHS also finds no certificate on the top-5 tokens' sub-problem. So that instance is
most likely separable with ``gamma*`` near 1/106, and what it needs is a faster polish, not a
certificate. The matrix-free polish, tried on the active set of epoch 16 there, solved its
first system (39,392 constraint rows) to a relative residual of 1.8e-13 in 166 s at a load of 9
on 2 cores, then had 11,280 violated atoms to add and ran out of the 300 s budget; the block
changes of the ascent stayed above the first polish tolerance for 401 epochs.

Separable instances, decided early. Long before the polish succeeds, the primal iterate
``X = C^T B`` projected onto ``F^perp`` usually separates: on the GPL-3 word bigrams at
d = 384 every context has a positive gap after 24 epochs (8.7 s), against hundreds of epochs
for the polish. When the caller asks only for the decision it passes a ``witness`` callback,
tried at :func:`witness_epochs`; a separator that passes the caller's check (margins, the
equal-logit residual of (6a)) decides "separable" with the bracket
``margin(witness) <= gamma* <= 1 / (s / ||C^T H||)``. The ascent's state ``C`` is kept so a
later request for ``W^mm`` continues from it (``start``).

This module depends on no other solver module: the rank-r factor, the polish and the exact
certificate norm are passed in by :mod:`ntpprops._svm_active`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ntpprops._errors import SeparabilityUndecidedError

__all__ = [
    "DUAL_MAX_EPOCHS",
    "DUAL_MAX_SECONDS",
    "DualOutcome",
    "dual_coordinate_ascent",
    "solve_block",
    "witness_epochs",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Default time budget of one ascent (the issue's target: 5 minutes).
DUAL_MAX_SECONDS = 300.0

#: Default cap on epochs (passes over the contexts still being updated).
DUAL_MAX_EPOCHS = 100_000

#: Block tolerances (largest logit change ``k max|delta c|`` of a pass) at which the polish
#: is tried, loosest first; each failure moves to the next.
POLISH_TOLERANCES = (1e-3, 1e-5, 1e-7, 1e-9, 1e-11, 1e-13)

#: Rounds of :func:`null_refinement` (each drops the out entries that came out positive).
REFINE_ROUNDS = 5

#: Singular values of ``B[R_v]`` below this times the largest count as zero (null space).
RANK_RTOL_SV = 1e-10

#: Relative residual (row sums, ``Y^T B``) above which a refinement is rejected.
REFINE_RTOL = 1e-10

#: Largest ``sum_v |R_v|^2`` (entries of the per-token projectors kept at once, and a bound on
#: the work ``sum_v |R_v|^2 (|R_v| + r)`` with ``|R_v| <= m``) of one refinement: 400 MB.
REFINE_MAX_ENTRIES = 5e7

#: First epoch at which :func:`null_refinement` is tried; then at every doubling.
REFINE_FIRST_EPOCH = 8

#: Largest ``m`` for which :func:`null_refinement` (an ``(m + 1)``-square solve) is tried.
REFINE_MAX_CONTEXTS = 5000

#: Check the clock every this many block steps.
CLOCK_EVERY = 256

#: Epochs at which a ``witness`` callback is tried: 1, 2, 4, 8, then every 8 (each try costs
#: a projection onto ``F^perp`` and one pass over the logits, about a third of an epoch).
WITNESS_EVERY = 8

#: After the first separator, found at epoch ``e`` after ``t`` seconds, the ascent goes on to
#: epoch ``WITNESS_TIGHTEN * e`` and ``max(WITNESS_TIGHTEN * t, WITNESS_GRACE_SECONDS)``,
#: keeping the best one, to narrow the bracket on ``gamma*`` (the first separator's margin is
#: often far below ``gamma*``: 1.1e-5 against 9.5e-3 on the GPL-3 bigrams at d = 384) and to
#: let the polish finish ``W^mm`` where it is quick (7.6 s at (500, 400, 300)) ...
WITNESS_TIGHTEN = 2

#: ... (the grace period in seconds) ...
WITNESS_GRACE_SECONDS = 15.0

#: ... or until the bracket ``margin(witness) <= gamma* <= 1 / bound`` is this tight.
WITNESS_BRACKET = 0.9

#: A polish callback: active set (m, V) -> KKT-verified ``(W, duals, active)`` or None.
Polish = Callable[[BoolArray], "tuple[FloatArray, FloatArray, BoolArray] | None"]

#: A witness callback: the primal iterate ``X = C^T B`` (V, r) -> a checked separator
#: ``(W, margin)`` (``W`` (V, d) in ``F^perp`` with every NTP margin ``>= 1``, ``margin`` the
#: NTP margin of its direction) or None.
Witness = Callable[[FloatArray], "tuple[FloatArray, float] | None"]

#: An exact certificate-norm callback: ``C`` (m, V) -> ``||C^T H|| / s`` (or the smaller
#: projected norm of ``y = -C_out / s``), computed on the original embeddings.
CertificateNorm = Callable[[FloatArray], float]


def solve_block(g: FloatArray, k: float, support: BoolArray) -> tuple[FloatArray, float]:
    """Maximise ``-sum_out c_v - c.g - k/2 ||c||^2`` over ``sum c = 0``, ``c_out <= 0``.

    Parameters
    ----------
    g : ndarray, shape (V,)
        Logits of the other contexts' contribution, ``W_{-j} h_j``.
    k : float
        ``||h_j||^2 > 0``.
    support : ndarray of bool, shape (V,)
        ``S_j`` (non-empty).

    Returns
    -------
    c : ndarray, shape (V,)
        The maximiser: ``(tau - g_z) / k`` on the support, ``min(0, (tau - g_v - 1) / k)``
        outside.
    tau : float
        The threshold: the common logit of the support after the step.

    Notes
    -----
    ``k sum c = S tau - sum_S g + sum_{u_v > tau} (tau - u_v)`` with ``u_v = g_v + 1``
    is increasing in ``tau``, and below ``tau_0 = mean_S g`` it is negative, so only the
    breakpoints ``u_v > tau_0`` can be active. Sorted decreasingly, the root uses the top
    ``p`` of them, ``tau_p = (sum_S g + u_(1) + ... + u_(p)) / (S + p)``, with ``p`` the
    largest index such that ``u_(p) > tau_p`` (the valid ``p`` form a prefix, as in the
    Euclidean projection onto the simplex).
    """
    g_in = g[support]
    total = float(g_in.sum())
    tau = total / g_in.size
    out = ~support
    u = g[out] + 1.0
    cand = u[u > tau]
    if cand.size:
        cand = -np.sort(-cand)
        taus = (total + np.cumsum(cand)) / (g_in.size + np.arange(1, cand.size + 1))
        valid = np.flatnonzero(cand > taus)
        if valid.size:
            tau = float(taus[valid[-1]])
    c = np.empty_like(g)
    c[support] = (tau - g_in) / k
    c[out] = np.minimum(0.0, (tau - u) / k)
    return c, tau


@dataclass(frozen=True, eq=False)
class DualOutcome:
    """What the dual ascent proved.

    Attributes
    ----------
    separable : bool
    solution : (W, duals, active) or None
        When separable: the polished, KKT-verified ``W^mm`` (V, d), its multipliers
        (n_out,) over :func:`ntpprops._separability.separation_atoms` and active set (n_out,).
    certificate : ndarray, shape (n_out,), or None
        When not separable: ``y = -C_out / s`` in the simplex (row-major order of the
        out-of-support entries, which is the order of ``separation_atoms``).
    certificate_norm : float
        When not separable: the exact norm bound ``>= ||P_perp(sum_i y_i A_i)||``.
    epochs : int
    seconds : float
    witness : (W, margin) or None
        When separable without a polished ``W^mm`` (the caller's ``witness`` callback found a
        separator first): the separator (V, d) and the NTP margin of its direction, a lower
        bound on ``gamma*``.
    norm_bound : float
        The best proven ``s / ||C^T H||``: every separator has at least this norm, so
        ``gamma* <= 1 / norm_bound``.
    state : ndarray, shape (m, V), or None
        With a witness: the ascent's ``C``, from which a request for ``W^mm`` continues.
    """

    separable: bool
    solution: tuple[FloatArray, FloatArray, BoolArray] | None = field(repr=False)
    certificate: FloatArray | None = field(repr=False)
    certificate_norm: float
    epochs: int
    seconds: float
    witness: tuple[FloatArray, float] | None = field(default=None, repr=False)
    norm_bound: float = 0.0
    state: FloatArray | None = field(default=None, repr=False)


def null_refinement(
    B: FloatArray, supports: BoolArray, C: FloatArray, rounds: int = REFINE_ROUNDS
) -> FloatArray | None:
    """An exact recession direction of the dual near the ascent's ``C``, or None.

    Finds ``Y`` (m, V) on the pattern ``R`` (supports and the out entries with ``C < 0``) with
    ``Y^T B = 0``, ``Y 1 = 0`` and ``-sum_out Y = 1``, closest to ``Y0 = C / s``: per token,
    ``y_v = P_v (y0_v - rho_R + nu o_R)`` with ``P_v`` the projector onto
    ``null(B[R_v]^T)``, and the multipliers ``(rho, nu)`` of the row sums and the
    normalisation solve an ``(m + 1)``-square system. Out entries that come out positive are
    dropped from ``R`` and the projection repeated (``rounds`` times at most).

    Parameters
    ----------
    B : ndarray, shape (m, r)
    supports : ndarray of bool, shape (m, V)
    C : ndarray, shape (m, V)
        A dual iterate with ``s = -sum_out C > 0``.
    rounds : int

    Returns
    -------
    ndarray, shape (m, V), or None
        ``Y`` with ``Y_out <= 0``; None if no such ``Y`` was found (e.g. the instance is
        separable, or the pattern misses part of the direction), or if the projectors would
        exceed :data:`REFINE_MAX_ENTRIES` entries. Only a proposal: the caller
        proves the bound from ``y = -Y_out`` on the original embeddings.
    """
    m, V = supports.shape
    out = ~supports
    s = -float(C[out].sum())
    if s <= 0.0:
        return None
    Y0 = C / s
    pattern = supports | (out & (C < 0.0))
    sizes = pattern.sum(axis=0).astype(np.float64)
    if float(np.sum(sizes**2)) > REFINE_MAX_ENTRIES:
        return None  # the projectors would not fit (dense ascent patterns on large instances)
    for _ in range(rounds):
        M = np.zeros((m, m))
        r0 = np.zeros(m)
        q = np.zeros(m)
        projectors = []
        for v in range(V):
            rows = np.flatnonzero(pattern[:, v])
            if rows.size == 0:
                continue
            u, sv, _ = np.linalg.svd(B[rows], full_matrices=True)
            rank = int(np.sum(sv > RANK_RTOL_SV * max(float(sv[0]), 1e-300))) if sv.size else 0
            N = u[:, rank:]
            if N.shape[1] == 0:
                continue
            P = N @ N.T
            o = out[rows, v].astype(np.float64)
            M[np.ix_(rows, rows)] += P
            r0[rows] += P @ Y0[rows, v]
            q[rows] += P @ o
            projectors.append((v, rows, P, o))
        if not projectors:
            return None
        # Unknowns (rho, nu): M rho - nu q = r0 (row sums), and the normalisation
        # -sum_v o_v.P_v (y0_v - rho_R + nu o_R) = 1, i.e. q.rho - nu o.P.o = 1 + o.P.y0.
        oPo = sum(float(o @ P @ o) for _, _, P, o in projectors)
        oPy = sum(float(o @ P @ Y0[rows, v]) for v, rows, P, o in projectors)
        system = np.zeros((m + 1, m + 1))
        system[:m, :m] = M
        system[:m, m] = -q
        system[m, :m] = q
        system[m, m] = -oPo
        rhs = np.concatenate([r0, [1.0 + oPy]])
        sol = np.linalg.lstsq(system, rhs, rcond=None)[0]
        rho, nu = sol[:m], float(sol[m])
        Y = np.zeros((m, V))
        for v, rows, P, o in projectors:
            Y[rows, v] = P @ (Y0[rows, v] - rho[rows] + nu * o)
        total = -float(Y[out].sum())
        if not total > 0.0:
            return None
        # lstsq of an inconsistent system (the pattern misses part of a direction, or there
        # is none) leaves row sums or Y^T B nonzero: not a direction.
        tol = REFINE_RTOL * float(np.max(np.abs(Y)))
        if np.max(np.abs(Y.sum(axis=1))) > tol or np.max(np.abs(Y.T @ B)) > tol * float(
            np.max(np.abs(B))
        ):
            return None
        positive = out & (Y > 0.0)
        if not positive.any():
            return Y / total
        pattern &= ~positive
    return None


def witness_epochs(epoch: int) -> bool:
    """Whether a ``witness`` callback is tried after ``epoch`` (1, 2, 4, 8, 16, 24, ...)."""
    if epoch < WITNESS_EVERY:
        return epoch & (epoch - 1) == 0
    return epoch % WITNESS_EVERY == 0


def _norm_bound(s: float, x_norm: float) -> float:
    """``s / ||C^T H||``: every separator has at least this norm (``inf`` if ``X = 0``)."""
    return float(np.inf) if x_norm == 0.0 else s / x_norm


def dual_coordinate_ascent(
    B: FloatArray,
    supports: BoolArray,
    *,
    threshold: float,
    polish: Polish,
    certificate_norm: CertificateNorm,
    max_seconds: float = DUAL_MAX_SECONDS,
    max_epochs: int = DUAL_MAX_EPOCHS,
    seed: int = 0,
    witness: Witness | None = None,
    start: FloatArray | None = None,
) -> DualOutcome:
    """Decide separability and solve the NTP-SVM by dual block-coordinate ascent.

    Parameters
    ----------
    B : ndarray, shape (m, r)
        Embeddings in the coordinates of the rank-r factor (``H = B V_r^T``).
    supports : ndarray of bool, shape (m, V)
    threshold : float
        Separable iff ``gamma* > threshold``: a polished ``W^mm`` is accepted only if
        ``1 / ||W^mm|| > threshold``, and "not separable" is returned once
        ``certificate_norm(C) / s <= threshold`` (so ``gamma*`` is at most that).
    polish : callable
        Active set (m, V) -> KKT-verified ``(W, duals, active)``, or None when it fails.
    certificate_norm : callable
        ``C`` (m, V), rows summing to zero up to rounding and ``C_out <= 0`` -> an upper bound
        on ``||P_perp(sum_i y_i A_i)||`` for ``y = -C_out / s``, ``s = -sum C_out``, computed
        on the original ``H`` (the exact side of the bound), e.g. ``||C^T H|| / s``.
    max_seconds, max_epochs : float, int
        Budget; when it runs out undecided, :class:`SeparabilityUndecidedError` is raised.
    seed : int
        Seed of the random order of the contexts in each epoch.
    witness : callable, optional
        Primal iterate ``X`` (V, r) -> a checked separator ``(W, margin)`` or None, tried at
        :func:`witness_epochs`; the first one found decides "separable" (no ``W^mm``); the
        ascent then goes on to :data:`WITNESS_TIGHTEN` times its epochs and seconds (at
        least :data:`WITNESS_GRACE_SECONDS`; or until the bracket reaches
        :data:`WITNESS_BRACKET`, a polished ``W^mm``, or the end of the budget) and keeps the
        best.
        Without it only a polished ``W^mm`` decides "separable".
    start : ndarray, shape (m, V), optional
        A previous ascent's ``C`` (:attr:`DualOutcome.state`) to continue from.

    Returns
    -------
    DualOutcome

    Raises
    ------
    SeparabilityUndecidedError
        If neither a verified ``W^mm`` nor a certificate was found within the budget.
    """
    t0 = time.perf_counter()
    m, V = supports.shape
    out = ~supports
    k_all = np.einsum("ij,ij->i", B, B)
    has_out = out.any(axis=1)
    zero = has_out & (k_all == 0.0)
    if np.any(zero):
        # A zero embedding with a non-full support: its atoms are 0, so no margin reaches 1.
        C = np.zeros((m, V))
        j = int(np.flatnonzero(zero)[0])
        C[j, np.flatnonzero(out[j])[0]] = -1.0
        C[j, np.flatnonzero(supports[j])[0]] = 1.0
        y = -C[out]
        return DualOutcome(False, None, y, 0.0, 0, time.perf_counter() - t0)
    # Contexts with h_j = 0 and a full support contribute nothing: never visited.
    live = np.flatnonzero(k_all > 0.0)
    rng = np.random.default_rng(seed)
    if start is None:
        C = np.zeros((m, V))
        X = np.zeros((V, B.shape[1]))
        s = 0.0
    else:
        C = np.array(start, dtype=np.float64)
        X = C.T @ B
        s = -float(C[out].sum())
    work = live
    tol_index = 0
    full_pass = True
    best_bound = 0.0
    refine_at = REFINE_FIRST_EPOCH
    best_witness: tuple[FloatArray, float] | None = None
    witness_until = max_epochs
    witness_seconds = float(np.inf)
    epochs = 0
    steps = 0
    while True:
        order = rng.permutation(work)
        errs = np.zeros(order.size)
        timed_out = False
        for i, j in enumerate(order):
            b, k, sup = B[j], float(k_all[j]), supports[j]
            old = C[j]
            g = X @ b - k * old
            new, _ = solve_block(g, k, sup)
            delta = new - old
            moved = np.flatnonzero(delta)
            if moved.size:
                X[moved] += np.outer(delta[moved], b)
                s -= float(delta[out[j]].sum())
                C[j] = new
                errs[i] = k * float(np.max(np.abs(delta[moved])))
            steps += 1
            if steps % CLOCK_EVERY == 0 and time.perf_counter() - t0 > max_seconds:
                timed_out = True
                break
        epochs += 1
        x_norm = float(np.linalg.norm(X))
        if s > 0.0:
            best_bound = max(best_bound, _norm_bound(s, x_norm))
        elapsed = time.perf_counter() - t0
        # Non-separable: the certificate's (reduced) norm is small enough; confirm exactly.
        if s > 0.0 and x_norm <= threshold * s:
            exact = certificate_norm(C)
            if exact <= threshold:
                y = -C[out] / s
                return DualOutcome(False, None, y, exact, epochs, elapsed)
        # The iterate's direction converges slowly; project it onto an exact recession
        # direction on its own pattern (then the bound is checked the same way).
        if epochs == refine_at and m <= REFINE_MAX_CONTEXTS:
            refine_at *= 2
            Y = null_refinement(B, supports, C)
            if Y is not None:
                exact = certificate_norm(Y)
                best_bound = max(best_bound, _norm_bound(1.0, exact))
                if exact <= threshold:
                    y = np.maximum(-Y[out], 0.0)
                    return DualOutcome(False, None, y, exact, epochs, time.perf_counter() - t0)
            elapsed = time.perf_counter() - t0
        if witness is not None and witness_epochs(epochs):
            found = witness(X)
            if found is not None and (best_witness is None or found[1] > best_witness[1]):
                if best_witness is None:
                    witness_until = WITNESS_TIGHTEN * epochs
                    witness_seconds = max(WITNESS_TIGHTEN * elapsed, WITNESS_GRACE_SECONDS)
                best_witness = found
            elapsed = time.perf_counter() - t0
            if best_witness is not None and (
                (epochs >= witness_until and elapsed >= witness_seconds)
                or best_witness[1] * best_bound >= WITNESS_BRACKET
            ):
                return _separated(best_witness, best_bound, C, epochs, t0)
        tol = POLISH_TOLERANCES[min(tol_index, len(POLISH_TOLERANCES) - 1)]
        worst = float(np.max(errs, initial=0.0))
        if full_pass and not timed_out and worst <= tol:
            solution = polish(out & (C < 0.0))
            if solution is not None and 1.0 / float(np.linalg.norm(solution[0])) > threshold:
                return DualOutcome(True, solution, None, 0.0, epochs, time.perf_counter() - t0)
            tol_index += 1
            if tol_index >= len(POLISH_TOLERANCES):
                if best_witness is not None:
                    return _separated(best_witness, best_bound, C, epochs, t0)
                _undecided(
                    "the dual ascent converged to rounding but the polish on its active set "
                    "did not pass the KKT check",
                    best_bound,
                    threshold,
                    epochs,
                    elapsed,
                )
        if elapsed > max_seconds or epochs >= max_epochs:
            if best_witness is not None:
                return _separated(best_witness, best_bound, C, epochs, t0)
            _undecided("the budget ran out", best_bound, threshold, epochs, elapsed)
        # Shrinking: revisit only the blocks that moved more than the tolerance; when none
        # did, the next pass is a full one over every context.
        moving = order[errs > tol]
        full_pass = moving.size == 0
        work = live if full_pass else moving


def _separated(
    found: tuple[FloatArray, float], bound: float, C: FloatArray, epochs: int, t0: float
) -> DualOutcome:
    """The outcome "separable by a checked separator" (no ``W^mm``), keeping the state."""
    return DualOutcome(
        True,
        None,
        None,
        0.0,
        epochs,
        time.perf_counter() - t0,
        witness=found,
        norm_bound=bound,
        state=C,
    )


def _undecided(why: str, bound: float, threshold: float, epochs: int, seconds: float) -> None:
    gamma_upper = float(np.inf) if bound == 0.0 else 1.0 / bound
    raise SeparabilityUndecidedError(
        f"NTP-separability undecided: {why} after {epochs} epochs ({seconds:.1f} s). Proven: "
        f"every separator W has ||W|| >= {bound:.4g}, i.e. the max margin gamma* <= "
        f"{gamma_upper:.4g}; 'not separable' needs gamma* <= {threshold:.4g} "
        "(SEPARABLE_RTOL * max_i ||A_i||), 'separable' a checked separator. Give it more "
        "time (is_separable(inst, max_seconds=...); ntpprops verify --stage-budget), or use "
        "fewer contexts, or d >= m with rank H = m (separable by Lemma 1)",
        norm_lower_bound=bound,
        margin_upper_bound=gamma_upper,
        threshold=threshold,
    )
