"""Built-in context embedders for :meth:`NTPInstance.from_sequences`.

A context is a tuple of tokens. Each built-in maps the list of distinct contexts of a corpus to
the embedding matrix ``H`` (one row per context):

- :func:`onehot_embedding` — one basis vector per distinct context (``d = m``): ``H = I``, the
  "every context its own direction" geometry in which ``d = m`` and ``H`` has rank ``m``.
- :func:`position_onehot_embedding` — one one-hot block per position (``d = k V``), contexts
  shorter than ``k`` left-padded with zero blocks, so the last token is always in the last block.
- :func:`gaussian_embedding` — a seeded ``N(0, I / dim)`` vector per context; a context's vector
  depends only on its tokens, ``dim`` and ``seed`` (never on the other contexts or on the
  Python process), via a SHA-256 digest of the tokens.

:data:`EMBEDDERS` names them for ``embed="..."``.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Callable, Hashable, Sequence

import numpy as np
from numpy.typing import NDArray

from ntpprops._errors import InvalidInstanceError

__all__ = [
    "EMBEDDERS",
    "gaussian_context_vector",
    "gaussian_embedding",
    "onehot_embedding",
    "position_onehot_embedding",
    "token_key",
]

FloatArray = NDArray[np.float64]
Context = tuple[Hashable, ...]


def onehot_embedding(contexts: Sequence[Context]) -> FloatArray:
    """One-hot embedding of every distinct context.

    Parameters
    ----------
    contexts : sequence of tuple
        The ``m`` distinct contexts, in row order.

    Returns
    -------
    ndarray, shape (m, m)
        The identity: context ``j`` gets ``e_j``.
    """
    return np.eye(len(contexts))


def position_onehot_embedding(
    contexts: Sequence[Context],
    vocabulary: Sequence[Hashable],
    length: int | None = None,
) -> FloatArray:
    """Concatenated one-hot encodings of the tokens of each context, one block per position.

    Parameters
    ----------
    contexts : sequence of tuple
        The ``m`` distinct contexts, in row order; every token must be in ``vocabulary``.
    vocabulary : sequence
        The ``V`` tokens, in column order.
    length : int, optional
        The number of blocks ``k`` (default: the longest context). A context of length
        ``t < k`` fills the last ``t`` blocks (left padding with zero blocks), so the token
        right before the prediction is always in the last block.

    Returns
    -------
    ndarray, shape (m, k * V)
        Row ``j`` has a one in column ``b V + index(token)`` for the token in block ``b``.

    Raises
    ------
    InvalidInstanceError
        If a context is longer than ``length`` or holds a token outside ``vocabulary``.
    """
    index = {token_key(t): i for i, t in enumerate(vocabulary)}
    V = len(vocabulary)
    k = max((len(c) for c in contexts), default=0) if length is None else int(length)
    H = np.zeros((len(contexts), k * V))
    for row, context in enumerate(contexts):
        if len(context) > k:
            raise InvalidInstanceError(
                f"context {row} has length {len(context)} > {k} position blocks"
            )
        offset = k - len(context)
        for position, token in enumerate(context):
            column = index.get(token_key(token))
            if column is None:
                raise InvalidInstanceError(
                    f"context {row} holds token {token!r}, which is not in the vocabulary"
                )
            H[row, (offset + position) * V + column] = 1.0
    return H


def token_key(token: Hashable) -> tuple[str, object]:
    """A canonical, process-independent key of a token (NumPy scalars equal Python ones).

    Integers (Python or NumPy, not bool) map to ``("int", int)``, strings to ``("str", s)``,
    anything else to ``(type name, repr)``.
    """
    if isinstance(token, bool | np.bool_):
        return ("bool", bool(token))
    if isinstance(token, numbers.Integral):
        return ("int", int(token))
    if isinstance(token, str):
        return ("str", token)
    return (type(token).__name__, repr(token))


def _context_digest(context: Context, dim: int, seed: int) -> list[int]:
    payload = repr((int(seed), int(dim), tuple(token_key(t) for t in context))).encode()
    digest = hashlib.sha256(payload).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]


def gaussian_context_vector(context: Context, dim: int, seed: int = 0) -> FloatArray:
    """The seeded Gaussian embedding of one context.

    Parameters
    ----------
    context : tuple
        The tokens of the context.
    dim : int
        Embedding dimension ``d >= 1``.
    seed : int, default 0

    Returns
    -------
    ndarray, shape (dim,)
        A draw from ``N(0, I / dim)`` whose generator is seeded from a SHA-256 digest of
        ``(seed, dim, tokens)``: the same context always gets the same vector, independently
        of the rest of the corpus and of Python's randomised ``hash``.
    """
    rng = np.random.default_rng(_context_digest(context, dim, seed))
    return rng.standard_normal(dim) / np.sqrt(dim)


def gaussian_embedding(contexts: Sequence[Context], dim: int, seed: int = 0) -> FloatArray:
    """Seeded Gaussian embeddings of every context, shape (m, dim).

    Row ``j`` is :func:`gaussian_context_vector` of ``contexts[j]``. With ``dim > m`` the rows
    are linearly independent with probability one, so the instance is compatible and
    separable (Lemma 1).

    Raises
    ------
    InvalidInstanceError
        If ``dim`` is not a positive integer.
    """
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
        raise InvalidInstanceError(f"dim must be a positive integer, got {dim!r}")
    if len(contexts) == 0:
        return np.zeros((0, int(dim)))
    return np.stack([gaussian_context_vector(c, int(dim), seed) for c in contexts])


#: Built-in embedders by name; each is called as ``f(contexts, vocabulary, length, dim, seed)``.
EMBEDDERS: dict[str, Callable[..., FloatArray]] = {
    "onehot": lambda contexts, vocabulary, length, dim, seed: onehot_embedding(contexts),
    "position-onehot": lambda contexts, vocabulary, length, dim, seed: position_onehot_embedding(
        contexts, vocabulary, length
    ),
    "gaussian": lambda contexts, vocabulary, length, dim, seed: gaussian_embedding(
        contexts, dim, seed
    ),
}
