"""The report of ``ntpprops verify``: terminal table, ``report.json`` and ``report.md``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ntpprops._loss import safe_step_size, smoothness_bound
from ntpprops._subspace import f_dimension
from ntpprops.cli._analysis import Analysis
from ntpprops.cli._claims import STATUSES, Claim

__all__ = ["describe_instance", "exit_status", "jsonable", "render_table", "write_reports"]

VERDICT_TEXT = {
    "passed": "PASS",
    "failed": "FAIL",
    "not_applicable": "n/a",
    "observed": "observed",
}


def jsonable(value: Any) -> Any:
    """Plain JSON data: arrays to lists, numpy scalars to Python, non-finite floats to strings
    (``"inf"``, ``"-inf"``, ``"nan"``), since JSON has no such numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    return value


def describe_instance(a: Analysis) -> dict[str, Any]:
    """The ``instance`` block of ``report.json``."""
    inst = a.inst
    sizes = inst.support_sizes
    return {
        "contexts": inst.m,
        "vocab_size": inst.vocab_size,
        "dim": inst.dim,
        "entropy": inst.entropy,
        "compatible": bool(a.compat.compatible),
        "separable": bool(a.sep.separable),
        "samples": None if inst.counts is None else int(inst.counts.sum()),
        "support_sizes": {"min": int(sizes.min()), "max": int(sizes.max())},
        "rank_H": int(np.linalg.matrix_rank(inst.embeddings)),
        "f_dim": f_dimension(inst),
        "smoothness_L": smoothness_bound(inst),
        "safe_lr": safe_step_size(inst),
        "gd_lr": a.gd_lr,
        "gd_lr_note": a.gd_lr_note,
        "norm_w_star": None if a.w_star is None else float(np.linalg.norm(a.w_star)),
        "norm_w_mm": None if a.w_mm is None else float(np.linalg.norm(a.w_mm)),
        "margin": float(a.sep.margin),
    }


def exit_status(claims: Sequence[Claim]) -> int:
    """0 when every gating claim passed, 1 when any failed."""
    return 1 if any(c.status == "failed" for c in claims) else 0


def _short(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.3g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = [_short(v) for v in value]
        if len(items) > 4:
            items = [*items[:2], "...", items[-1]]
        return "[" + ", ".join(items) + "]"
    return str(value)


def measured_summary(claim: Claim, width: int = 70) -> str:
    """One line: the reason for n/a claims, else the first measurements."""
    if claim.status == "not_applicable":
        text = claim.reason
    else:
        text = "; ".join(f"{k}={_short(v)}" for k, v in claim.measured.items())
    return text if len(text) <= width else text[: width - 3] + "..."


def render_table(claims: Sequence[Claim], width: int = 70) -> str:
    """The terminal table: claim, what was measured, verdict."""
    rows = [("claim", "measured", "verdict")]
    rows += [(c.id, measured_summary(c, width), VERDICT_TEXT[c.status]) for c in claims]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}" for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def summary_counts(claims: Sequence[Claim]) -> dict[str, int]:
    return {status: sum(c.status == status for c in claims) for status in STATUSES}


def write_reports(
    out: Path,
    a: Analysis,
    claims: Sequence[Claim],
    figures: Sequence[tuple[str, Path]],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Write ``report.json`` and ``report.md`` into ``out``; return the JSON document."""
    document = {
        "ntpprops_version": meta.get("version"),
        "source": meta.get("source"),
        "settings": meta.get("settings", {}),
        "instance": describe_instance(a),
        "claims": [c.as_dict() for c in claims],
        "summary": summary_counts(claims),
        "exit_status": exit_status(claims),
        "timings_seconds": {**a.timings, **meta.get("timings", {})},
        "figures": [{"caption": cap, "file": path.name} for cap, path in figures],
    }
    document = jsonable(document)
    (out / "report.json").write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    (out / "report.md").write_text(_markdown(document))
    return document


def _markdown(doc: dict[str, Any]) -> str:
    inst = doc["instance"]
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
        "| quantity | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {_md(_short(v))} |" for k, v in inst.items()]
    lines += [
        "",
        "## Claims",
        "",
        "| claim | statement | measured | verdict |",
        "|---|---|---|---|",
    ]
    for c in doc["claims"]:
        measured = _short(c["measured"]) if c["measured"] else ""
        if c["reason"]:
            measured = (measured + " — " if measured else "") + c["reason"]
        lines.append(
            f"| {c['id']} | {_md(c['statement'])} | {_md(measured)} | {VERDICT_TEXT[c['status']]} |"
        )
    counts = doc["summary"]
    lines += ["", ", ".join(f"{v} {k}" for k, v in counts.items()) + ".", ""]
    if doc["figures"]:
        lines += ["## Figures", ""]
        for fig in doc["figures"]:
            lines += [f"### {fig['caption']}", "", f"![{fig['caption']}]({fig['file']})", ""]
    timings = doc["timings_seconds"]
    if timings:
        lines += ["## Timings (s)", ""]
        lines += [f"- {k}: {_short(v)}" for k, v in timings.items()]
        lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
