"""``report.md``: the report for a person.

The claims table shows each claim's headline, as on the terminal; under it, one section per
claim gives the statement, the reason and the measurements as readable lists and tables
(series that share an axis side by side). The raw structure is ``report.json``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ntpprops.cli._format import short

__all__ = ["VERDICT_TEXT", "markdown_report", "measured_markdown"]

VERDICT_TEXT = {
    "passed": "PASS",
    "failed": "FAIL",
    "not_applicable": "n/a",
    "observed": "observed",
}

#: Series that are the axis of the others measured with them (their values head the columns).
AXES = ("B", "gamma", "R")

#: Mappings keyed by something other than GD's checkpoints ``k``: the name of their key.
KEY_AXES = {"entropy_by_context_length": "t"}

#: Significant digits of the numbers in the details.
DIGITS = 4


def _cell(value: Any) -> str:
    return "–" if value is None else _md(short(value, DIGITS))


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (Mapping, list, tuple))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def measured_markdown(measured: Mapping[str, Any]) -> list[str]:
    """The measurements of one claim as Markdown lines.

    Scalars become a list; lists of numbers of one length become one table (a row per
    quantity, a column per point, headed by the axis ``B``, ``gamma`` or ``R`` when
    measured); mappings of numbers with the same keys (checkpoints ``k``) one table with a
    column per key; other mappings a nested list; an empty one "none".
    """
    scalars: list[str] = []
    series: dict[int, list[tuple[str, list[Any]]]] = {}
    keyed: dict[tuple[str, ...], list[tuple[str, Mapping[str, Any]]]] = {}
    nested: list[str] = []
    for name, value in measured.items():
        if _is_scalar(value):
            scalars.append(f"- {_md(name)}: {_cell(value)}")
        elif isinstance(value, (Mapping, list, tuple)) and not value:
            scalars.append(f"- {_md(name)}: none")  # e.g. no norm skipped
        elif isinstance(value, (list, tuple)) and all(_is_scalar(v) for v in value):
            series.setdefault(len(value), []).append((name, list(value)))
        elif isinstance(value, Mapping) and all(_is_scalar(v) for v in value.values()):
            if len(value) <= 3:
                axis_name = KEY_AXES.get(name, "k")
                keyed.setdefault((axis_name, *value), []).append((name, value))
            else:
                nested.append(f"- {_md(name)}:")
                nested += [f"  - {_md(str(k))}: {_cell(v)}" for k, v in value.items()]
        else:
            nested.append(f"- {_md(name)}: {_md(short(value, DIGITS))}")
    lines = scalars + nested
    for group in series.values():
        axis = group[0][0] if group[0][0] in AXES else None
        rows = group[1:] if axis else group
        if not rows:
            rows = group
            axis = None
        header = [
            f"{axis} = {_cell(v)}" if axis else f"point {i + 1}" for i, v in enumerate(group[0][1])
        ]
        lines += [
            *([""] if lines else []),
            *_table(["quantity", *header], [[_md(n), *map(_cell, v)] for n, v in rows]),
        ]
    for (axis_name, *keys), entries in keyed.items():
        header = [f"{axis_name} = {k}" if k.isdigit() else k for k in keys]
        table_rows = [[_md(n), *(_cell(v) for v in m.values())] for n, m in entries]
        lines += [*([""] if lines else []), *_table(["quantity", *header], table_rows)]
    return lines


def markdown_report(doc: Mapping[str, Any]) -> str:
    """``report.md`` from the ``report.json`` document."""
    lines = [
        "# ntpprops verify report",
        "",
        f"Source: {doc['source']}. Verdict: "
        + (
            "all applicable claims passed."
            if doc["exit_status"] == 0
            else "**some claims failed**."
        ),
        "",
        "## Instance",
        "",
        *_table(["quantity", "value"], [[k, _md(short(v, 6))] for k, v in doc["instance"].items()]),
        "",
        "## Claims",
        "",
        *_table(
            ["claim", "measured", "verdict"],
            [[c["id"], _md(c["summary"]), VERDICT_TEXT[c["status"]]] for c in doc["claims"]],
        ),
        "",
        ", ".join(f"{v} {k}" for k, v in doc["summary"].items()) + ".",
        "",
    ]
    if doc["scaled_stages"]:
        lines += ["## Stages scaled down to fit the budget", ""]
        lines += [f"- {stage}: {_md(note)}" for stage, note in doc["scaled_stages"].items()]
        lines.append("")
    lines += ["## Details", ""]
    for c in doc["claims"]:
        lines += [f"### {c['id']}: {VERDICT_TEXT[c['status']]}", "", _md(c["statement"]) + ".", ""]
        if c["reason"]:
            lines += [f"Reason: {_md(c['reason'])}.", ""]
        if c["measured"]:
            lines += [*measured_markdown(c["measured"]), ""]
    if doc["figures"]:
        lines += ["## Figures", ""]
        for fig in doc["figures"]:
            lines += [f"### {fig['caption']}", "", f"![{fig['caption']}]({fig['file']})", ""]
    timings = doc["timings_seconds"]
    if timings:
        lines += ["## Timings (s)", ""]
        lines += [f"- {k}: {short(v)}" for k, v in timings.items()]
        lines.append("")
    return "\n".join(lines)
