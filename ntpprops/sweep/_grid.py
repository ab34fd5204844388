"""The sweep grid: instance parameters, their laws, and instances seeded from (point, trial).

A grid point fixes ``m`` (contexts), ``d`` (embedding dimension), ``vocab`` (``V``),
``support`` (``S``) and three laws; a trial is one random instance drawn at that point. The
instance depends only on its seed, and the seed only on the point and the trial (and the
sweep's base seed), through :class:`numpy.random.SeedSequence`: whoever computes it, on
whichever worker, gets the same instance.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ntpprops._instance import NTPInstance

__all__ = [
    "EMBEDDING_LAWS",
    "PI_LAWS",
    "SUPPORT_LAWS",
    "GridPoint",
    "Task",
    "grid_points",
    "instance_seed",
    "make_instance",
    "mean_support",
    "parse_values",
    "support_pmf",
    "tasks",
]

#: How the support size ``S_j`` of each context is drawn, given the grid's ``S``:
#: ``fixed`` (``S_j = S``), ``uniform`` (on ``1..S``), ``zipf`` (``P(S_j = k) ∝ 1/k`` on
#: ``1..S``, most contexts nearly deterministic). The support itself is a uniform random
#: ``S_j``-subset of the vocabulary, with Dirichlet(1) probabilities on it.
SUPPORT_LAWS = ("fixed", "uniform", "zipf")

#: Rows of ``H``: ``gaussian`` (i.i.d. N(0, 1) entries) or ``sphere`` (uniform on the unit
#: sphere of ``R^d``). Separability depends on ``H`` only through the rows' directions up to
#: positive scaling per row, so the two differ only in the margin.
EMBEDDING_LAWS = ("gaussian", "sphere")

#: Context frequencies ``π``: ``uniform`` or ``dirichlet`` (Dirichlet(1) over the contexts).
#: Separability, ``W^mm`` and ``dim F`` do not depend on ``π``.
PI_LAWS = ("uniform", "dirichlet")


@dataclass(frozen=True, order=True)
class GridPoint:
    """One point of the sweep grid.

    Attributes
    ----------
    m : int
        Number of contexts.
    d : int
        Embedding dimension.
    vocab : int
        Vocabulary size ``V``.
    support : int
        Support size ``S`` (the value for the ``fixed`` law, the maximum otherwise).
    support_law, embedding, pi : str
        One of :data:`SUPPORT_LAWS`, :data:`EMBEDDING_LAWS`, :data:`PI_LAWS`.
    """

    m: int
    d: int
    vocab: int
    support: int
    support_law: str = "fixed"
    embedding: str = "gaussian"
    pi: str = "uniform"

    def __post_init__(self) -> None:
        for name in ("m", "d", "vocab", "support"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.vocab < 2:
            raise ValueError(f"vocab must be >= 2, got {self.vocab}")
        if self.support > self.vocab:
            raise ValueError(f"support must be <= vocab, got support={self.support} > {self.vocab}")
        for name, allowed in (
            ("support_law", SUPPORT_LAWS),
            ("embedding", EMBEDDING_LAWS),
            ("pi", PI_LAWS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def key(self) -> str:
        """A stable text key, e.g. ``m=40,d=20,vocab=10,support=3,fixed,gaussian,uniform``."""
        return (
            f"m={self.m},d={self.d},vocab={self.vocab},support={self.support},"
            f"{self.support_law},{self.embedding},{self.pi}"
        )

    def as_dict(self) -> dict[str, int | str]:
        """The fields by name (plain ``int`` and ``str``)."""
        return {k: (v if isinstance(v, str) else int(v)) for k, v in asdict(self).items()}


#: The grid fields in column order.
POINT_FIELDS = tuple(f.name for f in fields(GridPoint))


@dataclass(frozen=True)
class Task:
    """One instance to measure: a grid point, a trial number and the seed it is drawn from."""

    point: GridPoint
    trial: int
    seed: int


def parse_values(text: str, name: str) -> list[int]:
    """Parse a grid axis: a comma list ``16,20,22`` or ranges ``a:b:step`` (``b`` included).

    Parameters
    ----------
    text : str
        Items separated by commas; each is an integer or ``a:b`` / ``a:b:step`` (step default
        1), giving ``a, a + step, ...`` up to and including ``b`` when reached.
    name : str
        The parameter's name, for the error message.

    Returns
    -------
    list of int
        The values in the order given, duplicates removed.

    Raises
    ------
    ValueError
        On an empty list, a non-integer item, a non-positive step or an empty range.
    """
    values: list[int] = []
    for item in str(text).split(","):
        item = item.strip()
        parts = item.split(":")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise ValueError(
                f"{name}: {item!r} is not an integer or a range a:b[:step] (in {text!r})"
            ) from None
        if len(numbers) == 1:
            values.append(numbers[0])
            continue
        if len(numbers) > 3:
            raise ValueError(f"{name}: range {item!r} has more than three parts (a:b:step)")
        start, stop, step = numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 1
        if step < 1:
            raise ValueError(f"{name}: range {item!r} needs a positive step, got {step}")
        if stop < start:
            raise ValueError(f"{name}: range {item!r} is empty (b < a)")
        values.extend(range(start, stop + 1, step))
    return list(dict.fromkeys(values))


def grid_points(
    *,
    m: Sequence[int],
    d: Sequence[int],
    vocab: Sequence[int],
    support: Sequence[int],
    support_law: Sequence[str] = ("fixed",),
    embedding: Sequence[str] = ("gaussian",),
    pi: Sequence[str] = ("uniform",),
) -> list[GridPoint]:
    """The Cartesian product of the axes, as validated :class:`GridPoint` s.

    Raises
    ------
    ValueError
        If an axis is empty or a combination is invalid (e.g. ``support > vocab``).
    """
    axes: dict[str, Sequence[Any]] = {
        "m": m,
        "d": d,
        "vocab": vocab,
        "support": support,
        "support_law": support_law,
        "embedding": embedding,
        "pi": pi,
    }
    for name, axis in axes.items():
        if len(axis) == 0:
            raise ValueError(f"{name}: the grid axis is empty")
    return [GridPoint(*combo) for combo in itertools.product(*axes.values())]


def instance_seed(point: GridPoint, trial: int, base_seed: int = 0) -> int:
    """The 63-bit seed of trial ``trial`` at ``point``: a function of these alone.

    The point's key is hashed (SHA-256, not Python's salted ``hash``) into the entropy of a
    :class:`numpy.random.SeedSequence` together with ``base_seed`` and ``trial``.
    """
    digest = hashlib.sha256(point.key().encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    state = np.random.SeedSequence([int(base_seed), *words, int(trial)]).generate_state(
        2, np.uint32
    )
    return int(state[0]) | (int(state[1] & 0x7FFFFFFF) << 32)


def tasks(points: Sequence[GridPoint], trials: int, base_seed: int = 0) -> Iterator[Task]:
    """Every (point, trial) of the sweep, trials innermost, with its seed."""
    for point in points:
        for trial in range(trials):
            yield Task(point, trial, instance_seed(point, trial, base_seed))


def support_pmf(point: GridPoint) -> dict[int, float]:
    """The law of ``S_j`` at ``point``: ``{size: probability}``."""
    if point.support_law == "fixed":
        return {point.support: 1.0}
    sizes = np.arange(1, point.support + 1, dtype=np.float64)
    weights = np.ones_like(sizes) if point.support_law == "uniform" else 1.0 / sizes
    return {int(k): float(w) for k, w in zip(sizes, weights / weights.sum(), strict=True)}


def mean_support(point: GridPoint) -> float:
    """``E[S_j]`` under the point's support law (for theory curves with a mean support)."""
    return float(sum(k * p for k, p in support_pmf(point).items()))


def _support_sizes(point: GridPoint, rng: np.random.Generator) -> np.ndarray:
    if point.support_law == "fixed":
        return np.full(point.m, point.support)
    sizes = np.arange(1, point.support + 1)
    if point.support_law == "uniform":
        return rng.choice(sizes, size=point.m)
    weights = 1.0 / sizes
    return rng.choice(sizes, size=point.m, p=weights / weights.sum())


def make_instance(point: GridPoint, seed: int) -> NTPInstance:
    """Draw the instance of ``point`` from ``seed`` (the same instance for the same pair).

    Parameters
    ----------
    point : GridPoint
    seed : int
        As given by :func:`instance_seed`.

    Returns
    -------
    NTPInstance
        ``H`` of shape ``(m, d)`` by the embedding law, ``P`` of shape ``(m, V)`` with supports
        by the support law and Dirichlet(1) probabilities on them, ``π`` by the π law.
    """
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((point.m, point.d))
    if point.embedding == "sphere":
        H /= np.linalg.norm(H, axis=1, keepdims=True)
    P = np.zeros((point.m, point.vocab))
    for j, size in enumerate(_support_sizes(point, rng)):
        tokens = rng.choice(point.vocab, size=int(size), replace=False)
        P[j, tokens] = rng.dirichlet(np.ones(int(size)))
    pi = None if point.pi == "uniform" else rng.dirichlet(np.ones(point.m))
    return NTPInstance(H, P, pi)
