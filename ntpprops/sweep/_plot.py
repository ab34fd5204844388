"""The phase-diagram PNG: fraction separable over (d, S), one panel per (m, V, laws)."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_phase_diagram"]

_PANEL_FIELDS = ("m", "vocab", "support_law", "embedding", "pi")


def plot_phase_diagram(
    summary: Sequence[Mapping[str, Any]],
    fitted: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
) -> Path:
    """Draw the fraction separable as a heat map over ``d`` (x) and ``S`` (y, one row each).

    Each panel fixes ``m``, ``V`` and the laws. White dots mark the fitted 50 % threshold
    ``d50`` of each ``S`` with a bar from ``d10`` to ``d90`` (the transition's width); lines
    are the :data:`ntpprops.sweep.THEORY_CURVES` (``lemma1`` only when inside the d-range).

    Parameters
    ----------
    summary : sequence of mapping
        From :func:`ntpprops.sweep.summarize`.
    fitted : sequence of mapping
        From :func:`ntpprops.sweep.thresholds`.
    path : path
        The PNG to write.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    panels = sorted({tuple(r[f] for f in _PANEL_FIELDS) for r in summary})
    ncols = min(3, max(len(panels), 1))
    nrows = max(math.ceil(len(panels) / ncols), 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    image = None
    styles = {"cover": "-", "statdim": "-.", "statdim_shift": "--", "lemma1": ":"}
    colors = {"cover": "tab:red", "statdim": "tab:orange", "statdim_shift": "tab:pink"}
    colors["lemma1"] = "tab:red"
    for ax, panel in zip(axes.flat, panels, strict=False):
        rows = [r for r in summary if tuple(r[f] for f in _PANEL_FIELDS) == panel]
        ds = sorted({r["d"] for r in rows})
        ss = sorted({r["support"] for r in rows})
        grid = np.full((len(ss), len(ds)), np.nan)
        for r in rows:
            grid[ss.index(r["support"]), ds.index(r["d"])] = r["fraction"]
        rows_y = [i - 0.5 for i in range(len(ss) + 1)]  # one row per S, whatever its value
        image = ax.pcolormesh(
            _edges(ds), rows_y, grid, cmap="viridis", vmin=0.0, vmax=1.0, shading="flat"
        )
        ax.set_yticks(range(len(ss)), [str(s) for s in ss])
        lines = [f for f in fitted if tuple(f[k] for k in _PANEL_FIELDS) == panel]
        lines.sort(key=lambda f: f["support"])
        for f in lines:
            y = ss.index(f["support"])
            if not math.isnan(f["d50"]):
                ax.plot(f["d50"], y, "o", color="white", ms=5, zorder=3)
            if not math.isnan(f["width"]):
                ax.plot([f["d10"], f["d90"]], [y, y], "-", color="white", lw=1.2)
        for name, style in styles.items():
            xs = [f[f"d_{name}"] for f in lines]
            if name == "lemma1" and not all(ds[0] <= x <= ds[-1] for x in xs):
                continue
            ys = [ss.index(f["support"]) for f in lines]
            ax.plot(xs, ys, style, color=colors[name], lw=1.2, label=name)
        m, vocab, law, emb, pi = panel
        ax.set_title(f"m={m}, V={vocab}, {law}/{emb}/{pi}", fontsize=9)
        ax.set_xlabel("d")
        ax.set_ylabel("S")
        ax.set_xlim(_edges(ds)[0], _edges(ds)[-1])
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), label="fraction NTP-separable")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _edges(values: Sequence[float]) -> list[float]:
    """Cell edges around sorted centres (unit cells for a single value)."""
    v = [float(x) for x in values]
    if len(v) == 1:
        return [v[0] - 0.5, v[0] + 0.5]
    mids = [(a + b) / 2 for a, b in itertools.pairwise(v)]
    return [v[0] - (mids[0] - v[0]), *mids, v[-1] + (v[-1] - mids[-1])]
