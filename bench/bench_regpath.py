"""Time the matrix-free regularisation path on the GPL-3 text (and its variants).

Run: ``python bench/bench_regpath.py [--instance ctx1|ctx2|onehot] [--norms 5 10 20 40]``.
Builds the instance of the task (GPL-3 words, Gaussian embeddings d = 384, seed 0; or the
one-hot context-length-1 instance with the norms of ``cli/_analysis.py: regpath_norms``),
logs per inner norm the solver's work counters (Newton steps, CG iterations, Hessian-vector
products, line-search halvings, loss evaluations) and prints, per reported norm, the KKT
residual, norm error and convergence flag, and the total time.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
from _env import environment

import ntpprops as ntp
from ntpprops.cli._inputs import load_corpus

TEXT = "/usr/share/common-licenses/GPL-3"


def build(kind: str) -> ntp.NTPInstance:
    corpus = load_corpus(TEXT, "words")
    if kind == "ctx2":
        usable = [s for s in corpus.sequences if len(s) > 2]
        return ntp.NTPInstance.from_sequences(usable, "gaussian", 2, dim=384, seed=0)
    usable = [s for s in corpus.sequences if len(s) > 1]
    if kind == "onehot":
        return ntp.NTPInstance.from_sequences(usable, "onehot", 1)
    return ntp.NTPInstance.from_sequences(usable, "gaussian", 1, dim=384, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instance", choices=["ctx1", "ctx2", "onehot"], default="ctx1")
    parser.add_argument("--norms", type=float, nargs="*", default=None)
    args = parser.parse_args()
    print(environment())
    logging.basicConfig(format="%(relativeCreated)8.0f ms %(message)s")
    logging.getLogger("ntpprops._regpath").setLevel(logging.DEBUG)
    inst = build(args.instance)
    print(f"{args.instance}: m = {inst.m}, V = {inst.vocab_size}, d = {inst.dim}")
    norms = args.norms
    if norms is None:
        if args.instance == "onehot":
            # As cli/_analysis.py: regpath_norms (4 points over two decades from 2 ||W*||).
            base = max(1.0, 2.0 * float(np.linalg.norm(ntp.w_star(inst))))
            norms = list(np.geomspace(base, base * 1e2, 4))
        else:
            norms = [5.0, 10.0, 20.0, 40.0]
    tick = time.perf_counter()
    path = ntp.regularization_path(inst, norms)
    total = time.perf_counter() - tick
    for i, b in enumerate(path.norms):
        print(
            f"B = {b:9.4g}  excess = {path.excess_loss[i]:.4g}  lam = {path.multipliers[i]:.3g}  "
            f"kkt = {path.kkt_residual[i]:.2g}  norm_error = {path.norm_error[i]:.2g}  "
            f"converged = {bool(path.converged[i])}"
        )
    print(f"method {path.method}: {total:.1f} s for {len(path.norms)} norms")


if __name__ == "__main__":
    main()
