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
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ntpprops._compat import is_compatible
from ntpprops._errors import NotSeparableError, SolverError
from ntpprops._instance import NTPInstance, as_weights
from ntpprops._kernels import FusedGD, resolve_backend
from ntpprops._loss import ce_grad, ce_loss, excess_loss, safe_step_size
from ntpprops._subspace import project_f

__all__ = [
    "OPTIMIZERS",
    "PAPER_ADAPTIVE_LR",
    "AdamState",
    "EmptyState",
    "MomentumState",
    "Optimizer",
    "TrainResult",
    "adam",
    "gd",
    "momentum",
    "ngd",
    "record_steps",
    "sign_descent",
    "train",
]

FloatArray = NDArray[np.float64]

#: Step size the paper (App. A) uses for normalised GD and Adam; ``train``'s default for them.
PAPER_ADAPTIVE_LR = 0.01

#: Number of log-spaced checkpoints of ``record="log"``.
DEFAULT_RECORD_POINTS = 50


# -- optimizers as data --------------------------------------------------------------------


class EmptyState(NamedTuple):
    """State of a stateless optimizer."""


class MomentumState(NamedTuple):
    """Heavy-ball state: the velocity ``v_k``, shape (V, d)."""

    velocity: FloatArray


class AdamState(NamedTuple):
    """Adam state: step count ``t`` and the first/second moment estimates, shape (V, d)."""

    count: int
    mu: FloatArray
    nu: FloatArray


class Optimizer(NamedTuple):
    """An optimizer as data: ``init(params) -> state``, ``update(grads, state, params)``.

    ``update`` returns ``(updates, new_state)``; the caller applies
    ``params <- params + updates``. ``hyperparams`` records the settings (including ``lr``).
    """

    name: str
    init: Callable[[FloatArray], Any]
    update: Callable[[FloatArray, Any, FloatArray], tuple[FloatArray, Any]]
    hyperparams: Mapping[str, float] = MappingProxyType({})


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return float(value)


def _check_unit_interval(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return float(value)


def _stateless_init(params: FloatArray) -> EmptyState:
    return EmptyState()


def gd(lr: float) -> Optimizer:
    """Gradient descent: ``W_{k+1} = W_k - eta grad CE(W_k)``.

    The method of Lemma 2 and Theorem 2 (THEORY.md), analysed for ``eta <= 1/(2L)``.
    """
    lr = _check_positive("lr", lr)

    def update(grads: FloatArray, state: EmptyState, params: FloatArray):  # type: ignore[no-untyped-def]
        return -lr * grads, state

    return Optimizer("gd", _stateless_init, update, MappingProxyType({"lr": lr}))


def ngd(lr: float) -> Optimizer:
    """Normalised GD: ``W_{k+1} = W_k - eta g_k / ||g_k||_F`` (no step when ``g_k = 0``).

    As in App. A of the paper; its one-hot analysis is Nacson et al. (AISTATS 2019).
    """
    lr = _check_positive("lr", lr)

    def update(grads: FloatArray, state: EmptyState, params: FloatArray):  # type: ignore[no-untyped-def]
        norm = float(np.linalg.norm(grads))
        if norm == 0.0:
            return np.zeros_like(grads), state
        return (-lr / norm) * grads, state

    return Optimizer("ngd", _stateless_init, update, MappingProxyType({"lr": lr}))


def sign_descent(lr: float) -> Optimizer:
    """Sign descent: ``W_{k+1} = W_k - eta sign(g_k)`` (steepest descent in the max norm).

    Its one-hot limit is the max-norm margin maximiser (Fan, Schmidt and Thrampoulidis, 2025).
    """
    lr = _check_positive("lr", lr)

    def update(grads: FloatArray, state: EmptyState, params: FloatArray):  # type: ignore[no-untyped-def]
        return -lr * np.sign(grads), state

    return Optimizer("sign", _stateless_init, update, MappingProxyType({"lr": lr}))


def momentum(lr: float, beta: float = 0.9) -> Optimizer:
    """Heavy ball (Polyak 1964): ``v_k = beta v_{k-1} + g_k``, ``W_{k+1} = W_k - eta v_k``.

    Equivalently ``W_{k+1} = W_k - eta g_k + beta (W_k - W_{k-1})``; ``v_{-1} = 0``.
    """
    lr = _check_positive("lr", lr)
    beta = _check_unit_interval("beta", beta)

    def init(params: FloatArray) -> MomentumState:
        return MomentumState(np.zeros_like(params))

    def update(grads: FloatArray, state: MomentumState, params: FloatArray):  # type: ignore[no-untyped-def]
        velocity = beta * state.velocity + grads
        return -lr * velocity, MomentumState(velocity)

    return Optimizer("momentum", init, update, MappingProxyType({"lr": lr, "beta": beta}))


def adam(lr: float, b1: float = 0.9, b2: float = 0.99, eps: float = 1e-8) -> Optimizer:
    """Adam (Kingma and Ba, ICLR 2015) with bias correction.

    ``mu_t = b1 mu_{t-1} + (1 - b1) g_t``, ``nu_t = b2 nu_{t-1} + (1 - b2) g_t^2``,
    ``W_t = W_{t-1} - eta (mu_t / (1 - b1^t)) / (sqrt(nu_t / (1 - b2^t)) + eps)``,
    elementwise, ``t = 1, 2, ...``. Defaults ``b1 = 0.9, b2 = 0.99`` as in App. A.
    """
    lr = _check_positive("lr", lr)
    b1 = _check_unit_interval("b1", b1)
    b2 = _check_unit_interval("b2", b2)
    eps = _check_positive("eps", eps)

    def init(params: FloatArray) -> AdamState:
        return AdamState(0, np.zeros_like(params), np.zeros_like(params))

    def update(grads: FloatArray, state: AdamState, params: FloatArray):  # type: ignore[no-untyped-def]
        count = state.count + 1
        mu = b1 * state.mu + (1.0 - b1) * grads
        nu = b2 * state.nu + (1.0 - b2) * (grads * grads)
        mu_hat = mu / (1.0 - b1**count)
        nu_hat = nu / (1.0 - b2**count)
        return -lr * mu_hat / (np.sqrt(nu_hat) + eps), AdamState(count, mu, nu)

    hyper = {"lr": lr, "b1": b1, "b2": b2, "eps": eps}
    return Optimizer("adam", init, update, MappingProxyType(hyper))


#: Registry ``name -> factory(lr, **hyper)``.
OPTIMIZERS: Mapping[str, Callable[..., Optimizer]] = MappingProxyType(
    {"gd": gd, "ngd": ngd, "adam": adam, "sign": sign_descent, "momentum": momentum}
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
        0); ``None`` when ``W^mm`` does not exist (``cos_mm_corrected`` also needs ``W*``).
    dist_f_wstar : ndarray, shape (n,), or None
        ``||P_F W_k - W*||_F``; ``None`` when ``W*`` does not exist.
    w_star, w_mm : ndarray, shape (V, d), or None
        The limits used.
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


# -- limits and metrics --------------------------------------------------------------------


def limits(inst: NTPInstance) -> tuple[FloatArray | None, FloatArray | None]:
    """``(W*, W^mm)`` when they exist, else ``None`` for the missing one.

    ``W^mm`` comes from :func:`ntpprops.ntp_svm` (imported lazily); a non-separable instance,
    or a zero solution (every support full: nothing to separate), gives ``None``.
    """
    compat = is_compatible(inst)
    w_star = compat.w_star if compat.compatible else None
    from ntpprops._svm import ntp_svm

    try:
        w_mm = np.asarray(ntp_svm(inst), dtype=np.float64)
    except (NotSeparableError, NotImplementedError):
        w_mm = None
    if w_mm is not None and not np.any(w_mm):
        w_mm = None
    return w_star, w_mm


def cosine(a: FloatArray, b: FloatArray) -> float:
    """Frobenius cosine ``<a, b> / (||a|| ||b||)``; ``nan`` if either is zero."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return math.nan
    return float(np.vdot(a, b)) / (na * nb)


class _Recorder:
    """Collects the metrics of :class:`TrainResult` at the recorded steps."""

    def __init__(self, inst: NTPInstance, w_star: FloatArray | None, w_mm: FloatArray | None):
        self.inst, self.w_star, self.w_mm = inst, w_star, w_mm
        self.rows: list[tuple[float, ...]] = []

    def record(self, W: FloatArray, grad: FloatArray | None = None) -> None:
        inst = self.inst
        with np.errstate(over="ignore", invalid="ignore"):
            finite = np.all(np.isfinite(W)) and np.all(np.isfinite(inst.embeddings @ W.T))
        if not finite:
            raise SolverError(
                f"weights or logits overflowed by checkpoint {len(self.rows)} "
                f"(max |W| = {np.max(np.abs(W)):.3g}): use a smaller lr or init "
                "(the proven-safe GD step is ntpprops.safe_step_size(inst))"
            )
        if grad is None:
            grad = ce_grad(inst, W)
        nan = math.nan
        cos_mm = cos_corr = dist = nan
        if self.w_mm is not None:
            cos_mm = cosine(W, self.w_mm)
            if self.w_star is not None:
                cos_corr = cosine(W - self.w_star, self.w_mm)
        if self.w_star is not None:
            dist = float(np.linalg.norm(project_f(inst, W) - self.w_star))
        self.rows.append(
            (
                ce_loss(inst, W),
                excess_loss(inst, W),
                float(np.linalg.norm(W)),
                float(np.linalg.norm(grad)),
                cos_mm,
                cos_corr,
                dist,
            )
        )

    def columns(self) -> list[FloatArray]:
        table = np.array(self.rows, dtype=np.float64).reshape(len(self.rows), 7)
        return [_frozen(table[:, i].copy()) for i in range(7)]


def _frozen(array: FloatArray) -> FloatArray:
    array.setflags(write=False)
    return array


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
    backend: str = "auto",
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

    Returns
    -------
    TrainResult

    Raises
    ------
    TypeError, ValueError
        On arguments of the wrong type or value (the message names the argument).
    InvalidInstanceError
        If ``init`` is an array of the wrong shape or with non-finite entries.
    SolverError
        If the iterates overflow (step size far too large).
    """
    if not isinstance(inst, NTPInstance):
        raise TypeError(f"inst must be an NTPInstance, got {type(inst).__name__}")
    steps = _check_steps(steps)
    resolve_backend(backend, steps)  # validate even when the fused loop is not used
    optimizer, fused = _resolve_optimizer(inst, method, lr)
    checkpoints = record_steps(steps, record)
    W0 = _initial_weights(inst, init, seed)
    w_star, w_mm = limits(inst)
    recorder = _Recorder(inst, w_star, w_mm)
    # Overflow can only come from absurd steps (the gradient is bounded); it is reported as a
    # SolverError at the next checkpoint rather than as a floating-point warning.
    with np.errstate(over="ignore", invalid="ignore"):
        if fused:
            lr_used = optimizer.hyperparams["lr"]
            W = run_fused_gd(inst, lr_used, W0, steps, checkpoints, recorder.record, backend)
        else:
            W = run_optimizer(inst, optimizer, W0, steps, checkpoints, recorder.record)
    loss, excess, norm, grad_norm, cos_mm, cos_corr, dist = recorder.columns()
    return TrainResult(
        W=_frozen(W),
        W0=_frozen(W0),
        method=optimizer.name,
        lr=float(optimizer.hyperparams.get("lr", math.nan)),
        steps=_frozen(checkpoints.copy()),
        loss=loss,
        excess_loss=excess,
        norm=norm,
        grad_norm=grad_norm,
        cos_mm=None if w_mm is None else cos_mm,
        cos_mm_corrected=None if (w_mm is None or w_star is None) else cos_corr,
        dist_f_wstar=None if w_star is None else dist,
        w_star=None if w_star is None else _frozen(w_star.copy()),
        w_mm=None if w_mm is None else _frozen(w_mm.copy()),
    )


#: Called at every recorded step with ``W_k`` and, when already at hand, ``grad CE(W_k)``.
CheckpointCallback = Callable[[FloatArray, "FloatArray | None"], None]


def run_fused_gd(
    inst: NTPInstance,
    lr: float,
    W0: FloatArray,
    steps: int,
    checkpoints: NDArray[np.int64],
    on_checkpoint: CheckpointCallback,
    backend: str = "auto",
) -> FloatArray:
    """Run ``steps`` GD steps in the fused loop, calling ``on_checkpoint`` at ``checkpoints``.

    Returns the final weights, shape (V, d).
    """
    loop = FusedGD(
        inst.embeddings,
        inst.probs,
        inst.context_weights,
        lr,
        W0,
        backend=backend,  # type: ignore[arg-type]
        expected_steps=steps,
    )
    for k in checkpoints:
        loop.advance(int(k) - loop.steps_done)
        on_checkpoint(loop.weights(), None)
    loop.advance(steps - loop.steps_done)
    return loop.weights()


def run_optimizer(
    inst: NTPInstance,
    optimizer: Optimizer,
    W0: FloatArray,
    steps: int,
    checkpoints: NDArray[np.int64],
    on_checkpoint: CheckpointCallback,
) -> FloatArray:
    """Run ``optimizer`` step by step, calling ``on_checkpoint`` at ``checkpoints``.

    Returns the final weights, shape (V, d).
    """
    H, P = inst.embeddings, inst.probs
    weighted_H = inst.context_weights[:, None] * H  # diag(pi) H, folded once
    Z = np.empty((inst.m, inst.vocab_size))
    row = np.empty((inst.m, 1))
    W = W0.copy()
    state = optimizer.init(W)
    wanted = set(checkpoints.tolist())
    for k in range(steps + 1):
        np.matmul(H, W.T, out=Z)
        np.max(Z, axis=1, keepdims=True, out=row)
        Z -= row
        np.exp(Z, out=Z)
        np.sum(Z, axis=1, keepdims=True, out=row)
        Z /= row
        Z -= P
        grad = Z.T @ weighted_H  # a fresh array: optimizers may keep it in their state
        if k in wanted:
            on_checkpoint(W, grad)
        if k == steps:
            break
        updates, state = optimizer.update(grad, state, W)
        W = W + updates
    return W
