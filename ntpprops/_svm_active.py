"""Exact solvers for NTP-separability and the NTP-SVM on the kernel form of the dual.

Dual of Definition 3 in coefficient form. Every ``W = sum_i lambda_i A_i + (element of F)`` is
``C^T H`` with ``C`` (m, V) whose rows sum to zero, ``C[j, v] = -lambda_{jv}`` for
``v not in S_j`` and free entries on the supports. So the dual is

    max_C  -sum_{v not in S_j} C[j, v] - 1/2 tr(C^T K C)   s.t.  C 1 = 0,  C[out] <= 0,

with ``K = H H^T``: a QP whose Hessian is block diagonal over tokens (``K`` for each column
of ``C``), coupled only through the ``m`` row sums. Its multiplier ``t`` (m,) is the common
logit of each support. For a guessed active set the KKT conditions are the linear system

    (K C)[j, v] = t_j - [v not in S_j]   on the pattern R = supports + active atoms,
    C = 0 off R,  C 1 = 0,

solved exactly per token (``c_v = K_vv^+ (t_R - o_R)``, ``K_vv = K[R_v, R_v]``) plus an
``m x m`` Schur system for ``t``. When a ``K_vv`` is singular (``rank H < |R_v|``) the
system also constrains ``t`` (``t_R - o_R`` must lie in the range of ``K_vv``); those rows are
added to the ``t`` system with their own multipliers. The primal-dual active-set (PDAS)
iteration drops atoms with negative multipliers and adds violated ones until the active set
is stable (a handful of iterations in practice); the result satisfies the KKT conditions to
rounding and is verified by :func:`ntpprops._kkt.kkt_report`.

Separability. If ``rank H = m`` the instance is separable (Lemma 1). Otherwise the min-norm
point of the projected atoms decides: it is computed as the non-negative least squares
problem ``min_{lambda >= 0} ||D lambda||^2 + rho^2 (1 - 1^T lambda)^2`` (``D`` the projected
atoms in the coordinates of the rank-r factor of ``H``), whose solution is
``y* / (1 + gamma*^2 / rho^2)``: writing ``lambda = s y`` with ``y`` in the simplex, the
optimal ``s`` gives the value ``rho^2 g / (rho^2 + g)`` with ``g = ||D y||^2``, increasing in
``g``. Lawson-Hanson NNLS is a finite active-set method, so ``y*`` is exact to rounding.
When there are more than ``4 (V r + 1)`` atoms, column generation keeps the NNLS small:
solve on a working set, add the atoms with ``<u, A_i> < ||u||^2`` (read off the logits of
``u``). When separable, ``W^mm = P_perp(sum_i y*_i A_i) / gamma*^2`` is taken directly if it
passes the KKT check, else polished by PDAS from the NNLS support.

Beyond the dense size (``rank H < m`` and the min-norm-point matrices over
:data:`DENSE_MAX_ENTRIES`), :func:`decide_separability` uses the dual block-coordinate ascent
of :mod:`ntpprops._svm_dual` (``method="dual-cd"``), polished exactly by :func:`polish_from`;
:func:`active_set_fits` is the size check ``"auto"`` uses.

Convergence. PDAS is not guaranteed to converge for every QP; a repeated active set is
detected, and the iteration restarts from the min-norm point's support (when that fits), else
raises :class:`~ntpprops.SolverError` pointing to ``method="cvxpy"``. Limits: rank-deficient
instances need dense ``(V r)``-row matrices (:data:`DENSE_MAX_ENTRIES`), and NNLS costs grow
like the cube of the number of support vectors (minutes at ``(m, V, d) = (300, 20, 120)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from ntpprops._atoms import Atoms, atom_coefficients, atom_values
from ntpprops._embedding_ops import embedding_operator, logits_of
from ntpprops._errors import SeparabilityUndecidedError, SolverError
from ntpprops._instance import NTPInstance
from ntpprops._kkt import KKT_RTOL, kkt_report
from ntpprops._linalg import symmetric_eigh
from ntpprops._separation import (
    SeparabilityResult,
    perp_combination_norm,
    raw_margin,
    separation_atoms,
    support_spread,
)
from ntpprops._subspace import (
    RANK_RTOL,
    f_generators,
    kernel,
    project_f_coefficients,
    project_f_perp,
)
from ntpprops._svm_dual import (
    DUAL_MAX_EPOCHS,
    DUAL_MAX_SECONDS,
    DualOutcome,
    dual_coordinate_ascent,
)
from ntpprops._svm_polish import active_set_changes, cg_polish
from ntpprops._svm_restrict import restricted_certificate

__all__ = [
    "SEPARABLE_RTOL",
    "active_set_fits",
    "decide_separability",
    "dual_witness",
    "min_norm_point",
    "polish_from",
    "reduced_factor",
    "solve_active_set",
    "solve_dual_cd",
    "witness",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Share of the dual-ascent route's budget given first to the vocabulary restrictions of
#: :mod:`ntpprops._svm_restrict` (a "not separable" certificate in seconds on real text).
RESTRICT_SHARE = 0.25

#: Largest dense min-norm-point matrix (entries) of one restriction: the solve grows about
#: cubically (GPL-3 word bigrams at d = 384: 4.6e6 entries in 7.7 s, 1.7e7 in 54 s).
RESTRICT_MAX_ENTRIES = 1e7

#: Separable iff ``gamma* > SEPARABLE_RTOL * max_i ||A_i||``. On exactly non-separable data
#: the computed ``gamma*`` is rounding (about ``1e-15`` relative, times the conditioning of
#: the projection); integer-valued data that are separable have ``gamma*`` bounded below by
#: a ratio of small determinants, far above ``1e-8``. A separable instance with a smaller
#: margin would need ``||W^mm|| > 1e8 / max ||A_i||``: numerically meaningless anyway.
SEPARABLE_RTOL = 1e-8

#: Singular values of ``H`` below ``H_RANK_RTOL * s_max`` count as zero.
H_RANK_RTOL = 1e-10

#: Largest ``m`` for which the dense PDAS is the first polish of the dual ascent.
DENSE_POLISH_FIRST_CONTEXTS = 1000

#: Largest ``m`` for which the dense PDAS is the fallback polish of the dual ascent: beyond,
#: its ``m x m`` kernel products and Schur system cost minutes per iteration.
DENSE_POLISH_MAX_CONTEXTS = 2000

#: Cap on PDAS iterations (typically 5-10 are needed; a cycle is detected earlier).
MAX_PDAS_ITER = 200

#: The witness is ``W^mm`` scaled up by at most this much: the KKT check accepts margins down
#: to ``1 - KKT_RTOL`` (a scale-up of ``1 / (1 - KKT_RTOL)``), and the factor 2 leaves room for
#: the rounding bumps of :func:`_witness`. (It was ``1e-9``, stricter than the KKT check, which
#: refused KKT-verified answers, cvxpy's too, on contexts whose norms differ by 10^3.)
WITNESS_RTOL = 2.0 * KKT_RTOL

#: Largest ``V m^3`` for which the per-token blocks are padded to ``m x m`` and solved in one
#: batched call (removes per-token Python overhead; wasteful when blocks are much smaller).
BATCH_MAX_FLOPS = 1e7

#: Largest dense matrix (float64 entries) the min-norm-point solve builds.
DENSE_MAX_ENTRIES = 4e7

#: Column generation adds atoms with ``<u, A_i> < (1 - CG_RTOL) ||u||^2``.
CG_RTOL = 1e-10

#: Largest ``m`` and ``sum_j (S_j - 1)`` for which a dual-ascent certificate's norm is reported
#: exactly projected (kernel and Gram matrices of that size); beyond, the upper bound
#: ``||C^T H|| / s`` of :mod:`ntpprops._svm_dual` is reported.
PROJECTED_CERTIFICATE_MAX = 5000

#: Solution methods of :func:`decide_separability` (the NTP-SVM's "cvxpy" is not one).
DECISION_METHODS = ("auto", "active-set", "dual-cd")


def reduced_factor(inst: NTPInstance) -> tuple[FloatArray, FloatArray]:
    """The rank-r factor of the thin SVD ``H = U S V^T``: ``(B = H V_r, V_r^T)`` (cached).

    ``B`` equals ``U_r S_r`` but is computed as ``H V_r``: each row is then accurate relative
    to its own ``||h_j||``, and a zero embedding gives an exactly zero row. (``U_r S_r`` carries
    rounding of order ``eps * s_max`` in every row, which made the generators of ``F`` from a
    context with ``h_j = 0`` look like a direction of ``F``.)

    Returns
    -------
    B : ndarray, shape (m, r)
    Vt : ndarray, shape (r, d)
    """
    cached = inst._cache.get("reduced_factor")
    if cached is None:
        H = inst.embeddings
        _, s, Vt = np.linalg.svd(H, full_matrices=False)
        r = int(np.sum(s > H_RANK_RTOL * s[0])) if s[0] > 0.0 else 0
        cached = inst._cache["reduced_factor"] = (H @ Vt[:r].T, Vt[:r])
    return cached


# -- the min-norm point (decision and certificate) -----------------------------------------


def _embed_atoms(atoms: Atoms, B: FloatArray, V: int) -> FloatArray:
    """Atoms ``(e_pos - e_neg) b_ctx^T`` as columns of a dense ``(V r, n)`` matrix."""
    n, r = len(atoms), B.shape[1]
    M = np.zeros((V, r, n))
    cols = np.arange(n)
    M[atoms.pos, :, cols] = B[atoms.ctx]
    M[atoms.neg, :, cols] = -B[atoms.ctx]
    return M.reshape(V * r, n)


def _min_norm_fits(inst: NTPInstance, max_entries: float | None = None) -> bool:
    """Whether the dense matrices of the min-norm-point solve have at most ``max_entries``
    (default :data:`DENSE_MAX_ENTRIES`, read at call time).

    They have ``V r`` rows (``r = rank H``) and ``max(sum_j (S_j - 1), 4 (V r + 1))``
    columns at most: generators for the basis of ``F``, then the working set of atoms.
    """
    r = reduced_factor(inst)[0].shape[1]
    rows = inst.vocab_size * r
    columns = max(int(np.sum(inst.support_sizes - 1)), 4 * (rows + 1))
    cap = DENSE_MAX_ENTRIES if max_entries is None else max_entries
    return bool(rows * columns <= cap)


def _f_basis(inst: NTPInstance, B: FloatArray) -> FloatArray:
    """Orthonormal basis of ``F`` in the ``(V r)`` coordinates of ``X`` (``W = X V_r^T``).

    The nonzero generators are scaled to unit norm before the pivoted QR, so rank is judged
    independently of the embeddings' scales (as in :mod:`ntpprops._subspace`); generators of
    contexts with ``h_j = 0`` are exactly zero (see :func:`reduced_factor`) and dropped.
    """
    V = inst.vocab_size
    gens = f_generators(inst)
    G = _embed_atoms(gens, B, V) if len(gens) else np.zeros((V * B.shape[1], 0))
    norms = np.linalg.norm(G, axis=0)
    G = G[:, norms > 0.0] / norms[norms > 0.0]
    if G.shape[1] == 0:
        return np.zeros((V * B.shape[1], 0))
    Q, R, _ = scipy.linalg.qr(G, mode="economic", pivoting=True, check_finite=False)
    pivots = np.abs(np.diag(R))
    basis: FloatArray = Q[:, : int(np.sum(pivots**2 > RANK_RTOL))]
    return basis


def min_norm_point(
    inst: NTPInstance, max_entries: float | None = None
) -> tuple[FloatArray, float, float, FloatArray]:
    """The min-norm point of the convex hull of the projected atoms ``P_perp A_i``.

    Column generation around Lawson-Hanson NNLS: solve on a working set of atoms, then add
    the atoms violating the optimality condition ``<u, A_i> >= ||u||^2`` (read off the logits
    of ``u``), keeping the current support; the norm decreases strictly, so it terminates.
    With at most ``4 (V r + 1)`` atoms every atom is in the working set at once.

    Parameters
    ----------
    inst : NTPInstance
    max_entries : float, optional
        Cap on the dense matrices (:func:`_min_norm_fits`; default
        :data:`DENSE_MAX_ENTRIES`).

    Returns
    -------
    y : ndarray, shape (n_out,)
        Minimising convex weights over :func:`separation_atoms`.
    gamma : float
        ``||P_perp(sum_i y_i A_i)||`` (= the max NTP margin of a unit direction in ``F^perp``).
    scale : float
        ``max_i ||A_i||``, the scale ``gamma`` is compared with.
    lam : ndarray, shape (n_out,)
        The raw NNLS solution (its support is the active set of ``W^mm`` when separable).

    Raises
    ------
    SolverError
        If the dense matrices would exceed ``max_entries`` entries.
    """
    from scipy.optimize import nnls  # a slow import, needed only on rank-deficient instances

    B, _ = reduced_factor(inst)
    V, r = inst.vocab_size, B.shape[1]
    atoms = separation_atoms(inst)
    n_out = len(atoms)
    if not _min_norm_fits(inst, max_entries):
        raise SolverError(
            f"the min-norm-point test needs dense {V * r}-row matrices too large for this "
            "rank-deficient instance (rank H < m); reduce the instance or use d >= m"
        )
    scale = float(np.sqrt(2.0) * np.max(np.linalg.norm(B[atoms.ctx], axis=1), initial=0.0))
    if scale == 0.0:  # every atom is zero (h_j = 0 wherever a support is not full)
        y = np.full(n_out, 1.0 / n_out)
        return y, 0.0, 0.0, y
    basis = _f_basis(inst, B)
    rows = V * r + 1
    if n_out <= 4 * rows:
        work = np.arange(n_out)
    else:
        work = np.unique(np.linspace(0, n_out - 1, 2 * rows).astype(np.intp))
    while True:
        D = _embed_atoms(atoms.take(work), B, V)
        D -= basis @ (basis.T @ D)
        target = np.zeros(rows)
        target[-1] = scale
        lam_w, _ = nnls(
            np.vstack([D, np.full((1, len(work)), scale)]), target, maxiter=50 * max(rows, 10)
        )
        total = float(lam_w.sum())
        if total <= 0.0:
            raise SolverError("NNLS returned lambda = 0 for the min-norm point; rescale H")
        u = D @ (lam_w / total)
        gamma = float(np.linalg.norm(u))
        if gamma <= SEPARABLE_RTOL * scale or len(work) == n_out:
            break
        values = atom_values(atoms, B @ u.reshape(V, r).T)
        violated = np.flatnonzero(values < gamma**2 * (1.0 - CG_RTOL))
        violated = violated[~np.isin(violated, work)]
        if violated.size == 0:
            break
        worst = violated[np.argsort(values[violated])[:rows]]
        work = np.union1d(work[lam_w > 0], worst)
    lam = np.zeros(n_out)
    lam[work] = lam_w
    return lam / total, gamma, scale, lam


# -- the exact solve on a fixed active set ------------------------------------------------


def _psd_pinv(block: FloatArray) -> tuple[FloatArray, FloatArray | None]:
    """A symmetric generalised inverse ``G`` of a PSD block and a basis of its null space.

    The block is factorised at unit diagonal, ``A = D K D`` with ``D = diag(K)^{-1/2}``, so
    rank is judged per row relative to that row's own scale (as in :mod:`ntpprops._subspace`):
    contexts whose embeddings differ in norm by orders of magnitude are not mistaken for
    dependent ones. Returns ``G = D A^+ D``, which satisfies ``K G K = K`` (all the pattern solve
    needs: the null-space part of each column is a separate unknown), and ``D N`` with ``N`` an
    orthonormal basis of ``null(A)``, which spans ``null(K)`` (or None when ``K`` is definite).
    """
    diag = np.diag(block)
    # A zero embedding's row and column of K vanish (diagonal 0): left unscaled, they stay
    # zero and come out as null directions.
    inv_sqrt = 1.0 / np.sqrt(np.where(diag > 0.0, diag, 1.0))
    unit = block * inv_sqrt[:, None] * inv_sqrt[None, :]
    ginv, null = _psd_pinv_unscaled(unit)
    ginv *= inv_sqrt[:, None] * inv_sqrt[None, :]
    return ginv, (None if null is None else null * inv_sqrt[:, None])


def _psd_pinv_unscaled(block: FloatArray) -> tuple[FloatArray, FloatArray | None]:
    """Pseudo-inverse of a PSD block and an orthonormal basis of its null space (or None)."""
    scale = float(np.max(np.diag(block)))
    try:
        chol = scipy.linalg.cholesky(block, lower=True, check_finite=False)
        if np.min(np.diag(chol)) ** 2 > RANK_RTOL * scale:
            inv, info = scipy.linalg.lapack.dpotri(np.asfortranarray(chol), lower=1)
            if info == 0:
                # dpotri fills the lower triangle; the upper one is still the zeros of chol.
                full = inv + inv.T
                full[np.diag_indices_from(full)] *= 0.5
                return full, None
    except scipy.linalg.LinAlgError:
        pass
    vals, vecs = symmetric_eigh(block)
    keep = vals > RANK_RTOL * max(float(vals[-1]), scale)
    kept = vecs[:, keep]
    pinv = (kept / vals[keep]) @ kept.T
    null = vecs[:, ~keep]
    return pinv, (null if null.shape[1] > 0 else None)


class _OutOfTime(Exception):
    """Raised inside a pattern solve when the caller's deadline has passed."""


#: Factor cache of one PDAS run: rows R_v (as bytes) -> (K_vv^+, null basis). Tokens with the
#: same rows share a factor (all of them in the first, all-active, iteration).
BlockCache = dict[bytes, tuple[FloatArray, "FloatArray | None"]]


def _solve_pattern(
    K: FloatArray,
    pattern: BoolArray,
    out: BoolArray,
    cache: BlockCache | None = None,
    deadline: float | None = None,
) -> FloatArray:
    """Solve the KKT equalities on ``pattern`` (supports + active atoms); returns ``C`` (m, V).

    Unknowns: ``C`` on the pattern and the support logits ``t`` (m,). Per token ``v``:
    ``K_vv c_v = t_R - o_R``; the row sums ``C 1 = 0`` give the Schur system for ``t``.
    Small problems with every block positive definite take one batched (vectorised) solve.
    Raises :class:`_OutOfTime` if ``time.perf_counter()`` passes ``deadline`` between blocks.
    """
    if deadline is not None and time.perf_counter() > deadline:
        raise _OutOfTime
    m, V = pattern.shape
    if V * m**3 <= BATCH_MAX_FLOPS:
        C = _solve_pattern_batched(K, pattern, out)
        if C is not None:
            return C
    return _solve_pattern_blocks(K, pattern, out, {} if cache is None else cache, deadline)


def _solve_pattern_batched(K: FloatArray, pattern: BoolArray, out: BoolArray) -> FloatArray | None:
    """:func:`_solve_pattern` with every ``K_vv`` padded to ``m x m`` (identity off ``R_v``).

    Returns None when some block is not numerically positive definite.
    """
    m = pattern.shape[0]
    mask = pattern.T  # (V, m)
    square = mask[:, :, None] & mask[:, None, :]
    stack = np.where(square, K, 0.0)
    idx = np.arange(m)
    stack[:, idx, idx] += ~mask
    try:
        chol = np.linalg.cholesky(stack)
    except np.linalg.LinAlgError:
        return None
    pivots = np.diagonal(chol, axis1=1, axis2=2) ** 2
    scale = np.max(np.where(mask, np.diagonal(K), 0.0), axis=1, keepdims=True)
    if np.any(mask & (pivots <= RANK_RTOL * scale)):
        return None
    eye = np.broadcast_to(np.eye(m), stack.shape)
    chol_inv = scipy.linalg.solve_triangular(chol, eye, lower=True, check_finite=False)
    inv = chol_inv.transpose(0, 2, 1) @ chol_inv
    inv[~square] = 0.0
    o = (out.T & mask).astype(np.float64)
    schur = inv.sum(axis=0)
    rhs = np.einsum("vij,vj->i", inv, o)
    try:
        factor = scipy.linalg.cho_factor(schur, lower=True, check_finite=False)
    except scipy.linalg.LinAlgError:
        return None
    t = scipy.linalg.cho_solve(factor, rhs, check_finite=False)
    coefficients: FloatArray = np.einsum("vij,vj->iv", inv, t[None, :] - o)
    return coefficients


def _solve_pattern_blocks(
    K: FloatArray,
    pattern: BoolArray,
    out: BoolArray,
    cache: BlockCache,
    deadline: float | None = None,
) -> FloatArray:
    """:func:`_solve_pattern` token by token, with pseudo-inverses for singular blocks.

    ``cache`` keeps the factors between PDAS iterations (late iterations change the rows of
    only a few tokens). Entries this call does not need are evicted before any new factor is
    computed, so the old and the new factors never coexist: the cache is the largest memory
    cost of the solver (a ``|R_v| x |R_v|`` matrix per distinct row set).
    """
    m, V = pattern.shape
    schur = np.zeros((m, m))
    rhs = np.zeros(m)
    blocks = []
    null_rows: list[FloatArray] = []
    null_rhs: list[FloatArray] = []
    rows_of_token = [np.flatnonzero(pattern[:, v]) for v in range(V)]
    needed = {idx.tobytes() for idx in rows_of_token if idx.size}
    for stale in cache.keys() - needed:
        del cache[stale]
    for v, idx in enumerate(rows_of_token):
        if idx.size == 0:
            continue
        o = out[idx, v].astype(np.float64)
        key = idx.tobytes()
        hit = cache.get(key)
        if hit is None:
            if deadline is not None and time.perf_counter() > deadline:
                raise _OutOfTime
            hit = cache[key] = _psd_pinv(K[np.ix_(idx, idx)])
        pinv, null = hit
        schur[np.ix_(idx, idx)] += pinv
        rhs[idx] += pinv @ o
        offset = sum(len(r) for r in null_rhs)
        if null is not None:
            rows = np.zeros((null.shape[1], m))
            rows[:, idx] = null.T
            null_rows.append(rows)
            null_rhs.append(null.T @ o)
        blocks.append((v, idx, pinv, null, o, offset))
    if null_rows:
        # t must also make t_R - o_R lie in range(K_vv): a constrained m-variable QP.
        N = np.vstack(null_rows)
        k = N.shape[0]
        system = np.block([[schur, N.T], [N, np.zeros((k, k))]])
        sol = np.linalg.lstsq(system, np.concatenate([rhs, *null_rhs]), rcond=None)[0]
        t, eta = sol[:m], sol[m:]
    else:
        eta = np.zeros(0)
        try:
            t = scipy.linalg.cho_solve(
                scipy.linalg.cho_factor(schur, lower=True, check_finite=False),
                rhs,
                check_finite=False,
            )
        except scipy.linalg.LinAlgError:
            t = np.linalg.lstsq(schur, rhs, rcond=None)[0]
    C = np.zeros((m, V))
    for v, idx, pinv, null, o, offset in blocks:
        c = pinv @ (t[idx] - o)
        if null is not None:
            c += null @ eta[offset : offset + null.shape[1]]
        C[idx, v] = c
    return C


def _pdas(inst: NTPInstance, active: BoolArray, deadline: float | None = None) -> FloatArray | None:
    """Primal-dual active-set iteration from ``active`` (m, V); ``C`` at a fixed point, or None.

    None also when ``time.perf_counter()`` passes ``deadline`` (checked before each factor: one
    iteration from a poor active set can add most atoms and then factor hundreds of
    ``|R_v| > r`` blocks; on the GPL-3 text at d = 384 a single solve took over 200 s).
    """
    K = kernel(inst)
    out = ~inst.supports
    rows = np.arange(inst.m)
    anchor = np.argmax(inst.supports, axis=1)
    seen: set[bytes] = set()
    cache: BlockCache = {}
    for _ in range(MAX_PDAS_ITER):
        try:
            C = _solve_pattern(K, inst.supports | active, out, cache, deadline)
        except _OutOfTime:
            return None
        scores = K @ C
        margins = scores[rows, anchor][:, None] - scores
        drop, add = active_set_changes(active, out, np.where(active, -C, 0.0), margins)
        if not drop.any() and not add.any():
            return C
        seen.add(np.packbits(active).tobytes())
        active = (active & ~drop) | add
        if np.packbits(active).tobytes() in seen:
            return None  # cycling: the caller restarts from a better active set
    return None


def _to_solution(inst: NTPInstance, C: FloatArray) -> tuple[FloatArray, FloatArray, BoolArray]:
    atoms = separation_atoms(inst)
    W = C.T @ inst.embeddings
    duals = -C[atoms.ctx, atoms.neg]
    active = duals > 0.0
    # Multipliers in [-ACTIVE_RTOL * max, 0) (_svm_polish) are rounding on weakly active atoms.
    return W, np.maximum(duals, 0.0), active


def _solve_svm(
    inst: NTPInstance, init: BoolArray | None
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """PDAS from ``init`` (default: every out-of-support atom), restarting once from the
    min-norm-point active set if it cycles."""
    out = ~inst.supports
    C = _pdas(inst, out.copy() if init is None else init)
    if C is None and init is None and _min_norm_fits(inst):
        _, _, _, lam = min_norm_point(inst)
        atoms = separation_atoms(inst)
        start = np.zeros_like(out)
        start[atoms.ctx[lam > 0], atoms.neg[lam > 0]] = True
        C = _pdas(inst, start)
    if C is None:
        raise SolverError(
            "the active-set NTP-SVM iteration cycled without reaching a KKT point; "
            "try method='cvxpy'"
        )
    return _to_solution(inst, C)


def polish_from(
    inst: NTPInstance, active: BoolArray, deadline: float | None = None
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Exact ``(W, duals, active)`` by PDAS started from a solver's active set (m, V).

    ``deadline`` (a ``time.perf_counter()`` value) stops the iteration with a
    :class:`SolverError` once passed.
    """
    C = _pdas(inst, active & ~inst.supports, deadline)
    if C is None:
        late = deadline is not None and time.perf_counter() > deadline
        raise SolverError(
            "polishing from the given active set ran past its deadline"
            if late
            else "polishing from the given active set cycled without reaching a KKT point; "
            "try method='active-set'"
        )
    return _to_solution(inst, C)


def witness(inst: NTPInstance, W: FloatArray) -> FloatArray:
    """``W`` scaled up (by at most ``WITNESS_RTOL`` relative) so every NTP margin is ``>= 1``."""
    raw = raw_margin(inst, W)
    scaled = _unit_margin(inst, W, 1.0 / raw if raw < 1.0 else 1.0)
    if scaled is None:
        raise SolverError(
            f"the NTP-SVM solution has raw margin {raw!r}, too far from 1 to be a witness; "
            "try method='cvxpy'"
        )
    return scaled


def _unit_margin(inst: NTPInstance, W: FloatArray, factor: float) -> FloatArray | None:
    """``W * factor * (1 + rho)`` with every computed NTP margin ``>= 1``, for the smallest
    ``rho <= WITNESS_RTOL`` tried, or None."""
    scaled = W * factor
    # The computed margins carry rounding of order eps * |logits|, which can exceed the
    # margin change of a tiny bump when ||W|| is large: bumps double until they outgrow it.
    bump = 2.0**-44
    grown = 1.0
    while not raw_margin(inst, scaled) >= 1.0 and bump <= WITNESS_RTOL:
        grown = 1.0 + bump
        scaled = W * (factor * grown)
        bump *= 2.0
    if not raw_margin(inst, scaled) >= 1.0 or grown - 1.0 > WITNESS_RTOL:
        return None
    return scaled


def dual_witness(
    inst: NTPInstance, X: FloatArray, threshold: float
) -> tuple[FloatArray, float] | None:
    """A separator from the dual ascent's primal iterate, checked, or None.

    ``W = P_perp(X V_r^T)`` (the projection in kernel form, :func:`project_f_perp`) scaled to
    unit raw margin is returned when every out-of-support gap is positive, the margin of its
    direction is above the decision threshold (as a polished ``W^mm`` must be: below it, a
    gap can be the rounding of a projection, e.g. two contexts on one ray whose supports force
    equal logits) and the support logits agree to ``KKT_RTOL`` of the largest logit (the
    standard (6a) is held to for ``W^mm``). Nothing of the ascent is trusted: the margins are
    recomputed from ``H``.

    Parameters
    ----------
    inst : NTPInstance
    X : ndarray, shape (V, r)
        The primal iterate in the rank-r coordinates of :func:`reduced_factor`.
    threshold : float
        The decision threshold ``SEPARABLE_RTOL * max_i ||A_i||`` on ``gamma*``.

    Returns
    -------
    (W, margin) or None
        ``W`` (V, d) with every NTP margin ``>= 1`` and ``margin = ntp_margin(W)``, a lower
        bound on ``gamma*``.
    """
    _, Vt = reduced_factor(inst)
    W = project_f_perp(inst, X @ Vt)
    raw = raw_margin(inst, W)
    if not (raw > 0.0 and np.isfinite(raw)):
        return None
    scaled = _unit_margin(inst, W, 1.0 / raw)
    if scaled is None:
        return None
    scores = logits_of(embedding_operator(inst), scaled)
    spread = support_spread(inst, scores)
    margin = 1.0 / float(np.linalg.norm(scaled))
    if not (margin > threshold and spread <= KKT_RTOL * max(1.0, float(np.max(np.abs(scores))))):
        return None
    return scaled, margin


def _from_min_norm_point(
    inst: NTPInstance, y: FloatArray, gamma: float
) -> tuple[FloatArray, FloatArray, BoolArray] | None:
    """``W^mm = P_perp(sum_i lambda_i A_i)`` with ``lambda = y / gamma^2``, if it passes KKT.

    Lawson-Hanson solves the least-squares problem on its final support exactly, so this is
    usually exact to rounding; otherwise (None) the PDAS iteration polishes it.
    """
    atoms = separation_atoms(inst)
    duals = y / gamma**2
    H = inst.embeddings
    C = atom_coefficients(atoms, duals, inst.m, inst.vocab_size)
    C -= project_f_coefficients(inst, kernel(inst) @ C)
    W = C.T @ H
    if not kkt_report(inst, W, duals).ok:
        return None
    return W, duals, duals > 0.0


def active_set_fits(inst: NTPInstance) -> bool:
    """Whether the dense active-set method applies: ``rank H = m`` (Lemma 1: separable, PDAS
    directly) or the min-norm-point matrices fit in :data:`DENSE_MAX_ENTRIES`."""
    return reduced_factor(inst)[0].shape[1] >= inst.m or _min_norm_fits(inst)


def decide_separability(
    inst: NTPInstance,
    *,
    method: str = "auto",
    max_seconds: float = DUAL_MAX_SECONDS,
    max_epochs: int = DUAL_MAX_EPOCHS,
) -> SeparabilityResult:
    """Decide Definition 2; when separable also solve and cache ``W^mm`` (the witness).

    See the module docstring for the dense method and :mod:`ntpprops._svm_dual` for the dual
    ascent; :func:`ntpprops.is_separable` calls this with the defaults and caches the result.

    Parameters
    ----------
    inst : NTPInstance
    method : {"auto", "active-set", "dual-cd"}
        ``"auto"``: the dense active-set method where :func:`active_set_fits`, the dual
        block-coordinate ascent beyond.
    max_seconds, max_epochs : float, int
        Budget of the dual ascent (unused by the dense method).

    Returns
    -------
    SeparabilityResult

    Raises
    ------
    SeparabilityUndecidedError
        If the dual ascent runs out of budget undecided (a :class:`SolverError`).
    SolverError
        If a dense solve fails or its answer does not pass verification.
    """
    if method not in DECISION_METHODS:
        raise ValueError(f"method must be one of {DECISION_METHODS}, got {method!r}")
    atoms = separation_atoms(inst)
    if len(atoms) == 0:
        return SeparabilityResult(True, np.zeros(inst.weight_shape), float(np.inf))
    if method == "dual-cd" or (method == "auto" and not active_set_fits(inst)):
        return _decide_by_dual(inst, max_seconds, max_epochs)
    start = time.perf_counter()
    B, _ = reduced_factor(inst)
    init = None
    solution = None
    if B.shape[1] < inst.m:
        y, gamma, scale, lam = min_norm_point(inst)
        if not gamma > SEPARABLE_RTOL * scale:
            return SeparabilityResult(False, None, 0.0, y, perp_combination_norm(inst, y))
        init = np.zeros(inst.supports.shape, dtype=bool)
        init[atoms.ctx[lam > 0], atoms.neg[lam > 0]] = True
        solution = _from_min_norm_point(inst, y, gamma)
    if solution is None:
        solution = _solve_svm(inst, init)
    W, duals, active = solution
    inst._cache["svm_active_solution"] = (W, duals, active, time.perf_counter() - start)
    return SeparabilityResult(True, witness(inst, W), 1.0 / float(np.linalg.norm(W)))


def solve_active_set(inst: NTPInstance) -> tuple[FloatArray, FloatArray, BoolArray, float]:
    """``(W^mm, duals, active, seconds)`` by the active-set method (separable instances only).

    Reuses the solution computed while deciding separability.
    """
    cached = inst._cache.get("svm_active_solution")
    if cached is None:
        start = time.perf_counter()
        W, duals, active = _solve_svm(inst, None)
        cached = inst._cache["svm_active_solution"] = (
            W,
            duals,
            active,
            time.perf_counter() - start,
        )
    W, duals, active, seconds = cached
    return W.copy(), duals.copy(), active.copy(), seconds


# -- the dual block-coordinate ascent (beyond the dense solver's size) --------------------


def _verified_polish(
    inst: NTPInstance, active: BoolArray, deadline: float | None = None
) -> tuple[FloatArray, FloatArray, BoolArray] | None:
    """The active-set iteration from a dual-ascent active set (m, V), kept only if it passes
    :func:`kkt_report`; None also when it runs past ``deadline`` (so the ascent's budget holds).

    Two iterations: the dense PDAS (``m x m`` kernel products and per-token factors; fastest
    up to :data:`DENSE_POLISH_FIRST_CONTEXTS`, measured 7.7 s against 17.8 s at (500, 400,
    300)) and the matrix-free :func:`ntpprops._svm_polish.cg_polish` (``O(m V r)`` per round,
    no ``m x m`` matrix), first beyond; each is the other's fallback while it fits.
    """

    def dense() -> tuple[FloatArray, FloatArray, BoolArray] | None:
        try:
            return polish_from(inst, active, deadline)
        except SolverError:
            return None

    def matrix_free() -> tuple[FloatArray, FloatArray, BoolArray] | None:
        C = cg_polish(reduced_factor(inst)[0], inst.supports, active, deadline)
        return None if C is None else _to_solution(inst, C)

    Attempt = Callable[[], "tuple[FloatArray, FloatArray, BoolArray] | None"]
    tries: tuple[Attempt, ...]
    if inst.m <= DENSE_POLISH_FIRST_CONTEXTS:
        tries = (dense, matrix_free)
    elif inst.m <= DENSE_POLISH_MAX_CONTEXTS:
        tries = (matrix_free, dense)
    else:
        tries = (matrix_free,)
    for attempt in tries:
        solved = attempt()
        if solved is None:
            continue
        W, duals, act = solved
        if np.all(np.isfinite(W)) and kkt_report(inst, W, duals).ok:
            return W, duals, act
    return None
    if inst.m > DENSE_POLISH_MAX_CONTEXTS:
        return None
    try:
        W, duals, act = polish_from(inst, active, deadline)
    except SolverError:
        return None
    if not np.all(np.isfinite(W)) or not kkt_report(inst, W, duals).ok:
        return None
    return W, duals, act


def _dual_outcome(
    inst: NTPInstance, max_seconds: float, max_epochs: int, *, need_w_mm: bool
) -> DualOutcome:
    """:func:`ntpprops._svm_dual.dual_coordinate_ascent` on ``inst`` (cached once decided).

    ``need_w_mm=False`` (a decision only) lets a checked separator of the primal iterate
    (:func:`dual_witness`) end the ascent; ``need_w_mm=True`` continues such an outcome from
    its state until ``W^mm`` is polished.

    Raises
    ------
    SeparabilityUndecidedError
        If the ascent runs out of budget undecided.
    SolverError
        If the instance is separable (a witness was found) but ``W^mm`` was not polished
        within the budget.
    """
    cached: DualOutcome | None = inst._cache.get("svm_dual_outcome")
    if cached is not None and not (need_w_mm and cached.witness is not None):
        return cached
    deadline = time.perf_counter() + max_seconds
    B, _ = reduced_factor(inst)
    threshold = _threshold(inst)
    try:
        outcome = dual_coordinate_ascent(
            B,
            inst.supports,
            threshold=threshold,
            polish=lambda active: _verified_polish(inst, active, deadline),
            certificate_norm=lambda C: _certificate_norm(inst, C),
            max_seconds=max_seconds,
            max_epochs=max_epochs,
            witness=None if need_w_mm else (lambda X: dual_witness(inst, X, threshold)),
            start=None if cached is None else cached.state,
        )
    except SeparabilityUndecidedError as exc:
        if cached is None or cached.witness is None:
            raise
        raise SolverError(
            "the instance is NTP-separable (a checked separator was found), but W^mm was not "
            f"polished to a KKT-verified solution in {max_seconds:.0f} s more of the dual "
            f"ascent ({exc.norm_lower_bound:.6g} <= ||W^mm|| <= {1.0 / cached.witness[1]:.6g} "
            "is proven). Give it more time "
            "(ntpprops._svm_active.solve_dual_cd(inst, max_seconds=...)), or use fewer contexts"
        ) from exc
    inst._cache["svm_dual_outcome"] = outcome
    return outcome


def _certificate_norm(inst: NTPInstance, C: FloatArray) -> float:
    """An upper bound on ``||P_perp(sum_i y_i A_i)||`` for ``y = -C_out / s`` (C: (m, V)).

    Exactly that projected norm (:func:`perp_combination_norm`) when the kernel and the Gram
    matrix of ``F`` are small (:data:`PROJECTED_CERTIFICATE_MAX`); beyond, ``||C'^T H|| / s``
    with ``C'`` the matrix ``C`` whose rows are made to sum to zero on an anchor token (the
    rows differ from ``C``'s by rounding), which bounds it (:mod:`ntpprops._svm_dual`).
    Returns ``inf`` when ``C_out`` proves nothing (a positive entry, or ``s <= 0``).
    """
    out = ~inst.supports
    s = -float(C[out].sum())
    if not s > 0.0 or np.any(C[out] > 0.0):
        return float(np.inf)
    y = -C[out] / s
    if inst.m <= PROJECTED_CERTIFICATE_MAX and (
        int(np.sum(inst.support_sizes - 1)) <= PROJECTED_CERTIFICATE_MAX
    ):
        return perp_combination_norm(inst, y)
    fixed = C / s
    fixed[np.arange(inst.m), np.argmax(inst.supports, axis=1)] -= fixed.sum(axis=1)
    return float(np.linalg.norm(fixed.T @ inst.embeddings))


def _decide_restriction(sub: NTPInstance) -> SeparabilityResult | None:
    """The exact decision of a vocabulary restriction (:mod:`ntpprops._svm_restrict`), without
    ``W^mm``; None when the dense min-norm point does not fit it."""
    B, _ = reduced_factor(sub)
    if B.shape[1] >= sub.m:
        return SeparabilityResult(True)  # Lemma 1 (the search needs no witness)
    if not _min_norm_fits(sub, RESTRICT_MAX_ENTRIES):
        return None
    y, gamma, scale, _ = min_norm_point(sub, RESTRICT_MAX_ENTRIES)
    if gamma > SEPARABLE_RTOL * scale:
        return SeparabilityResult(True)
    return SeparabilityResult(False, None, 0.0, y, perp_combination_norm(sub, y))


def _threshold(inst: NTPInstance) -> float:
    """``SEPARABLE_RTOL * max_i ||A_i||`` from the rank-r factor, per context (``B[atoms.ctx]``
    would be an (n_out, r) copy, 7 GB on the GPL-3 text)."""
    B, _ = reduced_factor(inst)
    has_out = ~np.all(inst.supports, axis=1)
    norms = np.linalg.norm(B, axis=1)[has_out]
    return SEPARABLE_RTOL * float(np.sqrt(2.0) * np.max(norms, initial=0.0))


def _decide_by_dual(inst: NTPInstance, max_seconds: float, max_epochs: int) -> SeparabilityResult:
    # A restriction to a few frequent tokens decides most non-separable real text in seconds;
    # it gets a quarter of the budget, the ascent what is left.
    start = time.perf_counter()
    restricted = restricted_certificate(
        inst,
        _decide_restriction,
        threshold=_threshold(inst),
        deadline=start + RESTRICT_SHARE * max_seconds,
    )
    if restricted is not None:
        return restricted
    left = max(max_seconds - (time.perf_counter() - start), 1e-3)
    outcome = _dual_outcome(inst, left, max_epochs, need_w_mm=False)
    if outcome.witness is not None:
        W, margin = outcome.witness
        upper = float(np.inf) if outcome.norm_bound == 0.0 else 1.0 / outcome.norm_bound
        return SeparabilityResult(True, W, margin, margin_upper=max(upper, margin))
    if outcome.solution is None:
        return SeparabilityResult(False, None, 0.0, outcome.certificate, outcome.certificate_norm)
    W, _, _ = outcome.solution
    return SeparabilityResult(True, witness(inst, W), 1.0 / float(np.linalg.norm(W)))


def solve_dual_cd(
    inst: NTPInstance,
    *,
    max_seconds: float = DUAL_MAX_SECONDS,
    max_epochs: int = DUAL_MAX_EPOCHS,
) -> tuple[SeparabilityResult, tuple[FloatArray, FloatArray, BoolArray, float] | None]:
    """The dual-ascent decision and, when separable, ``(W^mm, duals, active, seconds)``.

    Reuses the ascent run while deciding separability (:func:`decide_separability`): a
    decision by a separator continues from the ascent's state for ``max_seconds`` more.

    Raises
    ------
    SeparabilityUndecidedError
        If the ascent runs out of budget undecided.
    SolverError
        If the instance is separable but ``W^mm`` was not polished within the budget.
    """
    sep = decide_separability(
        inst, method="dual-cd", max_seconds=max_seconds, max_epochs=max_epochs
    )
    if not sep:
        return sep, None
    outcome = _dual_outcome(inst, max_seconds, max_epochs, need_w_mm=True)
    if outcome.solution is None:
        return sep, None
    W, duals, active = outcome.solution
    if sep.margin_upper is not None:
        sep = SeparabilityResult(True, witness(inst, W), 1.0 / float(np.linalg.norm(W)))
    return sep, (W.copy(), duals.copy(), active.copy(), outcome.seconds)
