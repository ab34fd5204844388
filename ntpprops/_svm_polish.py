"""Exact polish of the NTP-SVM on an active set, matrix-free: the large-instance PDAS.

On a guessed active set ``A`` (out-of-support atoms taken as tight) the NTP-SVM of Definition 3
is an equality-constrained least-norm problem in the rank-r coordinates ``X = W V_r`` (V, r),
``B = H V_r`` (m, r) (:func:`ntpprops._svm_active.reduced_factor`):

    min 1/2 ||X||^2  s.t.  (e_z - e_{a_j})^T X b_j = 0   for z in S_j, z != a_j     (6a)
                           (e_{a_j} - e_v)^T X b_j = 1   for (j, v) in A            (6b tight)

with ``a_j`` an anchor token of ``S_j``. Each constraint row is ``(e_p - e_q) b_j^T``; writing
``M`` for the stacked rows, ``X = M^T alpha`` with ``M M^T alpha = rhs``, and ``alpha`` on
the rows of ``A`` is the multiplier ``lambda`` of (6b). The Gram ``M M^T`` is never formed:
a product with it costs ``O(k r)`` for ``k`` rows (a gather of ``X`` at the rows' tokens and a
sparse scatter back), and preconditioned conjugate gradients solve it. The preconditioner is
exact on each context's diagonal block: the rows of context ``j`` share ``b_j`` and are
``s_l (e_{t_l} - e_{a_j})`` with distinct ``t_l`` and signs ``s_l``, so that block is
``||b_j||^2 D (I + 1 1^T) D`` (``D = diag(s)``), inverted in closed form by
Sherman-Morrison: ``D (I - 1 1^T / (1 + n_j)) D / ||b_j||^2``.

Around the solve runs the primal-dual active-set iteration of :mod:`ntpprops._svm_active`:
drop atoms with negative multipliers, add violated ones (read off all ``m V`` logits
``B X^T`` in ``O(m V r)``), warm-started from the previous multipliers. Cost per round:
``O(m V r)`` plus ``O(k r)`` per CG iteration; memory ``O(m V + k r)``. Nothing of size
``m x m`` or (number of atoms) x (anything) is formed. The result is only a proposal: the
caller certifies it with :func:`ntpprops._svm.kkt_report` on the original embeddings.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

__all__ = ["ACTIVE_RTOL", "CG_POLISH_MAX_ENTRIES", "active_set_changes", "cg_polish"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]

#: Relative residual ``||M M^T alpha - rhs|| / ||rhs||`` the conjugate gradients must reach:
#: margins are then exact to ~1e-12, well inside the KKT check's 1e-8 and the active-set
#: tolerance 1e-11 of :data:`ACTIVE_RTOL`.
CG_RTOL = 1e-13

#: Largest ``k r`` (constraint rows times rank) kept as the gathered rows ``B[ctx]``: 800 MB.
CG_POLISH_MAX_ENTRIES = 1e8

#: Conjugate-gradient iterations per solve before giving up (an inconsistent active set
#: stalls; a consistent one converges in tens to hundreds with the block preconditioner).
CG_MAX_ITER = 5000

#: Rounds of the active-set iteration.
MAX_ROUNDS = 60

#: Relative tolerance deciding "negative multiplier" and "violated margin" in the active-set
#: updates of both iterations (this one and the dense PDAS of :mod:`ntpprops._svm_active`).
ACTIVE_RTOL = 1e-11


def active_set_changes(
    active: BoolArray, out: BoolArray, lam: FloatArray, margins: FloatArray
) -> tuple[BoolArray, BoolArray]:
    """The primal-dual active-set update: atoms to drop and atoms to add, each (m, V).

    Drop the active atoms whose multiplier ``lam`` is negative beyond rounding (relative to
    the largest); add the inactive out-of-support atoms whose margin is below 1.
    """
    lam_tol = ACTIVE_RTOL * max(float(np.max(np.abs(lam), initial=0.0)), 1e-300)
    drop = active & (lam < -lam_tol)
    add = out & ~active & (margins < 1.0 - ACTIVE_RTOL)
    return drop, add


class _Rows(NamedTuple):
    """Constraint rows ``(e_pos - e_neg) b_ctx^T = rhs``; the first ``n_eq`` are (6a)."""

    ctx: IntArray
    pos: IntArray
    neg: IntArray
    rhs: FloatArray
    n_eq: int


def _rows(supports: BoolArray, active: BoolArray, anchor: IntArray) -> _Rows:
    sj, sz = np.nonzero(supports)
    keep = sz != anchor[sj]
    sj, sz = sj[keep], sz[keep]
    aj, av = np.nonzero(active)
    return _Rows(
        ctx=np.concatenate([sj, aj]),
        pos=np.concatenate([sz, anchor[aj]]),
        neg=np.concatenate([anchor[sj], av]),
        rhs=np.concatenate([np.zeros(sj.size), np.ones(aj.size)]),
        n_eq=int(sj.size),
    )


class _System:
    """Products with ``M`` and ``M^T`` for the rows, and the block preconditioner."""

    def __init__(self, B: FloatArray, V: int, rows: _Rows) -> None:
        k = rows.ctx.size
        self.rows = rows
        self.Bk = B[rows.ctx]
        idx = np.arange(k)
        self.scatter = scipy.sparse.csr_matrix(
            (
                np.concatenate([np.ones(k), -np.ones(k)]),
                (np.concatenate([rows.pos, rows.neg]), np.concatenate([idx, idx])),
            ),
            shape=(V, k),
        )
        # Block preconditioner: row l of context j is s_l (e_{t_l} - e_{a_j}), s = +1 for
        # (6a) rows (t = pos) and -1 for (6b) rows (t = neg).
        self.sign = np.where(idx < rows.n_eq, 1.0, -1.0)
        m = B.shape[0]
        counts = np.bincount(rows.ctx, minlength=m).astype(np.float64)
        k_ctx = np.einsum("ij,ij->i", B, B)
        self.inv_k = 1.0 / k_ctx[rows.ctx]
        self.inv_n1 = 1.0 / (1.0 + counts[rows.ctx])
        self.m = m

    def weights(self, alpha: FloatArray) -> FloatArray:
        """``X = M^T alpha``, shape (V, r)."""
        return np.asarray(self.scatter @ (alpha[:, None] * self.Bk))

    def values(self, X: FloatArray) -> FloatArray:
        """``M x``: each row's value ``(X[pos] - X[neg]) . b_ctx``, shape (k,)."""
        r = self.rows
        values: FloatArray = np.einsum("ij,ij->i", X[r.pos] - X[r.neg], self.Bk)
        return values

    def precondition(self, res: FloatArray) -> FloatArray:
        sums = np.bincount(self.rows.ctx, weights=self.sign * res, minlength=self.m)
        step: FloatArray = self.inv_k * (res - self.sign * sums[self.rows.ctx] * self.inv_n1)
        return step


def _pcg(
    system: _System, alpha: FloatArray, deadline: float | None
) -> tuple[FloatArray, float] | None:
    """Preconditioned CG on ``M M^T alpha = rhs`` from ``alpha``; (alpha, rel. residual)."""
    rhs = system.rows.rhs
    scale = float(np.linalg.norm(rhs))
    if scale == 0.0:
        return np.zeros_like(alpha), 0.0
    res = rhs - system.values(system.weights(alpha))
    z = system.precondition(res)
    p = z.copy()
    rz = float(res @ z)
    for it in range(CG_MAX_ITER):
        rel = float(np.linalg.norm(res)) / scale
        if rel <= CG_RTOL:
            # The recursive residual drifts from the true one: confirm it.
            true = float(np.linalg.norm(rhs - system.values(system.weights(alpha)))) / scale
            if true <= 10.0 * CG_RTOL:
                return alpha, true
            res = rhs - system.values(system.weights(alpha))
            z = system.precondition(res)
            p, rz = z.copy(), float(res @ z)
            continue
        if it % 32 == 0 and deadline is not None and time.perf_counter() > deadline:
            return None
        q = system.values(system.weights(p))
        pq = float(p @ q)
        if not pq > 0.0:
            return None  # breakdown: p is in the null space of the Gram (inconsistent set)
        step = rz / pq
        alpha = alpha + step * p
        res = res - step * q
        z = system.precondition(res)
        rz_new = float(res @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return None


def _coefficients(rows: _Rows, alpha: FloatArray, m: int, V: int) -> FloatArray:
    """``C`` (m, V), ``W = C^T H``: ``+alpha`` at ``(ctx, pos)``, ``-alpha`` at ``(ctx, neg)``."""
    flat = np.bincount(rows.ctx * V + rows.pos, weights=alpha, minlength=m * V).astype(np.float64)
    flat -= np.bincount(rows.ctx * V + rows.neg, weights=alpha, minlength=m * V)
    return flat.reshape(m, V)


def cg_polish(
    B: FloatArray,
    supports: BoolArray,
    active: BoolArray,
    deadline: float | None = None,
) -> FloatArray | None:
    """The NTP-SVM's exact dual coefficients from an approximate active set, matrix-free.

    Parameters
    ----------
    B : ndarray, shape (m, r)
        Embeddings in the rank-r coordinates (``H = B V_r^T``); rows with out-of-support
        tokens must be nonzero.
    supports : ndarray of bool, shape (m, V)
    active : ndarray of bool, shape (m, V)
        Initial active set (out-of-support entries; others ignored).
    deadline : float, optional
        A ``time.perf_counter()`` value after which None is returned.

    Returns
    -------
    ndarray, shape (m, V), or None
        ``C`` with rows summing to zero and ``C[j, v] = -lambda_{jv} <= 0`` outside the
        supports at a fixed point of the active-set iteration (``W^mm = C^T H``, to be
        certified by the caller); None if the iteration cycled, a solve did not converge,
        the rows would exceed :data:`CG_POLISH_MAX_ENTRIES`, or the deadline passed.
    """
    m, V = supports.shape
    out = ~supports
    anchor = np.argmax(supports, axis=1)
    rows_idx = np.arange(m)
    active = active & out
    lam = np.zeros((m, V))
    seen: set[bytes] = set()
    for _ in range(MAX_ROUNDS):
        rows = _rows(supports, active, anchor)
        if float(rows.ctx.size) * B.shape[1] > CG_POLISH_MAX_ENTRIES:
            return None
        system = _System(B, V, rows)
        tight = slice(rows.n_eq, None)
        start = np.concatenate([np.zeros(rows.n_eq), lam[rows.ctx[tight], rows.neg[tight]]])
        solved = _pcg(system, start, deadline)
        if solved is None:
            return None
        alpha, _ = solved
        X = system.weights(alpha)
        scores = B @ X.T
        margins = scores[rows_idx, anchor][:, None] - scores
        lam = np.zeros((m, V))
        lam[rows.ctx[tight], rows.neg[tight]] = alpha[tight]
        drop, add = active_set_changes(active, out, lam, margins)
        if not drop.any() and not add.any():
            return _coefficients(rows, alpha, m, V)
        seen.add(np.packbits(active).tobytes())
        active = (active & ~drop) | add
        lam[drop] = 0.0
        if np.packbits(active).tobytes() in seen:
            return None
    return None
