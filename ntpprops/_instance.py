"""The validated NTP data model: distinct contexts, their embeddings and next-token laws."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ntpprops._corpus import Embedder, corpus_table
from ntpprops._errors import InvalidInstanceError, NotAnInstanceError

__all__ = [
    "PROB_SUM_TOL",
    "NTPInstance",
    "as_weights",
    "instance_from_sequences",
    "require_instance",
]

#: Absolute tolerance on ``|sum_z p_{j,z} - 1|``; rows within it are renormalised exactly.
PROB_SUM_TOL = 1e-9

FloatArray = NDArray[np.float64]


def _as_float_array(value: ArrayLike, name: str) -> FloatArray:
    """``value`` as a fresh float64 array; complex, text and date inputs are refused."""
    try:
        raw = np.asarray(value)
        if raw.dtype.kind in "cUSVmM":
            raise InvalidInstanceError(
                f"{name} must be a real numeric array, got dtype {raw.dtype}"
            )
        return np.array(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidInstanceError):
            raise
        raise InvalidInstanceError(f"{name} must be a real numeric array: {exc}") from exc


def _as_float_matrix(value: ArrayLike, name: str) -> FloatArray:
    array = _as_float_array(value, name)
    if array.ndim != 2:
        raise InvalidInstanceError(
            f"{name} must be 2-dimensional, got ndim={array.ndim} (shape {array.shape})"
        )
    _require_finite(array, name)
    return array


def _require_finite(array: FloatArray, name: str) -> None:
    if not np.all(np.isfinite(array)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise InvalidInstanceError(
            f"{name} contains a non-finite value ({array[bad]}) at index {bad}"
        )


def _frozen(array: NDArray[Any]) -> NDArray[Any]:
    """A read-only view of a private read-only copy.

    A view of a read-only base cannot be made writeable again with ``setflags``, so the
    instance's arrays (and everything cached from them) cannot be changed behind its back.
    """
    base = np.array(array, order="C", copy=True)
    base.setflags(write=False)
    return base.view()


def _already_normalised(sums: FloatArray, n: int) -> NDArray[np.bool_]:
    """Sums within ``2 n eps`` of 1: what dividing ``n`` entries by their sum leaves.

    Each quotient carries a rounding error of half an ulp and summing ``n`` of them adds at
    most ``n - 1`` more (numpy's pairwise sum much less), so a normalised row's sum is within
    ``n eps / 2 + n eps / 2`` of 1; twice that is the margin. Far below ``PROB_SUM_TOL``.
    """
    mask: NDArray[np.bool_] = np.abs(sums - 1.0) <= 2.0 * n * np.finfo(np.float64).eps
    return mask


def _normalised_rows(P: FloatArray) -> FloatArray:
    """Divide every row by its sum, leaving rows that are already normalised untouched.

    Division by a sum is not idempotent in floating point (about 40% of random rows move by an
    ulp when renormalised), so rows whose sum is 1 up to the rounding of a division
    (:func:`_already_normalised`) are kept: the normalisation is then idempotent, and an
    instance rebuilt from its own ``probs`` (``replace``, pickling, ``eval(repr(inst))``) is
    equal to the original.
    """
    sums = P.sum(axis=1)
    return P / np.where(_already_normalised(sums, P.shape[1]), 1.0, sums)[:, None]


def _normalised_weights(pi: FloatArray) -> FloatArray:
    """``pi / sum(pi)``, scaled by the maximum first so that huge weights cannot overflow.

    Weights already normalised (sum 1 up to a division's rounding) are kept: idempotent, as
    :func:`_normalised_rows`.
    """
    # (Normalised weights are at most 1, so their sum cannot overflow.)
    if pi.max() <= 1.0 and _already_normalised(np.array([pi.sum()]), pi.size)[0]:
        return pi
    pi = pi / pi.max()
    total = pi.sum()
    return pi if total == 1.0 else pi / total


def _entropy(P: FloatArray, pi: FloatArray, supports: NDArray[np.bool_]) -> float:
    # 0 log 0 = 0: only support entries enter the entropy; "+ 0.0" turns -0.0 into 0.0.
    logs = np.log(np.where(supports, P, 1.0))
    return float(-(pi * (P * logs).sum(axis=1)).sum()) + 0.0


class NTPInstance:
    """A next-token-prediction data set: ``m`` distinct contexts over a vocabulary of ``V``.

    Parameters
    ----------
    embeddings : array_like, shape (m, d)
        Fixed context embeddings ``h_j`` (rows of ``H``).
    probs : array_like, shape (m, V)
        Empirical next-token distributions ``p_j``: non-negative rows summing to 1 within
        ``PROB_SUM_TOL`` (they are then renormalised exactly). Zeros define the supports.
    context_weights : array_like, shape (m,), optional
        Positive context frequencies, normalised to ``pi`` (default: uniform).
        The string ``"uniform"`` means the default.
    context_labels, token_labels : sequence of str, optional
        Human-readable names (for reports); lengths ``m`` and ``V``.
    m, V, d : int, optional
    S : sequence of int or ``...``, optional
    entropy : float, optional
        The summary that ``repr`` prints first (sizes, support sizes, entropy to 4 digits).
        Not needed to build an instance; when given (a pasted repr) each is checked against
        the data, so a repr edited into inconsistency is refused rather than misread.

    Attributes
    ----------
    embeddings : ndarray, shape (m, d)
    probs : ndarray, shape (m, V)
    context_weights : ndarray, shape (m,)
        The normalised frequencies ``pi`` (sum to 1).
    supports : ndarray of bool, shape (m, V)
        ``supports[j, z]`` is ``p_{j,z} > 0``.
    entropy : float
        The empirical conditional entropy ``H = -sum_j pi_j sum_z p_jz log p_jz`` in nats.
    m, vocab_size, dim : int

    Raises
    ------
    InvalidInstanceError
        On wrong shapes, complex or text dtypes, non-finite values, negative probabilities,
        rows not summing to one, non-positive weights, ``m = 0``, ``V < 2`` or ``d = 0``; the
        message names the field, the offending entry and (for row sums) the tolerance.

    Notes
    -----
    Instances are immutable; arrays are read-only. Derived quantities (the Gram factorisation
    of the subspace ``F``, ``W*``, ``W^mm``) are cached on the instance; the cache is not
    pickled. Equality compares ``embeddings``, ``probs`` and ``context_weights`` exactly
    (labels and counts are annotations); a pickled or ``replace``-d copy is equal to its
    source.
    """

    __slots__ = (
        "_cache",
        "context_labels",
        "context_weights",
        "counts",
        "embeddings",
        "entropy",
        "probs",
        "supports",
        "token_labels",
    )

    embeddings: FloatArray
    probs: FloatArray
    context_weights: FloatArray
    supports: NDArray[np.bool_]
    entropy: float
    counts: NDArray[np.int64] | None
    context_labels: tuple[str, ...] | None
    token_labels: tuple[str, ...] | None
    _cache: dict[str, Any]

    def __init__(
        self,
        embeddings: ArrayLike,
        probs: ArrayLike,
        context_weights: ArrayLike | None = None,
        *,
        context_labels: Sequence[str] | None = None,
        token_labels: Sequence[str] | None = None,
        # Typed `object` (checked at run time below) so that callers passing **labels dicts
        # still type-check against the label parameters.
        m: object = None,
        V: object = None,
        d: object = None,
        S: object = None,
        entropy: object = None,
    ) -> None:
        if isinstance(context_weights, str) and context_weights == "uniform":
            context_weights = None
        H = _as_float_matrix(embeddings, "embeddings")
        P = _as_float_matrix(probs, "probs")
        rows, vocab = P.shape
        if H.shape[0] == 0 or rows == 0:
            raise InvalidInstanceError("an instance needs at least one context (m = 0 given)")
        if H.shape[0] != rows:
            raise InvalidInstanceError(
                f"embeddings has {H.shape[0]} rows but probs has {rows}: one row per context"
            )
        if H.shape[1] == 0:
            raise InvalidInstanceError("embeddings must have dimension d >= 1 (d = 0 given)")
        if vocab < 2:
            raise InvalidInstanceError(f"probs needs a vocabulary of V >= 2 tokens, got V={vocab}")
        if np.any(P < 0):
            j, z = np.argwhere(P < 0)[0]
            raise InvalidInstanceError(
                f"probs must be non-negative; probs[{j}, {z}] = {float(P[j, z])!r}"
            )
        row_sums = P.sum(axis=1)
        off = np.abs(row_sums - 1.0)
        if np.any(off > PROB_SUM_TOL):
            j = int(np.argmax(off))
            raise InvalidInstanceError(
                f"probs rows must sum to 1 (tolerance {PROB_SUM_TOL:g}); "
                f"row {j} sums to {float(row_sums[j])!r}"
            )
        P = _normalised_rows(P)

        if context_weights is None:
            pi = np.full(rows, 1.0 / rows)
        else:
            pi = _as_float_array(context_weights, "context_weights")
            if pi.shape != (rows,):
                raise InvalidInstanceError(
                    f"context_weights must have shape ({rows},), got {pi.shape}"
                )
            _require_finite(pi, "context_weights")
            if np.any(pi <= 0):
                j = int(np.argmin(pi))
                raise InvalidInstanceError(
                    f"context_weights must be positive; context_weights[{j}] = {float(pi[j])!r}"
                )
            pi = _normalised_weights(pi)

        for labels, n, name in (
            (context_labels, rows, "context_labels"),
            (token_labels, vocab, "token_labels"),
        ):
            if isinstance(labels, str | bytes):  # a sequence of characters, almost surely a slip
                raise InvalidInstanceError(
                    f"{name} must be a sequence of labels, not the single string {labels!r}; "
                    f"for one-character labels pass list({labels!r})"
                )
            if labels is not None and len(labels) != n:
                raise InvalidInstanceError(f"{name} must have length {n}, got {len(labels)}")

        self._assign(H, P, pi, context_labels, token_labels)
        self._check_summary(m=m, V=V, d=d, S=S, entropy=entropy)

    def _check_summary(
        self,
        *,
        m: object,
        V: object,
        d: object,
        S: object,
        entropy: object,
    ) -> None:
        """Check the summary keywords of a pasted repr against the data (any mismatch, or a
        value of the wrong type, is an :class:`InvalidInstanceError`)."""
        for name, given, actual in (
            ("m", m, self.m),
            ("V", V, self.vocab_size),
            ("d", d, self.dim),
        ):
            if given is not None and given != actual:
                raise InvalidInstanceError(
                    f"{name}={given!r} given, but the data have {name} = {actual}: the summary "
                    "fields of a pasted repr must match its arrays"
                )
        sizes = self.support_sizes.tolist()
        if S is not None and S is not Ellipsis:
            if not isinstance(S, Sequence) or list(S) != sizes:
                raise InvalidInstanceError(
                    f"S={S!r} given, but the support sizes of probs are {sizes}"
                )
        if entropy is None:
            return
        # repr prints the entropy to 4 significant digits, at most 5e-4 relative off; 1e-3
        # leaves room for the rounding of the entropy itself.
        close = isinstance(entropy, int | float) and (
            abs(entropy - self.entropy) <= 1e-3 * abs(self.entropy)
        )
        if not close:
            raise InvalidInstanceError(
                f"entropy={entropy!r} given, but the data have entropy {self.entropy:.6g}"
            )

    def _assign(
        self,
        H: FloatArray,
        P: FloatArray,
        pi: FloatArray,
        context_labels: Sequence[str] | None,
        token_labels: Sequence[str] | None,
        counts: NDArray[np.int64] | None = None,
    ) -> None:
        """Store validated, normalised data (read-only) and an empty cache."""
        supports = P > 0
        setter = object.__setattr__
        setter(self, "embeddings", _frozen(H))
        setter(self, "probs", _frozen(P))
        setter(self, "context_weights", _frozen(pi))
        setter(self, "supports", _frozen(supports))
        setter(self, "entropy", _entropy(self.probs, self.context_weights, self.supports))
        setter(self, "counts", None if counts is None else _frozen(counts))
        setter(
            self,
            "context_labels",
            None if context_labels is None else tuple(map(str, context_labels)),
        )
        setter(
            self, "token_labels", None if token_labels is None else tuple(map(str, token_labels))
        )
        setter(self, "_cache", {})

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def from_counts(
        cls,
        embeddings: ArrayLike,
        counts: ArrayLike,
        *,
        context_labels: Sequence[str] | None = None,
        token_labels: Sequence[str] | None = None,
    ) -> NTPInstance:
        """Build an instance from next-token counts.

        Parameters
        ----------
        embeddings : array_like, shape (m, d)
        counts : array_like of int, shape (m, V)
            ``counts[j, z]`` is how often token ``z`` followed context ``j``: ``n pi_j p_jz``.
            Non-negative integers; every context needs a positive total.

        Returns
        -------
        NTPInstance
            With ``pi_j`` proportional to the row totals and ``p_j`` the row frequencies;
            the counts are kept in ``.counts``.

        Raises
        ------
        InvalidInstanceError
            If the counts are not a 2-D array of non-negative integers (integer-valued floats
            are accepted) fitting in int64, if a row is all zero, or as the constructor does.
        """
        raw = np.asarray(counts)
        if raw.dtype == object or not (
            np.issubdtype(raw.dtype, np.integer)
            or np.issubdtype(raw.dtype, np.floating)
            or raw.dtype == np.bool_
        ):
            raise InvalidInstanceError(f"counts must be an integer array, got dtype {raw.dtype}")
        if raw.ndim != 2:
            raise InvalidInstanceError(
                f"counts must be 2-dimensional, got ndim={raw.ndim} (shape {raw.shape})"
            )
        if np.issubdtype(raw.dtype, np.floating):
            _require_finite(raw.astype(np.float64), "counts")
            if np.any(np.abs(raw) >= 2.0**63):
                j, z = np.argwhere(np.abs(raw) >= 2.0**63)[0]
                raise InvalidInstanceError(
                    f"counts must fit in int64; counts[{j}, {z}] = {float(raw[j, z])!r}"
                )
            if np.any(raw != np.round(raw)):
                j, z = np.argwhere(raw != np.round(raw))[0]
                raise InvalidInstanceError(
                    f"counts must be integers; counts[{j}, {z}] = {float(raw[j, z])!r}"
                )
        if raw.dtype == np.uint64 and np.any(raw >= 2**63):
            raise InvalidInstanceError(f"counts must fit in int64; the largest is {raw.max()}")
        C = raw.astype(np.int64)
        if np.any(C < 0):
            j, z = np.argwhere(C < 0)[0]
            raise InvalidInstanceError(f"counts must be non-negative; counts[{j}, {z}] = {C[j, z]}")
        if C.shape[0] == 0:
            raise InvalidInstanceError("an instance needs at least one context (m = 0 given)")
        if C.shape[1] < 2:
            raise InvalidInstanceError(
                f"counts needs a vocabulary of V >= 2 tokens (columns), got V={C.shape[1]}"
            )
        totals = C.sum(axis=1)
        if np.any(totals == 0):
            j = int(np.argmin(totals))
            raise InvalidInstanceError(
                f"every context needs at least one observed next token; counts row {j} is all zero"
            )
        inst = cls(
            embeddings,
            C / totals[:, None],
            totals.astype(np.float64),
            context_labels=context_labels,
            token_labels=token_labels,
        )
        object.__setattr__(inst, "counts", _frozen(C))
        return inst

    @classmethod
    def from_sequences(
        cls,
        sequences: Sequence[Sequence[Any]],
        embed: Any = "onehot",
        context_length: int | None = None,
        **kwargs: Any,
    ) -> NTPInstance:
        """Build an instance from raw token sequences (the reduction of App. C).

        Parameters
        ----------
        sequences : sequence of sequences of hashable tokens
        embed : {"onehot", "position-onehot", "gaussian", "minilm"} or callable
            Context embedder: a built-in of :mod:`ntpprops.embeddings` or a function mapping a
            context (tuple of tokens) to a 1-D vector.
        context_length : int, optional
            ``k``: every window of ``k`` tokens is a context. ``None``: every prefix is.
        **kwargs
            ``vocabulary``, ``dim``, ``seed``: see
            :func:`ntpprops.corpus.instance_from_sequences`.

        Returns
        -------
        NTPInstance
            One row per distinct context, with counts of its next tokens.
        """
        return instance_from_sequences(sequences, embed, context_length, **kwargs)

    # -- shape properties ---------------------------------------------------------------

    @property
    def m(self) -> int:
        """Number of distinct contexts."""
        return int(self.probs.shape[0])

    @property
    def vocab_size(self) -> int:
        """Vocabulary size ``V``."""
        return int(self.probs.shape[1])

    @property
    def dim(self) -> int:
        """Embedding dimension ``d``."""
        return int(self.embeddings.shape[1])

    @property
    def support_sizes(self) -> NDArray[np.int64]:
        """``S_j = |S_j|`` for every context, shape (m,)."""
        sizes: NDArray[np.int64] = self.supports.sum(axis=1)
        return sizes

    @property
    def weight_shape(self) -> tuple[int, int]:
        """Shape ``(V, d)`` of a decoder ``W``."""
        return (self.vocab_size, self.dim)

    # -- derived instances ---------------------------------------------------------------

    def replace(self, **changes: Any) -> NTPInstance:
        """Return a copy with some of ``embeddings``, ``probs``, ``context_weights`` replaced.

        Fields that are not replaced keep their exact values; ``counts`` is kept only when
        neither ``probs`` nor ``context_weights`` changes.
        """
        fields: dict[str, Any] = {
            "embeddings": self.embeddings,
            "probs": self.probs,
            "context_weights": self.context_weights,
            "context_labels": self.context_labels,
            "token_labels": self.token_labels,
        }
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"replace() got unknown fields {sorted(unknown)}")
        fields.update(changes)
        new = NTPInstance(**fields)  # validates the combination
        keep_counts = "probs" not in changes and "context_weights" not in changes
        new._assign(
            new.embeddings,
            self.probs if "probs" not in changes else new.probs,
            self.context_weights if "context_weights" not in changes else new.context_weights,
            new.context_labels,
            new.token_labels,
            self.counts if keep_counts else None,
        )
        return new

    # -- immutability, equality, printing ----------------------------------------------

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"NTPInstance is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"NTPInstance is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NTPInstance):
            return NotImplemented
        return (
            np.array_equal(self.embeddings, other.embeddings)
            and np.array_equal(self.probs, other.probs)
            and np.array_equal(self.context_weights, other.context_weights)
        )

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[str, Any]:
        return {
            "embeddings": self.embeddings,
            "probs": self.probs,
            "context_weights": self.context_weights,
            "counts": self.counts,
            "context_labels": self.context_labels,
            "token_labels": self.token_labels,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Validate through the constructor, then keep the exact pickled (already normalised)
        # arrays: renormalising again could move entries by an ulp and break equality.
        fresh = NTPInstance(
            state["embeddings"],
            state["probs"],
            state["context_weights"],
            context_labels=state["context_labels"],
            token_labels=state["token_labels"],
        )
        counts = state["counts"]
        self._assign(
            fresh.embeddings,
            np.asarray(state["probs"], dtype=np.float64),
            np.asarray(state["context_weights"], dtype=np.float64),
            fresh.context_labels,
            fresh.token_labels,
            None if counts is None else np.asarray(counts, dtype=np.int64),
        )

    def __repr__(self) -> str:
        head = (
            f"NTPInstance(m={self.m}, V={self.vocab_size}, d={self.dim}, "
            f"S={self.support_sizes.tolist() if self.m <= 12 else '...'}, "
            f"entropy={self.entropy:.4g}"
        )
        if self.m * (self.vocab_size + self.dim) > 240:
            return head + ")"

        def num(x: float) -> str:
            # Short "%.4g" (integers print as integers) when it is exact, else the shortest
            # round-trip repr: a printed counterexample rebuilds the same instance.
            short = f"{x:.4g}"
            return short if float(short) == x else repr(float(x))

        def fmt(a: NDArray[Any], indent: int) -> str:
            rows = ["[" + ", ".join(num(x) for x in row) + "]" for row in np.atleast_2d(a)]
            one_line = "[" + ", ".join(rows) + "]"
            if a.ndim == 1:
                return rows[0]
            if len(one_line) + indent <= 96:
                return one_line
            return "[" + (",\n" + " " * (indent + 1)).join(rows) + "]"

        weights = self.context_weights
        # 'uniform' only for exactly the default weights: the pasted repr must rebuild them.
        uniform = np.array_equal(weights, np.full(self.m, 1.0 / self.m))
        pi = "'uniform'" if uniform else fmt(weights, 20)
        body = [
            f"    embeddings={fmt(self.embeddings, 15)}",
            f"    probs={fmt(self.probs, 10)}",
            f"    context_weights={pi}",
        ]
        return head + ",\n" + ",\n".join(body) + ")"


def require_instance(inst: object, name: str = "inst") -> None:
    """Raise :class:`~ntpprops.NotAnInstanceError` unless ``inst`` is an :class:`NTPInstance`.

    The message names the argument, what was passed (with its shape for an array: passing
    ``H`` for the instance is the usual slip) and how to build an instance.
    """
    if isinstance(inst, NTPInstance):
        return
    what = type(inst).__name__
    if isinstance(inst, np.ndarray):
        what = f"a numpy array of shape {inst.shape}"
    raise NotAnInstanceError(
        f"{name} must be an NTPInstance, got {what}; build one with "
        "ntpprops.NTPInstance(embeddings, probs) (or NTPInstance.from_counts / from_sequences)"
    )


def as_weights(inst: NTPInstance, W: ArrayLike, name: str = "W") -> FloatArray:
    """Validate a decoder ``W`` against an instance.

    Parameters
    ----------
    inst : NTPInstance
    W : array_like, shape (V, d)

    Returns
    -------
    ndarray, shape (V, d), float64

    Raises
    ------
    InvalidInstanceError
        If ``W`` has the wrong shape, a complex or text dtype, or non-finite entries; the
        subclass :class:`~ntpprops.NotAnInstanceError` if ``inst`` is not an instance.
    """
    require_instance(inst)
    array = np.asarray(W)
    if array.dtype != np.float64:  # no copy on the hot path (float64 input)
        array = _as_float_array(array, name)
    if array.shape != inst.weight_shape:
        raise InvalidInstanceError(
            f"{name} must have shape (V, d) = {inst.weight_shape} for this instance, "
            f"got {array.shape}"
        )
    _require_finite(array, name)
    return array


def instance_from_sequences(
    sequences: Sequence[Sequence[Hashable]],
    embed: str | Embedder = "onehot",
    context_length: int | None = None,
    *,
    vocabulary: Sequence[Hashable] | None = None,
    dim: int | None = None,
    seed: int | None = None,
) -> NTPInstance:
    """Build an NTP instance from raw token sequences (the reduction of App. C).

    Parameters
    ----------
    sequences : sequence of sequences of hashable tokens
        The corpus. Tokens are any hashable values (ints, strings, ...); without an explicit
        ``vocabulary`` they must be mutually sortable.
    embed : {"onehot", "position-onehot", "gaussian"} or callable, default "onehot"
        How a context becomes ``h_j``: a built-in of :mod:`ntpprops.embeddings`, or a callable
        mapping a context tuple to a 1-D vector (same length for every context, finite).
    context_length : int >= 1, optional
        ``None``: every prefix ``x_1..x_t`` (``t = 1..T-1``) predicts ``x_{t+1}``. ``k``: every
        window of ``k`` consecutive tokens predicts the token after it.
    vocabulary : sequence, optional
        The ``V`` tokens in column order (may include unseen tokens). Default: the sorted
        distinct tokens of the corpus.
    dim : int, optional
        Embedding dimension; only for ``embed="gaussian"`` (where it is required).
    seed : int, optional
        Seed of ``embed="gaussian"`` (default 0).

    Returns
    -------
    NTPInstance
        Built with :meth:`NTPInstance.from_counts`: row ``j`` is the ``j``-th context of
        :func:`distinct_contexts` (ordered by length, then token indices), ``counts[j, z]`` how
        often token ``z`` followed it, ``pi_j`` its share of all prediction events.
        ``context_labels`` are the space-joined tokens, ``token_labels`` the tokens.
        The embedding dimension is ``m`` (onehot), ``k V`` (position-onehot, ``k`` the context
        length or the longest prefix; shorter prefixes are left-padded with zero blocks),
        ``dim`` (gaussian), or the callable's output length.

    Raises
    ------
    InvalidInstanceError
        No sequences; an empty sequence; a sequence with no prediction event (shorter than
        ``context_length + 1``, or than 2 tokens for prefixes); ``context_length < 1``;
        tokens missing from ``vocabulary``; an unknown built-in or a callable that fails or
        returns vectors of varying length or non-finite values; fewer than 2 tokens in the
        vocabulary. Messages name the sequence index where relevant.
    """
    table = corpus_table(
        sequences, embed, context_length, vocabulary=vocabulary, dim=dim, seed=seed
    )
    return NTPInstance.from_counts(
        table.embeddings,
        table.counts,
        context_labels=table.context_labels,
        token_labels=table.token_labels,
    )
