"""Raw token sequences to an NTP instance: the reduction of App. C.

A corpus is a list of token sequences. Every position ``t >= 1`` of a sequence is a
*prediction event*: its context predicts the token at ``t``. Two modes:

- ``context_length=None`` (autoregressive): the context is the whole prefix ``x_1..x_t``;
- ``context_length=k``: the context is the window of the ``k`` tokens before ``t``
  (positions ``t >= k`` only).

Equal contexts are merged and their next tokens counted; ``pi_j`` is the context's share of all
prediction events, so the average NTP loss over the events equals ``CE`` of the instance
(:func:`corpus_loss` computes the former by brute force).

This module returns arrays (:func:`corpus_table`), not instances: it sits below
:mod:`ntpprops._instance`, whose :meth:`~ntpprops.NTPInstance.from_sequences` and
:func:`~ntpprops._instance.instance_from_sequences` turn the table into an instance.
"""

from __future__ import annotations

import numbers
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp

from ntpprops._errors import InvalidInstanceError
from ntpprops.embeddings import EMBEDDERS

__all__ = [
    "CorpusTable",
    "conditional_entropy",
    "corpus_loss",
    "corpus_table",
    "distinct_contexts",
    "prediction_events",
]

FloatArray = NDArray[np.float64]
Context = tuple[Hashable, ...]
Embedder = Callable[[Context], ArrayLike]


def _check_context_length(context_length: object, minimum: int) -> int | None:
    if context_length is None:
        return None
    if isinstance(context_length, bool) or not isinstance(context_length, numbers.Integral):
        raise InvalidInstanceError(
            f"context_length must be None or an integer >= {minimum}, got {context_length!r}"
        )
    if context_length < minimum:
        raise InvalidInstanceError(f"context_length must be >= {minimum}, got {context_length}")
    return int(context_length)


def _as_sequences(sequences: object, context_length: int | None) -> list[list[Hashable]]:
    """Validate a corpus: every sequence yields at least one prediction event."""
    if isinstance(sequences, str | bytes) or not isinstance(sequences, Sequence | np.ndarray):
        raise InvalidInstanceError(
            f"sequences must be a sequence of token sequences, got {type(sequences).__name__}"
        )
    if len(sequences) == 0:
        raise InvalidInstanceError("no sequences given: the corpus needs at least one sequence")
    needed = 2 if context_length is None else context_length + 1
    corpus = []
    for i, seq in enumerate(sequences):
        try:
            tokens = list(seq)
        except TypeError:
            raise InvalidInstanceError(
                f"sequence {i} is not a sequence of tokens ({type(seq).__name__})"
            ) from None
        if len(tokens) == 0:
            raise InvalidInstanceError(f"sequence {i} is empty")
        if len(tokens) < needed:
            what = (
                "a prefix and a next token"
                if context_length is None
                else f"a context of {context_length} tokens and a next token"
            )
            raise InvalidInstanceError(
                f"sequence {i} has {len(tokens)} token(s), too short for {what} (needs >= {needed})"
            )
        for token in tokens:
            try:
                hash(token)
            except TypeError:
                raise InvalidInstanceError(
                    f"sequence {i} holds an unhashable token {token!r}"
                ) from None
        corpus.append(tokens)
    return corpus


def _vocabulary(
    corpus: list[list[Hashable]], vocabulary: Sequence[Hashable] | None
) -> list[Hashable]:
    if vocabulary is None:
        unique = list(dict.fromkeys(t for seq in corpus for t in seq))
        try:
            return sorted(unique)  # type: ignore[type-var]
        except TypeError as exc:
            raise InvalidInstanceError(
                f"tokens must be mutually sortable to build the default vocabulary ({exc}); "
                "pass vocabulary=[...] explicitly"
            ) from None
    vocab = list(vocabulary)
    if len(set(vocab)) != len(vocab):
        dup = next(t for t, n in Counter(vocab).items() if n > 1)
        raise InvalidInstanceError(f"vocabulary lists token {dup!r} more than once")
    known = set(vocab)
    for i, seq in enumerate(corpus):
        for token in seq:
            if token not in known:
                raise InvalidInstanceError(
                    f"sequence {i} holds token {token!r}, which is missing from the vocabulary"
                )
    return vocab


def prediction_events(
    sequences: Sequence[Sequence[Hashable]], context_length: int | None = None
) -> Iterator[tuple[int, Context, Hashable]]:
    """Every prediction event of a validated corpus: ``(sequence index, context, next token)``.

    With ``context_length=None`` the context of position ``t`` (0-based, ``t >= 1``) is the
    prefix ``seq[:t]``; with ``k`` it is ``seq[t-k:t]`` for ``t >= k``.
    """
    for i, seq in enumerate(sequences):
        start = 1 if context_length is None else context_length
        for t in range(start, len(seq)):
            lo = 0 if context_length is None else t - context_length
            yield i, tuple(seq[lo:t]), seq[t]


def _count(
    corpus: list[list[Hashable]], context_length: int | None, vocab: list[Hashable]
) -> tuple[list[Context], NDArray[np.int64], list[int]]:
    """Distinct contexts (canonical order), their next-token counts and first sequence index."""
    index = {t: z for z, t in enumerate(vocab)}
    counts: dict[Context, Counter[int]] = {}
    first_seen: dict[Context, int] = {}
    for i, context, token in prediction_events(corpus, context_length):
        counts.setdefault(context, Counter())[index[token]] += 1
        first_seen.setdefault(context, i)
    # Canonical order (by length, then token indices): the instance does not depend on the
    # order of the sequences.
    contexts = sorted(counts, key=lambda c: (len(c), [index[t] for t in c]))
    table = np.zeros((len(contexts), len(vocab)), dtype=np.int64)
    for j, context in enumerate(contexts):
        for z, n in counts[context].items():
            table[j, z] = n
    return contexts, table, [first_seen[c] for c in contexts]


def distinct_contexts(
    sequences: Sequence[Sequence[Hashable]],
    context_length: int | None = None,
    *,
    vocabulary: Sequence[Hashable] | None = None,
) -> list[Context]:
    """The distinct contexts of a corpus, in the row order of :func:`instance_from_sequences`.

    Returns
    -------
    list of tuple
        Ordered by length, then by the vocabulary indices of their tokens.
    """
    k = _check_context_length(context_length, 1)
    corpus = _as_sequences(sequences, k)
    return _count(corpus, k, _vocabulary(corpus, vocabulary))[0]


def _embed_with_callable(
    embed: Embedder, contexts: list[Context], first_seen: list[int]
) -> FloatArray:
    rows: list[FloatArray] = []
    for j, context in enumerate(contexts):
        where = f"context {context!r} (first seen in sequence {first_seen[j]})"
        try:
            vector = np.asarray(embed(context), dtype=np.float64)
        except Exception as exc:
            raise InvalidInstanceError(f"embed failed on {where}: {exc!r}") from exc
        if vector.ndim != 1 or vector.size == 0:
            raise InvalidInstanceError(
                f"embed must return a non-empty 1-D vector; got shape {vector.shape} for {where}"
            )
        if rows and vector.shape != rows[0].shape:
            raise InvalidInstanceError(
                f"embed returned length {vector.size} for {where} but length "
                f"{rows[0].size} for the first context: all embeddings need the same length"
            )
        if not np.all(np.isfinite(vector)):
            raise InvalidInstanceError(f"embed returned a non-finite vector for {where}")
        rows.append(vector)
    return np.stack(rows)


def _embed(
    embed: object,
    contexts: list[Context],
    first_seen: list[int],
    vocab: list[Hashable],
    length: int,
    dim: int | None,
    seed: int | None,
) -> FloatArray:
    if isinstance(embed, str):
        if embed not in EMBEDDERS:
            raise InvalidInstanceError(
                f"unknown embed {embed!r}; built-ins are {sorted(EMBEDDERS)}, or pass a callable "
                "context_tuple -> 1-D vector"
            )
        if embed == "gaussian":
            if dim is None:
                raise InvalidInstanceError(
                    "embed='gaussian' needs dim=...; dim > number of distinct contexts gives a "
                    "compatible and separable instance (Lemma 1)"
                )
            return EMBEDDERS[embed](contexts, vocab, length, dim, 0 if seed is None else seed)
    elif not callable(embed):
        raise InvalidInstanceError(
            f"embed must be a built-in name {sorted(EMBEDDERS)} or a callable, got {embed!r}"
        )
    for name, value in (("dim", dim), ("seed", seed)):
        if value is not None:
            raise InvalidInstanceError(f"{name}= applies only to embed='gaussian'")
    if callable(embed):
        return _embed_with_callable(embed, contexts, first_seen)
    return EMBEDDERS[embed](contexts, vocab, length, dim, seed)


class CorpusTable(NamedTuple):
    """What :func:`corpus_table` reads off a corpus: the arrays of an instance and its labels.

    Attributes
    ----------
    embeddings : ndarray, shape (m, d)
        One row per distinct context, in the order of :func:`distinct_contexts`.
    counts : ndarray of int, shape (m, V)
        ``counts[j, z]``: how often token ``z`` followed context ``j``.
    context_labels : list of str, length m
        The space-joined tokens of each context.
    token_labels : list of str, length V
        The tokens of the vocabulary, in column order.
    """

    embeddings: FloatArray
    counts: NDArray[np.int64]
    context_labels: list[str]
    token_labels: list[str]


def corpus_table(
    sequences: Sequence[Sequence[Hashable]],
    embed: str | Embedder = "onehot",
    context_length: int | None = None,
    *,
    vocabulary: Sequence[Hashable] | None = None,
    dim: int | None = None,
    seed: int | None = None,
) -> CorpusTable:
    """The embeddings, next-token counts and labels of a corpus (the reduction of App. C).

    :meth:`ntpprops.NTPInstance.from_sequences` (and
    :func:`ntpprops.corpus.instance_from_sequences`) build the instance from it with
    :meth:`~ntpprops.NTPInstance.from_counts`; the parameters and errors are theirs.
    """
    k = _check_context_length(context_length, 1)
    corpus = _as_sequences(sequences, k)
    vocab = _vocabulary(corpus, vocabulary)
    if len(vocab) < 2:
        raise InvalidInstanceError(
            f"the vocabulary has {len(vocab)} token(s); next-token prediction needs V >= 2 "
            "(pass vocabulary=[...] to include unseen tokens)"
        )
    contexts, counts, first_seen = _count(corpus, k, vocab)
    length = k if k is not None else max(len(c) for c in contexts)
    H = _embed(embed, contexts, first_seen, vocab, length, dim, seed)
    return CorpusTable(
        H,
        counts,
        [" ".join(map(str, c)) for c in contexts],
        [str(t) for t in vocab],
    )


def conditional_entropy(
    sequences: Sequence[Sequence[Hashable]], context_length: int | None = None
) -> float:
    """The empirical conditional entropy ``H_t`` of the next token given ``t`` past tokens.

    Every prediction event of the corpus (every position ``t >= 1`` of every sequence) counts,
    with its context truncated to the last ``min(t, context_length)`` tokens (``None``: the
    whole prefix). The truncated context is a function of the longer one on the *same* events,
    so Shannon's inequality ``H_t >= H_{t+1}`` holds exactly; ``H_0`` is the entropy of the
    next-token marginal, and ``H_None`` equals ``entropy`` of
    ``instance_from_sequences(sequences)``. (Counting only the full windows of length ``t``,
    as ``context_length=t`` does, drops the first ``t`` events of each sequence; the
    entropies of those instances need not decrease in ``t``.)

    Parameters
    ----------
    sequences : sequence of sequences of hashable tokens
        Every sequence needs at least 2 tokens.
    context_length : int >= 0, optional

    Returns
    -------
    float
        ``-sum_c pi_c sum_z p(z|c) log p(z|c)`` in nats.
    """
    k = _check_context_length(context_length, 0)
    corpus = _as_sequences(sequences, None)
    joint: Counter[tuple[Context, Hashable]] = Counter()
    marginal: Counter[Context] = Counter()
    for _, prefix, token in prediction_events(corpus, None):
        context = prefix if k is None else prefix[len(prefix) - min(k, len(prefix)) :]
        joint[context, token] += 1
        marginal[context] += 1
    total = sum(marginal.values())
    return float(
        -sum(n / total * np.log(n / marginal[context]) for (context, _), n in joint.items())
    )


def corpus_loss(
    sequences: Sequence[Sequence[Hashable]],
    W: ArrayLike,
    embed: Embedder | Mapping[Context, ArrayLike],
    context_length: int | None = None,
    *,
    vocabulary: Sequence[Hashable] | None = None,
) -> float:
    """Brute-force average NTP loss over every prediction event of a raw corpus.

    No merging or counting: one ``-log softmax`` per event, in a Python loop. Used to check
    that the reduction of :func:`instance_from_sequences` preserves the loss.

    Parameters
    ----------
    sequences : sequence of sequences of hashable tokens
    W : array_like, shape (V, d)
    embed : callable or mapping
        Context tuple to its embedding ``h`` of length ``d``.
    context_length : int, optional
        As in :func:`instance_from_sequences`.
    vocabulary : sequence, optional
        As in :func:`instance_from_sequences` (token ``z`` is row ``z`` of ``W``).

    Returns
    -------
    float
        ``(1/n) sum_events -log softmax_{next}(W h_context)``.
    """
    k = _check_context_length(context_length, 1)
    corpus = _as_sequences(sequences, k)
    vocab = _vocabulary(corpus, vocabulary)
    index = {t: z for z, t in enumerate(vocab)}
    weights = np.asarray(W, dtype=np.float64)
    lookup: Any = embed.__getitem__ if isinstance(embed, Mapping) else embed
    total, n = 0.0, 0
    for _, context, token in prediction_events(corpus, k):
        scores = weights @ np.asarray(lookup(context), dtype=np.float64)
        total += float(logsumexp(scores) - scores[index[token]])
        n += 1
    return total / n
