"""A strategy for raw token sequences (the autoregressive data of App. C)."""

from __future__ import annotations

from hypothesis import strategies as st

from ._validation import check_bounds

__all__ = ["token_sequences"]


@st.composite
def _sequences(
    draw: st.DrawFn,
    vocab: tuple[int, int],
    count: tuple[int, int],
    length: tuple[int, int],
) -> list[list[int]]:
    V = draw(st.integers(*vocab))
    sequence = st.lists(st.integers(0, V - 1), min_size=length[0], max_size=length[1])
    return draw(st.lists(sequence, min_size=count[0], max_size=count[1]))


def token_sequences(
    *,
    min_vocab: int = 2,
    max_vocab: int = 4,
    min_sequences: int = 1,
    max_sequences: int = 4,
    min_length: int = 2,
    max_length: int = 6,
) -> st.SearchStrategy[list[list[int]]]:
    """Lists of token sequences over a small vocabulary ``{0, ..., V - 1}``.

    Input for :meth:`ntpprops.NTPInstance.from_sequences`: every prefix of every sequence
    predicts its next token.

    Parameters
    ----------
    min_vocab, max_vocab : int
        Bounds on ``V`` (``2 <= min <= max``); not every token need occur.
    min_sequences, max_sequences : int
        Bounds on the number of sequences (``1 <= min <= max``).
    min_length, max_length : int
        Bounds on each sequence's length (``2 <= min <= max``: a sequence of length ``T``
        gives ``T - 1`` prediction events, so length 2 is the shortest that gives one).

    Returns
    -------
    SearchStrategy[list[list[int]]]
        Shrinks towards one sequence ``[0, 0]``.
    """
    vocab = check_bounds("min_vocab", min_vocab, "max_vocab", max_vocab, 2, "V >= 2 tokens")
    count = check_bounds(
        "min_sequences", min_sequences, "max_sequences", max_sequences, 1, "a corpus needs data"
    )
    length = check_bounds(
        "min_length",
        min_length,
        "max_length",
        max_length,
        2,
        "a sequence needs two tokens to give one prediction event",
    )
    return _sequences(vocab, count, length)
