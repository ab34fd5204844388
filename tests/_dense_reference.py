"""Small, slow, obviously-correct dense reference implementations for the core tests.

Everything here is written straight from THEORY.md with explicit loops and dense
``(n, V*d)`` matrices, independently of the kernel/atom machinery in ``ntpprops``; it is
only usable at tiny sizes.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.typing import NDArray

from ntpprops import NTPInstance

FloatArray = NDArray[np.float64]

#: Relative singular-value cutoff for dense ranks (SVD of the generator matrix): generators
#: built from O(1) data have singular values O(1) or O(eps * n).
DENSE_RANK_RTOL = 1e-9


def pair_generators(inst: NTPInstance) -> tuple[FloatArray, FloatArray]:
    """All generators of Eq. 5 (every ordered pair ``z != z'`` in ``S_j``), flattened.

    Returns
    -------
    A : ndarray, shape (n_pairs, V*d)
        Rows ``vec((e_z - e_z') h_j^T)`` (row-major ``vec``, matching ``W.ravel()``).
    b : ndarray, shape (n_pairs,)
        The right-hand sides ``log(p_jz / p_jz')`` of Eq. 4.
    """
    V, d = inst.weight_shape
    rows, targets = [], []
    for j in range(inst.m):
        support = np.flatnonzero(inst.supports[j])
        for z, zp in itertools.permutations(support, 2):
            atom = np.zeros((V, d))
            atom[z] += inst.embeddings[j]
            atom[zp] -= inst.embeddings[j]
            rows.append(atom.ravel())
            targets.append(math.log(inst.probs[j, z]) - math.log(inst.probs[j, zp]))
    if not rows:
        return np.zeros((0, V * d)), np.zeros(0)
    return np.array(rows), np.array(targets)


def orthonormal_basis(A: FloatArray) -> FloatArray:
    """Orthonormal basis of the row space of ``A``, shape (V*d, rank), by SVD."""
    if A.shape[0] == 0:
        return np.zeros((A.shape[1], 0))
    _, sing, vt = np.linalg.svd(A, full_matrices=False)
    rank = int(np.sum(sing > DENSE_RANK_RTOL * sing[0])) if sing[0] > 0 else 0
    return vt[:rank].T


def dense_f_dimension(inst: NTPInstance) -> int:
    """``dim F`` as the SVD rank of the dense pair-generator matrix."""
    return orthonormal_basis(pair_generators(inst)[0]).shape[1]


def dense_project_f(inst: NTPInstance, W: FloatArray) -> FloatArray:
    """``P_F W`` by an orthonormal basis of ``F``, shape (V, d)."""
    Q = orthonormal_basis(pair_generators(inst)[0])
    return (Q @ (Q.T @ np.ravel(W))).reshape(inst.weight_shape)


def dense_w_star(inst: NTPInstance) -> tuple[FloatArray, float]:
    """Minimum-norm least-squares solution of Eq. 4 and its max residual.

    The minimum-norm solution lies in the row space of the generator matrix, i.e. in ``F``,
    so when the residual is zero it is ``W*``.
    """
    A, b = pair_generators(inst)
    if A.shape[0] == 0:
        return np.zeros(inst.weight_shape), 0.0
    x, *_ = np.linalg.lstsq(A, b, rcond=None)
    return x.reshape(inst.weight_shape), float(np.max(np.abs(A @ x - b)))


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
    """Eq. 12 term by term: ``p_jz log(1 + sum_{z' != z} exp(-(e_z - e_z')^T W h_j))``."""
    total = 0.0
    for j in range(inst.m):
        logits = W @ inst.embeddings[j]
        support = np.flatnonzero(inst.supports[j])
        for z in support:
            others = sum(math.exp(-(logits[z] - logits[zp])) for zp in support if zp != z)
            total += inst.context_weights[j] * inst.probs[j, z] * math.log1p(others)
    return total


def central_gradient(f, W: FloatArray, step: float) -> FloatArray:
    """Central finite-difference gradient of a scalar function of a matrix."""
    grad = np.zeros_like(W)
    for index in np.ndindex(W.shape):
        e = np.zeros_like(W)
        e[index] = step
        grad[index] = (f(W + e) - f(W - e)) / (2 * step)
    return grad


def numerical_hessian(grad, W: FloatArray, step: float) -> FloatArray:
    """Hessian (size ``W.size`` square, symmetrised) by central differences of a gradient."""
    n = W.size
    hess = np.zeros((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = step
        e = e.reshape(W.shape)
        hess[:, k] = ((grad(W + e) - grad(W - e)) / (2 * step)).ravel()
    return 0.5 * (hess + hess.T)


def naive_gd(inst, W0: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """GD written from the formula of THEORY.md, independently of the package's loops."""
    import ntpprops

    W = W0.copy()
    for _ in range(steps):
        W = W - lr * ntpprops.ce_grad(inst, W)
    return W
