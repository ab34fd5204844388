"""Products with the context embeddings ``H`` that cost ``O(nnz(H) V)`` when ``H`` is sparse.

One-hot corpora (``--embedding onehot``, the default of ``ntpprops verify --corpus``) have
``H = I`` up to row order, ``d = m``: a dense ``H W^T`` then costs ``m^2 V`` flops (3e9 on the
GPL-3 text, 0.3-0.9 s per training step) for ``m V`` useful ones. Here ``H`` is held as a CSR
matrix when it is sparse and large enough for that to pay, and both products a training step
needs go through it:

- ``logits_of(W) = H W^T``, shape (m, V);
- ``pull_back(C) = C^T H``, shape (V, d) (the gradient ``(softmax - P)^T diag(pi) H``).

Small or dense embeddings keep the dense BLAS products (bit-for-bit today's behaviour).
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
from numpy.typing import NDArray

from ntpprops._instance import NTPInstance

__all__ = [
    "SPARSE_MAX_DENSITY",
    "SPARSE_MIN_ENTRIES",
    "EmbeddingOperator",
    "as_operator",
    "context_groups",
    "embedding_operator",
    "logits_of",
    "pull_back",
    "weighted",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: The CSR kernels are single-threaded and ~20x slower per stored entry than dense BLAS on
#: this project's 2-core machine, so sparsity pays only well below 1/20 of the entries.
SPARSE_MAX_DENSITY = 0.02

#: Below this many entries of ``H`` the dense products take microseconds: kept dense.
SPARSE_MIN_ENTRIES = 100_000

EmbeddingOperator: TypeAlias = "FloatArray | scipy.sparse.csr_array"


def as_operator(H: FloatArray) -> EmbeddingOperator:
    """``H`` itself, or as a CSR matrix when it is large and sparse (shape (m, d) either way)."""
    if H.size < SPARSE_MIN_ENTRIES or np.count_nonzero(H) > SPARSE_MAX_DENSITY * H.size:
        return H
    return scipy.sparse.csr_array(H)


def embedding_operator(inst: NTPInstance) -> EmbeddingOperator:
    """:func:`as_operator` of ``inst.embeddings``, cached on the instance."""
    op = inst._cache.get("embedding_operator")
    if op is None:
        op = inst._cache["embedding_operator"] = as_operator(inst.embeddings)
    return op


def logits_of(H: EmbeddingOperator, W: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """Logits ``H W^T``, shape (m, V), written into ``out`` when given.

    Parameters
    ----------
    H : ndarray or csr_array, shape (m, d)
    W : ndarray, shape (V, d)
    out : ndarray, shape (m, V), optional
    """
    if isinstance(H, np.ndarray):
        return np.matmul(H, W.T, out=out)
    # W^T is (d, V) in Fortran order; the CSR kernel wants rows of the right operand.
    product = np.asarray(H @ np.ascontiguousarray(W.T))
    if out is None:
        return product
    out[...] = product
    return out


def pull_back(H: EmbeddingOperator, C: FloatArray) -> FloatArray:
    """``C^T H``, shape (V, d), a new C-contiguous array.

    Parameters
    ----------
    H : ndarray or csr_array, shape (m, d)
    C : ndarray, shape (m, V)
    """
    if isinstance(H, np.ndarray):
        return np.asarray(C.T @ H)
    return np.ascontiguousarray(np.asarray(H.T @ C).T)


def weighted(H: EmbeddingOperator, pi: FloatArray) -> EmbeddingOperator:
    """``diag(pi) H`` in the same representation as ``H``, shape (m, d)."""
    if isinstance(H, np.ndarray):
        return pi[:, None] * H
    return scipy.sparse.csr_array(scipy.sparse.diags_array(pi) @ H)


def context_groups(inst: NTPInstance) -> IntArray | None:
    """Group label per context, shape (m,), or None when ``H`` is dense or does not split.

    Contexts in different groups have orthogonal embeddings (no shared non-zero coordinate):
    the connected components of the pattern of ``|H| |H|^T`` (absolute values, so that no
    cancellation hides a shared coordinate). Cached on the instance.
    """
    if "context_groups" not in inst._cache:
        labels = None
        H = embedding_operator(inst)
        if not isinstance(H, np.ndarray):
            pattern = scipy.sparse.csr_array(abs(H) @ abs(H).T)
            n_groups, found = scipy.sparse.csgraph.connected_components(pattern, directed=False)
            if n_groups > 1:
                labels = found.astype(np.intp)
        inst._cache["context_groups"] = labels
    cached: IntArray | None = inst._cache["context_groups"]
    return cached
