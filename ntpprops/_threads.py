"""One BLAS thread inside the solvers that alternate numpy's and scipy's linear algebra.

numpy and scipy wheels each bundle their own OpenBLAS, each with its own thread pool. After a
call, a pool's worker threads keep spinning for a while, waiting for more work; when the next
call goes to the *other* library, its workers compete with those spinners for the cores. The
active-set SVM (scipy factorisations between numpy products) and the Newton steps of the
regularisation path alternate the two thousands of times on small matrices, where a second
thread also has little to gain. Measured on 2 cores (``python bench/bench_threads.py
--large``), one thread against two: the regularisation path on the paper's instance 2.8x
faster, ``ntp_svm`` 1.9x at the paper's size, 2.4x at (200, 50, 250), 1.4x at (500, 100, 600)
and 2% slower at (1000, 200, 1200); ``is_separable`` on a rank-deficient (100, 20, 50) 1.2x.

:func:`single_blas_thread` limits the BLAS libraries loaded by the first call (numpy's and
scipy's; a library loaded later, such as SCS's through cvxpy, is left alone) to one thread
for the duration of a call and restores the previous limits afterwards (``threadpoolctl``, as
scikit-learn does; the libraries are scanned once, as a scan costs more than a small solve).
Gradient descent is not wrapped: its large products gain from threads and call one library
only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from threadpoolctl import ThreadpoolController

__all__ = ["SOLVER_BLAS_THREADS", "single_blas_thread"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: BLAS threads inside the wrapped solvers; None leaves the process's limits alone (used by
#: ``bench/bench_threads.py`` to time the alternative).
SOLVER_BLAS_THREADS: int | None = 1

_controller: ThreadpoolController | None = None


def _get_controller() -> ThreadpoolController:
    """The process's BLAS libraries, scanned once (after numpy and scipy.linalg are loaded)."""
    global _controller
    if _controller is None:
        import scipy.linalg  # noqa: F401  - load scipy's OpenBLAS before the scan

        _controller = ThreadpoolController()
    return _controller


def single_blas_thread(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: run ``func`` with numpy's and scipy's BLAS limited to one thread."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if SOLVER_BLAS_THREADS is None:
            return func(*args, **kwargs)
        with _get_controller().limit(limits=SOLVER_BLAS_THREADS, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper
