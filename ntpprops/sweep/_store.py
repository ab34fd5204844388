"""The results store: a Parquet dataset (a directory of parts), appended chunk by chunk.

Each finished chunk becomes one part file, written to a hidden temporary name and renamed
into place, so a part is either whole or absent: interrupting a sweep (Ctrl-C, a killed
client or worker) loses at most the chunks in flight. A rerun reads the keys already stored
and skips them. ``pyarrow.parquet.read_table(store)`` (or pandas/polars ``read_parquet``)
reads the directory as one table.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ntpprops.sweep._grid import POINT_FIELDS, GridPoint
from ntpprops.sweep._measures import Measure

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "KEY_COLUMNS",
    "append_rows",
    "done_keys",
    "read_store",
    "row_key",
    "schema",
    "store_measures",
]

#: The columns identifying an instance: the grid point, the trial and the base seed.
KEY_COLUMNS = (*POINT_FIELDS, "trial", "base_seed")

_INT_FIELDS = ("m", "d", "vocab", "support", "trial", "base_seed", "seed")


def schema(measures: Sequence[Measure]) -> pa.Schema:
    """The store's columns: grid point, trial, seeds, each measure's columns, time, errors."""
    import pyarrow as pa

    types = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}
    columns: list[tuple[str, Any]] = [
        (name, pa.int64() if name in _INT_FIELDS else pa.string()) for name in POINT_FIELDS
    ]
    columns += [("trial", pa.int64()), ("seed", pa.int64()), ("base_seed", pa.int64())]
    for entry in measures:
        columns += [(column, types[kind]) for column, kind in entry.columns.items()]
    columns += [
        ("seconds", pa.float64()),
        ("error", pa.string()),
        ("measures", pa.string()),
        ("ntpprops_version", pa.string()),
        ("numpy_version", pa.string()),
        ("scipy_version", pa.string()),
    ]
    return pa.schema(columns)


def _parts(store: Path) -> list[Path]:
    if not store.exists():
        return []
    if not store.is_dir():
        raise ValueError(f"store {store} exists and is not a directory of Parquet parts")
    return sorted(p for p in store.glob("part-*.parquet") if p.is_file())


def read_store(store: str | os.PathLike[str]) -> pa.Table | None:
    """Every row stored so far (``None`` when the store has no part yet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = _parts(Path(store))
    if not parts:
        return None
    return pa.concat_tables([pq.read_table(p) for p in parts], promote_options="none")


def store_measures(store: str | os.PathLike[str]) -> set[str]:
    """The distinct ``measures`` values of the stored rows (one, in a consistent store)."""
    import pyarrow.parquet as pq

    return {
        value
        for part in _parts(Path(store))
        for value in pq.read_table(part, columns=["measures"]).column(0).to_pylist()
    }


def done_keys(store: str | os.PathLike[str]) -> set[tuple[Any, ...]]:
    """The :data:`KEY_COLUMNS` tuples of the instances already stored."""
    import pyarrow.parquet as pq

    keys: set[tuple[Any, ...]] = set()
    for part in _parts(Path(store)):
        table = pq.read_table(part, columns=list(KEY_COLUMNS))
        keys.update(zip(*(table.column(c).to_pylist() for c in KEY_COLUMNS), strict=True))
    return keys


def row_key(point: GridPoint, trial: int, base_seed: int) -> tuple[Any, ...]:
    """The key tuple of one instance, as :func:`done_keys` returns it."""
    return (*point.as_dict().values(), int(trial), int(base_seed))


def append_rows(
    store: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]], table_schema: pa.Schema
) -> Path | None:
    """Write ``rows`` as one new part of ``store`` (atomically); ``None`` if there are none."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = list(rows)
    if not rows:
        return None
    directory = Path(store)
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=table_schema)
    name = f"part-{uuid.uuid4().hex}.parquet"
    tmp = directory / f".{name}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, directory / name)
    return directory / name
