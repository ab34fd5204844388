"""BLAS threading of the solvers (see ntpprops._threads for why they run on one thread)."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import ntpprops
from ntpprops._threads import _get_controller, single_blas_thread


def _blas_threads() -> dict[str, int]:
    """Threads of each BLAS library the solvers limit (numpy's and scipy's: scanned once)."""
    known = {lib.filepath for lib in _get_controller().select(user_api="blas").lib_controllers}
    return {
        lib["filepath"]: lib["num_threads"] for lib in threadpool_info() if lib["filepath"] in known
    }


def test_single_blas_thread_limits_during_the_call_and_restores_afterwards():
    @single_blas_thread
    def probe(x: float) -> tuple[dict[str, int], float]:
        return _blas_threads(), x + 1.0

    with threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        inside, value = probe(1.0)
        assert _blas_threads() == before
    assert 2 in before.values()  # something to limit (a single-threaded build stays at 1)
    assert inside.keys() == before.keys() and set(inside.values()) == {1} and value == 2.0


def test_solvers_that_alternate_numpy_and_scipy_are_wrapped():
    for solver in (ntpprops.ntp_svm_result, ntpprops.is_separable, ntpprops.regularization_path):
        assert solver.__wrapped__.__name__ == solver.__name__
        assert solver.__doc__ and "Parameters" in solver.__doc__  # docs survive the wrapper


def test_a_wrapped_solver_still_restores_the_limits_when_it_raises():
    inst = ntpprops.NTPInstance(np.eye(2), [[0.5, 0.5], [0.5, 0.5]])  # full support: no W^mm
    before = _blas_threads()
    with pytest.raises(ntpprops.NotSeparableError):
        ntpprops.ntp_svm_result(inst)
    assert _blas_threads() == before
