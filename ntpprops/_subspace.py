"""The data subspace ``F`` of Eq. 5 and the orthogonal projections onto ``F`` and ``F^perp``.

``F`` is spanned by the ``sum_j (S_j - 1)`` generators ``(e_{a_j} - e_z) h_j^T``,
``z in S_j \\ {a_j}``, for one anchor ``a_j in S_j`` per context. Projections are computed in
the kernel form: with ``b_g = <W, g>`` read off the logits, the coefficients of ``P_F W`` solve
``G alpha = b`` for the generators' Gram matrix ``G`` (factorised once per instance by a
rank-revealing pivoted Cholesky and cached), so no ``(Vd x Vd)`` matrix is ever formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
from numpy.typing import ArrayLike, NDArray

from ntpprops._atoms import Atoms, atom_coefficients, atom_gram, atom_values
from ntpprops._errors import InvalidInstanceError
from ntpprops._instance import NTPInstance, as_weights
from ntpprops._loss import logits

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

#: Cutoff on the pivots of the unit-diagonal Gram matrix: an atom whose squared distance to
#: the span of the atoms already chosen is at most ``RANK_RTOL`` times its squared norm
#: counts as dependent (relative distance ``1e-5``). Exact dependencies leave pivots near
#: ``n * eps``, five orders of magnitude below.
RANK_RTOL = 1e-10


def kernel(inst: NTPInstance) -> FloatArray:
    """The context kernel ``K = H H^T``, shape (m, m), cached on the instance."""
    K = inst._cache.get("kernel")
    if K is None:
        K = inst.embeddings @ inst.embeddings.T
        K.setflags(write=False)  # shared through the cache: nobody may change it
        inst._cache["kernel"] = K
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


@dataclass(frozen=True, eq=False)
class GramFactor:
    """A rank-revealing factorisation of the PSD Gram matrix ``G`` of a list of atoms.

    The Gram matrix is first scaled to unit diagonal (``G_hat = G / (s s^T)``, ``s_i`` the
    atom norms), so that the rank decision is about angles, not lengths: contexts whose
    embeddings differ in scale by many orders of magnitude are not mistaken for dependent.
    A diagonally pivoted Cholesky factorisation (LAPACK ``dpstrf``) then picks ``rank`` atoms,
    ``basis``, stopping when every remaining atom is within relative distance
    ``sqrt(RANK_RTOL)`` of their span; zero atoms are never picked.

    Attributes
    ----------
    size : int
        Number of atoms ``n``.
    rank : int
        Numerical rank ``r`` (``dim`` of the span).
    basis : ndarray of int, shape (r,)
        Indices of the independent atoms, in pivot order.
    scale : ndarray, shape (r,)
        Norms ``s`` of the basis atoms.
    cholesky : ndarray, shape (r, r), Fortran order
        Its lower triangle is ``L`` with ``G_hat[basis][:, basis] = L L^T``; the strict upper
        triangle is scratch left by LAPACK and never read (zeroing it would copy n^2 floats).
    """

    size: int
    rank: int
    basis: NDArray[np.intp]
    scale: FloatArray
    cholesky: FloatArray

    @classmethod
    def of(cls, gram: FloatArray, *, overwrite: bool = False) -> GramFactor:
        """Factorise a PSD Gram matrix, shape (n, n).

        With ``overwrite=True`` the (C-contiguous) ``gram`` is scaled and factorised in place,
        saving an ``n x n`` copy (200 MB at n = 5000); its contents are then undefined.
        """
        n = gram.shape[0]
        norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
        nonzero = norms > 0.0
        if not np.any(nonzero):
            return cls(n, 0, np.zeros(0, np.intp), np.zeros(0), np.zeros((0, 0)))
        inv = np.where(nonzero, 1.0 / np.where(nonzero, norms, 1.0), 0.0)
        unit = gram if overwrite and gram.flags.c_contiguous else gram.copy()
        unit *= inv[:, None]
        unit *= inv[None, :]
        # ``unit`` is symmetric, so its transpose is the same matrix in Fortran order: LAPACK
        # factorises it in place instead of copying n^2 floats.
        factor, piv, rank, info = scipy.linalg.lapack.dpstrf(
            unit.T, tol=RANK_RTOL, lower=1, overwrite_a=1
        )
        if info < 0:  # pragma: no cover - LAPACK argument error
            raise RuntimeError(f"dpstrf failed with info={info}")
        basis = (piv[:rank] - 1).astype(np.intp)  # LAPACK pivots are 1-based
        chol = np.asfortranarray(factor[:rank, :rank])  # no copy when rank = n
        scale = norms[basis]
        for array in (basis, chol, scale):
            array.setflags(write=False)
        return cls(n, int(rank), basis, scale, chol)

    def solve(self, rhs: FloatArray) -> FloatArray:
        """A solution ``alpha`` of ``G alpha = rhs`` supported on :attr:`basis`, shape (n,).

        Exact (up to rounding) whenever ``rhs`` lies in the range of ``G``, which is the case
        for ``rhs = <W, atom_i>`` read off any ``W``; every such solution gives the same
        combination ``sum_i alpha_i atom_i`` (the projection of ``W`` onto the span).
        """
        alpha = np.zeros(self.size)
        if self.rank:
            unit_rhs = rhs[self.basis] / self.scale
            unit_alpha = scipy.linalg.cho_solve((self.cholesky, True), unit_rhs, check_finite=False)
            alpha[self.basis] = unit_alpha / self.scale
        return alpha


def gram_factor(inst: NTPInstance) -> tuple[Atoms, GramFactor]:
    """The default generators of ``F`` and their factorised Gram matrix (cached)."""
    cached = inst._cache.get("f_gram")
    if cached is None:
        gens = f_generators(inst)
        for array in gens:
            array.setflags(write=False)  # shared through the cache
        gram = atom_gram(kernel(inst), gens)  # a fresh array: factorise it in place
        cached = inst._cache["f_gram"] = (gens, GramFactor.of(gram, overwrite=True))
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
    C = project_f_coefficients(inst, logits(inst, W))
    return C.T @ inst.embeddings


def project_f_perp(inst: NTPInstance, W: ArrayLike) -> FloatArray:
    """Orthogonal projection ``P_perp W = W - P_F W`` onto ``F^perp``, shape (V, d)."""
    W = as_weights(inst, W)
    return W - project_f(inst, W)
