"""The report of ``ntpprops verify``: terminal table, ``report.json`` and ``report.md``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ntpprops._loss import safe_step_size, smoothness_bound
from ntpprops._subspace import f_dimension
from ntpprops.cli._analysis import Analysis
from ntpprops.cli._markdown import VERDICT_TEXT, markdown_report
from ntpprops.cli.claims import STATUSES, Claim

__all__ = ["describe_instance", "exit_status", "jsonable", "render_table", "write_reports"]


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
        "separable": a.separable,  # None (null): undecided at this size, see separability_note
        "separability_note": a.sep_error or None,
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
        "margin": None if a.sep is None else float(a.sep.margin),
        "margin_upper": None
        if a.sep is None or a.sep.margin_upper is None
        else float(a.sep.margin_upper),
    }


def exit_status(claims: Sequence[Claim]) -> int:
    """0 when every gating claim passed, 1 when any failed."""
    return 1 if any(c.status == "failed" for c in claims) else 0


def measured_summary(claim: Claim, width: int = 78) -> str:
    """One line: the claim's headline (the reason, for n/a claims), cut to ``width``."""
    text = claim.headline or claim.reason
    return text if len(text) <= width else text[: width - 3] + "..."


def render_table(
    claims: Sequence[Claim], width: int = 78, scaled: Mapping[str, str] | None = None
) -> str:
    """The terminal table: claim, what was measured, verdict; then the scaled-down stages."""
    rows = [("claim", "measured", "verdict")]
    rows += [(c.id, measured_summary(c, width), VERDICT_TEXT[c.status]) for c in claims]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}" for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    if scaled:
        lines += ["", "scaled down to fit the stage budget:"]
        lines += [f"  {stage}: {note}" for stage, note in scaled.items()]
    return "\n".join(lines)


def summary_counts(claims: Sequence[Claim]) -> dict[str, int]:
    return {status: sum(c.status == status for c in claims) for status in STATUSES}


def write_reports(
    out: Path,
    a: Analysis,
    claims: Sequence[Claim],
    figures: Sequence[tuple[str, Path]],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """Write ``report.json`` and ``report.md`` into ``out``; return the JSON document."""
    document = {
        "ntpprops_version": meta.get("version"),
        "source": meta.get("source"),
        "settings": meta.get("settings", {}),
        "instance": describe_instance(a),
        "claims": [c.as_dict() | {"summary": measured_summary(c, 10**6)} for c in claims],
        "summary": summary_counts(claims),
        "exit_status": exit_status(claims),
        "timings_seconds": {**a.timings, **meta.get("timings", {})},
        "figures": [{"caption": cap, "file": path.name} for cap, path in figures],
        "scaled_stages": dict(a.scaled),
    }
    document = {str(k): jsonable(v) for k, v in document.items()}
    (out / "report.json").write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    (out / "report.md").write_text(markdown_report(document))
    return document
