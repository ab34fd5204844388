"""Per-step cost of a GD step: ntpprops' fused loop vs plain numpy, torch autograd, bare matmuls.

Run: ``/tmp/venv/bin/python bench/bench_primitives.py [--quick]``. Prints one row per size
``(m, V, d)``; times are the minimum over interleaved repetitions (the machine is shared, so
only ratios measured in one process mean much), with BLAS limited to 2 threads. Under each
size, the spread of the fused/matmuls ratio over the repetitions (each repetition times every
variant back to back) shows how much to trust the ratio of minima. The last line times
``10^6`` GD steps at the paper size. The fused loop is timed with its pure-numpy backend and,
when numba is installed (``pip install 'ntpprops[fast]'``), its compiled one. The torch
autograd variant runs when torch is installed (it is not a dependency: ``pip install torch``),
with ``torch.set_num_threads(2)``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
from _env import environment
from threadpoolctl import threadpool_limits

from ntpprops._kernels import HAVE_NUMBA, FusedGD

# torch's OpenMP threads busy-wait after each op by default and would slow whichever variant
# runs next on two cores; passive waiting keeps the interleaved timings independent.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
try:
    import torch

    torch.set_num_threads(2)
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False

SIZES = [(50, 10, 60), (1000, 1000, 512), (4000, 5000, 768)]


def make_problem(m: int, V: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((m, d))
    P = rng.dirichlet(np.ones(V), size=m)
    pi = np.full(m, 1.0 / m)
    W0 = rng.normal(0.0, 1.0 / np.sqrt(d), size=(V, d))
    return H, P, pi, W0


def naive_step_factory(H, P, pi, W0, lr) -> Callable[[], None]:
    """GD as one would write it first: fresh arrays for everything."""
    state = {"W": W0.copy()}

    def step() -> None:
        W = state["W"]
        Z = H @ W.T
        S = np.exp(Z - Z.max(axis=1, keepdims=True))
        S = S / S.sum(axis=1, keepdims=True)
        state["W"] = W - lr * ((S - P).T @ (pi[:, None] * H))

    return step


def torch_factory(H, P, pi, W0, lr) -> Callable[[], None]:
    """GD as one would write it in torch: autograd through ``log_softmax``, float64."""
    H_t, P_t, pi_t = (torch.from_numpy(np.ascontiguousarray(a)) for a in (H, P, pi))
    W = torch.from_numpy(W0.copy()).requires_grad_(True)

    def step() -> None:
        loss = -(pi_t * (P_t * torch.log_softmax(H_t @ W.T, dim=1)).sum(dim=1)).sum()
        loss.backward()
        with torch.no_grad():
            W.sub_(lr * W.grad)
            W.grad = None

    return step


def matmul_factory(H, P, pi, W0, lr) -> Callable[[], None]:
    """The two matmuls of a step and nothing else (the floor for weight-space GD)."""
    Z = np.empty((H.shape[0], W0.shape[0]))
    G = np.empty_like(W0)

    def step() -> None:
        np.matmul(H, W0.T, out=Z)
        np.matmul(Z.T, H, out=G)

    return step


def fused_factory(mode: str, backend: str = "numpy"):
    def factory(H, P, pi, W0, lr) -> Callable[[], None]:
        loop = FusedGD(H, P, pi, lr, W0, mode=mode, backend=backend)  # type: ignore[arg-type]
        return loop.advance  # advance(n): n steps, then one checkpoint sync

    return factory


def time_per_step(step: Callable[..., None], inner: int, fused: bool) -> float:
    step(1) if fused else step()  # untimed: the previous variant's buffers leave the cache
    start = time.perf_counter()
    if fused:
        step(inner)
    else:
        for _ in range(inner):
            step()
    return (time.perf_counter() - start) / inner


def bench_size(
    m: int, V: int, d: int, reps: int
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Best time per step of each variant, and the fused/matmuls ratios of every repetition."""
    H, P, pi, W0 = make_problem(m, V, d)
    lr = 0.1
    mode = FusedGD(H, P, pi, lr, W0).mode
    factories = {f"fused {mode}": fused_factory(mode)}
    if HAVE_NUMBA:
        factories[f"fused {mode} numba"] = fused_factory(mode, "numba")
    factories |= {"plain numpy": naive_step_factory, "bare matmuls": matmul_factory}
    fused = [name for name in factories if name.startswith("fused")]
    if HAVE_TORCH:
        factories["torch autograd"] = torch_factory
    steps = {name: f(H, P, pi, W0, lr) for name, f in factories.items()}
    flops = 2 * m * d * V
    inner = max(1, int(2e8 / flops))  # ~0.1 s per timing at small sizes
    best = dict.fromkeys(steps, np.inf)
    ratios: dict[str, list[float]] = {name: [] for name in fused}
    names = list(steps)
    for rep in range(reps):  # interleaved, so drifting machine load hits every variant alike
        this = {}
        # Rotate the order: no variant always runs first (with its inputs cold in cache).
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            this[name] = time_per_step(steps[name], inner, name.startswith("fused"))
            best[name] = min(best[name], this[name])
        for name in fused:
            ratios[name].append(this[name] / this["bare matmuls"])
    return best, ratios


def bench_paper_run(steps: int) -> tuple[float, str]:
    H, P, pi, W0 = make_problem(50, 10, 60)
    backend = "numba" if HAVE_NUMBA else "numpy"
    loop = FusedGD(H, P, pi, 0.5, W0, backend=backend, expected_steps=steps)  # type: ignore[arg-type]
    loop.advance(10)  # compile outside the timing
    start = time.perf_counter()
    loop.advance(steps)
    return time.perf_counter() - start, backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only, 10^5 steps")
    parser.add_argument("--reps", type=int, default=9, help="repetitions at the large sizes")
    args = parser.parse_args()
    print(environment())
    sizes = SIZES[:2] if args.quick else SIZES
    with threadpool_limits(2):
        print(f"{'(m, V, d)':>18} {'variant':>18} {'ms/step':>10} {'/numpy':>8} {'/matmuls':>9}")
        for m, V, d in sizes:
            # Big sizes take ~1 s per timing and suffer most from neighbours' load: more reps.
            best, ratios = bench_size(m, V, d, reps=args.reps if m * V * d > 1e8 else 5)
            for name, seconds in best.items():
                print(
                    f"{(m, V, d)!s:>18} {name:>18} {1e3 * seconds:10.4f} "
                    f"{seconds / best['plain numpy']:8.2f} {seconds / best['bare matmuls']:9.2f}"
                )
            for name, per_rep in ratios.items():
                low, mid, high = np.quantile(per_rep, [0.0, 0.5, 1.0])
                print(
                    f"{'':>18} {name}/matmuls per repetition: min {low:.2f}, "
                    f"median {mid:.2f}, max {high:.2f} over {len(per_rep)}"
                )
        n = 10**5 if args.quick else 10**6
        seconds, backend = bench_paper_run(n)
        print(f"paper size (50, 10, 60): {n:.0e} GD steps in {seconds:.2f} s ({backend} loop)")


if __name__ == "__main__":
    main()
