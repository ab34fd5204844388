"""Optimizers as data and the training loop :func:`train`.

An optimizer is a pair of pure functions, as in optax: ``init(params) -> state`` and
``update(grads, state, params) -> (updates, state)``; the loop applies
``params <- params + updates``. States are typed ``NamedTuple``s. :data:`OPTIMIZERS` maps a
name to a factory ``factory(lr, **hyper) -> Optimizer``, so adding one is one small function.

Plain GD requested by name (``method="gd"``) runs in the fused loops of
:mod:`ntpprops._kernels` (logit-space updates, preallocated buffers, numba when installed);
passing an :class:`Optimizer` object runs it step by step exactly as given.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, NamedTuple, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ntpprops._embedding_ops import embedding_operator, logits_of, pull_back, weighted
from ntpprops._errors import SolverError
from ntpprops._instance import NTPInstance, as_weights
from ntpprops._kernels import Backend, FusedGD, resolve_backend
from ntpprops._limits import LimitMetrics, Limits, limit_metrics, limits_for, projection_cost
from ntpprops._loss import excess_terms, safe_step_size, softmax, softmax_residual
from ntpprops._optimizer import (
    EmptyState,
    Optimizer,
    check_positive,
    check_unit_interval,
    stateless_init,
)
from ntpprops._steepest import STEEPEST_OPTIMIZERS, scheduled

__all__ = [
    "EXACT_RESIDUAL_METHODS",
    "METRIC_FLOOR_FLOPS",
    "OPTIMIZERS",
    "PAPER_ADAPTIVE_LR",
    "AdamState",
    "EmptyState",
    "MomentumState",
    "Optimizer",
    "TrainResult",
    "adam",
    "adam_decay",
    "gd",
    "momentum",
    "ngd",
    "record_steps",
    "sign_descent",
    "train",
]

FloatArray = NDArray[np.float64]
_Scalar = TypeVar("_Scalar", bound=np.generic)

#: Methods (by optimizer name) that :func:`train` runs on the cancellation-free
#: ``softmax - P`` (:func:`ntpprops._loss.softmax_residual`): their steps are sign-type or
#: normalised, so once the out-of-support mass falls below machine epsilon the plain
#: residual's in-support entries, rounded to 0, become full-size steps in a wrong direction.
#: The others keep the faster in-place softmax (GD's steps scale with the residual; ``ngd``
#: and ``adam`` stay as the paper's App. A runs and ``verify`` have always run them).
EXACT_RESIDUAL_METHODS = frozenset(
    {"sign", "signum", "nsd-max", "nsd-l1", "nsd-l2", "nsd-spectral"}
)

#: Step size the paper (App. A) uses for normalised GD and Adam; ``train``'s default for them.
PAPER_ADAPTIVE_LR = 0.01

#: Number of log-spaced checkpoints of ``record="log"``.
DEFAULT_RECORD_POINTS = 50


# -- optimizers as data --------------------------------------------------------------------


class MomentumState(NamedTuple):
    """Heavy-ball state: the velocity ``v_k``, shape (V, d)."""

    velocity: FloatArray


class AdamState(NamedTuple):
    """Adam state: step count ``t`` and the first/second moment estimates, shape (V, d)."""

    count: int  # type: ignore[assignment]  # the field shadows tuple.count (public name)
    mu: FloatArray
    nu: FloatArray


def gd(lr: float) -> Optimizer:
    """Gradient descent: ``W_{k+1} = W_k - eta grad CE(W_k)``.

    The method of Lemma 2 and Theorem 2 (docs/theory.md), analysed for ``eta <= 1/(2L)``.
    """
    lr = check_positive("lr", lr)

    def update(
        grads: FloatArray, state: EmptyState, params: FloatArray
    ) -> tuple[FloatArray, EmptyState]:
        return -lr * grads, state

    return Optimizer("gd", stateless_init, update, MappingProxyType({"lr": lr}))


def ngd(lr: float) -> Optimizer:
    """Normalised GD: ``W_{k+1} = W_k - eta g_k / ||g_k||_F`` (no step when ``g_k = 0``).

    As in App. A of the paper; its one-hot analysis is Nacson et al. (AISTATS 2019).
    """
    lr = check_positive("lr", lr)

    def update(
        grads: FloatArray, state: EmptyState, params: FloatArray
    ) -> tuple[FloatArray, EmptyState]:
        norm = float(np.linalg.norm(grads))
        if norm == 0.0:
            return np.zeros_like(grads), state
        return (-lr / norm) * grads, state

    return Optimizer("ngd", stateless_init, update, MappingProxyType({"lr": lr}))


def sign_descent(lr: float) -> Optimizer:
    """Sign descent: ``W_{k+1} = W_k - eta sign(g_k)`` (steepest descent in the max norm).

    Its one-hot limit is the max-norm margin maximiser (Fan, Schmidt and Thrampoulidis, 2025).
    """
    lr = check_positive("lr", lr)

    def update(
        grads: FloatArray, state: EmptyState, params: FloatArray
    ) -> tuple[FloatArray, EmptyState]:
        return -lr * np.sign(grads), state

    return Optimizer("sign", stateless_init, update, MappingProxyType({"lr": lr}))


def momentum(lr: float, beta: float = 0.9) -> Optimizer:
    """Heavy ball (Polyak 1964): ``v_k = beta v_{k-1} + g_k``, ``W_{k+1} = W_k - eta v_k``.

    Equivalently ``W_{k+1} = W_k - eta g_k + beta (W_k - W_{k-1})``; ``v_{-1} = 0``.
    """
    lr = check_positive("lr", lr)
    beta = check_unit_interval("beta", beta)

    def init(params: FloatArray) -> MomentumState:
        return MomentumState(np.zeros_like(params))

    def update(
        grads: FloatArray, state: MomentumState, params: FloatArray
    ) -> tuple[FloatArray, MomentumState]:
        velocity = beta * state.velocity + grads
        return -lr * velocity, MomentumState(velocity)

    return Optimizer("momentum", init, update, MappingProxyType({"lr": lr, "beta": beta}))


def adam(lr: float, b1: float = 0.9, b2: float = 0.99, eps: float = 1e-8) -> Optimizer:
    """Adam (Kingma and Ba, ICLR 2015) with bias correction.

    ``mu_t = b1 mu_{t-1} + (1 - b1) g_t``, ``nu_t = b2 nu_{t-1} + (1 - b2) g_t^2``,
    ``W_t = W_{t-1} - eta (mu_t / (1 - b1^t)) / (sqrt(nu_t / (1 - b2^t)) + eps)``,
    elementwise, ``t = 1, 2, ...``. Defaults ``b1 = 0.9, b2 = 0.99`` as in App. A.
    """
    lr = check_positive("lr", lr)
    b1 = check_unit_interval("b1", b1)
    b2 = check_unit_interval("b2", b2)
    eps = check_positive("eps", eps)

    def init(params: FloatArray) -> AdamState:
        return AdamState(0, np.zeros_like(params), np.zeros_like(params))

    def update(
        grads: FloatArray, state: AdamState, params: FloatArray
    ) -> tuple[FloatArray, AdamState]:
        count = state.count + 1
        mu = b1 * state.mu + (1.0 - b1) * grads
        nu = b2 * state.nu + (1.0 - b2) * (grads * grads)
        mu_hat = mu / (1.0 - b1**count)
        nu_hat = nu / (1.0 - b2**count)
        return -lr * mu_hat / (np.sqrt(nu_hat) + eps), AdamState(count, mu, nu)

    hyper = {"lr": lr, "b1": b1, "b2": b2, "eps": eps}
    return Optimizer("adam", init, update, MappingProxyType(hyper))


def adam_decay(
    lr: float, b1: float = 0.9, b2: float = 0.99, eps: float = 1e-8, decay: float = 0.5
) -> Optimizer:
    """:func:`adam` with ``eta_t = lr (t + 1)^{-decay}`` (a decaying schedule of the kind
    under which Fan, Schmidt and Thrampoulidis (2025) prove Adam's one-hot max-norm bias)."""
    return scheduled(adam(lr, b1, b2, eps), decay)._replace(name="adam-decay")


#: Registry ``name -> factory(lr, **hyper)``; the steepest-descent family (``nsd-*``,
#: ``muon``, ``signum``) is in :mod:`ntpprops._steepest`.
OPTIMIZERS: Mapping[str, Callable[..., Optimizer]] = MappingProxyType(
    {"gd": gd, "ngd": ngd, "adam": adam, "sign": sign_descent, "momentum": momentum}
    | {"adam-decay": adam_decay}
    | STEEPEST_OPTIMIZERS
)


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TrainResult:
    """A training run, with metrics at the recorded steps.

    Attributes
    ----------
    W, W0 : ndarray, shape (V, d)
        Final and initial weights.
    method : str
        Optimizer name.
    lr : float
        Step size used.
    steps : ndarray of int, shape (n,)
        Recorded iteration indices (increasing).
    loss, excess_loss, norm, grad_norm : ndarray, shape (n,)
        ``CE(W_k)``, ``CE(W_k) - H`` (accurate when tiny), ``||W_k||_F``,
        ``||grad CE(W_k)||_F`` at the recorded steps.
    cos_mm, cos_mm_corrected : ndarray, shape (n,), or None
        ``cos(W_k, W^mm)`` and ``cos(W_k - W*, W^mm)`` (``nan`` where the first argument is
        0); ``None`` when ``W^mm`` does not exist or could not be computed, or the limits
        were skipped (``cos_mm_corrected`` also needs ``W*``); see ``metric_notes``.
    dist_f_wstar : ndarray, shape (n,), or None
        ``||P_F W_k - W*||_F``; ``None`` when ``W*`` does not exist, the limits were skipped,
        or the projection onto ``F`` was too costly for the run; ``nan`` at the recorded
        steps where it was thinned out for cost (see ``metric_notes``).
    w_star, w_mm : ndarray, shape (V, d), or None
        The limits used.
    limits : Limits or None
        The :class:`~ntpprops.Limits` measured against (``None`` for ``limits=False``);
        reuse it for another run on the same instance.
    metric_notes : Mapping[str, str]
        For each of ``"cos_mm"``, ``"cos_mm_corrected"``, ``"dist_f_wstar"`` that is ``None``
        or partly ``nan`` by design, why (e.g. ``W^mm`` does not exist, the solver failed,
        the projection was thinned for cost). Empty when every metric was computed.
    """

    W: FloatArray
    W0: FloatArray
    method: str
    lr: float
    steps: NDArray[np.int64]
    loss: FloatArray
    excess_loss: FloatArray
    norm: FloatArray
    grad_norm: FloatArray
    cos_mm: FloatArray | None = field(default=None, repr=False)
    cos_mm_corrected: FloatArray | None = field(default=None, repr=False)
    dist_f_wstar: FloatArray | None = field(default=None, repr=False)
    w_star: FloatArray | None = field(default=None, repr=False)
    w_mm: FloatArray | None = field(default=None, repr=False)
    limits: Limits | None = field(default=None, repr=False)
    metric_notes: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )


# -- argument handling ---------------------------------------------------------------------


def record_steps(
    steps: int, record: int | str | Sequence[int] | ArrayLike = "log"
) -> NDArray[np.int64]:
    """The iteration indices at which :func:`train` records metrics.

    Parameters
    ----------
    steps : int
        Number of steps of the run.
    record : "log", int or sequence of int
        ``"log"``: about 50 log-spaced indices; an int ``n >= 2``: about ``n`` log-spaced
        indices (both always include 0 and ``steps``; fewer when ``steps`` is small); a
        sequence: exactly those indices, strictly increasing, within ``[0, steps]``.

    Returns
    -------
    ndarray of int64
    """
    if isinstance(record, str):
        if record != "log":
            raise ValueError(f"record must be 'log', an int or a sequence of steps, got {record!r}")
        return _log_steps(steps, DEFAULT_RECORD_POINTS)
    if isinstance(record, numbers.Integral) and not isinstance(record, bool):
        if record < 2:
            raise ValueError(f"record as a count must be >= 2 (0 and the last step), got {record}")
        return _log_steps(steps, int(record))
    if isinstance(record, bool):
        raise TypeError("record must be 'log', an int or a sequence of steps, got a bool")
    try:
        chosen = np.asarray(record)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"record must be 'log', an int or a sequence of steps: {exc}") from exc
    if chosen.ndim != 1 or chosen.size == 0 or not np.issubdtype(chosen.dtype, np.integer):
        raise TypeError(
            "record as a sequence must be a non-empty 1-d sequence of ints, "
            f"got dtype {chosen.dtype} and shape {chosen.shape}"
        )
    chosen = chosen.astype(np.int64)
    if np.any(np.diff(chosen) <= 0):
        raise ValueError(f"recorded steps must be strictly increasing, got {chosen.tolist()}")
    if chosen[0] < 0 or chosen[-1] > steps:
        raise ValueError(f"recorded steps must lie in [0, steps={steps}], got {chosen.tolist()}")
    return chosen


def _log_steps(steps: int, points: int) -> NDArray[np.int64]:
    if steps == 0:
        return np.zeros(1, dtype=np.int64)
    if points == 2:
        return np.array([0, steps], dtype=np.int64)
    spaced = np.rint(np.geomspace(1, steps, points - 1)).astype(np.int64)
    return np.unique(np.concatenate([[0], spaced, [steps]]))


def _resolve_optimizer(
    inst: NTPInstance, method: str | Optimizer, lr: float | None
) -> tuple[Optimizer, bool]:
    """The optimizer to run and whether it is plain GD by name (the fused fast path)."""
    if isinstance(method, Optimizer):
        if lr is not None:
            raise ValueError(
                f"lr={lr!r} was given with an Optimizer object ({method.name!r}), whose step size "
                "is already set: build it with the step you want instead"
            )
        return method, False
    if not isinstance(method, str):
        raise TypeError(
            f"method must be an optimizer name or an Optimizer, got {type(method).__name__}"
        )
    if method not in OPTIMIZERS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(OPTIMIZERS)}")
    if lr is None:
        lr = safe_step_size(inst) if method in ("gd", "momentum") else PAPER_ADAPTIVE_LR
    return OPTIMIZERS[method](lr), method == "gd"


def _initial_weights(
    inst: NTPInstance, init: str | ArrayLike | None, seed: int | np.random.Generator | None
) -> FloatArray:
    if init is None or (isinstance(init, str) and init == "zeros"):
        return np.zeros(inst.weight_shape)
    if isinstance(init, str):
        if init != "lecun":
            raise ValueError(f"init must be None, 'zeros', 'lecun' or an array, got {init!r}")
        if seed is not None and not (
            isinstance(seed, np.random.Generator)
            or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool))
        ):
            raise TypeError(f"seed must be None, an int or a Generator, got {seed!r}")
        rng = np.random.default_rng(seed)
        # LeCun normal: N(0, 1 / fan_in) with fan_in = d, the input size of the decoder.
        return rng.normal(0.0, 1.0 / math.sqrt(inst.dim), size=inst.weight_shape)
    return np.array(as_weights(inst, init, "init"), dtype=np.float64)


def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    return int(steps)


# -- metrics ---------------------------------------------------------------------------------


class _Row(NamedTuple):
    """The metrics of :class:`TrainResult` at one recorded step (``nan`` where undefined)."""

    loss: float
    excess_loss: float
    norm: float
    grad_norm: float
    cos_mm: float
    cos_mm_corrected: float
    dist_f_wstar: float


#: Per-checkpoint work below this many flops is never thinned: at such sizes the Python
#: overhead of a checkpoint (tens of microseconds) and of a step are of the same order.
METRIC_FLOOR_FLOPS = 1e8

_NO_LIMITS = "limits=False: no limits were computed"


def _step_flops(inst: NTPInstance, fused: bool) -> float:
    """Estimated flops of one training step (the matrix products; from the sizes)."""
    m, V, d = inst.m, inst.vocab_size, inst.dim
    weight_mode = 4.0 * m * d * V  # H W^T and the gradient
    # Fused GD picks logit mode (one m x m by m x V product) when m <= d (FusedGD "auto").
    return 2.0 * m * m * V if fused and m <= d else weight_mode


def _dist_schedule(
    inst: NTPInstance, checkpoints: NDArray[np.int64], steps: int, step_flops: float
) -> tuple[NDArray[np.bool_], str | None]:
    """Where ``||P_F W_k - W*||`` is computed, and a note when that is not everywhere.

    The projection's one-time setup (:func:`projection_cost`) must cost at most the whole run,
    else the metric is skipped; each later projection must be paid for by the steps since the
    previous one (projections and steps then cost about the same in all), else it is thinned,
    going back from the last checkpoint, which is always kept. Costs below
    :data:`METRIC_FLOOR_FLOPS` are never held against the metric.
    """
    cost = projection_cost(inst)
    run_flops = steps * step_flops
    everywhere = np.ones(checkpoints.size, dtype=bool)
    if cost.setup_flops > max(run_flops, METRIC_FLOOR_FLOPS):
        note = (
            f"skipped: projecting onto F first needs a Gram factorisation over n_F = "
            f"{cost.n_generators} generators (~{cost.setup_flops:.2g} flop), more than the "
            f"whole run (~{run_flops:.2g} flop); factorise it once beforehand "
            "(ntpprops.f_dimension(inst), or let Limits compute W*) to get this metric"
        )
        return np.zeros(checkpoints.size, dtype=bool), note
    if cost.call_flops <= METRIC_FLOOR_FLOPS:
        return everywhere, None
    chosen = np.zeros(checkpoints.size, dtype=bool)
    last = None
    for i in range(checkpoints.size - 1, -1, -1):
        if last is None or (last - int(checkpoints[i])) * step_flops >= cost.call_flops:
            chosen[i] = True
            last = int(checkpoints[i])
    if chosen.all():
        return everywhere, None
    note = (
        f"thinned: computed at {int(chosen.sum())} of {chosen.size} recorded steps (nan "
        f"elsewhere): one projection onto F (~{cost.call_flops:.2g} flop) costs as much as "
        f"{cost.call_flops / step_flops:.3g} training steps (~{step_flops:.2g} flop each)"
    )
    return chosen, note


class _Recorder:
    """Collects the metrics of :class:`TrainResult` at the recorded steps, as named rows."""

    def __init__(self, inst: NTPInstance, limits: Limits | None, dist_at: NDArray[np.bool_]):
        self.inst, self.limits, self.dist_at = inst, limits, dist_at
        self.H = embedding_operator(inst)
        self.weighted_H = weighted(self.H, inst.context_weights)
        self.rows: list[_Row] = []

    def record(
        self, W: FloatArray, grad: FloatArray | None = None, scores: FloatArray | None = None
    ) -> None:
        inst = self.inst
        with np.errstate(over="ignore", invalid="ignore"):
            if scores is None:
                scores = logits_of(self.H, W)
            finite = np.all(np.isfinite(W)) and np.all(np.isfinite(scores))
        if not finite:
            raise SolverError(
                f"weights or logits overflowed by checkpoint {len(self.rows)} "
                f"(max |W| = {np.max(np.abs(W)):.3g}): use a smaller lr or init "
                "(the proven-safe GD step is ntpprops.safe_step_size(inst))"
            )
        kl_support, log_out, log_q_support = excess_terms(inst, scores)
        # CE = -sum_{z in S_j} p_jz log q_jz with log q_jz = log q_{jz|S} - log_out_j.
        in_support = np.where(inst.supports, inst.probs * log_q_support, 0.0).sum(axis=1)
        loss = float(inst.context_weights @ (log_out - in_support))
        excess = float(inst.context_weights @ (kl_support + log_out))
        if grad is None:
            residual = softmax(scores)
            residual -= inst.probs
            grad = pull_back(self.weighted_H, residual)
        if self.limits is None:
            nan = math.nan
            against = LimitMetrics(nan, nan, nan)
        else:
            with_dist = bool(self.dist_at[len(self.rows)])
            against = limit_metrics(self.limits, W, scores=scores, with_dist=with_dist)
        self.rows.append(
            _Row(
                loss=loss,
                excess_loss=excess,
                norm=float(np.linalg.norm(W)),
                grad_norm=float(np.linalg.norm(grad)),
                **against._asdict(),
            )
        )

    def columns(self) -> dict[str, FloatArray]:
        """``{field of _Row: read-only array over the recorded steps}``."""
        return {
            name: _frozen(np.array([getattr(row, name) for row in self.rows], dtype=np.float64))
            for name in _Row._fields
        }


def _frozen(array: NDArray[_Scalar]) -> NDArray[_Scalar]:
    array.setflags(write=False)
    return array


def _resolve_limits(inst: NTPInstance, limits: Limits | Literal[False] | None) -> Limits | None:
    """The :class:`Limits` to measure against, or ``None`` for ``limits=False``."""
    if limits is None:
        return Limits.of(inst)
    if limits is False:
        return None
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be None, False or a Limits, got {limits!r}")
    return limits_for(inst, limits)


def _limit_notes(limits: Limits | None, dist_note: str | None) -> Mapping[str, str]:
    """Why each limit metric is ``None`` or partly ``nan``, by column name."""
    if limits is None:
        return MappingProxyType(dict.fromkeys(LimitMetrics._fields, _NO_LIMITS))
    notes: dict[str, str] = {}
    star_reason, mm_reason = limits.w_star_reason, limits.w_mm_reason
    if mm_reason is not None:
        notes["cos_mm"] = mm_reason
    if mm_reason is not None or star_reason is not None:
        notes["cos_mm_corrected"] = "; ".join(r for r in (mm_reason, star_reason) if r)
    if star_reason is not None:
        notes["dist_f_wstar"] = star_reason
    elif dist_note is not None:
        notes["dist_f_wstar"] = dist_note
    return MappingProxyType(notes)


# -- the loop --------------------------------------------------------------------------------


def train(
    inst: NTPInstance,
    method: str | Optimizer = "gd",
    steps: int = 1000,
    lr: float | None = None,
    init: str | ArrayLike | None = None,
    seed: int | np.random.Generator | None = None,
    record: int | str | Sequence[int] = "log",
    *,
    backend: Backend = "auto",
    limits: Limits | Literal[False] | None = None,
) -> TrainResult:
    """Train the linear decoder ``W`` on ``CE`` and record the implicit-bias metrics.

    Parameters
    ----------
    inst : NTPInstance
    method : str or Optimizer
        A name in :data:`OPTIMIZERS` (``"gd"``, ``"ngd"``, ``"adam"``, ``"sign"``,
        ``"momentum"``) or an :class:`Optimizer` (then ``lr`` must be ``None``).
    steps : int
        Number of optimizer steps (``>= 0``).
    lr : float, optional
        Step size. Default: for ``"gd"`` and ``"momentum"`` the proven-safe
        ``safe_step_size(inst) = 1/(2L)`` (Lemma 2; for heavy ball it is merely a
        conservative choice); for ``"ngd"``, ``"adam"``, ``"sign"`` the paper's 0.01 (App. A).
    init : None, "zeros", "lecun" or array_like, shape (V, d)
        Initial weights: zeros (default), LeCun normal (entries ``N(0, 1/d)``, drawn from
        ``np.random.default_rng(seed)``), or the given array.
    seed : int or numpy.random.Generator, optional
        Seed of the ``"lecun"`` draw (other inits are deterministic and ignore it).
    record : "log", int or sequence of int
        Where metrics are recorded; see :func:`record_steps`.
    backend : {"auto", "numpy", "numba"}
        Loop implementation of fused GD (``method="gd"`` only); numba is optional.
    limits : Limits, False or None
        What ``cos_mm``, ``cos_mm_corrected`` and ``dist_f_wstar`` are measured against.
        ``None`` (default): ``Limits.of(inst)``, which solves ``W*`` and ``W^mm`` before the
        first step (on a large instance that can take longer than the run). A
        :class:`~ntpprops.Limits` of this instance: used as is (limits it already holds are
        not solved again; pass ``Limits.of(inst, w_mm=...)`` to supply known limits, or
        ``result.limits`` of an earlier run). ``False``: no limits, no solver; those three
        metrics are ``None``. In every case training runs: a limit that does not exist or
        whose solver fails leaves its metrics ``None``, and ``metric_notes`` says why.

    Returns
    -------
    TrainResult

    Raises
    ------
    TypeError, ValueError
        On arguments of the wrong type or value (the message names the argument), including
        ``limits`` of another instance.
    InvalidInstanceError
        If ``init`` is an array of the wrong shape or with non-finite entries.
    SolverError
        If the iterates overflow (step size far too large); never because of the limits.

    Notes
    -----
    Methods in :data:`EXACT_RESIDUAL_METHODS` (``"sign"``, ``"signum"``, ``"nsd-*"``) compute
    ``softmax - P`` without cancellation (:func:`ntpprops._loss.softmax_residual`), so that
    their direction stays right after the out-of-support mass falls below machine epsilon.

    ``dist_f_wstar`` projects onto ``F`` (:func:`~ntpprops.project_f`), whose one-time
    factorisation costs ``O(n_F^3)`` for ``n_F = sum_j (S_j - 1)``. Estimated from the sizes,
    it is skipped when that setup would cost more than the whole run, and thinned when one
    projection costs more than the steps between recorded steps; ``metric_notes`` says so.
    """
    if not isinstance(inst, NTPInstance):
        raise TypeError(f"inst must be an NTPInstance, got {type(inst).__name__}")
    steps = _check_steps(steps)
    resolve_backend(backend, steps)  # validate even when the fused loop is not used
    optimizer, fused = _resolve_optimizer(inst, method, lr)
    checkpoints = record_steps(steps, record)
    W0 = _initial_weights(inst, init, seed)
    chosen = _resolve_limits(inst, limits)
    w_star = w_mm = None
    dist_at = np.zeros(checkpoints.size, dtype=bool)
    dist_note = None
    if chosen is not None:
        w_star, w_mm = chosen.w_star, chosen.w_mm  # solved here, once, if not given
        if w_star is not None:
            dist_at, dist_note = _dist_schedule(inst, checkpoints, steps, _step_flops(inst, fused))
    recorder = _Recorder(inst, chosen, dist_at)
    # Overflow can only come from absurd steps (the gradient is bounded); it is reported as a
    # SolverError at the next checkpoint rather than as a floating-point warning.
    with np.errstate(over="ignore", invalid="ignore"):
        if fused:
            lr_used = optimizer.hyperparams["lr"]
            W = run_fused_gd(inst, lr_used, W0, steps, checkpoints, recorder.record, backend)
        else:
            exact = softmax_residual if optimizer.name in EXACT_RESIDUAL_METHODS else None
            W = run_optimizer(inst, optimizer, W0, steps, checkpoints, recorder.record, exact)
    col = recorder.columns()
    return TrainResult(
        W=_frozen(W),
        W0=_frozen(W0),
        method=optimizer.name,
        lr=float(optimizer.hyperparams.get("lr", math.nan)),
        steps=_frozen(checkpoints.copy()),
        loss=col["loss"],
        excess_loss=col["excess_loss"],
        norm=col["norm"],
        grad_norm=col["grad_norm"],
        cos_mm=None if w_mm is None else col["cos_mm"],
        cos_mm_corrected=None if (w_mm is None or w_star is None) else col["cos_mm_corrected"],
        dist_f_wstar=col["dist_f_wstar"] if np.any(dist_at) else None,
        w_star=w_star,
        w_mm=w_mm,
        limits=chosen,
        metric_notes=_limit_notes(chosen, dist_note),
    )


#: Called at every recorded step with ``W_k`` and, when already at hand, ``grad CE(W_k)`` and
#: the logits ``H W_k^T`` (a buffer the loop reuses: read it, do not keep it).
CheckpointCallback = Callable[[FloatArray, "FloatArray | None", "FloatArray | None"], None]


def run_fused_gd(
    inst: NTPInstance,
    lr: float,
    W0: FloatArray,
    steps: int,
    checkpoints: NDArray[np.int64],
    on_checkpoint: CheckpointCallback,
    backend: Backend = "auto",
) -> FloatArray:
    """Run ``steps`` GD steps in the fused loop, calling ``on_checkpoint`` at ``checkpoints``.

    Returns the final weights, shape (V, d).
    """
    loop = FusedGD(
        embedding_operator(inst),
        inst.probs,
        inst.context_weights,
        lr,
        W0,
        backend=backend,
        expected_steps=steps,
    )
    for k in checkpoints:
        loop.advance(int(k) - loop.steps_done)
        # In logit mode the loop's logits are exactly H W_k^T here (resynchronised).
        on_checkpoint(loop.weights(), None, loop.Z if loop.mode == "logit" else None)
    loop.advance(steps - loop.steps_done)
    return loop.weights()


def run_optimizer(
    inst: NTPInstance,
    optimizer: Optimizer,
    W0: FloatArray,
    steps: int,
    checkpoints: NDArray[np.int64],
    on_checkpoint: CheckpointCallback,
    residual: Callable[[NTPInstance, FloatArray], FloatArray] | None = None,
) -> FloatArray:
    """Run ``optimizer`` step by step, calling ``on_checkpoint`` at ``checkpoints``.

    ``residual(inst, logits)``, if given, computes ``softmax - P`` in place of the fused
    in-place softmax (e.g. :func:`ntpprops._loss.softmax_residual`, exact in the saturated
    regime that sign-type methods reach). Returns the final weights, shape (V, d).
    """
    H, P = embedding_operator(inst), inst.probs
    weighted_H = weighted(H, inst.context_weights)  # diag(pi) H, folded once
    Z = np.empty((inst.m, inst.vocab_size))
    row = np.empty((inst.m, 1))
    W = W0.copy()
    state = optimizer.init(W)
    wanted = set(checkpoints.tolist())
    for k in range(steps + 1):
        logits_of(H, W, out=Z)
        if residual is not None:
            Z[...] = residual(inst, Z)
        else:
            np.max(Z, axis=1, keepdims=True, out=row)
            Z -= row
            np.exp(Z, out=Z)
            np.sum(Z, axis=1, keepdims=True, out=row)
            Z /= row
            Z -= P
        grad = pull_back(weighted_H, Z)  # a fresh array: optimizers may keep it in their state
        if k in wanted:
            on_checkpoint(W, grad, None)
        if k == steps:
            break
        updates, state = optimizer.update(grad, state, W)
        W = W + updates
    return W
