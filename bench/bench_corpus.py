"""Benchmark every piece of ntpprops on real text of growing size, with growth exponents.

Usage::

    python bench/bench_corpus.py                       # words, K = 1, one-hot and gaussian d=384
    python bench/bench_corpus.py --words 1000,2000,4000 --embeddings gaussian
    python bench/bench_corpus.py --pieces compat,sep,train --timeout 300
    python bench/bench_corpus.py --liblinear           # one-hot NTP-SVM vs Crammer-Singer only

The corpus is real English prose that ships with this machine: the licence texts in
``/usr/share/common-licenses`` (GPL-3 first, then GPL-2, LGPL-2.1, Apache-2.0, MPL-2.0,
GFDL-1.3), one sequence per line; a size ``N`` takes the first lines holding ``N`` words.
Instances are built as ``ntpprops verify --corpus FILE --context-length 1`` builds them.

Pieces (each in a fresh subprocess, so its peak resident memory is its own; the instance is
built before the clock starts and the memory of a process that only built it is printed):

- ``compat``: :func:`ntpprops.is_compatible`;
- ``sep``: :func:`ntpprops.is_separable` (``undecided`` when the solver ran out of budget);
- ``svm``: :func:`ntpprops.ntp_svm_result` after ``sep`` (separable instances only);
- ``train``: seconds per GD step (``train(inst, "gd", steps=200, limits=False, record=2)``);
- ``path``: seconds per point of ``regularization_path`` at ``B = 2, 4 ||W*||`` (or 1, 2);
- ``verify``: the whole ``ntpprops verify --quick --no-plots`` on the text.

The growth exponent of each piece is the least-squares slope of ``log seconds`` against
``log m`` and against ``log (m V)`` over the sizes where it finished (m and V grow together in
real text, so the two fits are not independent). ``--liblinear`` compares the hard-margin
one-hot NTP-SVM (Remark 1: Crammer-Singer without bias) with scikit-learn's liblinear
Crammer-Singer (``C = 1e8``, ``tol = 1e-8``, no intercept) on teacher-labelled data
(``y_j = argmax_v (W_0 h_j)_v``, so separable) of size (m, V, d) = (10^4, 100, 300).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from _env import environment

TEXTS = ("GPL-3", "GPL-2", "LGPL-2.1", "Apache-2.0", "MPL-2.0", "GFDL-1.3")
LICENCES = Path("/usr/share/common-licenses")
PIECES = ("compat", "sep", "svm", "train", "path", "verify")
TRAIN_STEPS = 200

#: Run in the child process: build the instance, time one piece, print a JSON line.
CHILD = r"""
import json, resource, sys, time
import numpy as np
import ntpprops as ntp
from ntpprops.cli._inputs import load_corpus
from threadpoolctl import threadpool_limits

path, embedding, piece = sys.argv[1], sys.argv[2], sys.argv[3]
usable = [s for s in load_corpus(path, "words").sequences if len(s) > 1]
extra = {"dim": 384, "seed": 0} if embedding == "gaussian" else {}
inst = ntp.NTPInstance.from_sequences(usable, embedding, 1, **extra)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {"m": inst.m, "V": inst.vocab_size, "d": inst.dim, "base_mb": base}
start = time.perf_counter()
try:
    if piece == "compat":
        out["result"] = bool(ntp.is_compatible(inst))
    elif piece == "sep":
        out["result"] = bool(ntp.is_separable(inst))
    elif piece == "svm":
        if ntp.is_separable(inst):
            start = time.perf_counter()
            out["result"] = ntp.ntp_svm_result(inst).method
        else:
            out["result"] = "not separable"
    elif piece == "train":
        run = ntp.train(inst, "gd", steps=1, limits=False, record=2)  # warm-up
        start = time.perf_counter()
        ntp.train(inst, "gd", steps=%(steps)d, limits=False, record=2, init=run.W)
        out["per"] = "step"
        out["divide"] = %(steps)d
    elif piece == "path":
        compat = ntp.is_compatible(inst)
        scale = 2 * float(np.linalg.norm(compat.w_star)) if compat else 1.0
        start = time.perf_counter()
        path = ntp.regularization_path(inst, [max(scale, 1.0), 2 * max(scale, 1.0)])
        out["per"] = "point"
        out["divide"] = 2
        out["result"] = path.method
except ntp.SeparabilityUndecidedError:
    out["result"] = "undecided"
except ntp.NTPError as exc:
    out["result"] = f"{type(exc).__name__}: {str(exc)[:80]}"
out["seconds"] = (time.perf_counter() - start) / out.pop("divide", 1)
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def corpus_prefix(words: int, folder: Path) -> Path:
    """The first lines of the licence texts holding ``words`` words, as a file in ``folder``."""
    lines, count = [], 0
    for name in TEXTS:
        for line in (LICENCES / name).read_text(encoding="utf-8").splitlines():
            if count >= words:
                break
            lines.append(line)
            count += len(line.split())
    path = folder / f"corpus{words}.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_piece(path: Path, embedding: str, piece: str, timeout: float) -> dict:
    if piece == "verify":
        return run_verify(path, embedding, timeout)
    code = CHILD % {"steps": TRAIN_STEPS}
    argv = [sys.executable, "-c", code, str(path), embedding, piece]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"seconds": math.inf, "result": f"> {timeout:g} s"}
    if done.returncode != 0:
        return {"seconds": math.nan, "result": "crashed: " + done.stderr.strip()[-120:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_verify(path: Path, embedding: str, timeout: float) -> dict:
    argv = [sys.executable, "-m", "ntpprops", "verify", "--corpus", str(path)]
    argv += ["--context-length", "1", "--embedding", embedding, "--quick", "--no-plots"]
    argv += ["--dim", "384"] if embedding == "gaussian" else []
    with tempfile.TemporaryDirectory() as out:
        argv += ["--out", out]
        timing = [sys.executable, "-c", "import resource, subprocess, sys, time; "
                  "t = time.perf_counter(); r = subprocess.run(sys.argv[1:]).returncode; "
                  "print(time.perf_counter() - t, r, "
                  "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)",
                  *argv]  # fmt: skip
        try:
            done = subprocess.run(timing, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"seconds": math.inf, "result": f"> {timeout:g} s"}
    seconds, status, peak = done.stdout.strip().splitlines()[-1].split()
    return {"seconds": float(seconds), "result": f"exit {status}", "peak_mb": float(peak)}


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ``log y`` on ``log x`` (nan with fewer than two points)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if 0 < y < math.inf]
    if len(pts) < 2:
        return math.nan
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx > 0 else math.nan


def bench_corpus(sizes: list[int], embeddings: list[str], pieces: list[str], timeout: float):
    with tempfile.TemporaryDirectory() as tmp:
        for embedding in embeddings:
            print(
                f"\n## words, K = 1, {embedding} embedding"
                + (" (d = 384)" * (embedding == "gaussian"))
            )
            print("| words | m | V | d | piece | seconds | per | result | peak RSS (MB) |")
            print("|---|---|---|---|---|---|---|---|---|")
            fits: dict[str, tuple[list[float], list[float], list[float]]] = {}
            for words in sizes:
                path = corpus_prefix(words, Path(tmp))
                shape = None
                for piece in pieces:
                    row = run_piece(path, embedding, piece, timeout)
                    shape = shape or (row.get("m"), row.get("V"), row.get("d"))
                    m, V, d = shape
                    print(
                        f"| {words} | {m} | {V} | {d} | {piece} | {row['seconds']:.3g} | "
                        f"{row.get('per', 'call')} | {row.get('result', '')} | "
                        f"{row.get('peak_mb', math.nan):.0f} |",
                        flush=True,
                    )
                    if m and V:
                        ms, mvs, ts = fits.setdefault(piece, ([], [], []))
                        ms.append(m)
                        mvs.append(m * V)
                        ts.append(row["seconds"])
            print("\n| piece | exponent in m | exponent in m V |")
            print("|---|---|---|")
            for piece, (ms, mvs, ts) in fits.items():
                print(f"| {piece} | {slope(ms, ts):.2f} | {slope(mvs, ts):.2f} |")


LIBLINEAR = r"""
import json, sys, time
import numpy as np
from sklearn.svm import LinearSVC
import ntpprops as ntp
m, V, d = %(m)d, %(V)d, %(d)d
rng = np.random.default_rng(0)
H = rng.standard_normal((m, d))
labels = np.argmax(H @ rng.standard_normal((V, d)).T, axis=1)
P = np.zeros((m, V)); P[np.arange(m), labels] = 1.0
inst = ntp.NTPInstance(H, P)
which = sys.argv[1]
start = time.perf_counter()
if which == "ntpprops":
    res = ntp.ntp_svm_result(inst)
    W, method = res.W, res.method
else:
    clf = LinearSVC(multi_class="crammer_singer", C=1e8, tol=1e-8, fit_intercept=False,
                    max_iter=1_000_000).fit(H, labels)
    W, method = np.zeros((V, d)), "liblinear"
    W[clf.classes_] = clf.coef_
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "method": method, "norm": float(np.linalg.norm(W)),
                  "margin": float(ntp.ntp_margin(inst, W))}))
"""


def bench_liblinear(m: int, V: int, d: int, timeout: float) -> None:
    print(f"\n## hard-margin one-hot NTP-SVM at (m, V, d) = ({m}, {V}, {d}), teacher labels")
    print("| solver | seconds | method | ||W|| | NTP margin of W/||W|| |")
    print("|---|---|---|---|---|")
    for which in ("ntpprops", "liblinear"):
        code = LIBLINEAR % {"m": m, "V": V, "d": d}
        try:
            done = subprocess.run(
                [sys.executable, "-c", code, which], capture_output=True, text=True,
                timeout=timeout, check=False,
            )  # fmt: skip
            row = json.loads(done.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            row = {"seconds": math.inf, "method": f"> {timeout:g} s", "norm": math.nan,
                   "margin": math.nan}  # fmt: skip
        except (IndexError, json.JSONDecodeError):
            row = {"seconds": math.nan, "method": "crashed: " + done.stderr.strip()[-100:],
                   "norm": math.nan, "margin": math.nan}  # fmt: skip
        print(
            f"| {which} | {row['seconds']:.3g} | {row['method']} | {row['norm']:.8g} | "
            f"{row['margin']:.8g} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", default="1000,2000,4000,8000,16000")
    parser.add_argument("--embeddings", default="onehot,gaussian")
    parser.add_argument("--pieces", default=",".join(PIECES))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per cell")
    parser.add_argument("--liblinear", action="store_true", help="only the SVM comparison")
    parser.add_argument("--liblinear-size", default="10000,100,300", metavar="M,V,D")
    args = parser.parse_args()
    print(environment())
    if args.liblinear:
        m, V, d = (int(x) for x in args.liblinear_size.split(","))
        bench_liblinear(m, V, d, args.timeout)
        return
    sizes = [int(x) for x in args.words.split(",")]
    pieces = [p for p in args.pieces.split(",") if p]
    unknown = set(pieces) - set(PIECES)
    if unknown:
        parser.error(f"unknown pieces {sorted(unknown)}; choose from {PIECES}")
    bench_corpus(sizes, args.embeddings.split(","), pieces, args.timeout)


if __name__ == "__main__":
    main()
