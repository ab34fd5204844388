"""Benchmark the NTP-SVM solvers: active-set vs cvxpy + Clarabel vs scikit-learn (one-hot).

Usage::

    python bench/bench_svm.py            # small sizes (paper size and one-hot), a few seconds
    python bench/bench_svm.py --large    # adds (200, 50, 250), (500, 100, 600), (1000, 200, 1200)
    python bench/bench_svm.py --dual NAME  # one instance beyond the dense solver: is_separable
                                           # by dual-cd (NAME: random1000, lowrank500, gpl3,
                                           # licences-k2, licences-k3)

Each cell (solver x instance) runs in a fresh subprocess, so its peak resident memory
(``ru_maxrss``) is its own; the table also prints the resident size of a process that only
imports the libraries, to subtract. BLAS runs single-threaded by default (``--threads``): on a
shared 2-core machine multi-threaded OpenBLAS spins on tiny matrices and timings become noise.
Instances: Gaussian ``H``, uniformly random supports of size ``S`` and probabilities, fixed
seed. cvxpy + Clarabel is skipped where it would take more than two minutes (measured: about
a minute and 1.2-1.5 GB at (200, 50, 250); it did not finish at (500, 100, 600)).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _env import environment

SMALL = [("paper", 50, 10, 60, 6), ("one-hot", 50, 10, 60, 1)]
LARGE = [
    ("medium", 200, 50, 250, 6),
    ("large", 500, 100, 600, 6),
    ("huge", 1000, 200, 1200, 6),
]
#: Cells skipped because they would exceed two minutes.
SKIP_CVXPY = {"large", "huge"}
#: Instances beyond the dense min-norm point (``--dual``): (m, V, d, S), the GPL-3 text
#: (None) or the context length K of all licence texts (:func:`licences`).
DUAL: dict[str, tuple[int, int, int, int] | int | None] = {
    "random1000": (1000, 1000, 512, 6),
    "lowrank500": (500, 400, 300, 2),
    "gpl3": None,
    "licences-k2": 2,
    "licences-k3": 3,
}
SEED = 20240229
REPEATS = 5  # small cells: median of this many solves on fresh copies


def build(m: int, V: int, d: int, S: int, seed: int = SEED):
    """Gaussian embeddings, random supports of size S, random in-support probabilities."""
    import numpy as np

    from ntpprops import NTPInstance

    rng = np.random.default_rng(seed)
    H = rng.standard_normal((m, d))
    P = np.zeros((m, V))
    for j in range(m):
        support = rng.choice(V, size=S, replace=False)
        P[j, support] = rng.uniform(0.1, 1.0, S)
    if S == 1:  # one-hot: make every class appear (labels 0..V-1 first)
        P = np.eye(V)[np.concatenate([np.arange(V), rng.integers(0, V, m - V)])]
    return NTPInstance(H, P / P.sum(axis=1, keepdims=True))


def run_cell(solver: str, m: int, V: int, d: int, S: int, repeats: int) -> dict:
    """Solve one instance with one solver; return times, KKT residual and peak memory."""
    import resource
    import warnings

    import numpy as np

    import ntpprops._svm_active
    import ntpprops._svm_cvxpy  # noqa: F401  (imports are not part of the timings)
    from ntpprops import ntp_svm_result
    from ntpprops._svm import kkt_report

    if solver == "sklearn":
        import sklearn.svm  # noqa: F401
    ntp_svm_result(build(6, 3, 8, 1, seed=1), method=solver if solver != "sklearn" else "auto")

    times = []
    worst = float("nan")
    W = None
    for _ in range(repeats):
        inst = build(m, V, d, S)
        if solver == "sklearn":
            from sklearn.svm import LinearSVC

            labels = np.argmax(inst.probs, axis=1)
            clf = LinearSVC(
                multi_class="crammer_singer",
                fit_intercept=False,
                C=1e4,
                tol=1e-8,
                max_iter=100_000,
            )
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(inst.embeddings, labels)
            times.append(time.perf_counter() - start)
            W = clf.coef_
        else:
            start = time.perf_counter()
            result = ntp_svm_result(inst, method=solver)
            times.append(time.perf_counter() - start)
            worst, W = result.kkt.worst, result.W
    if solver == "sklearn":
        # No duals from liblinear: report the primal side only (margins and ||P_F W|| = 0).
        duals = ntp_svm_result(inst).duals
        worst = kkt_report(inst, W, duals).primal_infeasibility
    reference = ntp_svm_result(build(m, V, d, S)).W if solver != "active-set" else W
    return {
        "time": float(np.median(times)),
        "kkt": worst,
        "rel_diff": float(np.linalg.norm(W - reference) / np.linalg.norm(reference)),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def licences(K: int, vocab: int = 1000, dim: int = 384):
    """Real text at (m, V, d) ~ (10^4, 10^3, 384): every licence text in
    ``/usr/share/common-licenses`` (words, one sequence per line), the ``vocab - 1`` most
    frequent words kept and the rest mapped to ``<unk>``, contexts of ``K`` words, Gaussian
    embeddings. Measured: K = 2 gives (6971, 1000, 384) with mean support 1.93 (70 % of size
    1, the largest 166); K = 3 gives (12192, 1000, 384), mean 1.26, largest 56."""
    import collections
    from pathlib import Path

    import ntpprops
    from ntpprops.cli._inputs import load_corpus

    seqs = []
    for path in sorted(Path("/usr/share/common-licenses").iterdir()):
        if path.is_file():
            seqs += [s for s in load_corpus(path, "words").sequences if len(s) > K]
    freq = collections.Counter(t for s in seqs for t in s)
    top = {t for t, _ in freq.most_common(vocab - 1)}
    seqs = [[t if t in top else "<unk>" for t in s] for s in seqs]
    return ntpprops.NTPInstance.from_sequences(seqs, "gaussian", K, dim=dim, seed=0)


def run_dual(name: str) -> None:
    """``is_separable`` on one large instance (auto: dual-cd), with time, verdict, bound, RSS."""
    import resource

    import ntpprops
    from ntpprops._errors import SeparabilityUndecidedError
    from ntpprops._separability import separability_certificate_bound
    from ntpprops._svm_active import active_set_fits

    spec = DUAL[name]
    if isinstance(spec, int):
        inst = licences(spec)
    elif spec is None:
        from ntpprops.cli._inputs import load_corpus

        corpus = load_corpus("/usr/share/common-licenses/GPL-3", "words")
        usable = [s for s in corpus.sequences if len(s) > 1]
        inst = ntpprops.NTPInstance.from_sequences(usable, "gaussian", 1, dim=384, seed=0)
    else:
        inst = build(*spec)
    print(
        f"{name}: (m, V, d) = ({inst.m}, {inst.vocab_size}, {inst.dim}), "
        f"mean S = {inst.support_sizes.mean():.2f}, dense fits: {active_set_fits(inst)}",
        flush=True,
    )
    start = time.perf_counter()
    try:
        sep = ntpprops.is_separable(inst)
        seconds = time.perf_counter() - start
        if sep and sep.margin_upper is not None:
            print(
                f"separable in {seconds:.1f} s by a checked separator of the dual ascent: "
                f"{sep.margin:.4g} <= gamma* <= {sep.margin_upper:.4g} (W^mm not solved)"
            )
        elif sep:
            result = ntpprops.ntp_svm_result(inst)
            print(
                f"separable in {seconds:.1f} s: margin {sep.margin:.4g}, method "
                f"{result.method}, KKT worst {result.kkt.worst:.1e}"
            )
        else:
            bound = separability_certificate_bound(inst, sep.certificate)
            print(f"not separable in {seconds:.1f} s: certificate bound ||W|| >= {bound:.3g}")
    except SeparabilityUndecidedError as err:
        print(f"undecided after {time.perf_counter() - start:.1f} s: {err}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def baseline_rss() -> float:
    import resource

    import cvxpy  # noqa: F401
    import sklearn.svm  # noqa: F401

    import ntpprops  # noqa: F401

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spawn(args: list[str], threads: int) -> dict:
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    out = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also run the large sizes")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--dual", choices=sorted(DUAL), help="one instance beyond the dense size")
    parser.add_argument("--cell", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dual:
        print(environment())
        run_dual(args.dual)
        return
    if args.baseline:
        print(json.dumps({"maxrss_mb": baseline_rss()}))
        return
    if args.cell:
        solver, m, V, d, S, repeats = args.cell
        print(json.dumps(run_cell(solver, int(m), int(V), int(d), int(S), int(repeats))))
        return

    print(environment())
    base = spawn(["--baseline"], args.threads)["maxrss_mb"]
    print(f"BLAS threads: {args.threads}; import-only peak RSS: {base:.0f} MB; seed {SEED}")
    header = (
        f"{'instance':<8} {'(m, V, d, S)':<20} {'solver':<10} {'time [s]':>9} "
        f"{'vs ours':>8} {'KKT worst':>10} {'rel diff':>9} {'peak RSS':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, m, V, d, S in SMALL + (LARGE if args.large else []):
        repeats = REPEATS if m * V <= 1000 else 1
        solvers = ["active-set", "cvxpy"] + (["sklearn"] if S == 1 else [])
        ours = None
        for solver in solvers:
            size = f"({m}, {V}, {d}, {S})"
            if solver == "cvxpy" and name in SKIP_CVXPY:
                print(f"{name:<8} {size:<20} {solver:<10} {'skipped: > 2 min':>38}")
                continue
            cell = spawn(
                ["--cell", solver, str(m), str(V), str(d), str(S), str(repeats)], args.threads
            )
            ours = cell["time"] if solver == "active-set" else ours
            print(
                f"{name:<8} {size:<20} {solver:<10} {cell['time']:>9.4f} "
                f"{cell['time'] / ours:>7.1f}x {cell['kkt']:>10.1e} {cell['rel_diff']:>9.1e} "
                f"{cell['maxrss_mb']:>6.0f} MB",
                flush=True,
            )


if __name__ == "__main__":
    main()
