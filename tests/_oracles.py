"""The test suite's independent oracles: dense, loop-based and arbitrary-precision references.

Everything here is written straight from docs/theory.md, independently of the kernel/atom
machinery in ``ntpprops`` (only :class:`ntpprops.NTPInstance` is read), and is only usable
at small sizes (``V * d`` of a few hundred). Conventions: a decoder ``W`` of shape ``(V, d)``
is vectorised row-major (``W[z, k]`` at index ``z * d + k``, as ``W.ravel()``); the subspace
``F`` (Eq. 5) is spanned by the generators ``(e_z - e_z') h_j^T`` over *every* pair of
in-support tokens (not the anchored subset the package uses).

- float64, dense: :func:`dense_f_basis`, :func:`project_f_dense`, :func:`dense_w_star`,
  :func:`naive_ce`, :func:`naive_ce_f`, finite differences, :func:`naive_gd`;
- arbitrary precision (``mpmath``, :data:`MP_DPS` digits): :func:`mp_excess_loss`,
  :func:`mp_w_star` and the proven bounds :func:`mp_f_distance_bound`,
  :func:`mp_alignment_lower_bound`, each written as a plain loop over the formula of its
  derivation in ``ntpprops._bounds``;
- :data:`EPS`, the float64 machine epsilon every tolerance is written in.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import mpmath
import numpy as np
from numpy.typing import NDArray

from ntpprops import NTPInstance

__all__ = [
    "EPS",
    "MP_DPS",
    "Pairs",
    "all_pairs",
    "atom_rows",
    "central_gradient",
    "condition",
    "dense_f_basis",
    "dense_f_dimension",
    "dense_w_star",
    "line_obstruction",
    "log_ratios",
    "mp_alignment_lower_bound",
    "mp_excess_loss",
    "mp_f_distance_bound",
    "mp_w_star",
    "naive_ce",
    "naive_ce_f",
    "naive_gd",
    "numerical_hessian",
    "orthonormal_basis",
    "pair_generators",
    "project_f_dense",
    "project_perp_dense",
]

FloatArray = NDArray[np.float64]

#: float64 machine epsilon (``2**-52``): the unit every rounding tolerance is written in.
EPS = float(np.finfo(np.float64).eps)

#: Relative singular-value cutoff for dense ranks: generators built from O(1) data have
#: singular values O(1) or O(EPS * n) (dependent at rounding level, ~1e-15).
RANK_RTOL = 1e-9

#: Decimal digits of the mpmath oracles: far beyond float64's 16, so their rounding is nil at
#: the tolerances the tests use (>= 1e-13 relative).
MP_DPS = 50


# -- the subspace F, densely -------------------------------------------------------------------


class Pairs(NamedTuple):
    """In-support token pairs ``(ctx, pos, neg)``: generators ``(e_pos - e_neg) h_ctx^T``."""

    ctx: NDArray[np.intp]
    pos: NDArray[np.intp]
    neg: NDArray[np.intp]

    def __len__(self) -> int:  # the number of pairs, not of fields
        return len(self.ctx)


def all_pairs(inst: NTPInstance) -> Pairs:
    """Every pair ``z < z'`` of each support (not just the anchored generators)."""
    ctx, pos, neg = [], [], []
    for j in range(inst.m):
        support = np.flatnonzero(inst.supports[j])
        for i, z in enumerate(support):
            for w in support[i + 1 :]:
                ctx.append(j)
                pos.append(z)
                neg.append(w)
    return Pairs(*(np.array(a, dtype=np.intp) for a in (ctx, pos, neg)))


def atom_rows(inst: NTPInstance, atoms: object) -> FloatArray:
    """``vec((e_pos - e_neg) h_ctx^T)`` for each atom, shape (n, V d), row-major like ``W``.

    ``atoms`` is anything with ``ctx``, ``pos``, ``neg`` index arrays (:class:`Pairs`, the
    package's ``Atoms``).
    """
    V, d = inst.weight_shape
    ctx, pos, neg = (np.asarray(a) for a in (atoms.ctx, atoms.pos, atoms.neg))  # type: ignore[attr-defined]
    rows = np.zeros((len(ctx), V * d))
    for i, (j, z, v) in enumerate(zip(ctx, pos, neg, strict=True)):
        diff = np.zeros(V)
        diff[z], diff[v] = 1.0, -1.0
        rows[i] = np.kron(diff, inst.embeddings[j])
    return rows


def log_ratios(inst: NTPInstance, atoms: object) -> FloatArray:
    """Right-hand sides ``log(p_{j,pos} / p_{j,neg})`` of Eq. 4, from ``math.log``."""
    ctx, pos, neg = (np.asarray(a) for a in (atoms.ctx, atoms.pos, atoms.neg))  # type: ignore[attr-defined]
    return np.array(
        [
            math.log(inst.probs[j, z]) - math.log(inst.probs[j, v])
            for j, z, v in zip(ctx, pos, neg, strict=True)
        ]
    )


def condition(rows: FloatArray) -> float:
    """``sigma_max / sigma_min`` over the non-zero singular values (cutoff :data:`RANK_RTOL`)."""
    if rows.shape[0] == 0:
        return 1.0
    s = np.linalg.svd(rows, compute_uv=False)
    if s[0] == 0:
        return 1.0
    kept = s[s > RANK_RTOL * s[0]]
    return float(kept[0] / kept[-1])


def orthonormal_basis(A: FloatArray) -> FloatArray:
    """Orthonormal basis of the row space of ``A``, shape (n_cols, rank), by SVD."""
    if A.shape[0] == 0:
        return np.zeros((A.shape[1], 0))
    _, s, vt = np.linalg.svd(A, full_matrices=False)
    rank = int(np.sum(s > RANK_RTOL * s[0])) if s[0] > 0 else 0
    return vt[:rank].T


def dense_f_basis(inst: NTPInstance) -> FloatArray:
    """Orthonormal basis of ``F`` (Eq. 5) from every in-support pair, shape (V*d, dim F)."""
    return orthonormal_basis(atom_rows(inst, all_pairs(inst)))


def dense_f_dimension(inst: NTPInstance) -> int:
    """``dim F`` as the SVD rank of the dense pair-generator matrix."""
    return dense_f_basis(inst).shape[1]


def pair_generators(inst: NTPInstance) -> tuple[FloatArray, FloatArray]:
    """The generator matrix of every pair, shape (n_pairs, V*d), and Eq. 4's right-hand sides."""
    pairs = all_pairs(inst)
    return atom_rows(inst, pairs), log_ratios(inst, pairs)


def project_f_dense(inst: NTPInstance, W: FloatArray) -> FloatArray:
    """``P_F W`` through the dense basis, shape (V, d)."""
    Q = dense_f_basis(inst)
    w = np.asarray(W, dtype=np.float64).reshape(-1)
    return (Q @ (Q.T @ w)).reshape(inst.weight_shape)


def project_perp_dense(inst: NTPInstance, W: FloatArray) -> FloatArray:
    """``P_perp W = W - P_F W`` through the dense basis, shape (V, d)."""
    return np.asarray(W, dtype=np.float64) - project_f_dense(inst, W)


def dense_w_star(inst: NTPInstance) -> tuple[FloatArray, float]:
    """Minimum-norm least-squares solution of Eq. 4 over all pairs, and its max residual.

    The minimum-norm solution lies in the row space of the generator matrix, i.e. in ``F``,
    so when the residual is zero it is ``W*``.
    """
    pairs = all_pairs(inst)
    if len(pairs) == 0:
        return np.zeros(inst.weight_shape), 0.0
    A, b = atom_rows(inst, pairs), log_ratios(inst, pairs)
    x, *_ = np.linalg.lstsq(A, b, rcond=None)
    return x.reshape(inst.weight_shape), float(np.max(np.abs(A @ x - b)))


# -- losses and derivatives, by loops -----------------------------------------------------------


def naive_ce(inst: NTPInstance, W: FloatArray) -> float:
    """Eq. 2 with explicit loops and an unshifted softmax (small ``W`` only)."""
    total = 0.0
    for j in range(inst.m):
        logits = W @ inst.embeddings[j]
        q = np.exp(logits) / np.sum(np.exp(logits))
        for z in np.flatnonzero(inst.supports[j]):
            total -= inst.context_weights[j] * inst.probs[j, z] * math.log(q[z])
    return total


def naive_ce_f(inst: NTPInstance, W: FloatArray) -> float:
    """Eq. 12: ``sum_j pi_j sum_{z in S_j} p_jz log(1 + sum_{z' != z} exp(l_jz' - l_jz))``.

    Shifted by the largest gap per term and summed with ``math.fsum``, so it holds for any
    ``W`` whose logits are finite.
    """
    terms = []
    for j in range(inst.m):
        support = np.flatnonzero(inst.supports[j])
        scores = W @ inst.embeddings[j]
        for z in support:
            gaps = [float(scores[w] - scores[z]) for w in support if w != z]
            top = max([0.0, *gaps])
            log_term = top + math.log(math.exp(-top) + math.fsum(math.exp(g - top) for g in gaps))
            terms.append(float(inst.context_weights[j] * inst.probs[j, z]) * log_term)
    return math.fsum(terms)


def central_gradient(f: Callable[[FloatArray], float], W: FloatArray, step: float) -> FloatArray:
    """Central finite-difference gradient of a scalar function of a matrix."""
    grad = np.zeros_like(W)
    for index in np.ndindex(W.shape):
        e = np.zeros_like(W)
        e[index] = step
        grad[index] = (f(W + e) - f(W - e)) / (2 * step)
    return grad


def numerical_hessian(
    grad: Callable[[FloatArray], FloatArray], W: FloatArray, step: float
) -> FloatArray:
    """Hessian (size ``W.size`` square, symmetrised) by central differences of a gradient."""
    n = W.size
    hess = np.zeros((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = step
        e = e.reshape(W.shape)
        hess[:, k] = ((grad(W + e) - grad(W - e)) / (2 * step)).ravel()
    return 0.5 * (hess + hess.T)


def naive_gd(inst: NTPInstance, W0: FloatArray, lr: float, steps: int) -> FloatArray:
    """GD written from the formula of docs/theory.md, independently of the package's loops."""
    import ntpprops

    W = np.array(W0, dtype=np.float64)
    for _ in range(steps):
        W = W - lr * ntpprops.ce_grad(inst, W)
    return W


# -- separability, exactly ------------------------------------------------------------------------


def line_obstruction(inst: NTPInstance) -> bool:
    """An exact obstruction to separability, from the proof in
    :func:`ntpprops.strategies.non_separable_instances`: a zero embedding with a non-full
    support; or ``h_k = c h_i`` with ``c > 0`` and ``S_i != S_k``; or with ``c < 0``, supports
    sharing a token or exactly one of them full."""
    H, S = inst.embeddings, inst.supports
    for i in range(inst.m):
        if not H[i].any():
            if not S[i].all():
                return True
            continue
        for k in range(inst.m):
            c = H[k] @ H[i] / (H[i] @ H[i])
            if k == i or c == 0 or not np.array_equal(H[k], c * H[i]):
                continue
            if c > 0 and not np.array_equal(S[i], S[k]):
                return True
            full_i, full_k = S[i].all(), S[k].all()
            if c < 0 and (full_i != full_k or (not full_i and np.any(S[i] & S[k]))):
                return True
    return False


# -- arbitrary precision (mpmath) -----------------------------------------------------------------


def _mp_logits(inst: NTPInstance, W: FloatArray, j: int) -> list[mpmath.mpf]:
    """``W h_j`` with every product and sum exact to :data:`MP_DPS` digits."""
    h = [mpmath.mpf(float(x)) for x in inst.embeddings[j]]
    return [mpmath.fsum(mpmath.mpf(float(w)) * x for w, x in zip(row, h, strict=True)) for row in W]


def mp_excess_loss(inst: NTPInstance, W: FloatArray, dps: int = MP_DPS) -> mpmath.mpf:
    """``CE(W) - H`` (Eq. 2 minus the entropy) as ``sum_j pi_j KL(p_j || softmax(W h_j))``.

    Written as the KL form so that no digits cancel: each term is
    ``p_jz (log p_jz - l_jz + logsumexp_v l_jv)``, evaluated at ``dps`` digits.
    """
    with mpmath.workdps(dps):
        W = np.asarray(W, dtype=np.float64)
        total = []
        for j in range(inst.m):
            logits = _mp_logits(inst, W, j)
            top = max(logits)
            lse = top + mpmath.log(mpmath.fsum(mpmath.exp(x - top) for x in logits))
            pi = mpmath.mpf(float(inst.context_weights[j]))
            for z in np.flatnonzero(inst.supports[j]):
                p = mpmath.mpf(float(inst.probs[j, z]))
                total.append(pi * p * (mpmath.log(p) - logits[z] + lse))
        return +mpmath.fsum(total)


def mp_w_star(inst: NTPInstance, dps: int = MP_DPS) -> tuple[mpmath.matrix, mpmath.mpf]:
    """``W*`` (Eq. 4 in ``F``) at ``dps`` digits and the largest residual over all pairs.

    A maximal independent subset of the pair generators is picked in float64 (a rank decision
    on well-conditioned small instances); then ``W* = A_s^T (A_s A_s^T)^{-1} b_s`` is solved
    in mpmath: the unique solution of those equations in their span, which is ``F``. The
    residual over *every* pair is 0 (to ``dps`` digits) exactly when the instance is
    compatible.

    Returns
    -------
    W : mpmath.matrix, shape (V, d)
    residual : mpmath.mpf
    """
    V, d = inst.weight_shape
    pairs = all_pairs(inst)
    rows = atom_rows(inst, pairs)
    chosen: list[int] = []
    for i in range(len(pairs)):
        if np.linalg.matrix_rank(rows[[*chosen, i]], tol=RANK_RTOL) > len(chosen):
            chosen.append(i)
    with mpmath.workdps(dps):
        W = mpmath.matrix(V, d)
        if not chosen:
            return W, mpmath.mpf(0)

        def rhs(i: int) -> mpmath.mpf:
            j, z, v = pairs.ctx[i], pairs.pos[i], pairs.neg[i]
            return mpmath.log(mpmath.mpf(float(inst.probs[j, z]))) - mpmath.log(
                mpmath.mpf(float(inst.probs[j, v]))
            )

        A = mpmath.matrix([[mpmath.mpf(float(x)) for x in rows[i]] for i in chosen])
        b = mpmath.matrix([rhs(i) for i in chosen])
        alpha = mpmath.lu_solve(A * A.T, b)
        x = A.T * alpha
        for z in range(V):
            for k in range(d):
                W[z, k] = x[z * d + k]
        residual = mpmath.mpf(0)
        for i in range(len(pairs)):
            j, z, v = pairs.ctx[i], pairs.pos[i], pairs.neg[i]
            logit = mpmath.fsum(
                (W[z, k] - W[v, k]) * mpmath.mpf(float(inst.embeddings[j, k])) for k in range(d)
            )
            residual = max(residual, abs(logit - rhs(i)))
        return W, residual


def mp_f_distance_bound(mu: float, c: float, excess: float, dps: int = MP_DPS) -> mpmath.mpf:
    """``2 sqrt(excess / mu)`` inside the proven regime ``excess < mu r0^2 / 4``,
    ``r0 = 3 mu / (2 c)``, else ``inf`` (the derivation in ``ntpprops._bounds``)."""
    with mpmath.workdps(dps):
        mu_, c_, e = mpmath.mpf(mu), mpmath.mpf(c), mpmath.mpf(excess)
        r0 = 3 * mu_ / (2 * c_)
        if not mu_ > 0 or e >= mu_ * r0**2 / 4:
            return mpmath.inf
        return 2 * mpmath.sqrt(max(e, 0) / mu_)


def mp_alignment_lower_bound(
    inst: NTPInstance,
    w_star: FloatArray,
    w_mm_norm: float,
    excess: float,
    dist_f: float,
    norm: float,
    dps: int = MP_DPS,
) -> mpmath.mpf:
    """``||W^mm|| G / ||W||`` with ``G`` the minimum over ``(j, v not in S_j, z in S_j)`` of
    ``log(p_jz - sqrt(eps / (2 pi_j))) - l*_jz + l*_jv - log expm1(eps / pi_j)
    - sqrt 2 delta ||h_j||``, one triple at a time; ``-inf`` where the derivation gives no
    information (a Pinsker lower bound ``<= 0``, ``eps = 0`` or ``delta = inf``)."""
    if not (math.isfinite(dist_f) and excess > 0 and norm > 0):
        return mpmath.mpf("-inf")
    with mpmath.workdps(dps):
        e, delta = mpmath.mpf(excess), mpmath.mpf(dist_f)
        W = np.asarray(w_star, dtype=np.float64)
        G = mpmath.inf
        for j in range(inst.m):
            support = np.flatnonzero(inst.supports[j])
            outside = np.flatnonzero(~inst.supports[j])
            if outside.size == 0:
                continue
            pi = mpmath.mpf(float(inst.context_weights[j]))
            logits = _mp_logits(inst, W, j)
            h_norm = mpmath.sqrt(mpmath.fsum(mpmath.mpf(float(x)) ** 2 for x in inst.embeddings[j]))
            for v in outside:
                for z in support:
                    q_low = mpmath.mpf(float(inst.probs[j, z])) - mpmath.sqrt(e / (2 * pi))
                    if q_low <= 0:
                        return mpmath.mpf("-inf")
                    term = (
                        mpmath.log(q_low)
                        - logits[z]
                        + logits[v]
                        - mpmath.log(mpmath.expm1(e / pi))
                        - mpmath.sqrt(2) * delta * h_norm
                    )
                    G = min(G, term)
        if G == mpmath.inf:
            return mpmath.mpf("-inf")  # no out-of-support token: nothing to align with
        return mpmath.mpf(w_mm_norm) * G / mpmath.mpf(norm)


def ntp_svm_constraints(inst: NTPInstance, X: object) -> list[object]:
    """Definition 3's constraints on a cvxpy variable ``X`` (V, d), written independently.

    (6a) is written as equal logits of consecutive support tokens (a chain, not an anchor),
    which avoids the redundant equalities that make Clarabel's KKT system singular; (6b) is
    every (in-support, out-of-support) pair.
    """
    constraints: list[object] = []
    for j in range(inst.m):
        h = inst.embeddings[j]
        support = np.flatnonzero(inst.supports[j])
        for z, z_next in itertools.pairwise(support):
            constraints.append((X[z] - X[z_next]) @ h == 0)  # type: ignore[index]
        for z in support:
            for v in np.flatnonzero(~inst.supports[j]):
                constraints.append((X[z] - X[v]) @ h >= 1)  # type: ignore[index]
    return constraints
