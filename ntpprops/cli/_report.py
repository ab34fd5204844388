"""The report of ``ntpprops verify``: terminal table, ``report.json`` and ``report.md``."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
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
    }


def exit_status(claims: Sequence[Claim]) -> int:
    """0 when every gating claim passed, 1 when any failed."""
    return 1 if any(c.status == "failed" for c in claims) else 0


def _short(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = [_short(v) for v in value]
        if len(items) > 4:
            items = [*items[:2], "...", items[-1]]
        return "[" + ", ".join(items) + "]"
    return str(value)


def _pair(value: Any) -> str:
    """``{"1000": a, "10000": b}`` as ``a -> b (k=10000)``."""
    if isinstance(value, dict) and len(value) == 2:
        (k0, v0), (k1, v1) = value.items()
        return f"{_short(v0)} (k={k0}) -> {_short(v1)} (k={k1})"
    return _short(value)


def _last(value: Any) -> str:
    return _short(value[-1]) if isinstance(value, list) and value else _short(value)


#: One-line digests of the measurements of each claim, for the terminal table.
HEADLINES: dict[str, Callable[[dict[str, Any]], str]] = {
    "def1": lambda m: (
        f"Eq. 4 residual {_short(m['eq4_max_residual'])}, ||P_perp W*|| "
        f"{_short(m['norm_perp_w_star'])}"
        if m.get("compatible")
        else f"certificate: every solution has ||W|| >= {_short(m['solution_norm_lower_bound'])}"
    ),
    "def2": lambda m: (
        f"witness margin {_short(m['witness_min_margin'])}, support spread "
        f"{_short(m['witness_support_spread'])}"
        if m.get("separable")
        else f"certificate: every separator has ||W|| >= {_short(m['separator_norm_lower_bound'])}"
    ),
    "def3": lambda m: (
        f"||W^mm|| {_short(m['norm_w_mm'])}, min margin {_short(m['min_margin'])}, KKT "
        f"{'ok' if m['kkt_ok'] else 'FAILED'}, change with other pi/p "
        f"{_short(m['relative_change_other_pi_and_p'])}"
    ),
    "lemma1": lambda m: (
        f"d={m['d']} > m={m['m']}, rank {m['rank_H']}: compatible={m['compatible']}, "
        f"separable={m['separable']}"
    ),
    "remark1": lambda m: f"H={_short(m['entropy'])}, dim F={m['f_dim']}",
    "prop1": lambda m: (
        f"CE - H along W* + g W^d: {_short(m['excess_along_ray'][0])} (g=0) -> "
        f"{_last(m['excess_along_ray'])} (g={_last(m['gamma'])}); all > 0"
        if "excess_along_ray" in m
        else f"GD excess levels off: {_short(list(m['excess_at_step'].values()))} at k = "
        f"{', '.join(m['excess_at_step'])}"
    ),
    "lemma4": lambda m: (
        f"|CE_F(W*) - H| {_short(m['ce_f_at_w_star_minus_entropy'])}, min rise "
        f"{_short(m['min_rise_along_F'])}, "
        f"W* change with pi {_short(m['relative_change_other_pi'])}"
    ),
    "genie": lambda m: (
        f"min log(bound/excess) {_short(min(v for v in m['log_bound_minus_log_excess']))} "
        f"over R <= {_last(m['R'])}"
    ),
    "descent": lambda m: (
        f"min <-grad, W^mm> {_short(min(m['inner_products']))} at {len(m['inner_products'])} "
        f"points, formula mismatch {_short(m['max_relative_mismatch'])}"
    ),
    "thm1": lambda m: (
        f"1 - cos {_short(m['one_minus_cos'][0])} -> {_last(m['one_minus_cos'])}, "
        f"||P_F W_B - W*|| {_short(m['dist_P_F_W_to_w_star'][0])} -> "
        f"{_last(m['dist_P_F_W_to_w_star'])}"
    ),
    "lemma2": lambda m: (
        f"eta {_short(m['lr'])}; CE - H {_pair(m['excess'])}; ||W|| {_pair(m['norm'])}"
    ),
    "thm2": lambda m: (
        f"1 - cos(W_k - W*, W^mm) {_pair(m['one_minus_cos_corrected'])}; "
        f"||P_F W_k - W*|| {_pair(m['dist_P_F_W_to_w_star'])}"
    ),
    "fullsupport": lambda m: (
        f"P_perp change {_short(m['perp_change'])}; distance to limit "
        f"{_pair(m['relative_distance_to_limit'])}"
    ),
    "appc": lambda m: f"H_t for t = 0..: {_short(list(m['entropy_by_context_length'].values()))}",
}


def _observed_headline(m: dict[str, Any]) -> str:
    text = f"CE - H {_short(m['excess_final'])} (GD {_short(m.get('gd_excess_final'))})"
    if "cos_mm_corrected_final" in m:
        text += (
            f"; 1 - cos(W_k - W*, W^mm) {_short(1 - m['cos_mm_corrected_final'])} "
            f"(GD {_short(1 - m.get('gd_cos_mm_corrected_final', float('nan')))})"
        )
    return text


def measured_summary(claim: Claim, width: int = 78) -> str:
    """One line: the reason for n/a claims, else a digest of the measurements."""
    if claim.status == "not_applicable":
        text = claim.reason
    else:
        digest = HEADLINES.get(claim.id)
        if claim.status == "observed":
            digest = _observed_headline
        try:
            text = digest(claim.measured) if digest else ""
        except (KeyError, TypeError, ValueError, IndexError):
            text = ""
        if not text:
            text = "; ".join(f"{k}={_short(v)}" for k, v in claim.measured.items())
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
    meta: dict[str, Any],
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
    lines += [f"| {k} | {_md(_short(v, 6))} |" for k, v in inst.items()]
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
    if doc["scaled_stages"]:
        lines += ["## Stages scaled down to fit the budget", ""]
        lines += [f"- {stage}: {_md(note)}" for stage, note in doc["scaled_stages"].items()]
        lines.append("")
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
