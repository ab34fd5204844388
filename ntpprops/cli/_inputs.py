"""Reading the data that ``ntpprops verify`` checks: ``.npz`` instances and text corpora."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ntpprops._errors import NTPError
from ntpprops._instance import NTPInstance

__all__ = ["NPZ_KEYS", "Corpus", "UsageError", "load_corpus", "load_npz", "save_npz"]

#: Keys an instance file may hold: ``embeddings`` plus exactly one of ``probs``/``counts``.
NPZ_KEYS = ("embeddings", "probs", "counts", "context_weights", "context_labels", "token_labels")


class UsageError(NTPError):
    """Bad command-line usage or unreadable input: exit status 2, one line on stderr."""


def load_npz(path: str | Path) -> NTPInstance:
    """Read an instance from ``path``.

    Parameters
    ----------
    path : str or Path
        An ``.npz`` with ``embeddings`` (m, d) and either ``probs`` (m, V) (optionally with
        ``context_weights`` (m,)) or integer ``counts`` (m, V); optional string arrays
        ``context_labels`` (m,), ``token_labels`` (V,).

    Returns
    -------
    NTPInstance

    Raises
    ------
    UsageError
        Missing or unreadable file, missing or unknown keys.
    InvalidInstanceError
        The arrays do not form a valid instance (shapes, NaN, negative values, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"data file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise UsageError(f"{path} is not an .npz archive (not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UsageError(f"cannot read {path} as an .npz archive: {exc}") from exc
    unknown = sorted(set(arrays) - set(NPZ_KEYS))
    if unknown:
        raise UsageError(f"{path}: unknown keys {unknown}; allowed keys are {list(NPZ_KEYS)}")
    if "embeddings" not in arrays:
        raise UsageError(f"{path}: missing key 'embeddings' (found {sorted(arrays)})")
    has_probs, has_counts = "probs" in arrays, "counts" in arrays
    if has_probs == has_counts:
        which = "both" if has_probs else "neither"
        raise UsageError(f"{path}: needs exactly one of 'probs' or 'counts', found {which}")
    if has_counts and "context_weights" in arrays:
        raise UsageError(
            f"{path}: 'context_weights' go with 'probs'; with 'counts' they are the row totals"
        )
    labels = {
        key: [str(x) for x in arrays[key].tolist()]
        for key in ("context_labels", "token_labels")
        if key in arrays
    }
    if has_counts:
        return NTPInstance.from_counts(arrays["embeddings"], arrays["counts"], **labels)
    return NTPInstance(
        arrays["embeddings"], arrays["probs"], arrays.get("context_weights"), **labels
    )


def save_npz(inst: NTPInstance, path: str | Path) -> Path:
    """Write ``inst`` to ``path`` in the format :func:`load_npz` reads (probs + weights)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Any: numpy's stubs type savez's keyword arrays together with its bool allow_pickle.
    arrays: dict[str, Any] = {
        "embeddings": inst.embeddings,
        "probs": inst.probs,
        "context_weights": inst.context_weights,
    }
    if inst.context_labels is not None:
        arrays["context_labels"] = np.array(inst.context_labels, dtype=str)
    if inst.token_labels is not None:
        arrays["token_labels"] = np.array(inst.token_labels, dtype=str)
    np.savez(path, **arrays)
    return path


@dataclass(frozen=True)
class Corpus:
    """A text corpus cut into token sequences (one per non-empty line)."""

    path: Path
    tokens: str
    sequences: list[list[str]] = field(repr=False)

    @property
    def events(self) -> int:
        """Number of prediction events: every token after the first of its sequence."""
        return sum(max(len(s) - 1, 0) for s in self.sequences)


def load_corpus(path: str | Path, tokens: str) -> Corpus:
    """Read ``path`` as UTF-8 text; each non-empty line is one sequence.

    Parameters
    ----------
    path : str or Path
    tokens : {"words", "chars"}
        Split lines on whitespace, or into characters (spaces kept).

    Raises
    ------
    UsageError
        Missing/unreadable file, or no sequence with at least two tokens.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"corpus file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path} as UTF-8 text: {exc}") from exc
    lines = [line.strip() for line in text.splitlines()]
    if tokens == "words":
        sequences = [line.split() for line in lines if line]
    else:
        sequences = [list(line) for line in lines if line]
    corpus = Corpus(path, tokens, sequences)
    if corpus.events == 0:
        raise UsageError(f"{path}: no line has two or more {tokens}; nothing to predict")
    return corpus
