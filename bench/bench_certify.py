"""Certify Theorem 2 on the paper's App. A.2 instance and time it; measure NGD and Adam.

Run: ``/tmp/venv/bin/python bench/bench_certify.py [--seed 0] [--steps 100000]``.

Prints the certification of GD (``eta = 1.9/L``, targets: increment alignment ``1e-3``,
``||P_F W_k - W*|| <= 1e-2``, budget 30 s), the same measures for GD at the analysed
``1/(2L)`` over the same number of steps, and NGD / Adam (``lr = 0.01``) after ``--steps``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _env import environment
from threadpoolctl import threadpool_limits

import ntpprops
from ntpprops._certify import BiasReport, certify_gd_bias, measure_bias


def app_a2_instance(seed: int) -> ntpprops.NTPInstance:
    """The App. A.2 setting (m = 50, V = 10, d = 60, S_j = 6, n = 5000 samples)."""
    try:
        from ntpprops._defaults import paper_instance
    except ImportError:  # the built-in defaults module is not there: same recipe, no sampling
        rng = np.random.default_rng(seed)
        P = np.zeros((50, 10))
        for j in range(50):
            P[j, rng.choice(10, size=6, replace=False)] = rng.dirichlet(np.ones(6))
        return ntpprops.NTPInstance(rng.standard_normal((50, 60)), P)
    return paper_instance(seed)


def row(label: str, report: BiasReport) -> str:
    f = report.final()
    return (
        f"{label:<26} {f['steps']:>9} {f['wall_time']:7.2f} {f['excess_loss']:10.2e} "
        f"{f['cos_gap']:9.2e} {f['corrected_cos_gap']:9.2e} {f['increment_cos_gap']:9.2e} "
        f"{f['dist_f_wstar']:9.2e} {f['angle_log_k']:7.3f} {'yes' if f['monotone'] else 'no':>4}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=100_000, help="NGD / Adam steps")
    args = parser.parse_args()
    print(environment())
    with threadpool_limits(2):
        inst = app_a2_instance(args.seed)
        start = time.perf_counter()
        w_mm = ntpprops.ntp_svm(inst)
        print(f"instance: {inst!r}; W^mm in {time.perf_counter() - start:.2f} s")
        L = ntpprops.smoothness_bound(inst)
        print(f"L = {L:.4f}, analysed step 1/(2L) = {1 / (2 * L):.4f}, certify step 1.9/L")
        header = (
            f"{'run':<26} {'steps':>9} {'time s':>7} {'CE - H':>10} {'1-cos':>9} "
            f"{'1-cos corr':>9} {'1-cos inc':>9} {'|PF W-W*|':>9} {'ang*logk':>7} {'mono':>4}"
        )
        print(header)
        gd = certify_gd_bias(inst, w_mm=w_mm)
        print(row(f"GD cert. ({'PASS' if gd else 'FAIL'})", gd))
        slow = measure_bias(inst, "gd", int(gd.steps[-1]), lr=1 / (2 * L), w_mm=w_mm)
        print(row("GD 1/(2L), same steps", slow))
        for name in ("ngd", "adam"):
            print(row(f"{name.upper()} lr 0.01", measure_bias(inst, name, args.steps, w_mm=w_mm)))


if __name__ == "__main__":
    main()
