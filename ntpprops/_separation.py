"""NTP-separability (Definition 2) without a solver: atoms, margins, the result type, checks.

The out-of-support constraint atoms are ``A_i = (e_{a_j} - e_v) h_j^T`` for ``v not in S_j``,
with the default anchor ``a_j`` of :func:`ntpprops._subspace.f_generators`. Because (6a) puts
``W`` in ``F^perp`` (equal logits on each support), the anchor does not matter:
``<W, (e_z - e_v) h_j^T> = <W, A_i>`` for every ``z in S_j``, and ``<W, A_i> = <W, P_perp A_i>``.

This is the lower layer of the separability code: the solvers (:mod:`ntpprops._svm_active`,
:mod:`ntpprops._svm_cvxpy`), the KKT check (:mod:`ntpprops._kkt`) and the decision
(:func:`ntpprops._separability.is_separable`) all build on it, and it imports none of them.
A Farkas certificate ``y`` (weights over the atoms) proves non-separability when
``P_perp(sum_i y_i A_i)`` is zero: every ``W in F^perp`` with margins ``>= 1`` has
``1 <= <W, sum y A> <= ||W|| ||P_perp(sum y A)||``; :func:`separability_certificate_bound`
checks such a ``y`` with linear algebra only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ntpprops._atoms import Atoms, atom_coefficients
from ntpprops._embedding_ops import embedding_operator, logits_of, pull_back
from ntpprops._errors import InvalidInstanceError
from ntpprops._instance import NTPInstance, as_weights
from ntpprops._scale import float64_scaled
from ntpprops._subspace import project_f_coefficients

__all__ = [
    "SeparabilityResult",
    "ntp_margin",
    "perp_combination",
    "perp_combination_norm",
    "raw_margin",
    "separability_certificate_bound",
    "separation_atoms",
    "sub_atom_index",
    "support_spread",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


def separation_atoms(inst: NTPInstance) -> Atoms:
    """The out-of-support constraint atoms ``(e_{a_j} - e_v) h_j^T``, ``v not in S_j``.

    Parameters
    ----------
    inst : NTPInstance

    Returns
    -------
    Atoms
        ``n_out = m V - sum_j S_j`` atoms ordered by context then token; the anchor ``a_j`` is
        the smallest token of ``S_j`` (the default of :func:`ntpprops._subspace.f_generators`).
        Cached on the instance.
    """
    atoms = inst._cache.get("separation_atoms")
    if atoms is None:
        anchor = np.argmax(inst.supports, axis=1)
        ctx, neg = np.nonzero(~inst.supports)
        atoms = Atoms(ctx.astype(np.intp), anchor[ctx].astype(np.intp), neg.astype(np.intp))
        inst._cache["separation_atoms"] = atoms
    return atoms


@dataclass(frozen=True, eq=False)
class SeparabilityResult:
    """The answer to "is this instance NTP-separable?" (Definition 2), with its evidence.

    Truthy exactly when separable.

    Attributes
    ----------
    separable : bool
    witness : ndarray, shape (V, d), or None
        When separable: ``W^d`` in ``F^perp`` with every NTP margin ``>= 1`` in floating point
        (``W^mm``, scaled up by at most ``1e-9`` relative to absorb rounding; on instances
        decided by the dual ascent's separator, ``margin_upper`` set, another separator).
        When every support is full, Definition 2 holds vacuously and the witness is ``0``.
    margin : float
        The largest NTP margin ``gamma*`` of a unit-norm direction in ``F^perp``:
        ``1 / ||W^mm||`` when separable (``inf`` when every support is full), ``0.0``
        otherwise; with ``margin_upper`` set, the lower end of a bracket on it.
    margin_upper : float or None
        None when ``margin`` is exact. Set when the instance was decided separable by a
        separator before ``W^mm`` was solved (:mod:`ntpprops._svm_dual`, large instances):
        ``margin = 1 / ||witness|| <= gamma* <= margin_upper``, the upper end proven by the
        dual ascent (every separator has ``||W|| >= 1 / margin_upper``).
    certificate : ndarray, shape (n_out,), or None
        When not separable: ``y >= 0`` with ``sum y = 1`` over :func:`separation_atoms`, with
        ``P_perp(sum_i y_i A_i)`` (numerically) zero.
    certificate_norm : float
        ``||P_perp(sum_i y_i A_i)||_F``: no separator has ``||W|| < 1 / certificate_norm``.
    """

    separable: bool
    witness: FloatArray | None = field(default=None, repr=False)
    margin: float = 0.0
    certificate: FloatArray | None = field(default=None, repr=False)
    certificate_norm: float = 0.0
    margin_upper: float | None = None

    def __bool__(self) -> bool:
        return self.separable


def support_spread(inst: NTPInstance, scores: FloatArray) -> float:
    """``max_j (max - min)`` of the logits ``scores`` (m, V) over ``S_j``: 0 iff (6a) holds."""
    inside_max = np.where(inst.supports, scores, -np.inf).max(axis=1)
    inside_min = np.where(inst.supports, scores, np.inf).min(axis=1)
    return float(np.max(inside_max - inside_min))


def sub_atom_index(
    inst: NTPInstance, sub: NTPInstance, rows: IntArray, tokens: IntArray | None = None
) -> IntArray:
    """Index in :func:`separation_atoms` of ``inst`` of each atom of ``sub``, shape (n_out_sub,).

    ``sub`` holds the contexts ``rows`` (increasing) of ``inst`` on the vocabulary ``tokens``
    (increasing; default all of it). Both atom lists are ordered by context, then token, and
    ``(c, v) -> (rows[c], tokens[v])`` is increasing, so one sorted search over the flat
    indices ``ctx * V + neg`` finds them.
    """
    whole, part, V = separation_atoms(inst), separation_atoms(sub), inst.vocab_size
    neg = part.neg if tokens is None else tokens[part.neg]
    keys = whole.ctx.astype(np.int64) * V + whole.neg
    return np.searchsorted(keys, rows[part.ctx].astype(np.int64) * V + neg).astype(np.intp)


def ntp_margin(inst: NTPInstance, W: ArrayLike) -> float:
    """The NTP margin ``min_{j, z in S_j, v not in S_j} (e_z - e_v)^T W h_j / ||W||_F``.

    Parameters
    ----------
    inst : NTPInstance
    W : array_like, shape (V, d)

    Returns
    -------
    float
        ``+inf`` when every support is full (no constraint). Negative when some
        out-of-support token beats an in-support one.

    Raises
    ------
    InvalidInstanceError
        If ``W`` has the wrong shape, non-finite entries or is zero (no direction).
    """
    W = as_weights(inst, W)
    norm = float(np.linalg.norm(W))
    if norm == 0.0:
        raise InvalidInstanceError("W = 0 has no direction; the NTP margin is undefined")
    return raw_margin(inst, W) / norm


def raw_margin(inst: NTPInstance, W: FloatArray) -> float:
    """``min_{j, z in S_j, v not in S_j} (e_z - e_v)^T W h_j`` (unnormalised; ``inf`` if none)."""
    supports = inst.supports
    has_out = ~np.all(supports, axis=1)
    if not np.any(has_out):
        return float(np.inf)
    scores = logits_of(embedding_operator(inst), W)[has_out]
    sup = supports[has_out]
    worst_in = np.min(np.where(sup, scores, np.inf), axis=1)
    best_out = np.max(np.where(sup, -np.inf, scores), axis=1)
    return float(np.min(worst_in - best_out))


def perp_combination(inst: NTPInstance, weights: FloatArray) -> FloatArray:
    """``P_perp(sum_i weights_i A_i)`` over :func:`separation_atoms`, shape (V, d), in
    kernel form."""
    C = atom_coefficients(separation_atoms(inst), weights, inst.m, inst.vocab_size)
    H = embedding_operator(inst)
    # P_F acts on the logits H Z^T = K C; the projected matrix is (C - C_F)^T H.
    C_perp = C - project_f_coefficients(inst, logits_of(H, pull_back(H, C)))
    return pull_back(H, C_perp)


def perp_combination_norm(inst: NTPInstance, weights: FloatArray) -> float:
    """``||P_perp(sum_i weights_i A_i)||_F`` over :func:`separation_atoms`."""
    return float(np.linalg.norm(perp_combination(inst, weights)))


def separability_certificate_bound(inst: NTPInstance, certificate: ArrayLike) -> float:
    """Check a Farkas certificate of non-separability without any solver.

    Parameters
    ----------
    inst : NTPInstance
    certificate : array_like, shape (n_out,)
        Weights ``y`` over :func:`separation_atoms`.

    Returns
    -------
    float
        ``1 / ||P_perp(sum_i y_i A_i)||_F`` for ``y`` rescaled to ``sum y = 1``: a lower bound
        on ``||W||_F`` for every ``W`` satisfying (6a) and (6b). ``inf`` when the projected
        combination is exactly zero (the instance is certainly not separable); ``0.0`` when
        ``y`` proves nothing (a negative entry, zero sum, wrong shape or non-finite values).
    """
    y = np.asarray(certificate, dtype=np.float64)
    n_out = len(separation_atoms(inst))
    if y.shape != (n_out,) or not np.all(np.isfinite(y)) or np.any(y < 0):
        return 0.0
    total = float(y.sum())
    if total <= 0.0:
        return 0.0
    # On the rescaled instance of ntpprops._scale (H = 2^e H'): the projected combination
    # scales by 2^e, so the bound by 2^-e (an overflow to inf or underflow to 0 errs safe).
    work, exponent = float64_scaled(inst)
    norm = perp_combination_norm(work, y / total)
    if norm == 0.0:
        return float(np.inf)
    with np.errstate(over="ignore", under="ignore"):
        return float(np.ldexp(1.0 / norm, -exponent))
