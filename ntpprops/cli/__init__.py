"""The ``ntpprops`` command line: ``verify`` checks the claims of docs/theory.md on an instance
and writes a report; ``explore`` searches a conjecture for counterexamples; ``sweep`` measures the
fraction of NTP-separable random instances over a parameter grid (on Dask).

Exit status: 0 when every applicable claim passed (``explore``: whether or not a
counterexample was found), 1 when a claim failed, 2 on bad input or usage, with one line on
stderr naming the problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from ntpprops._errors import InvalidInstanceError, NTPError
from ntpprops.cli import _explore, _sweep, _verify
from ntpprops.cli._inputs import UsageError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors raise :class:`UsageError` (no usage dump, no exit)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    from ntpprops import __version__

    parser = _Parser(
        prog="ntpprops",
        description="Verify the implicit bias of next-token prediction (Thrampoulidis 2024).",
    )
    parser.add_argument("--version", action="version", version=f"ntpprops {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    verify = commands.add_parser(
        "verify",
        help="check every applicable claim of the spec (docs/theory.md) and write a report",
        description="Check the claims of the spec (docs/theory.md in the ntpprops repository) "
        "on an instance (default: the paper's App. A.2 setting) and write report.json, "
        "report.md and plots.",
    )
    _verify.add_arguments(verify)
    explore = commands.add_parser(
        "explore",
        help="search a conjecture for a counterexample with Hypothesis",
        description="Search a registered conjecture for a counterexample and shrink it.",
    )
    _explore.add_arguments(explore)
    sweep = commands.add_parser(
        "sweep",
        help="phase diagram of NTP-separability over a grid of random instances (Dask)",
        description="Measure random instances over a grid (m, d, V, S, laws) x trials on Dask, "
        "append the rows to a resumable Parquet store, and report the fraction separable.",
    )
    _sweep.add_arguments(sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ntpprops`` console script.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    from ntpprops import __version__

    try:
        args = build_parser().parse_args(argv)
        if args.command == "verify":
            return _verify.run_verify(args, __version__)
        if args.command == "explore":
            return _explore.run_explore(args)
        if args.command == "sweep":
            return _sweep.run_sweep_command(args, None if argv is None else list(argv)[1:])
        raise UsageError("ntpprops: give a command: verify, explore or sweep (see ntpprops --help)")
    except (UsageError, InvalidInstanceError) as exc:
        return _fail(exc, 2)
    except NTPError as exc:  # a solver that could not finish: the run is not a verdict
        return _fail(exc, 1)
    except KeyboardInterrupt:
        print("ntpprops: interrupted", file=sys.stderr)
        return 130


def _fail(exc: Exception, status: int) -> int:
    message = " ".join(str(exc).split())
    if not message.startswith("ntpprops"):
        message = f"ntpprops: error: {message}"
    print(message, file=sys.stderr)
    return status
