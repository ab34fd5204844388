"""``ntpprops sweep``: the fraction of NTP-separable random instances over a parameter grid.

Runs :func:`ntpprops.sweep.run_sweep` (Dask: a local cluster, the synchronous scheduler for
``--workers 1``, or ``--scheduler ADDRESS``), resuming from ``--store``; prints the table of
fractions and the fitted thresholds against the theory curves, and with ``--out`` writes the
phase-diagram PNG and the tables there.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ntpprops.cli._inputs import UsageError

__all__ = ["add_arguments", "run_sweep_command"]

_SUMMARY_COLUMNS = (
    "m", "d", "vocab", "support", "n", "separable", "errors", "fraction", "ci_low", "ci_high",
)  # fmt: skip
_THRESHOLD_COLUMNS = (
    "m", "vocab", "support", "support_law", "d10", "d50", "d90", "width",
    "d_cover", "dev_cover", "d_statdim", "dev_statdim", "d_statdim_shift", "dev_statdim_shift",
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sweep`` options to ``parser``."""
    grid = parser.add_argument_group("grid (comma lists or a:b:step ranges, b included)")
    grid.add_argument("--m", default="40", help="numbers of contexts (default 40)")
    grid.add_argument("--d", default="16:26:2", help="embedding dimensions (default 16:26:2)")
    grid.add_argument("--vocab", default="10", help="vocabulary sizes V (default 10)")
    grid.add_argument("--support", default="3", help="support sizes S (default 3)")
    grid.add_argument(
        "--support-law", default="fixed", help="fixed, uniform (1..S), zipf (∝ 1/k on 1..S)"
    )
    grid.add_argument("--embedding", default="gaussian", help="gaussian or sphere")
    grid.add_argument("--pi", default="uniform", help="context weights: uniform or dirichlet")
    parser.add_argument("--trials", type=int, default=10, help="instances per grid point")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument(
        "--measures",
        default="separable",
        help="comma list of registered measures (separable is always included); "
        "see --list-measures",
    )
    parser.add_argument("--list-measures", action="store_true", help="list measures and exit")
    parser.add_argument(
        "--workers", type=int, default=None, help="local worker processes (default: all cores)"
    )
    parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    parser.add_argument("--chunk-size", type=int, default=None, help="instances per Dask task")
    parser.add_argument(
        "--store", default="sweep.parquet", help="Parquet store (directory), resumed if present"
    )
    parser.add_argument("--out", default=None, help="directory for the PNG and tables")


def _laws(text: str, name: str, allowed: Sequence[str]) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise UsageError(f"ntpprops sweep: {name} must be among {list(allowed)}, got {text!r}")
    return list(dict.fromkeys(values))


def _write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    if not rows:
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run_sweep_command(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Run ``ntpprops sweep``; 0 when the sweep completed, 1 when the engine failed (the
    stored chunks stay: rerunning resumes).

    Raises
    ------
    UsageError
        Bad grid values, unknown measures or laws, a store written with other measures, or
        dask/pyarrow missing.
    """
    from ntpprops import sweep

    if args.list_measures:
        for entry in sweep.MEASURES.values():
            print(f"{entry.name:12s} {entry.doc}  [{', '.join(entry.columns)}]")
        return 0
    try:
        axes = {name: sweep.parse_values(getattr(args, name), f"--{name}") for name in ("m", "d")}
        axes["vocab"] = sweep.parse_values(args.vocab, "--vocab")
        axes["support"] = sweep.parse_values(args.support, "--support")
        points = sweep.grid_points(
            **axes,
            support_law=_laws(args.support_law, "--support-law", sweep.SUPPORT_LAWS),
            embedding=_laws(args.embedding, "--embedding", sweep.EMBEDDING_LAWS),
            pi=_laws(args.pi, "--pi", sweep.PI_LAWS),
        )
    except ValueError as exc:
        raise UsageError(f"ntpprops sweep: {exc}") from None
    if args.trials < 1:
        raise UsageError(f"ntpprops sweep: --trials must be >= 1, got {args.trials}")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"ntpprops sweep: --workers must be >= 1, got {args.workers}")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise UsageError(f"ntpprops sweep: --chunk-size must be >= 1, got {args.chunk_size}")
    names = ["separable", *(n.strip() for n in args.measures.split(",") if n.strip())]
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in sweep.MEASURES]
    if unknown:
        raise UsageError(
            f"ntpprops sweep: unknown measures {unknown}; known: {', '.join(sweep.MEASURES)}"
        )
    try:
        import dask  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"ntpprops sweep needs dask and pyarrow ({exc}): pip install 'ntpprops[sweep]'"
        ) from None
    try:
        result = sweep.run_sweep(
            points,
            trials=args.trials,
            store=args.store,
            measures=names,
            workers=args.workers,
            scheduler=args.scheduler,
            base_seed=args.seed,
            chunk_size=args.chunk_size,
        )
    except ValueError as exc:
        raise UsageError(f"ntpprops sweep: {exc}") from None
    except Exception as exc:  # the cluster failed (timeout, lost scheduler, killed workers)
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(
            f"ntpprops sweep: the sweep did not complete ({type(exc).__name__}: {message}); "
            f"finished chunks are in {args.store}: rerun the same command to resume",
            file=sys.stderr,
        )
        return 1
    summary = sweep.summarize(result.table)
    fitted = sweep.thresholds(summary)
    from ntpprops.sweep._analysis import markdown_table

    command = "ntpprops sweep " + shlex.join(sys.argv[2:] if argv is None else argv)
    report = (
        f"`{command}`\n\n{len(result.table)} instances ({result.computed} computed, "
        f"{result.skipped} already stored) in {result.seconds:.1f} s on {result.workers} "
        f"worker(s); store {result.store}\n\n"
        + markdown_table(summary, _SUMMARY_COLUMNS)
        + "\nFitted transition (isotonic fit; d10/d50/d90 crossings) against theory curves "
        "(dev = d50 − curve):\n\n" + markdown_table(fitted, _THRESHOLD_COLUMNS)
    )
    print(report, end="")
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        _write_csv(summary, out / "summary.csv")
        _write_csv(fitted, out / "thresholds.csv")
        (out / "sweep.md").write_text(report)
        sweep.plot_phase_diagram(summary, fitted, out / "phase_diagram.png")
        print(f"wrote {out / 'phase_diagram.png'}, summary.csv, thresholds.csv, sweep.md")
    return 0
