"""Fused gradient-descent loops for the cross-entropy of an NTP instance.

Two exact reformulations of the step ``W <- W - eta (softmax(H W^T) - P)^T diag(pi) H``:

- **weight mode** keeps ``W`` and does two matmuls per step (``m d V`` flops each), with the
  softmax computed in place in a preallocated logits buffer, in cache-sized row blocks that
  are exponentiated, summed and scaled by ``eta pi_j / sum`` while in cache (one pass over the
  logits in main memory), and the gradient written into a preallocated buffer;
- **logit mode** uses that every GD increment is ``C^T H`` (a combination of the rows of
  ``H``): with ``D = diag(eta pi) (softmax(Z) - P)`` the step is ``C <- C - D`` and
  ``Z <- Z - K D`` for the kernel ``K = H H^T``, one ``m x m`` by ``m x V`` matmul per step
  (``m^2 V`` flops). ``W = W_0 + C^T H`` is formed only at checkpoints, where ``Z`` is also
  recomputed from ``W`` so that the two never drift apart.

The mode with fewer flops is chosen (logit mode when ``m <= d``). With numba installed (an
optional accelerator), long runs compile the inner loop of logit mode, and in weight mode the
row sums, the row scaling and the update of ``W`` (each one pass where numpy needs two or a
slow broadcast); the pure-numpy loops are the reference, used without numba and tested
against the compiled ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ntpprops._embedding_ops import EmbeddingOperator, logits_of, pull_back

__all__ = ["HAVE_NUMBA", "Backend", "FusedGD", "resolve_backend"]

FloatArray = NDArray[np.float64]
Backend = Literal["auto", "numpy", "numba"]
Mode = Literal["auto", "logit", "weight"]

_numba: Any
try:  # numba is optional: every compiled loop has a numpy twin
    import numba as _numba
except ImportError:  # pragma: no cover - exercised only where numba is absent
    _numba = None

HAVE_NUMBA = _numba is not None

#: ``backend="auto"`` compiles (about a second, once per process) only for runs this long,
AUTO_NUMBA_MIN_STEPS = 20_000
#: or with this many logit entries over the run (``steps * m * V``): weight mode saves about
#: 1 ns per entry and step (``bench/bench_primitives.py``), so 1e9 of them repay the compile.
AUTO_NUMBA_MIN_ENTRY_STEPS = 10**9

_COMPILED: dict[str, Callable[..., Any]] = {}


def resolve_backend(
    backend: str, n_steps: int, entries: int = 0, kernel: str = "logit_steps"
) -> str:
    """The backend to use: ``"numba"`` or ``"numpy"``.

    ``"auto"`` is numba when it is installed and the run is long enough to repay compiling:
    ``n_steps`` steps, each over ``entries`` logits (see the ``AUTO_NUMBA_*`` constants), or
    when this process has compiled the loop's ``kernel`` already.

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
        worth_compiling = (
            n_steps >= AUTO_NUMBA_MIN_STEPS
            or n_steps * entries >= AUTO_NUMBA_MIN_ENTRY_STEPS
            or bool(getattr(_COMPILED.get(kernel), "signatures", None))
        )
        return "numba" if HAVE_NUMBA and worth_compiling else "numpy"
    return backend


def _logit_steps_numpy(
    Z: FloatArray, C: FloatArray, K: FloatArray, P: FloatArray, scale: FloatArray, n: int
) -> None:
    """``n`` logit-mode GD steps in place (reference implementation)."""
    m = Z.shape[0]
    D = np.empty_like(Z)
    KD = np.empty_like(Z)
    row = np.empty(m)
    with np.errstate(over="ignore"):  # unshifted exp may overflow: detected and redone
        for _ in range(n):
            _scaled_residual_numpy(Z, P, scale, D, row)
            C -= D
            np.matmul(K, D, out=KD)
            Z -= KD


def _scaled_residual_numpy(
    Z: FloatArray, P: FloatArray, scale: FloatArray, out: FloatArray, row: FloatArray
) -> None:
    """``out = diag(scale) (softmax(Z) - P)`` without temporaries (``row``: (m,) buffer).

    Cache-sized row blocks, exponentiated unshifted where :func:`_normalise_rows` accepts it
    and shifted from ``Z`` (which is kept) where not.
    """
    m, V = Z.shape
    rows = _block_rows(V)
    for start in range(0, m, rows):
        block = slice(start, start + rows)
        out_b, row_b, scale_b = out[block], row[block], scale[block]
        np.exp(Z[block], out=out_b)
        if not _normalise_rows(out_b, scale_b, row_b):
            _scaled_softmax_shifted(Z[block], scale_b, row_b, out_b)
        out_b -= P[block]  # P here is diag(scale) P, folded once by the caller


def _build_numba_kernels() -> None:
    """Compile the numba twins of the loops (once per process)."""
    assert _numba is not None
    # numba's decorators are untyped; the compiled kernels are called as Callable[..., Any].
    njit: Callable[..., Callable[[Callable[..., Any]], Callable[..., Any]]] = _numba.njit

    @njit(cache=False, nogil=True)
    def scaled_residual(Z: FloatArray, P: FloatArray, scale: FloatArray, out: FloatArray) -> None:
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
    def logit_steps(
        Z: FloatArray, C: FloatArray, K: FloatArray, P: FloatArray, scale: FloatArray, n: int
    ) -> None:
        D = np.empty_like(Z)
        KD = np.empty_like(Z)
        for _ in range(n):
            scaled_residual(Z, P, scale, D)
            C -= D
            np.dot(K, D, KD)  # BLAS into a preallocated buffer: no allocation per step
            Z -= KD

    # Row sums may be reassociated (vectorised); NaN and inf keep their IEEE meaning, which
    # the range check relies on (full fastmath would assume them away).
    @njit(cache=False, nogil=True, fastmath={"reassoc"})
    def normalise_rows(E: FloatArray, scale: FloatArray, row_sum: FloatArray) -> bool:
        r, V = E.shape
        accepted = True
        for j in range(r):
            total = 0.0
            for z in range(V):
                total += E[j, z]
            row_sum[j] = total
            accepted = accepted and _SUM_MIN <= total <= _SUM_MAX
        if not accepted:
            return False
        for j in range(r):
            factor = scale[j] / row_sum[j]  # a local, so the loop below vectorises
            row_sum[j] = factor
            for z in range(V):
                E[j, z] *= factor
        return True

    @njit(cache=False, nogil=True)
    def descend(W: FloatArray, grad: FloatArray, grad_P: FloatArray) -> None:
        V, d = W.shape
        for i in range(V):
            for k in range(d):
                W[i, k] -= grad[i, k] - grad_P[i, k]  # _descend's two passes, in one

    _COMPILED["scaled_residual"] = scaled_residual
    _COMPILED["logit_steps"] = logit_steps
    _COMPILED["normalise_rows"] = normalise_rows
    _COMPILED["descend"] = descend


def _numba_kernel(name: str) -> Callable[..., Any]:
    if name not in _COMPILED:
        _build_numba_kernels()
    return _COMPILED[name]


class FusedGD:
    """Gradient descent on ``CE`` with preallocated buffers, advanced in chunks.

    Parameters
    ----------
    H : ndarray or csr_array, shape (m, d)
        Context embeddings (sparse from :func:`ntpprops._embedding_ops.as_operator`: then
        weight mode, with both products in ``O(nnz(H) V)``).
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
        Implementation of the non-BLAS work of a step (see the module docstring).
    expected_steps : int
        Total number of steps planned; ``backend="auto"`` compiles only for long runs.
    """

    def __init__(
        self,
        H: EmbeddingOperator,
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
        sparse = not isinstance(H, np.ndarray)
        if mode == "auto":
            # logit mode: m^2 V flops and four (m, V) passes besides; weight mode: 2 m d V
            # (2 nnz(H) V for a sparse H, whose kernel H H^T is not formed).
            mode = "logit" if m <= d and not sparse else "weight"
        if sparse and mode == "logit":
            raise ValueError("a sparse H runs in weight mode (mode='auto' or 'weight')")
        if mode not in ("logit", "weight"):
            raise ValueError(f"mode must be 'auto', 'logit' or 'weight', got {mode!r}")
        self.mode = mode
        kernel = "logit_steps" if mode == "logit" else "normalise_rows"
        self.backend = resolve_backend(backend, expected_steps, m * P.shape[1], kernel)
        self.H: EmbeddingOperator = H if sparse else np.ascontiguousarray(H, dtype=np.float64)
        self.scale = np.ascontiguousarray(lr * pi, dtype=np.float64)
        # diag(eta pi) P, folded once: the residual is then scale * softmax - scaled_P.
        self.scaled_P = np.ascontiguousarray(self.scale[:, None] * P)
        self.W0 = np.array(W0, dtype=np.float64, order="C")
        self.steps_done = 0
        self.Z = np.empty((m, P.shape[1]))
        self._row = np.empty(m)
        if mode == "logit":
            self.K = self.H @ self.H.T
            self.C = np.zeros((m, P.shape[1]))
        else:
            self.W = self.W0.copy()
            # The P part of the gradient, (diag(eta pi) P)^T H, is constant: computed once, so
            # a step needs only softmax(Z), in one pass over the logits in main memory.
            self.grad_P = pull_back(self.H, self.scaled_P)
            self._grad = np.empty_like(self.W)
            compiled = self.backend == "numba"
            self._normalise = _numba_kernel("normalise_rows") if compiled else _normalise_rows
            self._descend = _numba_kernel("descend") if compiled else _descend
        self._sync_logits()

    def _sync_logits(self) -> None:
        logits_of(self.H, self.weights(), out=self.Z)

    def weights(self) -> FloatArray:
        """The current iterate ``W_k`` (a new array), shape (V, d)."""
        if self.mode == "logit":
            return self.W0 + pull_back(self.H, self.C)
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
        # exp is tried unshifted first; an overflow there is expected, detected and redone.
        with np.errstate(over="ignore"):
            for _ in range(n):
                self._weight_step()
        self.steps_done += n

    def _weight_step(self) -> None:
        Z, row, H, W, scale = self.Z, self._row, self.H, self.W, self.scale
        logits_of(H, W, out=Z)
        m, V = Z.shape
        rows = _block_rows(V)
        for start in range(0, m, rows):
            block = slice(start, start + rows)
            Z_b, row_b, scale_b = Z[block], row[block], scale[block]
            np.exp(Z_b, out=Z_b)
            # Z_b becomes diag(eta pi) softmax while the block is in cache.
            if not self._normalise(Z_b, scale_b, row_b):
                logits_of(H[block], W, out=Z_b)  # the logits again: exp overwrote them
                _scaled_softmax_shifted(Z_b, scale_b, row_b, Z_b)
        # Both products through numpy's BLAS: a second library (scipy's dgemm, which could
        # accumulate into W) leaves its idle threads spinning while numpy's run, and on two
        # cores that cost ~30% per step at (1000, 1000, 512), far more than two (V, d) passes.
        if isinstance(H, np.ndarray):
            np.matmul(Z.T, H, out=self._grad)
        else:
            self._grad[...] = pull_back(H, Z)
        self._descend(W, self._grad, self.grad_P)


#: Row blocks of the logits are about this many float64 (512 KB): a block stays in L2 cache
#: through its softmax passes, which then read and write main memory once instead of
#: four times (measured 70 -> 39 ms at (m, V) = (4000, 5000), a tenth of the two matmuls).
SOFTMAX_BLOCK_FLOATS = 1 << 16

#: Unshifted ``exp`` is accepted for a row block when every row sum lies in
#: ``[e^-LOG_SUM_LIMIT, e^LOG_SUM_LIMIT]``. Then no term overflowed; a term that underflowed
#: (logit below ``-708``) is off by less than ``2^-1022`` absolute, which relative to the row
#: sum is below ``e^-108``; and ``scale / row_sum`` stays a normal float for any scale within
#: ``e^(+-100)``. Shifted rows have sums in ``[1, V]``.
LOG_SUM_LIMIT = 600.0
_SUM_MIN, _SUM_MAX = float(np.exp(-LOG_SUM_LIMIT)), float(np.exp(LOG_SUM_LIMIT))


def _block_rows(V: int) -> int:
    """Rows per softmax block of an ``(m, V)`` logits array (at least one)."""
    return max(1, SOFTMAX_BLOCK_FLOATS // max(1, V))


def _normalise_rows(E: FloatArray, scale: FloatArray, row_sum: FloatArray) -> bool:
    """``E <- diag(scale / row sums) E`` if every row sum is accurate; whether it was.

    ``E`` holds ``exp(Z)`` of a row block, unshifted. It is accepted when every row sum lies
    within ``e^(+-LOG_SUM_LIMIT)`` (see the constant): ``E`` is then ``diag(scale) softmax(Z)``
    to rounding, without the pass that finds each row's maximum (0.4 ms of a 19 ms step at
    (1000, 1000, 512)) or the rounding of ``Z - max``. Otherwise (an overflow, a whole row
    underflowed, NaN) ``E`` is left alone and must be redone by
    :func:`_scaled_softmax_shifted`; the overflow raises no warning only under
    ``np.errstate(over="ignore")``, which the loops set.

    Parameters
    ----------
    E : ndarray, shape (r, V)
        ``exp`` of the logits of a row block, overwritten when accepted.
    scale : ndarray, shape (r,)
        Row factors (``eta pi_j``).
    row_sum : ndarray, shape (r,)
        Scratch buffer (the row sums, then ``scale / row sums``).
    """
    np.sum(E, axis=1, out=row_sum)
    # NaN fails both comparisons and takes the shifted route, where it propagates.
    if not (_SUM_MIN <= row_sum.min() and row_sum.max() <= _SUM_MAX):
        return False
    np.divide(scale, row_sum, out=row_sum)
    E *= row_sum[:, None]
    return True


def _descend(W: FloatArray, grad: FloatArray, grad_P: FloatArray) -> None:
    """``W <- W - (grad - grad_P)`` in place (``grad`` is overwritten); shapes (V, d)."""
    grad -= grad_P
    W -= grad


def _scaled_softmax_shifted(
    Z: FloatArray, scale: FloatArray, row_sum: FloatArray, out: FloatArray
) -> None:
    """``out <- diag(scale) softmax(Z)`` through ``exp(Z - max)`` row by row.

    Same arguments as :func:`_normalise_rows`, with ``Z`` the logits; ``out`` may be ``Z``.
    The shifted row sums lie in ``[1, V]``, so the scaling is always accurate.
    """
    np.max(Z, axis=1, out=row_sum)
    np.subtract(Z, row_sum[:, None], out=out)
    np.exp(out, out=out)
    np.sum(out, axis=1, out=row_sum)
    np.divide(scale, row_sum, out=row_sum)
    out *= row_sum[:, None]
