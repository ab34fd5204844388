"""Numbers from a sweep: the fraction separable per grid point, the fitted transition in ``d``
and candidate theory curves for it.

The transition is read off a monotone (isotonic, in ``d``) fit of the measured fractions: the
dimensions ``d10 <= d50 <= d90`` where it crosses 10 %, 50 % and 90 % (linear interpolation
between grid points) give the empirical threshold ``d50`` and the width ``d90 - d10``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ntpprops.sweep._grid import POINT_FIELDS, GridPoint, mean_support, support_pmf

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "THEORY_CURVES",
    "logit_cone_statdim",
    "markdown_table",
    "summarize",
    "thresholds",
]

#: z of a two-sided 95 % Wilson interval.
_Z95 = 1.959963984540054


def _cover(point: GridPoint) -> float:
    """``m (V - S) = 2 (V d - m (S - 1))``: out-of-support constraints = 2 × free dims."""
    s = mean_support(point)
    return point.m * (point.vocab + s - 2) / (2 * point.vocab)


def _cover_shift(point: GridPoint) -> float:
    """As ``cover`` with ``(V - 1) d`` free dims: adding ``1 c^T`` to ``W`` changes no margin."""
    s = mean_support(point)
    return point.m * (point.vocab + s - 2) / (2 * (point.vocab - 1))


def _lemma1(point: GridPoint) -> float:
    """``d = m``: rank ``H = m`` makes every instance separable (Lemma 1), an upper bound."""
    return float(point.m)


#: Monte Carlo samples (fixed seed) for :func:`logit_cone_statdim`: ``||Π_K g||² <= ||g||²``
#: (variance ``2 V``), so the standard error is below ``sqrt(2 V / 20000) < 0.045`` for
#: ``V <= 20``, i.e. below ``0.045 m / V`` in ``d``.
STATDIM_SAMPLES = 20_000


@functools.lru_cache(maxsize=256)
def logit_cone_statdim(vocab: int, support: int, samples: int = STATDIM_SAMPLES) -> float:
    """Statistical dimension ``E ||Π_K g||²`` of one context's cone of logits in ``R^V``.

    ``K = {l : l_z = c on the S support tokens, l_v <= c off it, c free}`` (the closure of
    what (6a)-(6b) ask of ``W h_j``). The projection of ``g`` sets ``c`` to the mean of the
    support coordinates and the off-support ones above ``c`` (found by sorting), and clips the
    rest at ``c``. Estimated on ``samples`` Gaussian vectors from a fixed seed. A full support
    (``S = V``) leaves ``K = span(1)``, ``δ = 1``.
    """
    g = np.random.default_rng(20140904).standard_normal((samples, vocab))
    inside, off = g[:, :support], -np.sort(-g[:, support:], axis=1)  # off: descending
    k = np.arange(vocab - support + 1)
    partial = np.concatenate([np.zeros((samples, 1)), np.cumsum(off, axis=1)], axis=1)
    c = (inside.sum(axis=1, keepdims=True) + partial) / (support + k)
    below = np.concatenate([off, np.full((samples, 1), -np.inf)], axis=1)
    first = np.argmax(c >= below, axis=1)  # the first k whose level clears the next value
    level = c[np.arange(samples), first][:, None]
    sq = support * level[:, 0] ** 2 + (np.minimum(off, level) ** 2).sum(axis=1)
    return float(sq.mean())


def _mean_statdim(point: GridPoint) -> float:
    return sum(p * logit_cone_statdim(point.vocab, size) for size, p in support_pmf(point).items())


def _statdim(point: GridPoint) -> float:
    """Kinematic count ``V d + Σ_j δ(K_j) = m V``, ``δ`` from :func:`logit_cone_statdim`
    (``0`` when every support is full: ``W = 0`` then satisfies Definition 2)."""
    if support_pmf(point) == {point.vocab: 1.0}:
        return 0.0
    return point.m * (point.vocab - _mean_statdim(point)) / point.vocab


def _statdim_shift(point: GridPoint) -> float:
    """As ``statdim`` after quotienting the shifts ``span(1)`` of every context's logits (the
    lineality of each ``K_j``): ``(V - 1) d + Σ_j (δ(K_j) - 1) = m (V - 1)``."""
    if support_pmf(point) == {point.vocab: 1.0}:
        return 0.0
    return point.m * (point.vocab - _mean_statdim(point)) / (point.vocab - 1)


#: Candidate laws for the 50 % threshold ``d`` as functions of the grid line (``d`` unused).
#: ``cover`` is the issue's count; ``statdim`` replaces its ``1 + (V - S)/2`` per context by
#: the statistical dimension of the context's logit cone (Amelunxen, Lotz, McCoy and Tropp
#: 2014), as if the logit subspace ``{H W^T}`` were uniformly random; the ``_shift``
#: variants first quotient the logit shifts that change no margin.
THEORY_CURVES: Mapping[str, Callable[[GridPoint], float]] = {
    "cover": _cover,
    "cover_shift": _cover_shift,
    "statdim": _statdim,
    "statdim_shift": _statdim_shift,
    "lemma1": _lemma1,
}


def _wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + _Z95**2 / (2 * n)) / (1 + _Z95**2 / n)
    half = _Z95 * math.sqrt(p * (1 - p) / n + _Z95**2 / (4 * n * n)) / (1 + _Z95**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(table: pa.Table) -> list[dict[str, Any]]:
    """One row per grid point: counts, fraction separable and its 95 % Wilson interval.

    Parameters
    ----------
    table : pyarrow.Table
        Sweep rows with the grid columns and ``separable`` (null when undecided).

    Returns
    -------
    list of dict
        Grid fields, ``n`` (instances), ``decided``, ``separable`` (count), ``errors``,
        ``fraction`` (of decided; NaN if none), ``ci_low``, ``ci_high``, ``mean_seconds``;
        sorted by grid point.
    """
    columns = {c: table.column(c).to_pylist() for c in (*POINT_FIELDS, "separable", "seconds")}
    errors = table.column("error").to_pylist()
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, key in enumerate(zip(*(columns[c] for c in POINT_FIELDS), strict=True)):
        groups.setdefault(key, []).append(i)
    out = []
    for key in sorted(groups):
        rows = groups[key]
        decided = [columns["separable"][i] for i in rows if columns["separable"][i] is not None]
        k, n = sum(bool(v) for v in decided), len(decided)
        low, high = _wilson(k, n)
        out.append(
            {
                **dict(zip(POINT_FIELDS, key, strict=True)),
                "n": len(rows),
                "decided": n,
                "separable": k,
                "errors": sum(errors[i] is not None for i in rows),
                "fraction": k / n if n else math.nan,
                "ci_low": low,
                "ci_high": high,
                "mean_seconds": sum(columns["seconds"][i] for i in rows) / len(rows),
            }
        )
    return out


def _isotonic(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Pool-adjacent-violators: the non-decreasing weighted least-squares fit."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return [b[0] for b in blocks for _ in range(int(b[2]))]


def _crossing(ds: Sequence[float], fit: Sequence[float], level: float) -> float:
    """First ``d`` where the monotone fit reaches ``level`` (NaN if it never does or starts
    above it: the crossing is outside the grid)."""
    for i, value in enumerate(fit):
        if value >= level:
            if i == 0:
                return math.nan
            lo, hi = fit[i - 1], value
            return ds[i - 1] + (level - lo) / (hi - lo) * (ds[i] - ds[i - 1])
    return math.nan


def thresholds(summary: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The fitted transition in ``d`` for every grid line (all parameters but ``d`` fixed).

    Parameters
    ----------
    summary : sequence of mapping
        As returned by :func:`summarize`.

    Returns
    -------
    list of dict
        The line's parameters, ``d_min``/``d_max`` of its grid, ``d10``, ``d50``, ``d90`` and
        ``width = d90 - d10`` (NaN where the crossing lies outside the grid), and for every
        :data:`THEORY_CURVES` entry ``name`` its value ``d_name`` and the deviation
        ``dev_name = d50 - d_name``.
    """
    others = [f for f in POINT_FIELDS if f != "d"]
    lines: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for row in summary:
        if row["decided"]:
            lines.setdefault(tuple(row[f] for f in others), []).append(row)
    out = []
    for key, rows in sorted(lines.items()):
        rows = sorted(rows, key=lambda r: r["d"])
        ds = [float(r["d"]) for r in rows]
        fit = _isotonic([r["fraction"] for r in rows], [r["decided"] for r in rows])
        params = dict(zip(others, key, strict=True))
        entry: dict[str, Any] = {**params, "d_min": ds[0], "d_max": ds[-1]}
        entry.update({f"d{q}": _crossing(ds, fit, q / 100) for q in (10, 50, 90)})
        entry["width"] = entry["d90"] - entry["d10"]
        line = GridPoint(**{**params, "d": 1})
        for name, curve in THEORY_CURVES.items():
            value = curve(line)
            entry[f"d_{name}"] = value
            entry[f"dev_{name}"] = entry["d50"] - value
        out.append(entry)
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` as a Markdown table of ``columns`` (NaN shown as an em dash)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"
