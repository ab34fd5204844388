"""Norm-aware and norm-free measures of an iterate: which max-margin solution does it approach?

For a norm ``q`` (:data:`ntpprops._svm_norms.NORMS`) the *normalised margin* of a weight
matrix ``W`` is that of its divergent part ``P_perp W`` (constraint (6a) holds there exactly):

    gamma_q(W) = min_{j, z in S_j, v not in S_j} (e_z - e_v)^T (P_perp W) h_j / ||P_perp W||_q,

and its *margin fraction* is ``gamma_q(W) / gamma_q*``, with ``gamma_q* = 1 / ||W_q||_q`` the
optimal margin of the ``q``-NTP-SVM (:func:`ntpprops.ntp_svm_result` with ``norm=q``). A
fraction is at most 1 (up to the certificate's gap), equals 1 exactly on optimal directions,
and is well defined even when the optimal direction is not unique, which is why it, rather
than a cosine with one optimal solution, is the measure used outside ``l2``.

The norm-free measure is the Eq. 4 residual ``max_{j, z, z' in S_j} |(e_z - e_z')^T W h_j -
log(p_jz / p_jz')|``: whether the finite part of ``W`` finds the in-support log-ratios (for GD
it tends to 0, Theorem 2: ``P_F W_k -> W*``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ntpprops._errors import SolverError
from ntpprops._instance import NTPInstance, as_weights
from ntpprops._loss import softmax_residual
from ntpprops._optim import _resolve_optimizer, record_steps, run_optimizer
from ntpprops._optimizer import Optimizer
from ntpprops._separability import raw_margin
from ntpprops._subspace import project_f_perp
from ntpprops._svm import ntp_svm_result
from ntpprops._svm_norms import NORMS, matrix_norm

__all__ = [
    "MarginTrajectory",
    "eq4_residual",
    "margin_fraction",
    "margin_trajectory",
    "normalized_margin",
]

FloatArray = NDArray[np.float64]


def normalized_margin(inst: NTPInstance, W: ArrayLike, norm: str = "l2") -> float:
    """``gamma_q(W)``: the NTP margin of ``P_perp W`` over its ``norm``-norm.

    Parameters
    ----------
    inst : NTPInstance
    W : array_like, shape (V, d)
    norm : {"l2", "max", "l1", "spectral"}

    Returns
    -------
    float
        Negative while some out-of-support token beats an in-support one; ``nan`` when
        ``P_perp W = 0`` (no direction) and ``inf`` when every support is full.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    W_perp = project_f_perp(inst, W)
    size = matrix_norm(W_perp, norm)
    if size == 0.0:
        return math.nan
    return raw_margin(inst, W_perp) / size


def margin_fraction(
    inst: NTPInstance, W: ArrayLike, norm: str = "l2", *, optimum: float | None = None
) -> float:
    """``gamma_q(W) / gamma_q*``: the normalised margin as a fraction of the ``q``-optimum.

    Parameters
    ----------
    inst : NTPInstance
        Separable, with some support smaller than ``V``.
    W : array_like, shape (V, d)
    norm : {"l2", "max", "l1", "spectral"}
    optimum : float, optional
        The optimal norm ``||W_q||_q = 1 / gamma_q*`` if known (else solved, certified and
        cached on the instance by :func:`ntpprops.ntp_svm_result`).

    Returns
    -------
    float
        At most ``1`` (within the certificate's gap), ``1`` on optimal directions.

    Raises
    ------
    NotSeparableError, SolverError
        From :func:`ntpprops.ntp_svm_result`.
    """
    if optimum is None:
        optimum = 1.0 / ntp_svm_result(inst, norm=norm).margin
    return normalized_margin(inst, W, norm) * optimum


def eq4_residual(inst: NTPInstance, W: ArrayLike) -> float:
    """``max_{j, z != z' in S_j} |(e_z - e_z')^T W h_j - log(p_jz / p_jz')|`` (0 if no pair).

    Parameters
    ----------
    inst : NTPInstance
    W : array_like, shape (V, d)

    Returns
    -------
    float
        Per context the largest pairwise difference of ``r_z = (W h_j)_z - log p_jz`` over
        ``S_j`` is ``max r - min r``.
    """
    W = as_weights(inst, W)
    supports = inst.supports
    with np.errstate(divide="ignore"):
        residual = inst.embeddings @ W.T - np.log(inst.probs)
    top = np.max(np.where(supports, residual, -np.inf), axis=1)
    bottom = np.min(np.where(supports, residual, np.inf), axis=1)
    return float(np.max(top - bottom, initial=0.0))


@dataclass(frozen=True, eq=False)
class MarginTrajectory:
    """Margin fractions in several norms along one optimizer run.

    Attributes
    ----------
    method : str
    steps : ndarray of int, shape (n,)
        Recorded iterations.
    fractions : Mapping[str, ndarray of shape (n,)]
        ``gamma_q(W_k) / gamma_q*`` per norm ``q`` (``nan`` at ``W_k = 0``).
    optima : Mapping[str, float]
        ``||W_q||_q``, the certified optimal norm of each ``q``-NTP-SVM.
    eq4_residual : ndarray, shape (n,)
        :func:`eq4_residual` of ``W_k``.
    cross : Mapping[str, Mapping[str, float]]
        ``cross[q][q2]``: the ``q``-margin fraction of the (returned) ``q2``-optimal solution,
        the baseline a run must beat in ``q`` to be closer to the ``q``-optimum than the
        other optima are.
    W : ndarray, shape (V, d)
        The last iterate.
    """

    method: str
    steps: NDArray[np.int64]
    fractions: Mapping[str, FloatArray]
    optima: Mapping[str, float]
    eq4_residual: FloatArray
    cross: Mapping[str, Mapping[str, float]]
    W: FloatArray = field(repr=False)

    def leads(self) -> dict[str, float]:
        """Per norm ``q``: final fraction minus the best ``q``-fraction of another optimum.

        Positive when the last iterate's ``q``-margin beats every other norm's optimal
        solution in ``q``. (Fractions of different norms are not comparable with each other:
        max-norm fractions of unrelated directions are typically smaller.)
        """
        out = {}
        for q, values in self.fractions.items():
            rivals = [v for q2, v in self.cross[q].items() if q2 != q]
            out[q] = float(values[-1]) - (max(rivals) if rivals else -math.inf)
        return out

    def approached(self) -> tuple[str | None, dict[str, float]]:
        """The norm whose optimal margin the last iterate is closest to, with the numbers.

        Returns
        -------
        (norm, leads) : tuple
            ``norm`` has the largest positive :meth:`leads` (ties by order of
            :attr:`fractions`), or is ``None`` when no lead is positive (the iterate beats no
            optimum in its own norm yet); ``leads`` maps every norm to its lead. Evidence at a
            finite step count, not a limit: read it with the fractions' trend over
            :attr:`steps`.

        Raises
        ------
        ValueError
            If fewer than two norms were recorded or no lead is finite.
        """
        if len(self.fractions) < 2:
            raise ValueError("telling norms apart needs at least two norms in the trajectory")
        leads = self.leads()
        finite = {q: v for q, v in leads.items() if math.isfinite(v)}
        if not finite:
            raise ValueError("no finite margin fraction was recorded (W stayed 0?)")
        best = max(finite, key=lambda q: finite[q])
        return (best if finite[best] > 0.0 else None), leads


def margin_trajectory(
    inst: NTPInstance,
    method: str | Optimizer,
    steps: int,
    *,
    lr: float | None = None,
    record: int | str | Sequence[int] = "log",
    norms: Sequence[str] = NORMS,
    init: ArrayLike | None = None,
    accurate: bool = True,
) -> MarginTrajectory:
    """Run an optimizer and record margin fractions in ``norms`` and the Eq. 4 residual.

    Parameters
    ----------
    inst : NTPInstance
        Separable, with some support smaller than ``V``.
    method : str or Optimizer
        A name of :data:`ntpprops.OPTIMIZERS` (with ``lr``; default 0.01, or ``1/(2L)`` for
        ``"gd"`` and ``"momentum"``) or an optimizer object (then ``lr`` must be ``None``).
        Run step by step (GD too).
    steps : int
    record : "log", int or sequence of int
        As for :func:`ntpprops.train`.
    norms : sequence of str
        Among ``"l2", "max", "l1", "spectral"``; each optimum is solved (and certified) once
        and cached on the instance.
    init : array_like, shape (V, d), optional
        ``W_0`` (default 0).
    accurate : bool
        Compute ``softmax - P`` by :func:`ntpprops._loss.softmax_residual` (default), so that
        sign-type methods do not read rounding noise as a step once the out-of-support mass
        falls below machine epsilon; ``False`` runs exactly as :func:`ntpprops.train`.

    Returns
    -------
    MarginTrajectory
    """
    unknown = [q for q in norms if q not in NORMS]
    if unknown or not norms:
        raise ValueError(f"norms must be a non-empty subset of {NORMS}, got {list(norms)!r}")
    optimizer, _ = _resolve_optimizer(inst, method, lr)
    checkpoints = record_steps(steps, record)
    solutions = {q: ntp_svm_result(inst, norm=q) for q in norms}
    optima = {q: 1.0 / solutions[q].margin for q in norms}
    cross = {
        q: MappingProxyType(
            {q2: margin_fraction(inst, solutions[q2].W, q, optimum=optima[q]) for q2 in norms}
        )
        for q in norms
    }
    W0 = np.zeros(inst.weight_shape) if init is None else np.array(as_weights(inst, init, "init"))
    rows: list[tuple[float, ...]] = []

    def on_checkpoint(W: FloatArray, grad: object, scores: object) -> None:
        if not np.all(np.isfinite(W)):
            raise SolverError(f"iterates overflowed by checkpoint {len(rows)}: use a smaller lr")
        fractions = tuple(margin_fraction(inst, W, q, optimum=optima[q]) for q in norms)
        rows.append((*fractions, eq4_residual(inst, W)))

    residual = softmax_residual if accurate else None
    W = run_optimizer(inst, optimizer, W0, steps, checkpoints, on_checkpoint, residual)
    table = np.array(rows, dtype=np.float64)
    return MarginTrajectory(
        method=optimizer.name,
        steps=checkpoints,
        fractions=MappingProxyType({q: table[:, i] for i, q in enumerate(norms)}),
        optima=MappingProxyType(optima),
        eq4_residual=table[:, -1],
        cross=MappingProxyType(cross),
        W=W,
    )
