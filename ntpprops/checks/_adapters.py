"""Adapters: build an :class:`Implementation` from NumPy, PyTorch or JAX code.

Frameworks are imported lazily, inside the adapter that needs them: ``import ntpprops.checks``
imports neither torch nor JAX.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ntpprops.checks._implementation import (
    FLOAT64_EPS,
    GradFn,
    Implementation,
    LossFn,
    TrainFn,
)

__all__ = ["from_jax", "from_numpy", "from_torch"]


def from_numpy(
    name: str,
    *,
    loss: LossFn | None = None,
    grad: GradFn | None = None,
    train: TrainFn | None = None,
) -> Implementation:
    """An :class:`Implementation` from NumPy functions, with outputs coerced to float64.

    Parameters
    ----------
    name : str
    loss, grad, train : callable, optional
        As in :class:`Implementation`; they may return any array-like (a float32 array, a
        0-d array, a list), converted with ``np.asarray(..., float64)``.

    Returns
    -------
    Implementation
    """

    def wrap_loss(H: Any, P: Any, pi: Any, W: Any) -> float:
        assert loss is not None
        return float(np.asarray(loss(H, P, pi, W), dtype=np.float64))

    def wrap_grad(H: Any, P: Any, pi: Any, W: Any) -> Any:
        assert grad is not None
        return np.asarray(grad(H, P, pi, W), dtype=np.float64)

    def wrap_train(H: Any, P: Any, pi: Any, W0: Any, lr: float, steps: int) -> Any:
        assert train is not None
        return np.asarray(train(H, P, pi, W0, lr, steps), dtype=np.float64)

    return Implementation(
        name,
        loss=None if loss is None else wrap_loss,
        grad=None if grad is None else wrap_grad,
        train=None if train is None else wrap_train,
    )


def from_torch(
    name: str,
    loss_fn: Callable[[Any, Any, Any], Any],
    *,
    make_decoder: Callable[[int, int], Any] | None = None,
    optimizer: Callable[[Any, float], Any] | None = None,
    dtype: Any = None,
) -> Implementation:
    """An :class:`Implementation` from a PyTorch decoder, loss and optimizer.

    Parameters
    ----------
    name : str
    loss_fn : callable
        ``loss_fn(logits, P, pi) -> scalar tensor`` with ``logits`` (m, V) the decoder's
        output on ``H``, ``P`` (m, V) and ``pi`` (m,) tensors.
    make_decoder : callable, optional
        ``make_decoder(d, V) -> torch.nn.Module`` mapping (m, d) to (m, V) logits through a
        ``weight`` parameter of shape (V, d), like ``torch.nn.Linear(d, V, bias=False)`` (the
        default). Its ``weight`` is overwritten with ``W``.
    optimizer : callable, optional
        ``optimizer(params, lr) -> torch.optim.Optimizer`` (default ``torch.optim.SGD``);
        ``train`` runs ``steps`` of ``zero_grad``, ``backward``, ``step`` on the full batch.
        Every call runs with one intra-op thread (``torch.set_num_threads``, restored).
    dtype : torch.dtype, optional
        Default ``torch.float64``; with ``torch.float32`` the checks' rounding tolerances use
        float32's unit roundoff.

    Returns
    -------
    Implementation
        With ``loss``, ``grad`` (by autograd) and ``train``.
    """
    import torch

    dt = torch.float64 if dtype is None else dtype
    eps = FLOAT64_EPS if dt == torch.float64 else float(torch.finfo(dt).eps) / 2.0
    build = make_decoder or (lambda d, V: torch.nn.Linear(d, V, bias=False))
    make_opt = optimizer or (lambda params, lr: torch.optim.SGD(params, lr=lr))

    @contextmanager
    def one_thread() -> Iterator[None]:
        # The checks' problems are tiny: intra-op threads only contend (500 SGD steps took
        # 21 s with 2 threads on a loaded 2-core machine, 0.7 s with 1). Restored afterwards.
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def tensors(H: Any, P: Any, pi: Any) -> tuple[Any, Any, Any]:
        return tuple(torch.as_tensor(np.asarray(a), dtype=dt) for a in (H, P, pi))  # type: ignore[return-value]

    def decoder(W: Any) -> Any:
        V, d = np.shape(W)
        module = build(d, V).to(dt)
        with torch.no_grad():
            module.weight.copy_(torch.as_tensor(np.asarray(W), dtype=dt))
        return module

    def objective(module: Any, H: Any, P: Any, pi: Any) -> Any:
        return loss_fn(module(H), P, pi)

    def loss(H: Any, P: Any, pi: Any, W: Any) -> float:
        Ht, Pt, pit = tensors(H, P, pi)
        with one_thread(), torch.no_grad():
            return float(objective(decoder(W), Ht, Pt, pit).item())

    def grad(H: Any, P: Any, pi: Any, W: Any) -> Any:
        Ht, Pt, pit = tensors(H, P, pi)
        module = decoder(W)
        with one_thread():
            objective(module, Ht, Pt, pit).backward()
        return module.weight.grad.detach().cpu().double().numpy()

    def train(H: Any, P: Any, pi: Any, W0: Any, lr: float, steps: int) -> Any:
        Ht, Pt, pit = tensors(H, P, pi)
        module = decoder(W0)
        opt = make_opt(module.parameters(), lr)
        with one_thread():
            for _ in range(steps):
                opt.zero_grad()
                objective(module, Ht, Pt, pit).backward()
                opt.step()
        return module.weight.detach().cpu().double().numpy()

    return Implementation(name, loss=loss, grad=grad, train=train, unit_roundoff=eps)


def from_jax(name: str, loss_fn: Callable[[Any, Any, Any, Any], Any]) -> Implementation:
    """An :class:`Implementation` from a JAX loss ``loss_fn(H, P, pi, W) -> scalar``.

    ``grad`` is ``jax.grad(loss_fn, argnums=3)``; ``train`` runs plain GD with it under
    ``jax.lax.fori_loop``. Needs JAX (with ``jax_enable_x64`` for float64 tolerances; without
    it the checks use float32's unit roundoff).

    Parameters
    ----------
    name : str
    loss_fn : callable
        Written with ``jax.numpy``.

    Returns
    -------
    Implementation
    """
    import jax
    import jax.numpy as jnp

    x64 = bool(jax.config.read("jax_enable_x64"))
    eps = FLOAT64_EPS if x64 else 2.0**-24
    grad_fn = jax.jit(jax.grad(loss_fn, argnums=3))

    def loss(H: Any, P: Any, pi: Any, W: Any) -> float:
        return float(loss_fn(jnp.asarray(H), jnp.asarray(P), jnp.asarray(pi), jnp.asarray(W)))

    def grad(H: Any, P: Any, pi: Any, W: Any) -> Any:
        args = (jnp.asarray(a) for a in (H, P, pi, W))
        return np.asarray(grad_fn(*args), dtype=np.float64)

    def train(H: Any, P: Any, pi: Any, W0: Any, lr: float, steps: int) -> Any:
        Hj, Pj, pij = jnp.asarray(H), jnp.asarray(P), jnp.asarray(pi)
        W = jax.lax.fori_loop(
            0, steps, lambda _, W: W - lr * grad_fn(Hj, Pj, pij, W), jnp.asarray(W0)
        )
        return np.asarray(W, dtype=np.float64)

    return Implementation(name, loss=loss, grad=grad, train=train, unit_roundoff=eps)
