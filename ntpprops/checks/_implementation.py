"""The user's NTP code as data: :class:`Implementation`, three optional NumPy callables."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["FLOAT64_EPS", "GradFn", "Implementation", "LossFn", "TrainFn", "call_user"]

FloatArray = NDArray[np.float64]

#: Unit roundoff of float64 (half the machine epsilon): the default precision of user code.
FLOAT64_EPS = 2.0**-53

LossFn = Callable[[FloatArray, FloatArray, FloatArray, FloatArray], float]
GradFn = Callable[[FloatArray, FloatArray, FloatArray, FloatArray], FloatArray]
TrainFn = Callable[[FloatArray, FloatArray, FloatArray, FloatArray, float, int], FloatArray]


@dataclass(frozen=True)
class Implementation:
    """A user's next-token-prediction code, to be checked against the theory.

    Every callable takes and returns NumPy float64 arrays; the checks that apply follow from
    which are given (as scikit-learn's estimator tags decide its checks).

    Parameters
    ----------
    name : str
        Shown in test ids (``check_gradient[name]``) and failure messages.
    loss : callable, optional
        ``loss(H, P, pi, W) -> float``: the cross-entropy ``CE(W)`` of Eq. 2 for embeddings
        ``H`` (m, d), next-token distributions ``P`` (m, V), context weights ``pi`` (m,)
        summing to 1, and decoder ``W`` (V, d).
    grad : callable, optional
        ``grad(H, P, pi, W) -> ndarray (V, d)``: the gradient of ``CE`` at ``W``.
    train : callable, optional
        ``train(H, P, pi, W0, lr, steps) -> ndarray (V, d)``: ``steps`` full-batch gradient
        descent steps of size ``lr`` on ``CE`` from ``W0`` (``steps >= 1``).
    unit_roundoff : float
        The unit roundoff of the arithmetic the code uses (default float64's ``2^-53``; use
        ``2^-24`` for float32): every rounding tolerance of the checks is proportional to it.

    Notes
    -----
    A plain function of the right signature works; the adapters (:func:`from_torch`,
    :func:`from_numpy`, :func:`from_jax`) build one from a framework's model and loss.
    """

    name: str
    loss: LossFn | None = None
    grad: GradFn | None = None
    train: TrainFn | None = None
    unit_roundoff: float = FLOAT64_EPS

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name={self.name!r} must be a non-empty string (it names tests)")
        for field in ("loss", "grad", "train"):
            value = getattr(self, field)
            if value is not None and not callable(value):
                raise TypeError(f"{field}={value!r} must be callable or None")
        if self.loss is None and self.grad is None and self.train is None:
            raise ValueError(
                f"Implementation {self.name!r} supplies nothing to check: pass at least one of "
                "loss=, grad=, train="
            )
        if not (0.0 < self.unit_roundoff < 1e-2):
            raise ValueError(
                f"unit_roundoff={self.unit_roundoff!r} must be in (0, 1e-2); "
                "float64 is 2**-53, float32 2**-24"
            )

    def __str__(self) -> str:
        return self.name


def call_user(impl: Implementation, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Call one of the user's callables; turn an exception or a warning into an AssertionError.

    Floating-point warnings (overflow in ``exp``) are silenced: their result (``inf``, ``nan``)
    is what the check compares, and a test suite with ``filterwarnings = error`` must fail
    with the check's message, not with the warning.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with np.errstate(all="ignore"):
                return fn(*args)
    except Exception as exc:
        raise AssertionError(f"{impl.name}.{what} raised {exc!r}") from exc
