"""Sparse (one-hot) embeddings: the CSR path against the dense one, in one run.

Run: ``python bench/bench_sparse.py [--file PATH] [--context-length K] [--steps N]``.
Builds the one-hot corpus instance that ``ntpprops verify --corpus PATH --context-length K``
builds (default: the GPL-3 text, K = 1, m = d = 1421, V = 1557), then times on two fresh
copies, one held dense (``SPARSE_MIN_ENTRIES`` raised out of reach) and one held sparse:

- ``train`` per step for GD, NGD and Adam (``steps`` steps, two records, no limits; a
  warm-up run first so the step size and kernel are cached);
- ``is_separable`` (dense: the whole-instance active-set method; sparse: by orthogonal groups
  of contexts, closed form for single contexts), with ``W^mm`` KKT-checked and compared;
- the ratio dense / sparse of each. Compare ratios, not absolute times (shared machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _env import environment

import ntpprops as ntp
import ntpprops._embedding_ops as ops
from ntpprops.cli._inputs import load_corpus


def build(path: str, context_length: int) -> ntp.NTPInstance:
    usable = [s for s in load_corpus(path, "words").sequences if len(s) > context_length]
    return ntp.NTPInstance.from_sequences(usable, "onehot", context_length)


def fresh(inst: ntp.NTPInstance) -> ntp.NTPInstance:
    return ntp.NTPInstance(inst.embeddings, inst.probs, inst.context_weights)


def per_step(inst: ntp.NTPInstance, method: str, steps: int) -> float:
    ntp.train(inst, method, steps=2, limits=False, record=2)  # caches L, compiles nothing
    start = time.perf_counter()
    ntp.train(inst, method, steps=steps, limits=False, record=2)
    return (time.perf_counter() - start) / steps


def separability(inst: ntp.NTPInstance) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    assert ntp.is_separable(inst)
    seconds = time.perf_counter() - start
    result = ntp.ntp_svm_result(inst)
    assert result.kkt.ok
    return seconds, result.W


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="/usr/share/common-licenses/GPL-3")
    parser.add_argument("--context-length", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    print(environment())
    base = build(args.file, args.context_length)
    print(f"(m, V, d) = ({base.m}, {base.vocab_size}, {base.dim})")
    dense, sparse = fresh(base), fresh(base)
    reach = ops.SPARSE_MIN_ENTRIES
    ops.SPARSE_MIN_ENTRIES = 10**15
    assert isinstance(ops.embedding_operator(dense), np.ndarray)
    ops.SPARSE_MIN_ENTRIES = reach
    assert not isinstance(ops.embedding_operator(sparse), np.ndarray)
    print("| piece | dense | sparse | dense / sparse |\n|---|---|---|---|")
    for method in ("gd", "ngd", "adam"):
        a, b = per_step(dense, method, args.steps), per_step(sparse, method, args.steps)
        print(f"| {method} step | {a * 1e3:.1f} ms | {b * 1e3:.1f} ms | {a / b:.1f} |")
    (a, W_dense), (b, W_sparse) = separability(dense), separability(sparse)
    print(f"| is_separable | {a:.2f} s | {b:.2f} s | {a / b:.1f} |")
    gap = np.linalg.norm(W_dense - W_sparse) / np.linalg.norm(W_dense)
    print(f"W^mm relative difference between the two: {gap:.2e}")


if __name__ == "__main__":
    main()
