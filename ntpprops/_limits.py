"""The two limits of Theorem 2, ``W*`` and ``W^mm``, and the metrics measured against them.

Theorem 2 says GD iterates behave as ``W_k ~ W* + ||P_perp W_k|| W^mm / ||W^mm||``: ``W*``
(Definition 1, :func:`ntpprops.w_star`) is the finite limit inside ``F`` and ``W^mm``
(Definition 3, :func:`ntpprops.ntp_svm`) the direction of divergence in ``F^perp``. Every
tool that compares iterates with them (:func:`ntpprops.train`,
:func:`ntpprops.certify_gd_bias`, :func:`ntpprops.measure_bias`, the command line) goes
through one object, :class:`Limits`:

- a limit passed in (``Limits.of(inst, w_mm=...)``) is validated cheaply (shape, finite, and
  the equations of its definition read off the logits) and used as is: no solver runs;
- a missing limit is computed on first access and cached on the object, failures included;
- a limit that does not exist (:class:`~ntpprops.NotCompatibleError`,
  :class:`~ntpprops.NotSeparableError`) or could not be computed
  (:class:`~ntpprops.SolverError`, :class:`~ntpprops.UndecidedInFloat64Error`) is ``None``,
  with a human-readable reason
  (:attr:`Limits.w_star_reason`, :attr:`Limits.w_mm_reason`); :meth:`Limits.require_w_star`
  and :meth:`Limits.require_w_mm` re-raise the error for callers that cannot go on without.

The checkpoint metrics are :class:`LimitMetrics` (named fields, ``nan`` where undefined),
computed by :func:`limit_metrics`. The distance ``||P_F W - W*||`` needs the projection onto
``F``, whose one-time Gram factorisation costs ``O(n_F^3)`` for ``n_F = sum_j (S_j - 1)``
generators; :func:`projection_cost` estimates it from the sizes, so that a training loop can
thin or skip that metric when it would cost more than the steps between checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray

from ntpprops import _compat, _svm
from ntpprops._atoms import Atoms, atom_values
from ntpprops._errors import (
    InvalidInstanceError,
    NotCompatibleError,
    NotSeparableError,
    NTPError,
    SolverError,
    UndecidedInFloat64Error,
)
from ntpprops._instance import NTPInstance, as_weights
from ntpprops._separation import separation_atoms
from ntpprops._subspace import f_generators, gram_factor

__all__ = [
    "GIVEN_LIMIT_RTOL",
    "Limit",
    "LimitMetrics",
    "Limits",
    "ProjectionCost",
    "cosine",
    "dist_f_wstar",
    "limit_metrics",
    "limits_for",
    "projection_cost",
]

FloatArray = NDArray[np.float64]
LimitName = Literal["w_star", "w_mm"]

#: A limit passed in must satisfy the equations of its definition to this relative
#: tolerance: ``|<W, g> - b_g| <= GIVEN_LIMIT_RTOL * (1 + |b_g| + ||W|| ||g||)`` for every
#: generator ``g`` of ``F`` (``b_g`` the Eq. 4 target for ``W*``, 0 for ``W^mm``), and for
#: ``W^mm`` the margins ``<W, A_i> >= 1 - GIVEN_LIMIT_RTOL * (1 + ||W|| ||A_i||)``. Loose
#: enough for an interior-point solution (Clarabel's ~1e-8), tight enough to reject a limit
#: of other data.
GIVEN_LIMIT_RTOL = 1e-6

_SYMBOLS = {"w_star": "W*", "w_mm": "W^mm"}


def cosine(a: FloatArray, b: FloatArray) -> float:
    """Frobenius cosine ``<a, b> / (||a||_F ||b||_F)``; ``nan`` if either is zero.

    Parameters
    ----------
    a, b : ndarray, same shape

    Returns
    -------
    float
    """
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return math.nan
    return float(np.vdot(a, b)) / (na * nb)


@dataclass(frozen=True, eq=False)
class Limit:
    """One limit of Theorem 2: its value, or why there is none.

    Attributes
    ----------
    name : {"w_star", "w_mm"}
    value : ndarray, shape (V, d), or None
        Read-only. ``None`` when the limit does not exist or could not be computed.
    source : {"given", "computed", "unavailable", "skipped"}
        Passed in by the caller, computed by the solver, not available (see ``reason``), or
        not wanted (``Limits.of(inst, w_mm=False)``).
    reason : str or None
        Why ``value`` is ``None`` (``None`` when there is a value).
    error : NTPError or None
        The error behind ``reason``, kept for callers that must raise it (``None`` when
        skipped).
    """

    name: LimitName
    value: FloatArray | None = field(repr=False)
    source: Literal["given", "computed", "unavailable", "skipped"]
    reason: str | None = None
    error: NTPError | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class Limits:
    """``W*`` and ``W^mm`` of one instance, each passed in, computed lazily, or ``None``.

    Build it with :meth:`of`. Nothing is solved until :attr:`w_star` or :attr:`w_mm` is first
    read; each answer (failures included) is then cached on this object, so pass the same
    object to every function that needs the limits of ``inst``.

    Attributes
    ----------
    inst : NTPInstance
    svm_method : {"auto", "active-set", "cvxpy"}
        Solver of :func:`ntpprops.ntp_svm` used when ``W^mm`` is computed.

    Examples
    --------
    >>> import numpy as np, ntpprops as ntp
    >>> inst = ntp.NTPInstance(np.eye(2), np.eye(2))
    >>> limits = ntp.Limits.of(inst)  # nothing solved yet
    >>> run = ntp.train(inst, "gd", steps=100, limits=limits)  # solves both, once
    >>> report = ntp.certify_gd_bias(inst, limits=limits)  # reuses them
    >>> limits.w_mm_reason is None and bool(report)
    True
    >>> ntp.Limits.of(inst, w_mm=False).w_mm_reason  # not wanted: never solved
    'W^mm not requested (w_mm=False)'
    """

    inst: NTPInstance = field(repr=False)
    svm_method: str = "auto"
    _resolved: dict[str, Limit] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def of(
        cls,
        inst: NTPInstance,
        *,
        w_star: ArrayLike | Literal[False] | None = None,
        w_mm: ArrayLike | Literal[False] | None = None,
        verify: bool = True,
        svm_method: str = "auto",
    ) -> Limits:
        """The limits of ``inst``, using the ones given and computing the others on demand.

        Parameters
        ----------
        inst : NTPInstance
        w_star : array_like, shape (V, d), False or None
            ``W*`` if already known (Definition 1); ``None`` (default): solved by
            :func:`ntpprops.w_star` on first access; ``False``: not wanted (it stays
            ``None``, and nothing is solved for it).
        w_mm : array_like, shape (V, d), False or None
            ``W^mm`` if already known (Definition 3); ``None`` (default): solved by
            :func:`ntpprops.ntp_svm` on first access; ``False``: not wanted (e.g. to skip a
            costly SVM solve while keeping ``W*``).
        verify : bool
            Check that a given limit satisfies the equations of its definition (see
            :data:`GIVEN_LIMIT_RTOL`), at the cost of one ``H W^T`` product each: ``W*``
            solves Eq. 4 on every generator of ``F``; ``W^mm`` is orthogonal to ``F`` (6a)
            and has margins at least 1 (6b). Membership of ``W*`` in ``F`` and the
            minimality of ``||W^mm||`` are not checked (they need a factorisation or the
            duals). Shape, finiteness and ``W^mm != 0`` are always checked.
        svm_method : {"auto", "active-set", "cvxpy"}
            Passed to :func:`ntpprops.ntp_svm` if ``W^mm`` is computed.

        Returns
        -------
        Limits

        Raises
        ------
        TypeError
            If ``inst`` is not an :class:`NTPInstance`.
        InvalidInstanceError
            If a given limit has the wrong shape, non-finite entries, or (with ``verify``)
            violates its definition; the message names the limit and the worst residual.
        ValueError
            If ``svm_method`` is unknown.
        """
        if not isinstance(inst, NTPInstance):
            raise TypeError(f"inst must be an NTPInstance, got {type(inst).__name__}")
        if svm_method not in _svm.METHODS:
            raise ValueError(f"svm_method must be one of {_svm.METHODS}, got {svm_method!r}")
        limits = cls(inst, svm_method)
        given: tuple[tuple[LimitName, object], ...] = (("w_star", w_star), ("w_mm", w_mm))
        unwanted = [n for n, v in given if v is False]
        for name in unwanted:
            reason = f"{_SYMBOLS[name]} not requested ({name}=False)"
            limits._resolved[name] = Limit(name, None, "skipped", reason)
        if w_star is not None and w_star is not False:
            star = _given_array(inst, w_star, "w_star")
            if verify:
                _verify_w_star(inst, star)
            limits._resolved["w_star"] = Limit("w_star", star, "given")
        if w_mm is not None and w_mm is not False:
            mm = _given_array(inst, w_mm, "w_mm")
            if not np.any(mm):
                raise InvalidInstanceError(
                    "w_mm must be non-zero: it is the direction GD is compared with"
                )
            if verify:
                _verify_w_mm(inst, mm)
            limits._resolved["w_mm"] = Limit("w_mm", mm, "given")
        return limits

    # -- the limits ------------------------------------------------------------------------

    def limit(self, name: LimitName) -> Limit:
        """The :class:`Limit` called ``name`` (``"w_star"`` or ``"w_mm"``), solving it once."""
        resolved = self._resolved.get(name)
        if resolved is None:
            if name == "w_star":
                resolved = self._solve_w_star()
            elif name == "w_mm":
                resolved = self._solve_w_mm()
            else:
                raise ValueError(f"name must be 'w_star' or 'w_mm', got {name!r}")
            self._resolved[name] = resolved
        return resolved

    @property
    def w_star(self) -> FloatArray | None:
        """``W*`` (read-only, shape (V, d)), or ``None`` when the instance is incompatible."""
        return self.limit("w_star").value

    @property
    def w_mm(self) -> FloatArray | None:
        """``W^mm`` (read-only, shape (V, d)), or ``None`` when unavailable (see reason)."""
        return self.limit("w_mm").value

    @property
    def w_star_reason(self) -> str | None:
        """Why :attr:`w_star` is ``None``; ``None`` when it exists."""
        return self.limit("w_star").reason

    @property
    def w_mm_reason(self) -> str | None:
        """Why :attr:`w_mm` is ``None`` (does not exist, or the solver failed)."""
        return self.limit("w_mm").reason

    def require_w_star(self) -> FloatArray:
        """``W*``, or raise the :class:`~ntpprops.NotCompatibleError` that explains its absence.

        ``ValueError`` if it was not requested (``w_star=False``).
        """
        return _required(self.limit("w_star"))

    def require_w_mm(self) -> FloatArray:
        """``W^mm``, or raise the ``NotSeparableError`` / ``SolverError`` behind its absence.

        ``ValueError`` if it was not requested (``w_mm=False``).
        """
        return _required(self.limit("w_mm"))

    def is_resolved(self, name: LimitName) -> bool:
        """Whether ``name`` was given or already solved (reading it then costs nothing)."""
        return name in self._resolved

    def known(self, name: LimitName) -> Limit | None:
        """The :class:`Limit` ``name`` if it costs no solve, else ``None`` (nothing is solved).

        It costs nothing when it was given or already resolved here, or when an earlier solve
        left it on the instance (a ``W^mm`` of :func:`ntpprops.ntp_svm_result` by any method,
        a ``W*`` of :func:`ntpprops.is_compatible`); it is then resolved from there.
        """
        resolved = self._resolved.get(name)
        if resolved is None:
            value = _cached_solution(self.inst, name)
            if value is not None:
                resolved = self._resolved[name] = Limit(name, value, "computed")
        return resolved

    def notes(self) -> dict[str, str]:
        """``{"w_star": reason, "w_mm": reason}`` for the limits that are ``None`` (solves)."""
        names: tuple[LimitName, ...] = ("w_star", "w_mm")
        return {name: reason for name in names if (reason := self.limit(name).reason) is not None}

    def __repr__(self) -> str:
        """Where each limit stands, without solving anything."""
        status = {
            name: self._resolved[name].source if name in self._resolved else "not solved yet"
            for name in ("w_star", "w_mm")
        }
        return f"Limits(w_star: {status['w_star']}, w_mm: {status['w_mm']})"

    def _solve_w_star(self) -> Limit:
        try:
            value = _compat.w_star(self.inst)
        except NotCompatibleError as exc:
            return Limit("w_star", None, "unavailable", f"W* does not exist: {exc}", exc)
        except UndecidedInFloat64Error as exc:
            reason = f"W* could not be computed (out of float64's range): {exc}"
            return Limit("w_star", None, "unavailable", reason, exc)
        return Limit("w_star", _read_only(value), "computed")

    def _solve_w_mm(self) -> Limit:
        try:
            value = _svm.ntp_svm(self.inst, method=self.svm_method)
        except NotSeparableError as exc:
            return Limit("w_mm", None, "unavailable", f"W^mm does not exist: {exc}", exc)
        except SolverError as exc:
            reason = f"W^mm could not be computed (solver failed): {exc}"
            return Limit("w_mm", None, "unavailable", reason, exc)
        return Limit("w_mm", _read_only(np.array(value, dtype=np.float64)), "computed")


def _cached_solution(inst: NTPInstance, name: LimitName) -> FloatArray | None:
    """A limit an earlier solve left in the instance's cache (``None`` if there is none).

    The cache keys are those of :func:`ntpprops._compat.is_compatible` (``"compatibility"``)
    and :func:`ntpprops._svm.ntp_svm_result` (``"svm:<method>"``).
    """
    if name == "w_star":
        compat = inst._cache.get("compatibility")
        star = getattr(compat, "w_star", None)
        return None if star is None else _read_only(np.array(star, dtype=np.float64))
    for key, value in inst._cache.items():
        if isinstance(key, str) and key.startswith("svm:") and isinstance(value, _svm.SVMResult):
            return _read_only(np.array(value.W, dtype=np.float64))
    return None


def limits_for(inst: NTPInstance, limits: Limits | None) -> Limits:
    """``limits`` checked to be those of ``inst``, or a fresh ``Limits.of(inst)`` for ``None``.

    Every function that accepts ``limits=`` goes through this one check.

    Raises
    ------
    TypeError
        If ``limits`` is not a :class:`Limits` (or ``None``).
    ValueError
        If ``limits`` belong to another instance.
    """
    if limits is None:
        return Limits.of(inst)
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a Limits or None, got {type(limits).__name__}")
    if limits.inst is not inst and limits.inst != inst:
        raise ValueError(
            "limits belong to another instance: build them with Limits.of(inst) for this one"
        )
    return limits


def _required(limit: Limit) -> FloatArray:
    if limit.value is None:
        if limit.error is None:  # skipped on request
            raise ValueError(f"{limit.reason}, but it is required here")
        raise limit.error
    return limit.value


def _read_only(array: FloatArray) -> FloatArray:
    array.setflags(write=False)
    return array


def _given_array(inst: NTPInstance, value: ArrayLike, name: str) -> FloatArray:
    """A private read-only float64 copy of a given limit, after shape/finite checks."""
    return _read_only(np.array(as_weights(inst, value, name), dtype=np.float64))


def _atom_norms(inst: NTPInstance, atoms: Atoms) -> FloatArray:
    """``||(e_p - e_n) h_j^T||_F = sqrt(2) ||h_j||`` for every atom, shape (n,)."""
    norms: FloatArray = np.sqrt(2.0 * np.einsum("ij,ij->i", inst.embeddings, inst.embeddings))
    return norms[atoms.ctx]


def _verify_w_star(inst: NTPInstance, W: FloatArray) -> None:
    gens = f_generators(inst)
    if len(gens) == 0:
        return
    b = _compat.compatibility_targets(inst, gens)
    residual = np.abs(atom_values(gens, inst.embeddings @ W.T) - b)
    tol = GIVEN_LIMIT_RTOL * (1.0 + np.abs(b) + float(np.linalg.norm(W)) * _atom_norms(inst, gens))
    worst = int(np.argmax(residual / tol))
    if residual[worst] > tol[worst]:
        raise InvalidInstanceError(
            "w_star does not solve Eq. 4 (Definition 1): on the generator of context "
            f"{gens.ctx[worst]}, tokens ({gens.pos[worst]}, {gens.neg[worst]}), "
            f"|<W, g> - log(p_a / p_z)| = {residual[worst]:.3g} > tolerance {tol[worst]:.3g}; "
            "pass the W* of this instance (ntpprops.w_star) or verify=False"
        )


def _verify_w_mm(inst: NTPInstance, W: FloatArray) -> None:
    scores = inst.embeddings @ W.T
    norm = float(np.linalg.norm(W))
    gens = f_generators(inst)
    if len(gens):
        inner = np.abs(atom_values(gens, scores))
        tol = GIVEN_LIMIT_RTOL * (1.0 + norm * _atom_norms(inst, gens))
        worst = int(np.argmax(inner / tol))
        if inner[worst] > tol[worst]:
            raise InvalidInstanceError(
                "w_mm is not orthogonal to F (constraint 6a of Definition 3): on the "
                f"generator of context {gens.ctx[worst]}, tokens ({gens.pos[worst]}, "
                f"{gens.neg[worst]}), |<W, g>| = {inner[worst]:.3g} > tolerance "
                f"{tol[worst]:.3g}; pass the W^mm of this instance or verify=False"
            )
    atoms = separation_atoms(inst)
    if len(atoms):
        shortfall = 1.0 - atom_values(atoms, scores)
        tol = GIVEN_LIMIT_RTOL * (1.0 + norm * _atom_norms(inst, atoms))
        worst = int(np.argmax(shortfall / tol))
        if shortfall[worst] > tol[worst]:
            raise InvalidInstanceError(
                "w_mm violates a margin constraint (6b of Definition 3): context "
                f"{atoms.ctx[worst]}, in-support token {atoms.pos[worst]} against "
                f"{atoms.neg[worst]} has margin {1.0 - shortfall[worst]:.6g} < 1 (tolerance "
                f"{tol[worst]:.3g}); pass the W^mm of this instance or verify=False"
            )


# -- metrics at a checkpoint ----------------------------------------------------------------


class LimitMetrics(NamedTuple):
    """How an iterate ``W`` stands against the limits; ``nan`` where undefined.

    Attributes
    ----------
    cos_mm : float
        ``cos(W, W^mm)`` (``nan`` without ``W^mm`` or when ``W = 0``).
    cos_mm_corrected : float
        ``cos(W - W*, W^mm)`` (``nan`` without either limit or when ``W = W*``).
    dist_f_wstar : float
        ``||P_F W - W*||_F`` (``nan`` without ``W*`` or when not requested).
    """

    cos_mm: float
    cos_mm_corrected: float
    dist_f_wstar: float


def dist_f_wstar(
    inst: NTPInstance, W: FloatArray, w_star: FloatArray, scores: FloatArray | None = None
) -> float:
    """``||P_F W - W*||_F`` for ``W*`` in ``F``.

    Parameters
    ----------
    inst : NTPInstance
    W, w_star : ndarray, shape (V, d)
    scores : ndarray, shape (m, V), optional
        The logits ``H W^T`` if already at hand (saves one product).

    Returns
    -------
    float
    """
    if scores is None:
        scores = inst.embeddings @ W.T
    return float(np.linalg.norm(_project_f_sparse(inst, scores) - w_star))


def _project_f_sparse(inst: NTPInstance, scores: FloatArray) -> FloatArray:
    """``P_F W`` from the logits ``scores = H W^T``, shape (V, d), in ``O(n_F^2 + n_F d)``.

    As :func:`ntpprops.project_f`: the coefficients ``alpha`` of the generators solve
    ``G alpha = <W, g>`` (cached factor). ``P_F W = sum_g alpha_g (e_pos - e_neg) h_ctx^T``
    is then a sparse ``(V, m)`` matrix with ``2 n_F`` entries times ``H``, instead of the dense
    ``C^T H`` (``2 m V d`` flops, as much as a GD step).
    """
    gens, factor = gram_factor(inst)
    m, V = inst.m, inst.vocab_size
    if len(gens) == 0:
        return np.zeros(inst.weight_shape)
    alpha = factor.solve(atom_values(gens, scores))
    coeffs = scipy.sparse.csr_matrix(
        (
            np.concatenate([alpha, -alpha]),
            (np.concatenate([gens.pos, gens.neg]), np.concatenate([gens.ctx, gens.ctx])),
        ),
        shape=(V, m),
    )  # duplicate entries are summed
    return np.asarray(coeffs @ inst.embeddings)


def limit_metrics(
    limits: Limits,
    W: FloatArray,
    *,
    scores: FloatArray | None = None,
    with_dist: bool = True,
) -> LimitMetrics:
    """:class:`LimitMetrics` of ``W``, solving the limits first if they are not yet known.

    Parameters
    ----------
    limits : Limits
    W : ndarray, shape (V, d)
    scores : ndarray, shape (m, V), optional
        The logits ``H W^T`` if already at hand.
    with_dist : bool
        Compute ``dist_f_wstar`` (the costly one: a projection onto ``F``; see
        :func:`projection_cost`); ``nan`` otherwise.

    Returns
    -------
    LimitMetrics
    """
    w_star, w_mm = limits.w_star, limits.w_mm
    cos_mm = cos_corr = dist = math.nan
    if w_mm is not None:
        cos_mm = cosine(W, w_mm)
        if w_star is not None:
            cos_corr = cosine(W - w_star, w_mm)
    if with_dist and w_star is not None:
        dist = dist_f_wstar(limits.inst, W, w_star, scores)
    return LimitMetrics(cos_mm, cos_corr, dist)


class ProjectionCost(NamedTuple):
    """Estimated floating-point operations of ``P_F W`` (from the sizes, not timed).

    Attributes
    ----------
    setup_flops : float
        One-time work still to do: the kernel ``H H^T`` (``2 m^2 d``) and the pivoted Cholesky
        factorisation of the ``n_F x n_F`` Gram matrix of the generators (``n_F^3 / 3``,
        plus ``n_F^2`` to fill it); 0 for the parts already cached on the instance.
    call_flops : float
        Per projection given the logits: the triangular solves (``2 n_F^2``) and the sparse
        ``sum_g alpha_g g`` (``4 n_F d``).
    n_generators : int
        ``n_F = sum_j (S_j - 1)``.
    """

    setup_flops: float
    call_flops: float
    n_generators: int


def projection_cost(inst: NTPInstance) -> ProjectionCost:
    """Estimate the cost of the projection onto ``F`` for ``inst`` (see :class:`ProjectionCost`).

    Parameters
    ----------
    inst : NTPInstance

    Returns
    -------
    ProjectionCost
    """
    m, d = inst.m, inst.dim
    n_f = int(np.count_nonzero(inst.supports)) - m
    # The cache keys of ntpprops._subspace.kernel and gram_factor: what is cached is free.
    setup = 0.0
    if "kernel" not in inst._cache and "f_gram" not in inst._cache:
        setup += 2.0 * m * m * d
    if "f_gram" not in inst._cache:
        setup += float(n_f) ** 3 / 3.0 + float(n_f) ** 2
    return ProjectionCost(setup, 2.0 * float(n_f) ** 2 + 4.0 * n_f * d, n_f)
