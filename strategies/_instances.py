"""Strategies for :class:`~ntpprops.NTPInstance` families.

Every instance is drawn as explicit structure (sizes, support sets, small integer counts, small
integer embedding entries, permutations), never from an integer seed fed to an RNG, so that a
falsified property shrinks to a small readable instance: few contexts and tokens, embeddings
like ``[[1, 0]]``, counts like ``[1, 2]``. Families whose defining property (separable, not
separable, not compatible) must hold are built so that it holds by construction; nothing is
filtered.

Two layout choices make the shrinking work. Each context is drawn at the largest allowed
``V`` and ``d`` and cut afterwards, so lowering ``V`` or ``d`` does not re-interpret every
later choice. And every context and every coordinate carries a keep flag that shrinks to
"drop": Hypothesis deletes only short runs of choices or list tails, so without the flags a
context in the middle of the list could never be removed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from numpy.typing import NDArray

from ntpprops import NTPInstance

from ._validation import check_at_least, check_bool, check_bounds

__all__ = [
    "full_support_instances",
    "incompatible_instances",
    "non_separable_instances",
    "ntp_instances",
    "one_hot_instances",
    "separable_instances",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
SupportMode = Literal["any", "one_hot", "full"]

#: Context weights are drawn as integers in ``[1, MAX_WEIGHT]`` (then normalised).
MAX_WEIGHT = 4


@dataclass(frozen=True)
class _Sizes:
    """Validated size bounds shared by every instance strategy."""

    contexts: tuple[int, int]
    vocab: tuple[int, int]
    dim: tuple[int, int]
    max_entry: int
    max_count: int
    weights: bool


def _sizes(
    *,
    min_contexts: int,
    max_contexts: int,
    min_vocab: int,
    max_vocab: int,
    min_dim: int,
    max_dim: int,
    max_entry: int,
    max_count: int,
    weights: bool,
    least_contexts: int = 1,
    least_vocab: int = 2,
    why_contexts: str = "an instance needs a context",
    why_vocab: str = "a vocabulary needs two tokens",
) -> _Sizes:
    contexts = check_bounds(
        "min_contexts", min_contexts, "max_contexts", max_contexts, least_contexts, why_contexts
    )
    vocab = check_bounds("min_vocab", min_vocab, "max_vocab", max_vocab, least_vocab, why_vocab)
    dim = check_bounds("min_dim", min_dim, "max_dim", max_dim, 1, "embeddings need d >= 1")
    entry = check_at_least("max_entry", max_entry, 1, "embedding entries lie in [-max_entry, ...]")
    count = check_at_least("max_count", max_count, 1, "counts lie in [1, max_count]")
    check_bool("weights", weights)
    return _Sizes(contexts, vocab, dim, entry, count, weights)


def _why_contexts(least: int) -> str:
    return (
        "an incompatible pair needs two contexts" if least == 2 else "an instance needs a context"
    )


def _check_exponent_range(sizes: _Sizes, compatible: bool | None) -> None:
    """Compatible-by-construction counts are ``2^e`` with ``e <= 2 d max_entry``: keep int64."""
    span = 2 * sizes.dim[1] * sizes.max_entry
    if compatible is True and span > 60:
        raise InvalidArgument(
            f"compatible=True with max_dim={sizes.dim[1]} and max_entry={sizes.max_entry} "
            f"allows counts up to 2^{span}, beyond int64; lower max_dim * max_entry to 30 or less"
        )


# -- drawing blocks (each takes Hypothesis's ``draw``) --------------------------------------


def _draw_ints(draw: st.DrawFn, n: int, low: int, high: int) -> list[int]:
    return draw(st.lists(st.integers(low, high), min_size=n, max_size=n))


class _Context(NamedTuple):
    """The raw data of one context (one tuple strategy; ``keep`` lets the shrinker drop it).

    Drawn at the largest allowed sizes and cut to the drawn ``V`` and ``d`` afterwards
    (:func:`_stack`): the layout of the draws does not depend on ``V`` or ``d``, so the
    shrinker can lower them without scrambling every later choice.
    """

    h: FloatArray  # (max_dim,) integer-valued embedding entries
    anchor: int  # a token guaranteed to be in the support (taken mod V)
    extra: tuple[int, ...]  # more support tokens (taken mod V; shrinks to none)
    counts: IntArray  # (max_vocab,) in [1, max_count], masked by the support when assembled
    weight: int  # in [1, MAX_WEIGHT] (1 when weights are off)
    keep: bool = True  # shrinks to False: lets the shrinker drop any context (see _kept)
    scale: int = 1  # pivot (prototype rows) or positive multiple of a prototype (extras)
    proto: int = -1  # index of its prototype (extra contexts only)


def _support(context: _Context, V: int, mode: SupportMode) -> BoolArray:
    """The support of ``context`` in a vocabulary of ``V``: its anchor plus (mode "any") extras."""
    if mode == "full":
        return np.ones(V, dtype=bool)
    support = np.zeros(V, dtype=bool)
    if mode == "any":
        # Tokens are taken mod V, so lowering V keeps a support of several tokens non-trivial.
        support[[z % V for z in context.extra]] = True
    support[context.anchor % V] = True
    return support


#: Keep a drawn context? ``False`` about one time in five, and ``False`` is what it shrinks to.
_KEEP = st.integers(0, 4).map(bool)


def _int_lists(n: int, low: int, high: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(low, high), min_size=n, max_size=n)


def _draw_many(
    draw: st.DrawFn, elements: st.SearchStrategy[_Context], low: int, high: int
) -> list[_Context]:
    """``low..high`` elements, the length drawn first (``st.lists`` favours length one when the
    elements are large; a drawn length spreads ``m`` evenly and still shrinks)."""
    n = draw(st.integers(low, high))
    return draw(st.lists(elements, min_size=n, max_size=n))


def _kept(contexts: list[_Context], least: int) -> list[_Context]:
    """The contexts whose ``keep`` flag is set, topped up in order to at least ``least``.

    Hypothesis's shrinker deletes only short runs of choices (and list tails), so a context
    in the middle of a list could never be deleted; clearing its flag drops it instead.
    """
    keep = [c.keep for c in contexts]
    for i in range(len(keep)):
        if sum(keep) >= least:
            break
        keep[i] = True
    return [c for c, k in zip(contexts, keep, strict=True) if k]


@functools.cache  # built once per bounds: strategies are re-validated when rebuilt
def _contexts(sizes: _Sizes) -> st.SearchStrategy[_Context]:
    """One context's raw data, built as one strategy (cheaper to draw than a composite)."""
    max_v, max_d = sizes.vocab[1], sizes.dim[1]
    return st.tuples(
        _KEEP,
        _int_lists(max_d, -sizes.max_entry, sizes.max_entry),
        st.integers(0, max_v - 1),
        st.lists(st.integers(0, max_v - 1), max_size=max_v - 1).map(tuple),
        _int_lists(max_v, 1, sizes.max_count),
        st.integers(1, MAX_WEIGHT) if sizes.weights else st.just(1),
    ).map(_as_context)


def _as_context(
    fields: tuple[bool, list[int], int, tuple[int, ...], list[int], int],
) -> _Context:
    keep, h, anchor, extra, counts, weight = fields
    return _Context(
        np.array(h, dtype=np.float64), anchor, extra, np.array(counts, dtype=np.int64), weight, keep
    )


def _draw_columns(draw: st.DrawFn, sizes: _Sizes) -> list[int]:
    """The embedding coordinates in use: the first ``d`` (``d`` drawn), minus those whose keep
    flag is cleared (topped up in order to ``min_dim``), so the shrinker can drop a coordinate
    anywhere, not only the last one."""
    lo_d, hi_d = sizes.dim
    d = draw(st.integers(lo_d, hi_d))
    flags = draw(st.lists(_KEEP, min_size=hi_d, max_size=hi_d))
    for c in range(d):
        if sum(flags[:d]) >= lo_d:
            break
        flags[c] = True
    return [c for c in range(d) if flags[c]]


def _stack(
    contexts: list[_Context], V: int, columns: list[int], mode: SupportMode, weights: bool
) -> tuple[FloatArray, BoolArray, IntArray, FloatArray | None]:
    """Cut the raw contexts to ``V`` tokens and the given coordinates, and stack them."""
    H = np.array([c.h[columns] for c in contexts], dtype=np.float64)
    supports = np.array([_support(c, V, mode) for c in contexts], dtype=bool)
    counts = np.array([c.counts[:V] for c in contexts], dtype=np.int64)
    pi = np.array([c.weight for c in contexts], dtype=np.float64) if weights else None
    return H, supports, counts, pi


def _draw_compatible_counts(
    draw: st.DrawFn, sizes: _Sizes, H: FloatArray, supports: BoolArray
) -> IntArray:
    """Counts ``2^(l_jz - min_{S_j} l_j)`` for integer logits ``l = H W'^T``, ``W'`` in {-1,0,1}.

    Then ``log(p_jz / p_jz') = (e_z - e_z')^T (log 2 W') h_j``: Eq. 4 holds for
    ``W = log(2) W'``, so the instance is NTP_H-compatible and ``W* = P_F(log(2) W')``.
    """
    V, d = supports.shape[1], H.shape[1]
    # Drawn at the largest sizes and cut, like the contexts (see _Context).
    max_v, max_d = sizes.vocab[1], sizes.dim[1]
    entries = np.array(_draw_ints(draw, max_v * max_d, -1, 1), dtype=np.float64)
    W_prime = entries.reshape(max_v, max_d)[:V, :d]
    scores = np.rint(H @ W_prime.T).astype(np.int64)
    floor = np.where(supports, scores, np.iinfo(np.int64).max).min(axis=1, keepdims=True)
    exponents = np.where(supports, scores - floor, 0)
    return np.left_shift(np.int64(1), exponents)


def _protect_non_full(supports: BoolArray, row: int, keep: set[int]) -> None:
    """Make sure at least one support is not the whole vocabulary (else nothing diverges).

    If every support is full, drop from ``supports[row]`` the largest token not in ``keep``.
    """
    if supports.all():
        V = supports.shape[1]
        drop = max(z for z in range(V) if z not in keep)
        supports[row, drop] = False


def _break_ratio(
    counts: IntArray, pair: tuple[int, int], tokens: tuple[int, int], scales: tuple[int, int]
) -> None:
    """Make ``c_0 log r_1 != c_1 log r_0`` for ``r_i = counts[i, t] / counts[i, u]`` (in place).

    With ``h_{pair[0]} = c_0 g`` and ``h_{pair[1]} = c_1 g``, Eq. 4 on the atom ``(e_t - e_u)``
    asks ``c_0 x = log r_0`` and ``c_1 x = log r_1`` for the one number
    ``x = (e_t - e_u)^T W g``; that needs ``c_1 log r_0 = c_0 log r_1``. Compared exactly in
    integers, ``a1^c0 b0^c1`` vs ``a0^c1 b1^c0``; if equal, ``b1 + 1`` breaks it.
    """
    (i0, i1), (t, u), (c0, c1) = pair, tokens, scales
    a0, b0 = int(counts[i0, t]), int(counts[i0, u])
    a1, b1 = int(counts[i1, t]), int(counts[i1, u])
    if a1**c0 * b0**c1 == a0**c1 * b1**c0:
        counts[i1, u] = b1 + 1


def _assemble(
    H: FloatArray,
    supports: BoolArray,
    counts: IntArray,
    weights: FloatArray | None,
    order: list[int] | None = None,
) -> NTPInstance:
    """Build the instance; ``order`` permutes the contexts (rows)."""
    masked = np.where(supports, counts, 0).astype(np.float64)
    probs = masked / masked.sum(axis=1, keepdims=True)
    if order is not None:
        H, probs = H[order], probs[order]
        weights = None if weights is None else weights[order]
    return NTPInstance(H, probs, weights)


def _draw_pair_tokens(draw: st.DrawFn, V: int, max_v: int) -> tuple[int, int]:
    """Two distinct tokens ``t != u`` of ``V`` (shrink to 0 and 1); layout fixed by ``max_v``."""
    t = draw(st.integers(0, max_v - 1)) % V
    u = (t + 1 + draw(st.integers(0, max_v - 2)) % (V - 1)) % V
    return t, u


def _draw_nonzero_row(draw: st.DrawFn, d: int, max_d: int, max_entry: int) -> FloatArray:
    """An integer row whose first entry is non-zero (shrinks to ``e_1``)."""
    row = np.array(_draw_ints(draw, max_d, -max_entry, max_entry), dtype=np.float64)[:d]
    first = draw(st.integers(1, max_entry))
    row[0] = -first if draw(st.booleans()) else first
    return row


def _same_ray_pair(draw: st.DrawFn, H: FloatArray, sizes: _Sizes) -> int:
    """Put contexts 0 and 1 on one ray: ``h_0 != 0`` (first entry non-zero), ``h_1 = c h_0``.

    Returns the positive integer ``c``.
    """
    H[0] = _draw_nonzero_row(draw, H.shape[1], sizes.dim[1], sizes.max_entry)
    scale = draw(st.integers(1, 3))
    H[1] = scale * H[0]
    return scale


# -- general instances ----------------------------------------------------------------------


@st.composite
def _general(
    draw: st.DrawFn, sizes: _Sizes, mode: SupportMode, compatible: bool | None
) -> NTPInstance:
    V = draw(st.integers(*sizes.vocab))
    columns = _draw_columns(draw, sizes)
    lo_m, hi_m = sizes.contexts
    contexts = _kept(_draw_many(draw, _contexts(sizes), lo_m, hi_m), lo_m)
    H, supports, counts, weights = _stack(contexts, V, columns, mode, sizes.weights)
    if compatible is True:
        counts = _draw_compatible_counts(draw, sizes, H, supports)
        return _assemble(H, supports, counts, weights)
    if compatible is None:
        return _assemble(H, supports, counts, weights)
    # compatible is False: contexts 0 and 1 on one ray, sharing two tokens with clashing ratios.
    t, u = _draw_pair_tokens(draw, V, sizes.vocab[1])
    scale = _same_ray_pair(draw, H, sizes)
    supports[[0, 1]] |= np.isin(np.arange(V), [t, u])
    _break_ratio(counts, (0, 1), (t, u), (1, scale))
    return _assemble(H, supports, counts, weights, draw(st.permutations(range(len(H)))))


def ntp_instances(
    *,
    min_contexts: int = 1,
    max_contexts: int = 4,
    min_vocab: int = 2,
    max_vocab: int = 4,
    min_dim: int = 1,
    max_dim: int = 3,
    max_entry: int = 3,
    max_count: int = 4,
    weights: bool = True,
    compatible: bool | None = None,
) -> st.SearchStrategy[NTPInstance]:
    """Arbitrary NTP instances: any supports (one-hot to full), any embeddings.

    Parameters
    ----------
    min_contexts, max_contexts : int
        Bounds on ``m`` (``1 <= min <= max``).
    min_vocab, max_vocab : int
        Bounds on ``V`` (``2 <= min <= max``).
    min_dim, max_dim : int
        Bounds on ``d`` (``1 <= min <= max``).
    max_entry : int
        Embedding entries are integers in ``[-max_entry, max_entry]`` (so ``H`` may be rank
        deficient, have repeated or zero rows: all legitimate data).
    max_count : int
        In-support next-token counts are integers in ``[1, max_count]``; ``p_j`` is the row
        of counts normalised.
    weights : bool
        Draw context weights ``pi`` from integers in ``[1, 4]``; if False, ``pi`` is uniform.
    compatible : bool or None
        ``None``: probabilities from arbitrary counts (the instance may be incompatible, and
        may or may not be separable). ``True``: NTP_H-compatible by construction (counts
        ``2^(l_jz - min l_j)`` for integer logits ``l = H W'^T`` with ``W'`` in {-1, 0, 1},
        so ``W* = P_F(log(2) W')``). ``False``: incompatible by construction, as in
        :func:`incompatible_instances` (needs ``min_contexts >= 2``).

    Returns
    -------
    SearchStrategy[NTPInstance]

    Notes
    -----
    The defaults keep ``m, V, d <= 4`` so that every derived quantity (``W*``, ``W^mm``)
    costs milliseconds. Shrinks towards fewer contexts, tokens and dimensions, one-hot
    supports on token 0, zero embedding entries, equal counts and uniform weights.
    """
    check_bool("compatible", compatible, allow_none=True)
    least = 2 if compatible is False else 1
    sizes = _sizes(
        min_contexts=min_contexts,
        max_contexts=max_contexts,
        min_vocab=min_vocab,
        max_vocab=max_vocab,
        min_dim=min_dim,
        max_dim=max_dim,
        max_entry=max_entry,
        max_count=max_count,
        weights=weights,
        least_contexts=least,
        why_contexts=_why_contexts(least),
    )
    _check_exponent_range(sizes, compatible)
    return _general(sizes, "any", compatible)


def full_support_instances(
    *,
    min_contexts: int = 1,
    max_contexts: int = 4,
    min_vocab: int = 2,
    max_vocab: int = 4,
    min_dim: int = 1,
    max_dim: int = 3,
    max_entry: int = 3,
    max_count: int = 4,
    weights: bool = True,
    compatible: bool | None = None,
) -> st.SearchStrategy[NTPInstance]:
    """Instances in which every support is the whole vocabulary (``S_j = V`` for all ``j``).

    Then ``F^perp`` gets no gradient and GD converges to the finite point
    ``W* + P_perp(W_0)`` (when compatible). Arguments as for :func:`ntp_instances`;
    ``compatible=True`` gives NTP_H-compatible instances by construction (the usual choice:
    with arbitrary counts and ``m > d`` most draws are incompatible), ``compatible=False``
    incompatible ones.

    Returns
    -------
    SearchStrategy[NTPInstance]
    """
    check_bool("compatible", compatible, allow_none=True)
    least = 2 if compatible is False else 1
    sizes = _sizes(
        min_contexts=min_contexts,
        max_contexts=max_contexts,
        min_vocab=min_vocab,
        max_vocab=max_vocab,
        min_dim=min_dim,
        max_dim=max_dim,
        max_entry=max_entry,
        max_count=max_count,
        weights=weights,
        least_contexts=least,
        why_contexts=_why_contexts(least),
    )
    _check_exponent_range(sizes, compatible)
    return _general(sizes, "full", compatible)


# -- separable families ---------------------------------------------------------------------


@functools.cache  # built once per bounds: strategies are re-validated when rebuilt
def _prototypes(sizes: _Sizes) -> st.SearchStrategy[_Context]:
    """A prototype row and its own context; ``scale`` holds its non-zero pivot (see
    :func:`_full_rank`)."""
    pivots = st.tuples(st.integers(1, sizes.max_entry), st.booleans())
    return st.tuples(pivots, _contexts(sizes)).map(
        lambda pc: pc[1]._replace(scale=-pc[0][0] if pc[0][1] else pc[0][0])
    )


@functools.cache  # built once per bounds: strategies are re-validated when rebuilt
def _extra_contexts(sizes: _Sizes) -> st.SearchStrategy[_Context]:
    """A context ``h = c t_g`` on prototype ``g`` (taken mod ``k``), with its own counts."""
    return st.tuples(
        _KEEP,
        st.integers(0, sizes.contexts[1] - 1),
        st.integers(1, 3),
        _int_lists(sizes.vocab[1], 1, sizes.max_count),
        st.integers(1, MAX_WEIGHT) if sizes.weights else st.just(1),
    ).map(
        lambda f: _Context(
            np.zeros(0), 0, (), np.array(f[3], dtype=np.int64), f[4], f[0], f[2], f[1]
        )
    )


def _full_rank(prototypes: list[_Context], d: int, columns: list[int]) -> FloatArray:
    """Rank-``k`` rows: row ``i`` is zero before column ``i`` and has its non-zero pivot there
    (an upper-triangular block with non-zero diagonal, so ``det != 0``), then the columns are
    permuted (which keeps the rank). Shrinks to ``[I | 0]``."""
    T = np.array([p.h[:d] for p in prototypes], dtype=np.float64)
    for i, p in enumerate(prototypes):
        T[i, :i] = 0.0
        T[i, i] = p.scale
    return T[:, columns]


@st.composite
def _prototype_instances(
    draw: st.DrawFn,
    sizes: _Sizes,
    *,
    overparameterized: bool,
    mode: SupportMode,
    compatible: bool | None,
) -> NTPInstance:
    """Separable by construction: ``h_j = c_j t_{g(j)}`` for rank-``k`` prototypes ``T``.

    Context ``j`` has prototype ``g(j)``, positive integer scale ``c_j`` and the prototype's
    support ``S_{g(j)}``. ``T`` has full row rank, so there is ``W`` with ``T W^T = L`` for
    ``L[g] = 0`` on ``S_g`` and ``-1`` off it; then ``W h_j = c_j L[g(j)]`` is equal on the
    support (6a) and at least ``c_j >= 1`` below it elsewhere (6b).
    """
    lo_m, hi_m = sizes.contexts
    lo_d, hi_d = sizes.dim
    V = draw(st.integers(*sizes.vocab))
    pair = compatible is False
    if overparameterized:
        # m = k prototypes first, then d >= m: every m in range is equally likely.
        protos = _kept(_draw_many(draw, _prototypes(sizes), lo_m, min(hi_m, hi_d)), lo_m)
        d = draw(st.integers(max(lo_d, len(protos)), hi_d))
    else:
        d = draw(st.integers(lo_d, hi_d))
        # An incompatible pair needs one context beyond the k prototypes.
        protos = _kept(
            _draw_many(draw, _prototypes(sizes), 1, min(hi_m - 1 if pair else hi_m, d)), 1
        )
    k = len(protos)
    extras: list[_Context] = []
    if not overparameterized:
        least = max(lo_m - k, 1 if pair else 0)
        extras = _draw_many(draw, _extra_contexts(sizes), least, hi_m - k)
        extras = _kept(extras, least)
    T = _full_rank(protos, d, draw(st.permutations(range(d))))
    proto_supports = np.array([_support(p, V, mode) for p in protos], dtype=bool)
    keep = {int(np.argmax(proto_supports[0]))}
    proto = list(range(k)) + [e.proto % k for e in extras]
    pair_tokens = None
    if pair:
        pair_tokens = _draw_pair_tokens(draw, V, sizes.vocab[1])
        proto[k] = 0
        proto_supports[0, list(pair_tokens)] = True
        keep = set(pair_tokens)  # S_0 stays non-empty; V >= 3 leaves a token to drop
    _protect_non_full(proto_supports, 0, keep)
    scale = [1] * k + [e.scale for e in extras]
    supports = proto_supports[proto]
    H = np.asarray(scale, dtype=np.float64)[:, None] * T[proto]
    if compatible is True and not overparameterized:
        base = np.array([p.counts[:V] for p in protos], dtype=np.int64)
        counts = np.array([base[g] ** c for g, c in zip(proto, scale, strict=True)])
    else:
        # Overparameterised (rank H = m): every choice of probabilities is compatible.
        counts = np.array([c.counts[:V] for c in protos + extras], dtype=np.int64)
    if pair_tokens is not None:
        _break_ratio(counts, (0, k), pair_tokens, (scale[0], scale[k]))
    weights = None
    if sizes.weights:
        weights = np.array([c.weight for c in protos + extras], dtype=np.float64)
    return _assemble(H, supports, counts, weights, draw(st.permutations(range(len(H)))))


def separable_instances(
    *,
    min_contexts: int = 1,
    max_contexts: int = 3,
    min_vocab: int = 2,
    max_vocab: int = 4,
    min_dim: int = 1,
    max_dim: int = 4,
    max_entry: int = 2,
    max_count: int = 4,
    weights: bool = True,
    overparameterized: bool = True,
    compatible: bool | None = True,
) -> st.SearchStrategy[NTPInstance]:
    """NTP-separable instances (Definition 2), separable by construction, never filtered.

    At least one support is smaller than ``V``, so ``W^mm`` is non-zero.

    Parameters
    ----------
    min_contexts, max_contexts, min_vocab, max_vocab, min_dim, max_dim : int
        As for :func:`ntp_instances`.
    max_entry, max_count : int
        As for :func:`ntp_instances`.
    weights : bool
        As for :func:`ntp_instances`.
    overparameterized : bool
        ``True`` (the setting of Lemma 1): ``d >= m`` and ``rank H = m``, with
        ``H = [U | B]`` up to row and column permutations, ``U`` upper triangular with a
        non-zero integer diagonal; every such instance is compatible and separable
        (``d = m`` suffices: any logits ``H W^T`` can be reached), whatever the counts.
        Needs ``min_contexts <= max_dim``. ``False``: contexts are positive integer multiples
        ``h_j = c_j t_g`` of ``k <= min(m, d)`` linearly independent prototypes ``t_g``, with
        one support per prototype, so ``m`` may exceed ``d``.
    compatible : bool or None
        Only used when ``overparameterized=False``. ``True``: counts ``n_g^(c_j)`` for
        prototype counts ``n_g``, so Eq. 4 holds (``c_j`` times the prototype's log-ratios).
        ``None``: arbitrary counts per context (may be incompatible). ``False``: incompatible
        by construction (two contexts on one prototype share two tokens with clashing ratios);
        needs ``min_contexts >= 2`` and ``min_vocab >= 3``.

    Returns
    -------
    SearchStrategy[NTPInstance]

    Notes
    -----
    Shrinks to ``H = [I | 0]``-like embeddings, one-hot supports, equal counts.
    """
    check_bool("overparameterized", overparameterized)
    check_bool("compatible", compatible, allow_none=True)
    least_m, least_v = 1, 2
    if compatible is False and not overparameterized:
        least_m, least_v = 2, 3
    sizes = _sizes(
        min_contexts=min_contexts,
        max_contexts=max_contexts,
        min_vocab=min_vocab,
        max_vocab=max_vocab,
        min_dim=min_dim,
        max_dim=max_dim,
        max_entry=max_entry,
        max_count=max_count,
        weights=weights,
        least_contexts=least_m,
        least_vocab=least_v,
        why_contexts="an incompatible pair needs two contexts",
        why_vocab="a separable incompatible instance needs a pair of tokens plus one outside",
    )
    if overparameterized and sizes.contexts[0] > sizes.dim[1]:
        raise InvalidArgument(
            f"min_contexts={min_contexts!r} exceeds max_dim={max_dim!r}, but "
            "overparameterized=True needs d >= m; raise max_dim or pass overparameterized=False"
        )
    if overparameterized and compatible is False:
        raise InvalidArgument(
            "compatible=False is impossible with overparameterized=True (rank H = m makes every "
            "instance compatible, Lemma 1); pass overparameterized=False"
        )
    return _prototype_instances(
        sizes, overparameterized=overparameterized, mode="any", compatible=compatible
    )


def one_hot_instances(
    *,
    min_contexts: int = 1,
    max_contexts: int = 4,
    min_vocab: int = 2,
    max_vocab: int = 4,
    min_dim: int = 1,
    max_dim: int = 3,
    max_entry: int = 3,
    weights: bool = True,
    separable: bool | None = None,
) -> st.SearchStrategy[NTPInstance]:
    """One-hot instances: every ``S_j = 1`` (Remark 1: ``H = 0``, ``F = {0}``, ``W* = 0``).

    Parameters
    ----------
    min_contexts, max_contexts, min_vocab, max_vocab, min_dim, max_dim, max_entry, weights
        As for :func:`ntp_instances`.
    separable : bool or None
        ``None``: arbitrary embeddings and labels, so multiclass separability may or may not
        hold. ``True``: separable by construction (contexts are positive multiples of
        linearly independent prototypes, one label per prototype; ``m`` may exceed ``d``).

    Returns
    -------
    SearchStrategy[NTPInstance]
    """
    check_bool("separable", separable, allow_none=True)
    if separable is False:
        raise InvalidArgument(
            "separable=False is not supported by one_hot_instances; for non-separable "
            "instances use non_separable_instances()"
        )
    sizes = _sizes(
        min_contexts=min_contexts,
        max_contexts=max_contexts,
        min_vocab=min_vocab,
        max_vocab=max_vocab,
        min_dim=min_dim,
        max_dim=max_dim,
        max_entry=max_entry,
        max_count=1,
        weights=weights,
    )
    if separable:
        return _prototype_instances(sizes, overparameterized=False, mode="one_hot", compatible=None)
    return _general(sizes, "one_hot", None)


# -- non-separable and incompatible families -------------------------------------------------


@st.composite
def _non_separable(draw: st.DrawFn, sizes: _Sizes) -> NTPInstance:
    V = draw(st.integers(*sizes.vocab))
    columns = _draw_columns(draw, sizes)
    lo_m, hi_m = sizes.contexts
    contexts = _kept(_draw_many(draw, _contexts(sizes), lo_m, hi_m), lo_m)
    H, supports, counts, weights = _stack(contexts, V, columns, "any", sizes.weights)
    t, u = _draw_pair_tokens(draw, V, sizes.vocab[1])
    _same_ray_pair(draw, H, sizes)
    if draw(st.booleans()):
        # Opposite rays: both supports contain t, and they are not both full.
        H[1] = -H[1]
        supports[[0, 1], t] = True
        if supports[0].all() and supports[1].all():
            supports[1, u] = False
    else:
        # One ray: S_0 contains t, S_1 contains u but not t, so the supports differ.
        supports[0, t] = True
        supports[1, u] = True
        supports[1, t] = False
    return _assemble(H, supports, counts, weights, draw(st.permutations(range(len(H)))))


def non_separable_instances(
    *,
    min_contexts: int = 2,
    max_contexts: int = 4,
    min_vocab: int = 2,
    max_vocab: int = 4,
    min_dim: int = 1,
    max_dim: int = 3,
    max_entry: int = 3,
    max_count: int = 4,
    weights: bool = True,
) -> st.SearchStrategy[NTPInstance]:
    """Instances that are not NTP-separable, by construction.

    Two contexts ``i, k`` lie on one line, ``h_k = c h_i`` with ``h_i != 0`` and ``c`` a
    non-zero integer, and their supports clash: for ``c > 0`` they differ (a token ``t`` lies
    in ``S_i`` but not in ``S_k``); for ``c < 0`` they share a token ``t`` and are not both
    the whole vocabulary. The rest is arbitrary.

    Proof that no ``W`` satisfies Definition 2: let ``l = W h_i``, so ``W h_k = c l``. By (6a)
    ``l`` is constant on ``S_i`` and by (6b) at least 1 smaller off it, so ``S_i`` is exactly
    the set of maximisers of ``l`` (if ``S_i = [V]`` there are no (6b) constraints, ``l`` is
    constant and again every token maximises it). Likewise ``S_k`` is the set of maximisers
    of ``c l``. For ``c > 0`` that is the set of maximisers of ``l``, so ``S_i = S_k``:
    contradiction. For ``c < 0`` it is the set of minimisers of ``l``; if ``l`` is constant,
    both supports are full: contradiction; otherwise maximisers and minimisers are disjoint,
    yet both contain ``t``: contradiction.

    Arguments as for :func:`ntp_instances` (``min_contexts >= 2``).

    Returns
    -------
    SearchStrategy[NTPInstance]
    """
    sizes = _sizes(
        min_contexts=min_contexts,
        max_contexts=max_contexts,
        min_vocab=min_vocab,
        max_vocab=max_vocab,
        min_dim=min_dim,
        max_dim=max_dim,
        max_entry=max_entry,
        max_count=max_count,
        weights=weights,
        least_contexts=2,
        why_contexts="the construction needs two contexts on one line",
    )
    return _non_separable(sizes)


def incompatible_instances(
    *,
    min_contexts: int = 2,
    max_contexts: int = 4,
    min_vocab: int = 2,
    max_vocab: int = 4,
    min_dim: int = 1,
    max_dim: int = 3,
    max_entry: int = 3,
    max_count: int = 4,
    weights: bool = True,
) -> st.SearchStrategy[NTPInstance]:
    """Instances that are not NTP_H-compatible (Definition 1), by construction.

    Two contexts have ``h_k = c h_i`` (``c`` a positive integer) and share two support tokens
    ``t, u`` whose probability ratios ``r_i = p_it / p_iu``, ``r_k = p_kt / p_ku`` satisfy
    ``log r_k != c log r_i`` (compared exactly on the integer counts). Eq. 4 on the atoms
    ``(e_t - e_u) h^T`` asks ``x = log r_i`` and ``c x = log r_k`` for the one number
    ``x = (e_t - e_u)^T W h_i``: no ``W`` satisfies both.

    Arguments as for :func:`ntp_instances` (``min_contexts >= 2``); a count may exceed
    ``max_count`` by one (to break an accidental equality of ratios).

    Returns
    -------
    SearchStrategy[NTPInstance]
    """
    return ntp_instances(
        min_contexts=min_contexts,
        max_contexts=max_contexts,
        min_vocab=min_vocab,
        max_vocab=max_vocab,
        min_dim=min_dim,
        max_dim=max_dim,
        max_entry=max_entry,
        max_count=max_count,
        weights=weights,
        compatible=False,
    )
