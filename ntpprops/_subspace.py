"""The data subspace ``F`` of Eq. 5 and the orthogonal projections onto ``F`` and ``F^perp``.

``F`` is spanned by the ``sum_j (S_j - 1)`` generators ``(e_{a_j} - e_z) h_j^T``,
``z in S_j \\ {a_j}``, for one anchor ``a_j in S_j`` per context. Projections are computed in
the kernel form: with ``b_g = <W, g>`` read off the logits, the coefficients of ``P_F W`` solve
``G alpha = b`` for the generators' Gram matrix ``G`` (factorised once per instance and
cached), so no ``(Vd x Vd)`` matrix is ever formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray

from ntpprops._atoms import Atoms, atom_coefficients, atom_gram, atom_values
from ntpprops._errors import InvalidInstanceError
from ntpprops._instance import NTPInstance, as_weights

__all__ = [
    "GramFactor",
    "f_dimension",
    "f_generators",
    "gram_factor",
    "kernel",
    "project_f",
    "project_f_perp",
]

FloatArray = NDArray[np.float64]

#: Relative eigenvalue (pivot) cutoff below which the generators count as dependent.
RANK_RTOL = 1e-10


def kernel(inst: NTPInstance) -> FloatArray:
    """The context kernel ``K = H H^T``, shape (m, m), cached on the instance."""
    K = inst._cache.get("kernel")
    if K is None:
        K = inst._cache["kernel"] = inst.embeddings @ inst.embeddings.T
    return K


def f_generators(inst: NTPInstance, anchors: ArrayLike | None = None) -> Atoms:
    """The generators ``(e_{a_j} - e_z) h_j^T`` of ``F``, one per ``z in S_j \\ {a_j}``.

    Parameters
    ----------
    inst : NTPInstance
    anchors : array_like of int, shape (m,), optional
        Anchor token ``a_j in S_j`` per context; default the smallest token of each support.

    Returns
    -------
    Atoms
        ``sum_j (S_j - 1)`` atoms, ordered by context then token.
    """
    supports = inst.supports
    if anchors is None:
        anchor = np.argmax(supports, axis=1)
    else:
        anchor = np.asarray(anchors, dtype=np.intp)
        if anchor.shape != (inst.m,):
            raise InvalidInstanceError(f"anchors must have shape ({inst.m},), got {anchor.shape}")
        if (
            np.any(anchor < 0)
            or np.any(anchor >= inst.vocab_size)
            or not np.all(supports[np.arange(inst.m), anchor])
        ):
            raise InvalidInstanceError("every anchor a_j must be a token in the support S_j")
    others = supports.copy()
    others[np.arange(inst.m), anchor] = False
    ctx, neg = np.nonzero(others)
    return Atoms(ctx.astype(np.intp), anchor[ctx].astype(np.intp), neg.astype(np.intp))


@dataclass(frozen=True)
class GramFactor:
    """A factorisation of a PSD Gram matrix that solves ``G alpha = b`` in the least-norm sense.

    Uses a Cholesky factor when every pivot is above ``RANK_RTOL * max(diag G)``, else an
    eigendecomposition truncated at that relative cutoff (dependent generators).
    """

    size: int
    rank: int
    cholesky: FloatArray | None
    eigvecs: FloatArray | None
    eigvals: FloatArray | None

    @classmethod
    def of(cls, gram: FloatArray) -> GramFactor:
        n = gram.shape[0]
        if n == 0:
            return cls(0, 0, None, np.zeros((0, 0)), np.zeros(0))
        scale = float(np.max(np.diag(gram)))
        if scale <= 0.0:
            return cls(n, 0, None, np.zeros((n, 0)), np.zeros(0))
        try:
            chol = scipy.linalg.cholesky(gram, lower=True, check_finite=False)
            if np.min(np.diag(chol)) ** 2 > RANK_RTOL * scale:
                return cls(n, n, chol, None, None)
        except scipy.linalg.LinAlgError:
            pass
        vals, vecs = scipy.linalg.eigh(gram, check_finite=False)
        keep = vals > RANK_RTOL * max(float(vals[-1]), scale)
        return cls(n, int(keep.sum()), None, vecs[:, keep], vals[keep])

    def solve(self, rhs: FloatArray) -> FloatArray:
        """The least-norm least-squares solution of ``G alpha = rhs``."""
        if self.cholesky is not None:
            return scipy.linalg.cho_solve((self.cholesky, True), rhs, check_finite=False)
        assert self.eigvecs is not None and self.eigvals is not None
        return self.eigvecs @ ((self.eigvecs.T @ rhs) / self.eigvals)

    def null_part(self, rhs: FloatArray) -> FloatArray:
        """The component of ``rhs`` outside the range of ``G`` (zero when ``G`` is PD)."""
        if self.cholesky is not None:
            return np.zeros_like(rhs)
        assert self.eigvecs is not None
        return rhs - self.eigvecs @ (self.eigvecs.T @ rhs)


def gram_factor(inst: NTPInstance) -> tuple[Atoms, GramFactor]:
    """The default generators of ``F`` and their factorised Gram matrix (cached)."""
    cached = inst._cache.get("f_gram")
    if cached is None:
        gens = f_generators(inst)
        cached = inst._cache["f_gram"] = (gens, GramFactor.of(atom_gram(kernel(inst), gens)))
    return cached


def f_dimension(inst: NTPInstance) -> int:
    """``dim F`` (the numerical rank of the generators' Gram matrix)."""
    return gram_factor(inst)[1].rank


def project_f_coefficients(inst: NTPInstance, scores: FloatArray) -> FloatArray:
    """Coefficients ``C`` (m, V) with ``P_F W = C^T H``, given the logits ``scores = H W^T``."""
    gens, factor = gram_factor(inst)
    if len(gens) == 0:
        return np.zeros((inst.m, inst.vocab_size))
    alpha = factor.solve(atom_values(gens, scores))
    return atom_coefficients(gens, alpha, inst.m, inst.vocab_size)


def project_f(inst: NTPInstance, W: ArrayLike) -> FloatArray:
    """Orthogonal (Frobenius) projection ``P_F W`` onto ``F``, shape (V, d)."""
    W = as_weights(inst, W)
    C = project_f_coefficients(inst, inst.embeddings @ W.T)
    return C.T @ inst.embeddings


def project_f_perp(inst: NTPInstance, W: ArrayLike) -> FloatArray:
    """Orthogonal projection ``P_perp W = W - P_F W`` onto ``F^perp``, shape (V, d)."""
    W = as_weights(inst, W)
    return W - project_f(inst, W)
