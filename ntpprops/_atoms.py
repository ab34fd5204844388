"""Rank-one "atoms" ``(e_z - e_v) h_j^T`` and their kernel (Gram) algebra.

Every object of the theory is built from atoms: the generators of ``F`` (``z, v`` both in
``S_j``), the NTP-SVM constraints (``z`` in ``S_j``, ``v`` outside). An atom list is three
integer arrays ``(ctx, pos, neg)``. Nothing here forms a ``V*d``-sized vector per atom:

- ``<W, atom>`` is read off the logits ``H W^T`` (:func:`atom_values`);
- ``sum_i c_i atom_i = C^T H`` with ``C`` an ``(m, V)`` coefficient matrix
  (:func:`atom_coefficients`);
- ``<atom_i, atom_k> = K[j_i, j_k] * (e_{z_i} - e_{v_i}).(e_{z_k} - e_{v_k})`` with the kernel
  ``K = H H^T`` (:func:`atom_gram`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["Atoms", "atom_coefficients", "atom_gram", "atom_values"]

IntArray = NDArray[np.intp]
FloatArray = NDArray[np.float64]


class Atoms(NamedTuple):
    """A list of atoms ``(e_{pos[i]} - e_{neg[i]}) h_{ctx[i]}^T``, each array shape (n,)."""

    ctx: IntArray
    pos: IntArray
    neg: IntArray

    def __len__(self) -> int:
        return int(self.ctx.shape[0])

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_] | slice) -> Atoms:
        """The sub-list selected by ``index``."""
        return Atoms(self.ctx[index], self.pos[index], self.neg[index])


def atom_values(atoms: Atoms, scores: FloatArray) -> FloatArray:
    """``<W, atom_i>`` for every atom, given the logits ``scores = H W^T`` (m, V); shape (n,)."""
    return scores[atoms.ctx, atoms.pos] - scores[atoms.ctx, atoms.neg]


def atom_coefficients(atoms: Atoms, weights: FloatArray, m: int, V: int) -> FloatArray:
    """Coefficient matrix ``C`` (m, V) with ``sum_i weights[i] atom_i = C^T H``."""
    C = np.zeros((m, V))
    np.add.at(C, (atoms.ctx, atoms.pos), weights)
    np.subtract.at(C, (atoms.ctx, atoms.neg), weights)
    return C


def atom_gram(kernel: FloatArray, left: Atoms, right: Atoms | None = None) -> FloatArray:
    """Frobenius inner products ``<atom_i, atom_k>`` of two atom lists, shape (n_left, n_right).

    Parameters
    ----------
    kernel : ndarray, shape (m, m)
        ``K = H H^T``.
    left, right : Atoms
        ``right`` defaults to ``left`` (the Gram matrix).
    """
    if right is None:
        right = left
    gram = np.empty((len(left), len(right)))
    # Row blocks of about 2 MB: the only n x n array is the result (at n = 5000 whole-matrix
    # int8/bool temporaries added 25-50 MB to its 200 MB) and each block stays in cache.
    rows = max(1, (1 << 18) // max(1, len(right)))
    for start in range(0, len(left), rows):
        block = slice(start, start + rows)
        out = gram[block]
        np.take(kernel[left.ctx[block]], right.ctx, axis=1, out=out)
        out *= _token_overlap(left.take(block), right)
    return gram


def _token_overlap(left: Atoms, right: Atoms) -> NDArray[np.int8]:
    """``(e_a - e_b).(e_c - e_e)`` in {-2..2} per atom pair, shape (n_left, n_right), int8."""
    overlap = np.equal.outer(left.pos, right.pos).view(np.int8)  # bool -> 0/1, no copy
    overlap -= np.equal.outer(left.pos, right.neg)
    overlap -= np.equal.outer(left.neg, right.pos)
    overlap += np.equal.outer(left.neg, right.neg)
    return overlap
