"""How W*, the F projector, the separability decision and W^mm scale with (m, V, d).

Run: ``python bench/bench_subspace.py [--large]``. Each row builds a fresh random instance
(Gaussian H, ``S_j = 6`` random supports, Dirichlet probabilities, seed 0) so no cached
factorisation is reused, and times, in one process:

- ``W*``: :func:`ntpprops.w_star` (builds and factorises the Gram matrix of F's generators);
- ``P_F``: one :func:`ntpprops.project_f` once the factor exists;
- ``separable?``: :func:`ntpprops.is_separable` on a second fresh copy (Lemma 1's fast path
  when ``rank H = m``, the min-norm-point decision otherwise);
- ``W^mm``: :func:`ntpprops.ntp_svm_result` on a third fresh copy (KKT-verified).

Rows with ``d < m`` exercise the rank-deficient paths. Times are wall-clock seconds on a
shared machine: compare rows with each other, not with other runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _env import environment

import ntpprops as ntp

SIZES = [(50, 10, 60), (200, 50, 250), (500, 100, 600), (100, 20, 50), (300, 20, 120)]
LARGE = [(1000, 100, 1200), (1000, 200, 1200)]


def random_instance(m: int, V: int, d: int, support: int = 6, seed: int = 0) -> ntp.NTPInstance:
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((m, d))
    P = np.zeros((m, V))
    for j in range(m):
        tokens = rng.choice(V, size=min(support, V), replace=False)
        P[j, tokens] = rng.dirichlet(np.ones(tokens.size))
    return ntp.NTPInstance(H, P)


def timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def bench_row(m: int, V: int, d: int) -> str:
    inst = random_instance(m, V, d)
    _, t_star = timed(ntp.w_star, inst)
    W = np.random.default_rng(1).standard_normal(inst.weight_shape)
    _, t_proj = timed(ntp.project_f, inst, W)
    sep, t_sep = timed(ntp.is_separable, random_instance(m, V, d))
    if sep:
        svm, t_svm = timed(ntp.ntp_svm_result, random_instance(m, V, d))
        k = svm.kkt
        worst = max(k.primal_infeasibility, k.dual_infeasibility, k.complementarity, k.stationarity)
        svm_cell = f"{t_svm:9.3f} (KKT {worst:.0e})"
    else:
        svm_cell = "   not separable"
    return (
        f"{(m, V, d)!s:>18} {ntp.f_dimension(inst):>7} {t_star:9.3f} {1e3 * t_proj:9.2f} "
        f"{t_sep:10.3f} {svm_cell}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true", help="also (1000, 100|200, 1200)")
    args = parser.parse_args()
    print(environment())
    sizes = SIZES + (LARGE if args.large else [])
    print(f"{'(m, V, d)':>18} {'dim F':>7} {'W* [s]':>9} {'P_F [ms]':>9} {'sep? [s]':>10} W^mm [s]")
    for m, V, d in sizes:
        print(bench_row(m, V, d), flush=True)


if __name__ == "__main__":
    main()
