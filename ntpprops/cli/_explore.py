"""``ntpprops explore``: search a registered conjecture for a counterexample."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ntpprops.cli._inputs import UsageError, save_npz
from ntpprops.conjectures import CONJECTURES, explore, get_conjecture

__all__ = ["add_arguments", "run_explore"]

DEFAULT_MAX_EXAMPLES = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``ntpprops explore``."""
    parser.add_argument("conjecture", nargs="?", help="name of a registered conjecture")
    parser.add_argument("--list", action="store_true", help="list the registered conjectures")
    parser.add_argument(
        "--max-examples",
        type=int,
        default=DEFAULT_MAX_EXAMPLES,
        metavar="N",
        help=f"Hypothesis budget (default {DEFAULT_MAX_EXAMPLES})",
    )
    parser.add_argument("--seed", type=int, help="seed of the search (reproducible results)")
    parser.add_argument(
        "--save", metavar="PATH", help="write the counterexample as an .npz for verify --data"
    )


def list_conjectures(stdout: TextIO) -> None:
    width = max(len(name) for name in CONJECTURES)
    for conj in CONJECTURES.values():
        print(f"{conj.name:<{width}}  [{conj.expected:>5}]  {conj.statement}", file=stdout)


def run_explore(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Run ``ntpprops explore``; 0 whether or not a counterexample was found."""
    stdout = sys.stdout if stdout is None else stdout
    if args.list:
        list_conjectures(stdout)
        return 0
    if args.conjecture is None:
        raise UsageError("explore needs a CONJECTURE name (see ntpprops explore --list)")
    if args.max_examples < 1:
        raise UsageError(f"--max-examples must be a positive integer, got {args.max_examples}")
    try:
        conj = get_conjecture(args.conjecture)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    print(f"conjecture {conj.name} [{conj.expected}]: {conj.statement}", file=stdout)
    result = explore(conj, max_examples=args.max_examples, seed=args.seed)
    seed = "random" if args.seed is None else str(args.seed)
    if result.counterexample is None:
        print(
            f"no counterexample found within {args.max_examples} examples (seed {seed}).",
            file=stdout,
        )
        if conj.expected == "false":
            print(f"the statement is known to be false: {conj.note}", file=stdout)
        return 0
    print(f"counterexample (shrunk; seed {seed}):", file=stdout)
    print(repr(result.counterexample), file=stdout)
    if conj.note:
        print(f"note: {conj.note}", file=stdout)
    if args.save:
        path = save_npz(result.counterexample, args.save)
        print(f"saved to {path}; check it with: ntpprops verify --data {path}", file=stdout)
    return 0
