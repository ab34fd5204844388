"""NTP_H-compatibility (Definition 1) and the finite limit ``W*``.

Eq. 4 asks for ``<W, g> = log(p_{j,a_j} / p_{j,z})`` on every generator ``g`` of ``F``. Its
solutions in ``F`` are ``W = sum_g alpha_g g`` with ``G alpha = b``; the system is solvable
iff ``b`` lies in the range of the Gram matrix ``G``, and then ``W* = sum_g alpha_g g`` is
its unique solution in ``F``.

The generators' Gram factor picks a maximal independent subset (the basis); Eq. 4 restricted
to the basis always has a solution in ``F``, and the instance is compatible iff that
solution also satisfies the equations of every other generator. When one generator ``g_k``
fails, it is (numerically) a combination ``sum_B beta_i g_i`` of the basis, and the
certificate is ``y = (e_k - beta) / (b_k - beta . b_B)``: ``y . b = 1`` and
``D = sum_g y_g g`` is (nearly) zero: any ``W`` solving Eq. 4 would satisfy
``1 = sum_g y_g <W, g> = <W, D> <= ||W|| ||D||``, so no solution has ``||W|| < 1 / ||D||``.
The check reads only the instance and ``y``, not the solver.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ntpprops._atoms import Atoms, atom_coefficients, atom_gram, atom_values
from ntpprops._errors import InvalidInstanceError, NotCompatibleError
from ntpprops._instance import NTPInstance, require_instance
from ntpprops._scale import MAX_ROW_SPREAD, float64_scaled, ldexp_exact, require_spread
from ntpprops._subspace import GramFactor, gram_factor, kernel

__all__ = [
    "CompatibilityResult",
    "compatibility_targets",
    "incompatibility_bound",
    "is_compatible",
    "w_star",
]

FloatArray = NDArray[np.float64]

#: Eq. 4 counts as violated at generator ``g`` when ``|<W, g> - b_g|`` exceeds
#: ``COMPAT_RTOL * (1 + |b_g| + ||W|| ||g||)``: far above the rounding of the logits
#: (about ``d * eps * ||W|| ||g||``) and of the refined solve.
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
        ``max |<W, g> - b_g|`` over the generators for ``w_star`` (when incompatible: for the
        solution of the equations of a maximal independent set of generators).
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

    Raises
    ------
    InvalidInstanceError
        If the certificate has the wrong shape or non-finite entries.
    """
    # On the rescaled instance of ntpprops._scale (H = 2^e H'): ||sum y g|| scales by 2^e,
    # the bound by 2^-e (an overflow to inf or underflow to 0 errs safe).
    work, exponent = float64_scaled(inst)
    gens, _ = gram_factor(work)
    y = np.asarray(certificate, dtype=np.float64)
    if y.shape != (len(gens),) or not np.all(np.isfinite(y)):
        raise InvalidInstanceError(
            f"certificate must be a finite vector of shape ({len(gens)},) (one weight per "
            f"generator of F), got shape {y.shape}"
        )
    target = float(y @ compatibility_targets(inst, gens))
    C = atom_coefficients(gens, y, inst.m, inst.vocab_size)
    norm = float(np.linalg.norm(C.T @ work.embeddings))
    if target == 0.0:
        return 0.0
    if norm == 0.0:
        return float(np.inf)
    with np.errstate(over="ignore", under="ignore"):
        return float(np.ldexp(abs(target) / norm, -exponent))


def _frozen(array: FloatArray) -> FloatArray:
    array.setflags(write=False)  # results are cached on the instance and shared
    return array


def _solve_on_basis(
    inst: NTPInstance, gens: Atoms, factor: GramFactor, b: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``W`` in ``F`` solving Eq. 4 on the basis generators, and ``<W, g> - b_g`` for all.

    One step of iterative refinement (residuals read off the logits, which is accurate)
    removes the error that the normal equations add for ill-conditioned bases.
    """
    H = inst.embeddings
    m, V = inst.m, inst.vocab_size
    alpha = factor.solve(b)
    W = atom_coefficients(gens, alpha, m, V).T @ H
    alpha = alpha - factor.solve(atom_values(gens, H @ W.T) - b)
    W = atom_coefficients(gens, alpha, m, V).T @ H
    return W, atom_values(gens, H @ W.T) - b


def _certificate(
    inst: NTPInstance, gens: Atoms, factor: GramFactor, b: FloatArray, k: int
) -> FloatArray:
    """``y = (e_k - beta) / (y . b)`` with ``sum_B beta_i g_i`` the projection of ``g_k``."""
    column = atom_gram(kernel(inst), gens, gens.take(np.array([k])))[:, 0]
    y = -factor.solve(column)
    y[k] += 1.0
    return y / float(y @ b)


def is_compatible(inst: NTPInstance) -> CompatibilityResult:
    """Decide NTP_H-compatibility (Definition 1) and return ``W*`` or a certificate.

    Parameters
    ----------
    inst : NTPInstance

    Returns
    -------
    CompatibilityResult
        Truthy when compatible. Cached on the instance (its arrays are read-only).

    Raises
    ------
    UndecidedInFloat64Error
        If the nonzero row norms of ``H`` differ by more than
        :data:`ntpprops._scale.MAX_ROW_SPREAD` (the kernel cannot hold them all).
    NotAnInstanceError
        If ``inst`` is not an :class:`~ntpprops.NTPInstance`.

    Notes
    -----
    Scale (:mod:`ntpprops._scale`): the answer for ``c H`` is that for ``H`` mapped back
    exactly (``W* -> W* / c``), for any ``c > 0`` that keeps ``c H`` finite.
    """
    require_instance(inst)
    cached: CompatibilityResult | None = inst._cache.get("compatibility")
    if cached is not None:
        return cached
    require_spread(inst, MAX_ROW_SPREAD, "NTP_H-compatibility")
    work, exponent = float64_scaled(inst)
    if exponent != 0:
        result = _rescaled(is_compatible(work), exponent)
        inst._cache["compatibility"] = result
        return result
    gens, factor = gram_factor(inst)
    b = compatibility_targets(inst, gens)
    if len(gens) == 0:
        result = CompatibilityResult(True, _frozen(np.zeros(inst.weight_shape)), 0.0, f_dim=0)
    else:
        W, residuals = _solve_on_basis(inst, gens, factor, b)
        gen_norms = np.sqrt(2.0 * np.diag(kernel(inst))[gens.ctx])
        tol = COMPAT_RTOL * (1.0 + np.abs(b) + float(np.linalg.norm(W)) * gen_norms)
        # The basis equations are independent, hence always solvable: only the other
        # generators can witness incompatibility.
        excess = np.abs(residuals) / tol
        excess[factor.basis] = 0.0
        residual = float(np.max(np.abs(residuals)))
        k = int(np.argmax(excess))
        if excess[k] <= 1.0:
            result = CompatibilityResult(True, _frozen(W), residual, f_dim=factor.rank)
        else:
            y = _certificate(inst, gens, factor, b, k)
            D = atom_coefficients(gens, y, inst.m, inst.vocab_size).T @ inst.embeddings
            result = CompatibilityResult(
                False, None, residual, _frozen(y), float(np.linalg.norm(D)), factor.rank
            )
    inst._cache["compatibility"] = result
    return result


def _rescaled(result: CompatibilityResult, exponent: int) -> CompatibilityResult:
    """The answer for ``2^exponent H`` from the answer for ``H`` (exact: powers of two).

    ``W -> 2^-e W`` keeps every logit, hence every residual of Eq. 4; the certificate ``y``
    is unchanged and ``||sum_g y_g g||`` scales by ``2^e``.
    """
    star = None
    if result.w_star is not None:
        star = _frozen(ldexp_exact(result.w_star, -exponent, "W*"))
    return dataclasses.replace(
        result,
        w_star=star,
        certificate_norm=float(
            ldexp_exact(np.array(result.certificate_norm), exponent, "the certificate norm")
        ),
    )


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
