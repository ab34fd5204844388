"""The solvers on 2 BLAS threads vs on one (what ``ntpprops._threads.single_blas_thread`` does).

Run: ``python bench/bench_threads.py [--large]``. Each solver is timed with every BLAS library
at 2 threads (``ntpprops._threads.SOLVER_BLAS_THREADS = None``: the wrappers, nested ones
included, leave the limits alone) and as shipped (1 thread), on fresh instances (results are
cached per instance), alternating the two; the minimum of ``--reps`` runs each. ``--large``
adds the (1000, 200, 1200) SVM.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _env import environment
from bench_svm import build
from threadpoolctl import threadpool_limits

import ntpprops
import ntpprops._threads as threads
from ntpprops._defaults import paper_instance

CASES: list[tuple[str, Callable[..., Any], Callable[[], ntpprops.NTPInstance], tuple]] = [
    ("ntp_svm_result", ntpprops.ntp_svm_result, paper_instance, ()),
    (
        "regularization_path",
        ntpprops.regularization_path,
        paper_instance,
        (np.geomspace(1, 100, 4),),
    ),
    ("ntp_svm_result", ntpprops.ntp_svm_result, lambda: build(200, 50, 250, 6), ()),
    ("ntp_svm_result", ntpprops.ntp_svm_result, lambda: build(500, 100, 600, 6), ()),
    ("is_separable", ntpprops.is_separable, lambda: build(100, 20, 50, 6), ()),
]
LARGE = [("ntp_svm_result", ntpprops.ntp_svm_result, lambda: build(1000, 200, 1200, 6), ())]


def _time(func: Callable[..., Any], make: Callable[[], Any], args: tuple) -> float:
    inst = make()
    start = time.perf_counter()
    func(inst, *args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(environment())
    print(f"{'solver':>20} {'(m, V, d)':>18} {'2 threads':>10} {'1 thread':>10} {'speed-up':>9}")
    for name, solver, make, extra in CASES + (LARGE if args.large else []):
        reps = 1 if make in [case[2] for case in LARGE] else args.reps
        best = {"2": np.inf, "1": np.inf}
        for _ in range(reps):
            with threadpool_limits(2, user_api="blas"):
                threads.SOLVER_BLAS_THREADS = None
                best["2"] = min(best["2"], _time(solver, make, extra))
                threads.SOLVER_BLAS_THREADS = 1
                best["1"] = min(best["1"], _time(solver, make, extra))
        inst = make()
        shape = (inst.m, inst.vocab_size, inst.dim)
        print(
            f"{name:>20} {shape!s:>18} {best['2']:9.3f}s {best['1']:9.3f}s "
            f"{best['2'] / best['1']:8.2f}x"
        )


if __name__ == "__main__":
    main()
