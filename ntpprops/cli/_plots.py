"""Figures of the report: the four panels of the paper's Fig. 4 and the geometry of Fig. 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import NDArray

from ntpprops._instance import NTPInstance
from ntpprops._optim import TrainResult

__all__ = ["plot_geometry", "plot_training"]

OPTIMIZER_TITLES = {"gd": "GD", "ngd": "normalised GD", "adam": "Adam"}


def _positive(
    steps: NDArray[Any], values: NDArray[np.float64] | None
) -> tuple[NDArray[Any], NDArray[Any]] | None:
    """Points with ``k >= 1`` (log axis) and a positive value (log axis); None if no data."""
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float64)
    keep = (steps >= 1) & (values > 0) & np.isfinite(values)
    return steps[keep], values[keep]


def plot_training(run: TrainResult, path: Path, title: str, w_mm_note: str | None = None) -> Path:
    """Fig. 4's panels for one optimizer run (a ``TrainResult``), written to ``path`` (PNG).

    Panels, all on log-iteration axes: ``CE - H``; ``||W_k||``; ``1 - cos`` of ``W_k`` and of
    ``W_k - W*`` with ``W^mm``; ``||P_F W_k - W*||``. Quantities that do not exist for the
    instance (no ``W*`` or no ``W^mm``) leave their panel with a note; ``w_mm_note`` replaces
    it on the alignment panel when ``W^mm`` exists but was not computed.
    """
    steps = np.asarray(run.steps)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4), constrained_layout=True)
    Series = list[tuple[str, NDArray[np.float64] | None]]
    missing = "not defined\nfor this instance"
    panels: list[tuple[Any, str, Series, str]] = [
        (axes[0], "excess loss CE(W_k) - H", [("", run.excess_loss)], missing),
        (axes[1], "norm ||W_k||", [("", run.norm)], missing),
        (
            axes[2],
            "alignment with W^mm: 1 - cos",
            [
                ("W_k", None if run.cos_mm is None else 1.0 - np.asarray(run.cos_mm)),
                (
                    "W_k - W*",
                    None
                    if run.cos_mm_corrected is None
                    else 1.0 - np.asarray(run.cos_mm_corrected),
                ),
            ],
            missing if w_mm_note is None else w_mm_note,
        ),
        (axes[3], "||P_F W_k - W*||", [("", run.dist_f_wstar)], missing),
    ]
    for ax, label, series, note in panels:
        drawn = False
        for name, values in series:
            points = _positive(steps, values)
            if points is None or points[0].size == 0:
                continue
            ax.loglog(*points, marker=".", markersize=3, label=name or None)
            drawn = True
        if not drawn:
            ax.text(
                0.5,
                0.5,
                note,
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
        if any(name for name, _ in series) and drawn:
            ax.legend()
        ax.set_title(label)
        ax.set_xlabel("iteration k")
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(f"{title} (eta = {float(run.lr):.3g})")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_geometry(
    inst: NTPInstance,
    w_mm: NDArray[np.float64] | None,
    w_star: NDArray[np.float64] | None,
    path: Path,
    title: str,
) -> Path:
    """Fig. 1 for a 2-D instance: context embeddings ``h_j`` and the rows of ``W^mm`` (and ``W*``).

    Left: each ``h_j`` with its support. Middle: the word embeddings (rows ``w_z``) of
    ``W^mm``; tokens in a common support share their projection on ``h_j``, so for each
    context a dashed line through them orthogonal to ``h_j`` is drawn. Right: rows of ``W*``.
    """
    if inst.dim != 2:
        raise ValueError(f"geometry plots need d = 2, got d = {inst.dim}")
    ctx_names = inst.context_labels or tuple(f"h{j + 1}" for j in range(inst.m))
    tok_names = inst.token_labels or tuple(f"z{z}" for z in range(inst.vocab_size))
    colors = plt.get_cmap("tab10")
    ncols = 1 + (w_mm is not None) + (w_star is not None)
    fig, axes = plt.subplots(1, ncols, figsize=(4.6 * ncols, 4.4), constrained_layout=True)
    axes = np.atleast_1d(axes)
    ax = axes[0]
    for j, h in enumerate(inst.embeddings):
        ax.annotate("", xy=h, xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": colors(j)})
        support = ",".join(tok_names[z] for z in np.flatnonzero(inst.supports[j]))
        ax.text(*(h * 1.08), f"{ctx_names[j]}  S={{{support}}}", color=colors(j), fontsize=8)
    _square(ax, inst.embeddings)
    ax.set_title("context embeddings h_j")
    panels = [
        (w_mm, "W^mm: word embeddings (rows)", True),
        (w_star, "W*: word embeddings (rows)", False),
    ]
    index = 1
    for W, label, level_lines in panels:
        if W is None:
            continue
        ax = axes[index]
        index += 1
        ax.scatter(W[:, 0], W[:, 1], color="k", s=14, zorder=3)
        for point, names in _coincident_labels(W, tok_names):
            ax.annotate(names, point, textcoords="offset points", xytext=(4, 4), fontsize=9)
        if level_lines:
            # W^mm is in F-perp: the tokens of S_j share the logit w_z . h_j, i.e. lie on one
            # line orthogonal to h_j, on the far side from the out-of-support tokens.
            for j, h in enumerate(inst.embeddings):
                _level_line(ax, W, h, inst.supports[j], colors(j))
            ax.set_xlabel("dashed: the line w . h_j = const through the tokens of S_j")
        _square(ax, W)
        ax.set_title(label)
    fig.suptitle(f"{title}: d = 2, m = {inst.m}, V = {inst.vocab_size}, H = {inst.entropy:.4f}")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _coincident_labels(W: NDArray[Any], names: tuple[str, ...]) -> list[tuple[NDArray[Any], str]]:
    """Group rows of ``W`` that coincide (to 1e-9 of the scale) under one label "a=b"."""
    scale = max(float(np.abs(W).max()), 1e-300)
    groups: list[tuple[NDArray[Any], list[str]]] = []
    for z, w in enumerate(W):
        for point, members in groups:
            if np.linalg.norm(point - w) <= 1e-9 * scale:
                members.append(names[z])
                break
        else:
            groups.append((w, [names[z]]))
    return [(point, "=".join(members)) for point, members in groups]


def _level_line(
    ax: Any, W: NDArray[Any], h: NDArray[Any], support: NDArray[Any], color: Any
) -> None:
    """Dashed line ``{w : w.h = mean of w_z.h over z in S_j}`` (orthogonal to ``h``)."""
    norm = float(np.linalg.norm(h))
    if norm == 0.0:
        return
    unit = h / norm
    level = float(np.mean(W[support] @ unit))
    along = np.array([-unit[1], unit[0]])
    span = 1.2 * max(float(np.abs(W).max()), 1e-12)
    ends = np.array([level * unit - span * along, level * unit + span * along])
    ax.plot(ends[:, 0], ends[:, 1], linestyle="--", color=color, linewidth=0.9)


def _square(ax: Any, points: NDArray[Any]) -> None:
    span = 1.3 * max(float(np.abs(points).max()), 1e-12)
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.8", linewidth=0.6)
    ax.axvline(0, color="0.8", linewidth=0.6)
