"""Which max-margin solution does each optimizer approach? Margin fractions in four norms.

Usage::

    python bench/beyond_gd.py                  # 10^4 steps, three instances, a few minutes
    python bench/beyond_gd.py --steps 1000     # a quick look
    python bench/beyond_gd.py --plot docs/beyond-gd.png
    python bench/beyond_gd.py --steps 100000 --only paper --methods adam,nsd-max,signum
    python bench/beyond_gd.py --corpus zen.txt --tokens chars --only corpus   # a real text

For each instance the four NTP-SVMs (l2, max, l1, spectral) are solved and certified once
(:func:`ntpprops.ntp_svm_result` with ``norm=...``; the table prints their optimal norms and
duality gaps). Each optimizer then runs from ``W_0 = 0`` (:func:`ntpprops.margin_trajectory`,
exact softmax residual) and the table prints, at the last step, the margin fraction
``gamma_q(P_perp W) / gamma_q*`` in each norm, the norm whose optimum the iterate beats by
the most in that norm's own margin ("lead"; "-" when it beats none yet), and the Eq. 4
residual. The plot shows the fractions against steps (log scale) on the paper's instance.

Instances: the paper's App. A.2 setting (``ntpprops verify``'s default, seed 0), a random NTP
instance (m = 20, V = 8, d = 30, S = 3) and a random one-hot instance (m = 20, V = 5, d = 30,
the Remark 1 case where the Fan-Schmidt-Thrampoulidis theorems apply), Gaussian ``H``; with
``--corpus FILE`` also the text's instance (``ntpprops verify --corpus`` builds the same:
one-hot context embeddings, ``--context-length`` tokens, ``--tokens`` words or chars).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _env import environment

import ntpprops as ntp
from ntpprops._defaults import paper_instance
from ntpprops._svm_norms import NORMS
from ntpprops.cli._inputs import load_corpus

SEED = 20241202

#: (name, optimizer name, hyperparameters): the paper's GD/NGD/Adam settings and the
#: normalised steepest-descent family with eta_t = 0.1 (t + 1)^(-1/2).
METHODS = [
    ("GD, 1/(2L)", "gd", {}),
    ("NGD, 0.01", "ngd", {"lr": 0.01}),
    ("Adam, 0.01", "adam", {"lr": 0.01}),
    ("Adam, 0.1 t^-1/2", "adam-decay", {"lr": 0.1, "decay": 0.5}),
    ("NSD-l2, 0.1 t^-1/2", "nsd-l2", {"lr": 0.1, "decay": 0.5}),
    ("sign (NSD-max), 0.1 t^-1/2", "nsd-max", {"lr": 0.1, "decay": 0.5}),
    ("signum, 0.1 t^-1/2", "signum", {"lr": 0.1, "decay": 0.5}),
    ("spectral NSD, 0.1 t^-1/2", "nsd-spectral", {"lr": 0.1, "decay": 0.5}),
    ("Muon (NS5), 0.1 t^-1/2", "muon", {"lr": 0.1, "decay": 0.5}),
    ("NSD-l1, 0.1 t^-1/2", "nsd-l1", {"lr": 0.1, "decay": 0.5}),
]


def random_ntp(m: int, V: int, d: int, S: int, seed: int) -> ntp.NTPInstance:
    """Gaussian H, random supports of size S, Dirichlet(1) probabilities on them."""
    rng = np.random.default_rng(seed)
    P = np.zeros((m, V))
    for j in range(m):
        tokens = rng.choice(V, size=S, replace=False)
        P[j, tokens] = rng.dirichlet(np.ones(S))
    return ntp.NTPInstance(rng.standard_normal((m, d)), P)


def corpus_instance(path: str, tokens: str, k: int) -> tuple[str, ntp.NTPInstance]:
    """The instance ``ntpprops verify --corpus`` builds (one-hot context embeddings)."""
    corpus = load_corpus(path, tokens)
    usable = [s for s in corpus.sequences if len(s) > k]
    inst = ntp.NTPInstance.from_sequences(usable, "onehot", k)
    shape = f"({inst.m}, {inst.vocab_size}, {inst.dim})"
    return f"corpus {path} ({tokens}, K = {k}) {shape}", inst


def instances(args: argparse.Namespace) -> list[tuple[str, ntp.NTPInstance]]:
    out = [
        ("paper (50, 10, 60), S=6", paper_instance()),
        ("random (20, 8, 30), S=3", random_ntp(20, 8, 30, 3, SEED)),
        ("one-hot (20, 5, 30)", random_ntp(20, 5, 30, 1, SEED + 1)),
    ]
    if args.corpus:
        out.append(corpus_instance(args.corpus, args.tokens, args.context_length))
    return out


def optimizer_for(inst: ntp.NTPInstance, name: str, hyper: dict) -> ntp.Optimizer:
    if name == "gd":
        return ntp.OPTIMIZERS["gd"](ntp.safe_step_size(inst))
    return ntp.OPTIMIZERS[name](**hyper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument(
        "--plot", default=None, help="write the plot of the first instance run here (PNG)"
    )
    parser.add_argument("--corpus", default=None, help="also run this text (one line a sequence)")
    parser.add_argument("--tokens", choices=("words", "chars"), default="words")
    parser.add_argument("--context-length", type=int, default=1, help="K (with --corpus)")
    parser.add_argument("--only", default="", help="run the instances whose label starts so")
    parser.add_argument(
        "--methods", default="", help="comma-separated optimizer names (default: all)"
    )
    args = parser.parse_args()
    wanted = set(filter(None, args.methods.split(",")))
    print(environment())
    print(f"# steps = {args.steps}, W_0 = 0")
    curves = {}
    plotted = ""
    for label, inst in instances(args):
        if not label.startswith(args.only):
            continue
        print(f"\n## {label}")
        for q in NORMS:
            start = time.perf_counter()
            result = ntp.ntp_svm_result(inst, norm=q)
            gap = "KKT" if result.certificate is None else f"gap {result.certificate.gap:.1e}"
            print(
                f"#   {q:8s} optimum ||W||_q = {1.0 / result.margin:.6g} ({result.method}, "
                f"{gap}, {time.perf_counter() - start:.2f} s)"
            )
        header = " | ".join(f"{q} frac" for q in NORMS)
        print(f"| method | {header} | lead | Eq. 4 residual | s |")
        print("|---" * (len(NORMS) + 4) + "|")
        for title, name, hyper in METHODS:
            if wanted and name not in wanted:
                continue
            start = time.perf_counter()
            traj = ntp.margin_trajectory(
                inst, optimizer_for(inst, name, hyper), args.steps, record=30
            )
            approached, leads = traj.approached()
            fractions = " | ".join(f"{traj.fractions[q][-1]:.3f}" for q in NORMS)
            lead = "-" if approached is None else f"{approached} (+{leads[approached]:.3f})"
            print(
                f"| {title} | {fractions} | {lead} | {traj.eq4_residual[-1]:.2e} | "
                f"{time.perf_counter() - start:.1f} |"
            )
            if plotted in ("", label):
                plotted = label
                curves[title] = traj
    if args.plot:
        plot(curves, args.plot, plotted)
        print(f"\n# plot written to {args.plot}")


def plot(curves: dict, path: str, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(NORMS), figsize=(16, 5.2), sharex=True)
    for ax, q in zip(axes, NORMS, strict=True):
        for title, traj in curves.items():
            steps = np.maximum(traj.steps, 1)
            ax.plot(steps, traj.fractions[q], label=title, lw=1.2)
        ax.set_xscale("log")
        ax.set_ylim(-0.5, 1.05)
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set_title(f"{q}-margin / {q}-optimum")
        ax.set_xlabel("step")
    # One legend for all panels, below them, in type large enough to read at page width.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=10, frameon=False)
    fig.suptitle(f"{label}: normalised margins of P_perp W_k", fontsize=12)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    main()
