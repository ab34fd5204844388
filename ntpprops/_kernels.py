"""Fused gradient-descent loops for the cross-entropy of an NTP instance.

Two exact reformulations of the step ``W <- W - eta (softmax(H W^T) - P)^T diag(pi) H``:

- **weight mode** keeps ``W`` and does two matmuls per step (``m d V`` flops each), with the
  softmax computed in place in a preallocated logits buffer (in cache-sized row blocks),
  ``eta pi_j`` folded into ``H``'s rows, and the gradient written into a preallocated buffer;
- **logit mode** uses that every GD increment is ``C^T H`` (a combination of the rows of
  ``H``): with ``D = diag(eta pi) (softmax(Z) - P)`` the step is ``C <- C - D`` and
  ``Z <- Z - K D`` for the kernel ``K = H H^T``, one ``m x m`` by ``m x V`` matmul per step
  (``m^2 V`` flops). ``W = W_0 + C^T H`` is formed only at checkpoints, where ``Z`` is also
  recomputed from ``W`` so that the two never drift apart.

The mode with fewer flops is chosen (logit mode when ``m < 2 d``). The inner loop of logit
mode is compiled with numba when it is installed (an optional accelerator: the pure-numpy
loop is the reference, used without numba and tested against the compiled one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["HAVE_NUMBA", "FusedGD", "resolve_backend"]

FloatArray = NDArray[np.float64]
Backend = Literal["auto", "numpy", "numba"]
Mode = Literal["auto", "logit", "weight"]

try:  # numba is optional: every compiled loop has a numpy twin
    import numba as _numba
except ImportError:  # pragma: no cover - exercised only where numba is absent
    _numba = None

HAVE_NUMBA = _numba is not None

#: ``backend="auto"`` compiles (about a second, once per process) only for runs this long.
AUTO_NUMBA_MIN_STEPS = 20_000

_COMPILED: dict[str, Callable[..., Any]] = {}


def resolve_backend(backend: str, n_steps: int) -> str:
    """The backend to use: ``"numba"`` or ``"numpy"``.

    Raises
    ------
    ValueError
        On an unknown backend, or ``"numba"`` when numba is not installed.
    """
    if backend not in ("auto", "numpy", "numba"):
        raise ValueError(f"backend must be 'auto', 'numpy' or 'numba', got {backend!r}")
    if backend == "numba" and not HAVE_NUMBA:
        raise ValueError("backend='numba' needs numba installed (pip install 'ntpprops[fast]')")
    if backend == "auto":
        worth_compiling = n_steps >= AUTO_NUMBA_MIN_STEPS or "logit_steps" in _COMPILED
        return "numba" if HAVE_NUMBA and worth_compiling else "numpy"
    return backend


def _logit_steps_numpy(
    Z: FloatArray, C: FloatArray, K: FloatArray, P: FloatArray, scale: FloatArray, n: int
) -> None:
    """``n`` logit-mode GD steps in place (reference implementation)."""
    m = Z.shape[0]
    D = np.empty_like(Z)
    KD = np.empty_like(Z)
    row = np.empty((m, 1))
    for _ in range(n):
        _scaled_residual_numpy(Z, P, scale, D, row)
        C -= D
        np.matmul(K, D, out=KD)
        Z -= KD


def _scaled_residual_numpy(
    Z: FloatArray, P: FloatArray, scale: FloatArray, out: FloatArray, row: FloatArray
) -> None:
    """``out = diag(scale) (softmax(Z) - P)`` without temporaries (``row``: (m, 1) buffer).

    Cache-sized row blocks, exponentiated as in :func:`_exp_shifted_rows`.
    """
    m, V = Z.shape
    rows = max(1, SOFTMAX_BLOCK_FLOATS // max(1, V))
    for start in range(0, m, rows):
        block = slice(start, start + rows)
        out_b, row_b = out[block], row[block]
        _exp_block(Z[block], row_b, out_b)
        np.divide(scale[block, None], row_b, out=row_b)
        out_b *= row_b
        out_b -= P[block]  # P here is diag(scale) P, folded once by the caller


def _build_numba_kernels() -> None:
    """Compile the numba twins of the loops (once per process)."""
    assert _numba is not None
    njit = _numba.njit

    @njit(cache=False, nogil=True)
    def scaled_residual(Z, P, scale, out):  # type: ignore[no-untyped-def]
        m, V = Z.shape
        for j in range(m):
            top = Z[j, 0]
            for z in range(1, V):
                top = max(top, Z[j, z])
            total = 0.0
            for z in range(V):
                e = np.exp(Z[j, z] - top)
                out[j, z] = e
                total += e
            factor = scale[j] / total
            for z in range(V):
                out[j, z] = out[j, z] * factor - P[j, z]

    @njit(cache=False, nogil=True)
    def logit_steps(Z, C, K, P, scale, n):  # type: ignore[no-untyped-def]
        D = np.empty_like(Z)
        KD = np.empty_like(Z)
        for _ in range(n):
            scaled_residual(Z, P, scale, D)
            C -= D
            np.dot(K, D, KD)  # BLAS into a preallocated buffer: no allocation per step
            Z -= KD

    _COMPILED["scaled_residual"] = scaled_residual
    _COMPILED["logit_steps"] = logit_steps


def _numba_kernel(name: str) -> Callable[..., Any]:
    if name not in _COMPILED:
        _build_numba_kernels()
    return _COMPILED[name]


class FusedGD:
    """Gradient descent on ``CE`` with preallocated buffers, advanced in chunks.

    Parameters
    ----------
    H : ndarray, shape (m, d)
        Context embeddings.
    P : ndarray, shape (m, V)
        Next-token distributions.
    pi : ndarray, shape (m,)
        Context frequencies.
    lr : float
        Step size ``eta``.
    W0 : ndarray, shape (V, d)
        Initial weights (copied).
    mode : {"auto", "logit", "weight"}
        See the module docstring; ``"auto"`` picks the one with fewer flops per step.
    backend : {"auto", "numpy", "numba"}
        Loop implementation of logit mode (weight mode is BLAS-bound and always numpy).
    expected_steps : int
        Total number of steps planned; ``backend="auto"`` compiles only for long runs.
    """

    def __init__(
        self,
        H: FloatArray,
        P: FloatArray,
        pi: FloatArray,
        lr: float,
        W0: FloatArray,
        *,
        mode: Mode = "auto",
        backend: Backend = "auto",
        expected_steps: int = 0,
    ) -> None:
        m, d = H.shape
        if mode == "auto":
            # logit mode: m^2 V flops and four (m, V) passes besides; weight mode: 2 m d V.
            mode = "logit" if m <= d else "weight"
        if mode not in ("logit", "weight"):
            raise ValueError(f"mode must be 'auto', 'logit' or 'weight', got {mode!r}")
        self.mode = mode
        self.backend = resolve_backend(backend, expected_steps) if mode == "logit" else "numpy"
        self.H = np.ascontiguousarray(H, dtype=np.float64)
        self.scale = np.ascontiguousarray(lr * pi, dtype=np.float64)
        # diag(eta pi) P, folded once: the residual is then scale * softmax - scaled_P.
        self.scaled_P = np.ascontiguousarray(self.scale[:, None] * P)
        self.W0 = np.array(W0, dtype=np.float64, order="C")
        self.steps_done = 0
        self.Z = np.empty((m, P.shape[1]))
        self._row = np.empty((m, 1))
        if mode == "logit":
            self.K = self.H @ self.H.T
            self.C = np.zeros((m, P.shape[1]))
        else:
            self.W = self.W0.copy()
            # The P part of the gradient, (diag(eta pi) P)^T H, is constant: computed once, so
            # a step touches the (m, V) logits in three or four passes (max, [shift,] exp, sum).
            self.grad_P = self.scaled_P.T @ self.H
            self.scaled_H = np.empty_like(self.H)
            self._grad = np.empty_like(self.W)
        self._sync_logits()

    def _sync_logits(self) -> None:
        np.matmul(self.H, self.weights().T, out=self.Z)

    def weights(self) -> FloatArray:
        """The current iterate ``W_k`` (a new array), shape (V, d)."""
        if self.mode == "logit":
            return self.W0 + self.C.T @ self.H
        return self.W.copy()

    def advance(self, n: int) -> None:
        """Take ``n`` GD steps in place."""
        if n <= 0:
            return
        if self.mode == "logit":
            if self.backend == "numba":
                _numba_kernel("logit_steps")(self.Z, self.C, self.K, self.scaled_P, self.scale, n)
            else:
                _logit_steps_numpy(self.Z, self.C, self.K, self.scaled_P, self.scale, n)
            self.steps_done += n
            self._sync_logits()  # Z = H W^T exactly at every checkpoint
            return
        for _ in range(n):
            self._weight_step()
        self.steps_done += n

    def _weight_step(self) -> None:
        Z, row = self.Z, self._row
        np.matmul(self.H, self.W.T, out=Z)
        _exp_shifted_rows(Z, row)
        # softmax^T diag(eta pi) H = exp^T diag(eta pi / rowsum) H: scale H's rows, not Z's.
        np.divide(self.scale[:, None], row, out=row)
        np.multiply(self.H, row, out=self.scaled_H)
        # Both products through numpy's BLAS: a second library (scipy's dgemm, which could
        # accumulate into W) leaves its idle threads spinning while numpy's run, and on two
        # cores that cost ~30% per step at (1000, 1000, 512), far more than two (V, d) passes.
        grad = self._grad
        np.matmul(Z.T, self.scaled_H, out=grad)
        grad -= self.grad_P
        self.W -= grad


#: Row blocks of the logits are about this many float64 (512 KB): a block stays in L2 cache
#: through its softmax passes, which then read and write main memory once instead of
#: four times (measured 70 -> 39 ms at (m, V) = (4000, 5000), a tenth of the two matmuls).
SOFTMAX_BLOCK_FLOATS = 1 << 16

#: Rows whose maximum logit lies in ``[-SHIFT_FREE_LOGIT, SHIFT_FREE_LOGIT]`` are exponentiated
#: without subtracting the maximum. The row sum then lies in ``[e^-600, V e^600]``, normal
#: float64 for any ``V < e^100``; a logit below ``-708`` gives a subnormal or zero, an absolute
#: error under ``2^-1022``, which relative to the row sum (``>= e^-600``) is below ``e^-108``.
SHIFT_FREE_LOGIT = 600.0


def _exp_shifted_rows(Z: FloatArray, row_sum: FloatArray) -> None:
    """``Z <- exp(Z - c)`` in place with a per-row shift ``c``, and ``row_sum <- its row sums``.

    ``Z / row_sum`` is then ``softmax(Z)`` row by row; the caller never needs ``c``. The shift
    is each row's maximum, except in row blocks whose maxima all lie within
    ``SHIFT_FREE_LOGIT`` of zero, where it is 0: exp needs no shift there (see the constant),
    and skipping it saves a pass over the block (0.6 ms of a 20 ms step at (1000, 1000, 512))
    and the rounding of ``Z - max`` (so those rows are, if anything, more accurate).

    The rows are processed in cache-sized blocks, so whether a row is shifted depends on its
    neighbours in the block; ``Z / row_sum`` does not, up to rounding.

    Parameters
    ----------
    Z : ndarray, shape (m, V)
        Logits, overwritten.
    row_sum : ndarray, shape (m, 1)
        Output buffer.
    """
    m, V = Z.shape
    rows = max(1, SOFTMAX_BLOCK_FLOATS // max(1, V))
    for start in range(0, m, rows):
        block = Z[start : start + rows]
        _exp_block(block, row_sum[start : start + rows], block)


def _exp_block(Z: FloatArray, row_sum: FloatArray, out: FloatArray) -> None:
    """One row block of :func:`_exp_shifted_rows`: ``out <- exp(Z - c)``, ``row_sum <- sums``.

    ``out`` may be ``Z`` itself (in place).
    """
    np.max(Z, axis=1, keepdims=True, out=row_sum)
    if -SHIFT_FREE_LOGIT <= row_sum.min() <= row_sum.max() <= SHIFT_FREE_LOGIT:
        np.exp(Z, out=out)
    else:  # also the NaN route: a NaN maximum fails every comparison
        np.subtract(Z, row_sum, out=out)
        np.exp(out, out=out)
    np.sum(out, axis=1, keepdims=True, out=row_sum)
