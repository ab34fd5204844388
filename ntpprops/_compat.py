"""NTP_H-compatibility (Definition 1) and the finite limit ``W*``.

Eq. 4 asks for ``<W, g> = log(p_{j,a_j} / p_{j,z})`` on every generator ``g`` of ``F``. Its
solutions in ``F`` are ``W = sum_g alpha_g g`` with ``G alpha = b``; the system is solvable
iff ``b`` lies in the range of the Gram matrix ``G``, and then ``W* = sum_g alpha_g g`` is
its unique solution in ``F``.

When it is not solvable, the certificate is a vector ``y`` over the generators with
``y . b = 1`` and ``D = sum_g y_g g`` (nearly) zero: any ``W`` solving Eq. 4 would satisfy
``1 = sum_g y_g <W, g> = <W, D> <= ||W|| ||D||``, so no solution has ``||W|| < 1 / ||D||``.
The check reads only the instance and ``y``, not the solver.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ntpprops._atoms import Atoms, atom_coefficients, atom_values
from ntpprops._errors import NotCompatibleError
from ntpprops._instance import NTPInstance
from ntpprops._subspace import gram_factor

__all__ = [
    "CompatibilityResult",
    "compatibility_targets",
    "incompatibility_bound",
    "is_compatible",
    "w_star",
]

FloatArray = NDArray[np.float64]

#: Relative size of the part of ``b`` outside ``range(G)`` above which Eq. 4 is unsolvable.
COMPAT_RTOL = 1e-8


def compatibility_targets(inst: NTPInstance, gens: Atoms) -> FloatArray:
    """Right-hand sides ``log(p_{j,pos} / p_{j,neg})`` of Eq. 4 for the given generators."""
    p = inst.probs
    return np.log(p[gens.ctx, gens.pos]) - np.log(p[gens.ctx, gens.neg])


@dataclass(frozen=True, eq=False)
class CompatibilityResult:
    """The answer to "is this instance NTP_H-compatible?", with its evidence.

    Truthy exactly when compatible.

    Attributes
    ----------
    compatible : bool
    w_star : ndarray, shape (V, d), or None
        The unique solution of Eq. 4 in ``F`` (when compatible).
    residual : float
        ``max |<W, g> - b_g|`` over the generators for ``w_star`` (or for the least-squares
        solution when incompatible).
    certificate : ndarray, shape (n_generators,), or None
        When incompatible: ``y`` with ``y . b = 1``; see :func:`incompatibility_bound`.
    certificate_norm : float
        ``||sum_g y_g g||_F`` (0 when compatible). No solution of Eq. 4 has norm below
        ``1 / certificate_norm``.
    f_dim : int
        ``dim F``.
    """

    compatible: bool
    w_star: FloatArray | None
    residual: float
    certificate: FloatArray | None = field(default=None, repr=False)
    certificate_norm: float = 0.0
    f_dim: int = 0

    def __bool__(self) -> bool:
        return self.compatible


def incompatibility_bound(inst: NTPInstance, certificate: FloatArray) -> float:
    """Check an incompatibility certificate without any solver.

    Parameters
    ----------
    inst : NTPInstance
    certificate : ndarray, shape (n_generators,)
        Weights ``y`` over the default generators of ``F`` (:func:`f_generators`).

    Returns
    -------
    float
        A lower bound on ``||W||_F`` for every ``W`` that solves Eq. 4: ``|y . b| / ||D||``
        with ``D = sum_g y_g g`` (``inf`` when ``D = 0`` exactly and ``y . b != 0``; 0 when
        the certificate proves nothing).
    """
    gens, _ = gram_factor(inst)
    y = np.asarray(certificate, dtype=np.float64)
    target = float(y @ compatibility_targets(inst, gens))
    C = atom_coefficients(gens, y, inst.m, inst.vocab_size)
    norm = float(np.linalg.norm(C.T @ inst.embeddings))
    if target == 0.0:
        return 0.0
    return np.inf if norm == 0.0 else abs(target) / norm


def is_compatible(inst: NTPInstance) -> CompatibilityResult:
    """Decide NTP_H-compatibility (Definition 1) and return ``W*`` or a certificate.

    Parameters
    ----------
    inst : NTPInstance

    Returns
    -------
    CompatibilityResult
        Truthy when compatible. Cached on the instance.
    """
    cached = inst._cache.get("compatibility")
    if cached is not None:
        return cached
    gens, factor = gram_factor(inst)
    H = inst.embeddings
    m, V = inst.m, inst.vocab_size
    b = compatibility_targets(inst, gens)
    if len(gens) == 0:
        result = CompatibilityResult(True, np.zeros(inst.weight_shape), 0.0, f_dim=0)
    else:
        alpha = factor.solve(b)
        W = atom_coefficients(gens, alpha, m, V).T @ H
        residual = float(np.max(np.abs(atom_values(gens, H @ W.T) - b)))
        null = factor.null_part(b)
        null_norm = float(np.linalg.norm(null))
        if null_norm <= COMPAT_RTOL * max(1.0, float(np.linalg.norm(b))):
            result = CompatibilityResult(True, W, residual, f_dim=factor.rank)
        else:
            y = null / float(null @ b)  # y . b = 1
            D = atom_coefficients(gens, y, m, V).T @ H
            result = CompatibilityResult(
                False, None, residual, y, float(np.linalg.norm(D)), factor.rank
            )
    inst._cache["compatibility"] = result
    return result


def w_star(inst: NTPInstance) -> FloatArray:
    """The finite limit ``W*``: the unique solution of Eq. 4 in ``F``, shape (V, d).

    Raises
    ------
    NotCompatibleError
        If the instance is not NTP_H-compatible; ``.certificate`` holds the evidence.
    """
    result = is_compatible(inst)
    if not result.compatible:
        raise NotCompatibleError(
            "instance is not NTP_H-compatible (Definition 1): Eq. 4 has no solution; "
            f"every candidate needs ||W|| >= {_inverse(result.certificate_norm):.3g} "
            "(see .certificate)",
            certificate=result,
        )
    assert result.w_star is not None
    return result.w_star.copy()


def _inverse(norm: float) -> float:
    return np.inf if norm == 0.0 else 1.0 / norm
