"""Normalised steepest descent in a norm, Muon, signum and a decaying step schedule.

These are the optimizers whose one-hot implicit bias Fan, Schmidt and Thrampoulidis (2025,
arXiv 2502.04664, "Implicit bias of spectral descent and Muon on multiclass separable data")
characterise: on multiclass linearly separable data with cross-entropy loss, *normalised
steepest descent* (NSD) in a norm ``||.||``,

    W_{t+1} = W_t - eta_t D_t,    D_t in argmax_{||D|| <= 1} <grad CE(W_t), D>,

and its momentum variant (NMD: the same with ``grad`` replaced by an exponential moving
average ``M_t``) converge in direction to the max-margin solution *in that norm*, at a rate
stated for step sizes ``eta_t = Theta(t^{-a})``, ``a in (0, 1]``; for the max-norm they
extend it to Adam. Entrywise ``l_p`` and Schatten-``p`` norms are covered; the max-norm gives
SignGD (``D = sign(g)``), the spectral norm spectral descent (``D = U V^T`` for ``g = U S V^T``)
and, with momentum, Muon; Frobenius gives normalised GD. What is checked here is the update
rule of each method, against its textbook form; the theorems' exact constants, the conditions
on ``a`` and on the momentum parameter, and the rates are the paper's (we state them as
summarised in its abstract and public notes, not re-derived: "a in (0, 1]" and the margin gap
``O(1/sqrt(t))``-type rate at ``a = 1/2``). For NTP data (soft labels, constraint (6a)) none of
this is proven: docs/theory.md, "Beyond the paper".

Schedule. Every factory takes ``lr = eta_0`` and ``decay = a``: step ``t = 0, 1, ...`` uses
``eta_t = eta_0 (t + 1)^{-a}`` (``a = 0``: constant). Since each update is linear in the step
size, :func:`scheduled` implements it for any optimizer by scaling its updates.

Every update direction is scale-free in the gradient (or momentum), so the exponential moving
average ``M_t = beta M_{t-1} + (1 - beta) g_t`` and the plain sum ``M_t = beta M_{t-1} + g_t``
(Muon's reference implementation) give the same steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ntpprops._optimizer import Optimizer, check_positive, check_unit_interval, stateless_init

__all__ = [
    "NEWTON_SCHULZ_COEFFS",
    "STEEPEST_NORMS",
    "STEEPEST_OPTIMIZERS",
    "MomentumStepState",
    "ScheduleState",
    "muon",
    "newton_schulz",
    "nsd",
    "scheduled",
    "signum",
    "steepest_direction",
]

FloatArray = NDArray[np.float64]

#: Norms of :func:`nsd` (entrywise max, entrywise sum, Frobenius, largest singular value).
STEEPEST_NORMS = ("max", "l1", "l2", "spectral")

#: Quintic Newton-Schulz coefficients ``(a, b, c)`` of Muon's reference implementation
#: (Jordan et al., 2024): ``X <- a X + b (X X^T) X + c (X X^T)^2 X``. They trade exactness
#: for speed: singular values land in roughly ``[0.7, 1.2]``, not at 1.
NEWTON_SCHULZ_COEFFS = (3.4445, -4.7750, 2.0315)

#: Default number of Newton-Schulz iterations (Muon's reference value).
NEWTON_SCHULZ_STEPS = 5

#: Default step decay ``a`` of the factories here: ``eta_t = eta_0 (t + 1)^{-1/2}``, inside
#: the range ``a in (0, 1]`` of Fan et al.'s theorems.
DEFAULT_DECAY = 0.5


class ScheduleState(NamedTuple):
    """State of :func:`scheduled`: steps taken ``step`` and the wrapped optimizer's state."""

    step: int
    inner: Any


class MomentumStepState(NamedTuple):
    """State of :func:`muon` and :func:`signum`: the moving average ``M_t``, shape (V, d)."""

    momentum: FloatArray


def steepest_direction(grads: FloatArray, norm: str) -> FloatArray:
    """A maximiser ``D`` of ``<g, D>`` over ``||D|| <= 1`` (the unit steepest-ascent direction).

    Parameters
    ----------
    grads : ndarray, shape (V, d)
    norm : {"max", "l1", "l2", "spectral"}
        ``"max"``: ``sign(g)`` (``<g, D> = ||g||_1``); ``"l1"``: ``sign(g_i) e_i`` at the first
        entry ``i`` of largest ``|g_i|`` (``<g, D> = ||g||_max``); ``"l2"``: ``g / ||g||_F``;
        ``"spectral"``: ``U V^T`` over the non-zero singular values of ``g = U S V^T``
        (``<g, D> = ||g||_nuclear``).

    Returns
    -------
    ndarray, shape (V, d)
        Zero when ``g = 0`` (every ``D`` is then a maximiser; zero keeps iterates put).
    """
    g = np.asarray(grads, dtype=np.float64)
    if norm == "max":
        return np.sign(g)
    if norm == "l1":
        out = np.zeros_like(g)
        if g.size:
            i = int(np.argmax(np.abs(g)))
            out.flat[i] = np.sign(g.flat[i])
        return out
    if norm == "l2":
        size = float(np.linalg.norm(g))
        return np.zeros_like(g) if size == 0.0 else g / size
    if norm == "spectral":
        U, s, Vt = np.linalg.svd(g, full_matrices=False)
        # Singular values at rounding level of the largest carry no direction.
        keep = s > max(g.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0)
        polar: FloatArray = U[:, keep] @ Vt[keep]
        return polar
    raise ValueError(f"norm must be one of {STEEPEST_NORMS}, got {norm!r}")


def newton_schulz(
    M: FloatArray,
    steps: int = NEWTON_SCHULZ_STEPS,
    coeffs: tuple[float, float, float] = NEWTON_SCHULZ_COEFFS,
) -> FloatArray:
    """Muon's approximate orthogonalisation of ``M`` (shape (V, d)) by Newton-Schulz iterations.

    ``X_0 = M / ||M||_F`` (so every singular value is at most 1), then ``steps`` times
    ``X <- a X + b (X X^T) X + c (X X^T)^2 X`` (on the transpose when ``V > d``, so that the
    Gram matrix is the smaller one). Each singular value ``s`` of ``X_0`` maps to
    ``p(p(...p(s)))`` with ``p(s) = a s + b s^3 + c s^5``; singular vectors are kept. Returns 0
    for ``M = 0``.
    """
    size = float(np.linalg.norm(M))
    if size == 0.0:
        return np.zeros_like(M)
    a, b, c = coeffs
    transpose = M.shape[0] > M.shape[1]
    X = (M.T if transpose else M) / size
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * (A @ A)) @ X
    return X.T if transpose else X


def _check_decay(decay: float) -> float:
    if isinstance(decay, bool) or not isinstance(decay, (int, float)):
        raise TypeError(f"decay must be a real number, got {type(decay).__name__}")
    if not (math.isfinite(decay) and 0.0 <= decay <= 1.0):
        raise ValueError(f"decay must lie in [0, 1] (eta_t = lr (t + 1)^-decay), got {decay!r}")
    return float(decay)


def scheduled(optimizer: Optimizer, decay: float) -> Optimizer:
    """``optimizer`` with step ``t = 0, 1, ...`` scaled by ``(t + 1)^{-decay}``.

    For an optimizer whose update is ``-eta * direction`` this is the schedule
    ``eta_t = eta (t + 1)^{-decay}``; ``decay = 0`` returns ``optimizer`` unchanged.
    The name and hyperparameters are kept, with ``decay`` added.
    """
    decay = _check_decay(decay)
    if decay == 0.0:
        return optimizer
    inner_init, inner_update = optimizer.init, optimizer.update

    def init(params: FloatArray) -> ScheduleState:
        return ScheduleState(0, inner_init(params))

    def update(grads: FloatArray, state: ScheduleState, params: FloatArray):  # type: ignore[no-untyped-def]
        updates, inner = inner_update(grads, state.inner, params)
        return updates * (state.step + 1.0) ** -decay, ScheduleState(state.step + 1, inner)

    hyper = dict(optimizer.hyperparams) | {"decay": decay}
    return Optimizer(optimizer.name, init, update, MappingProxyType(hyper))


def nsd(
    norm: str, lr: float, decay: float = DEFAULT_DECAY, *, name: str | None = None
) -> Optimizer:
    """Normalised steepest descent in ``norm``: ``W_{t+1} = W_t - eta_t D(g_t)``.

    ``D`` is :func:`steepest_direction`; ``eta_t = lr (t + 1)^{-decay}``. ``norm="max"`` is
    SignGD, ``"l2"`` normalised GD, ``"spectral"`` spectral descent. One-hot limit (Fan,
    Schmidt and Thrampoulidis 2025, NSD theorem, for ``decay in (0, 1]``): the
    ``norm``-max-margin classifier.

    Parameters
    ----------
    norm : {"max", "l1", "l2", "spectral"}
    lr : float
        ``eta_0 > 0``.
    decay : float
        ``a in [0, 1]``; default 1/2.
    name : str, optional
        Registry name (default ``"nsd-<norm>"``).
    """
    if norm not in STEEPEST_NORMS:
        raise ValueError(f"norm must be one of {STEEPEST_NORMS}, got {norm!r}")
    lr = check_positive("lr", lr)

    def update(grads: FloatArray, state: Any, params: FloatArray):  # type: ignore[no-untyped-def]
        return -lr * steepest_direction(grads, norm), state

    base = Optimizer(name or f"nsd-{norm}", stateless_init, update, MappingProxyType({"lr": lr}))
    return scheduled(base, decay)


def _momentum_method(
    name: str, lr: float, beta: float, decay: float, direction: Callable[[FloatArray], FloatArray]
) -> Optimizer:
    lr = check_positive("lr", lr)
    beta = check_unit_interval("beta", beta)

    def init(params: FloatArray) -> MomentumStepState:
        return MomentumStepState(np.zeros_like(params))

    def update(grads: FloatArray, state: MomentumStepState, params: FloatArray):  # type: ignore[no-untyped-def]
        momentum = beta * state.momentum + (1.0 - beta) * grads
        return -lr * direction(momentum), MomentumStepState(momentum)

    base = Optimizer(name, init, update, MappingProxyType({"lr": lr, "beta": beta}))
    return scheduled(base, decay)


def muon(
    lr: float,
    beta: float = 0.9,
    decay: float = DEFAULT_DECAY,
    *,
    orthogonalize: str = "newton-schulz",
    ns_steps: int = NEWTON_SCHULZ_STEPS,
) -> Optimizer:
    """Muon: ``M_t = beta M_{t-1} + (1 - beta) g_t``, ``W_{t+1} = W_t - eta_t orth(M_t)``.

    ``orth`` is :func:`newton_schulz` (Muon as used in practice; Jordan et al., 2024; no
    Nesterov look-ahead, no shape-dependent rescaling) or, with ``orthogonalize="svd"``, the
    exact polar factor ``U V^T`` (spectral NMD, the method of Fan et al.'s spectral-norm
    momentum theorem). ``eta_t = lr (t + 1)^{-decay}``.
    """
    if orthogonalize == "svd":
        direction: Callable[[FloatArray], FloatArray] = lambda M: steepest_direction(M, "spectral")  # noqa: E731
    elif orthogonalize == "newton-schulz":
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 1:
            raise ValueError(f"ns_steps must be a positive int, got {ns_steps!r}")
        direction = lambda M: newton_schulz(M, ns_steps)  # noqa: E731
    else:
        raise ValueError(f"orthogonalize must be 'newton-schulz' or 'svd', got {orthogonalize!r}")
    return _momentum_method("muon", lr, beta, decay, direction)


def signum(lr: float, beta: float = 0.9, decay: float = DEFAULT_DECAY) -> Optimizer:
    """Signum (Bernstein et al., 2018): ``W_{t+1} = W_t - eta_t sign(M_t)``.

    ``M_t = beta M_{t-1} + (1 - beta) g_t``; max-norm NMD in Fan et al.'s terms.
    ``eta_t = lr (t + 1)^{-decay}``.
    """
    return _momentum_method("signum", lr, beta, decay, np.sign)


def _nsd_factory(norm: str) -> Callable[..., Optimizer]:
    def factory(lr: float, decay: float = DEFAULT_DECAY) -> Optimizer:
        return nsd(norm, lr, decay)

    factory.__name__ = f"nsd_{norm}"
    factory.__doc__ = f"Normalised steepest descent in the {norm} norm; see :func:`nsd`."
    return factory


#: Factories ``name -> factory(lr, **hyper)`` added to :data:`ntpprops.OPTIMIZERS`.
STEEPEST_OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    **{f"nsd-{norm}": _nsd_factory(norm) for norm in STEEPEST_NORMS},
    "muon": muon,
    "signum": signum,
}
