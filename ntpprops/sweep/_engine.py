"""Running a sweep on Dask: chunks of instances as tasks, results appended as they finish.

Three engines, one result. ``workers=1`` runs the chunks in this process on Dask's
synchronous scheduler; otherwise a local ``dask.distributed`` cluster of ``workers`` worker
processes (one thread each, BLAS single-threaded by Dask's nanny) is started, or an existing
scheduler is used as given (``scheduler=ADDRESS``; its workers need ``ntpprops`` installed).
Every instance is drawn from its own seed (:func:`ntpprops.sweep.instance_seed`), so a row
never depends on which worker computed it nor on how many there were.

The client appends each finished chunk to the store before anything else; a worker that dies
has its tasks rescheduled by Dask, and a rerun skips the stored instances.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ntpprops import __version__
from ntpprops.sweep._grid import GridPoint, Task, make_instance, tasks
from ntpprops.sweep._measures import Measure, get_measure
from ntpprops.sweep._store import (
    KEY_COLUMNS,
    append_rows,
    done_keys,
    read_store,
    row_key,
    schema,
    store_measures,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SweepResult", "local_cluster", "run_chunk", "run_sweep"]

#: Upper bound on the instances per task: small enough that a lost chunk costs little.
MAX_CHUNK = 25


@dataclass(frozen=True)
class SweepResult:
    """What a finished sweep returns.

    Attributes
    ----------
    store : Path
    table : pyarrow.Table
        Every stored row of the requested grid, sorted by (grid point, trial).
    computed, skipped : int
        Instances computed by this run, and found already stored.
    seconds : float
        Wall time of this run.
    workers : int
        Workers that ran it (1 for the synchronous scheduler).
    """

    store: Path
    table: pa.Table
    computed: int
    skipped: int
    seconds: float
    workers: int


def run_chunk(
    chunk: Sequence[Task], measures: Sequence[Measure], base_seed: int
) -> list[dict[str, Any]]:
    """Measure every instance of ``chunk``: one row each (the task a worker runs).

    A measure that raises leaves its columns ``None`` and its error in the ``error`` column;
    the following measures still run.
    """
    import numpy as np
    import scipy

    names = ",".join(entry.name for entry in measures)
    rows = []
    for task in chunk:
        start = time.perf_counter()
        row: dict[str, Any] = {**task.point.as_dict(), "trial": task.trial, "seed": task.seed}
        row["base_seed"] = int(base_seed)
        errors = []
        inst = make_instance(task.point, task.seed)
        for entry in measures:
            try:
                row.update(entry(inst))
            except Exception as exc:  # recorded in the row: one instance never stops a sweep
                row.update(dict.fromkeys(entry.columns))
                errors.append(f"{entry.name}: {type(exc).__name__}: {exc}")
        row["seconds"] = time.perf_counter() - start
        row["error"] = "; ".join(errors) or None
        row["measures"] = names
        row["ntpprops_version"] = __version__
        row["numpy_version"] = np.__version__
        row["scipy_version"] = scipy.__version__
        rows.append(row)
    return rows


class _Bar:
    """``[####....] 120/400 instances, 30.1 s, ETA 70 s`` on a TTY, nothing elsewhere."""

    def __init__(self, total: int, stream: TextIO | None, width: int = 24) -> None:
        self.total, self.done, self.width = max(total, 1), 0, width
        self.stream = sys.stderr if stream is None else stream
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else math.nan
        filled = self.width * min(self.done, self.total) // self.total
        bar = "#" * filled + "." * (self.width - filled)
        line = f"[{bar}] {self.done}/{self.total} instances, {elapsed:.1f} s, ETA {eta:.0f} s"
        self.stream.write("\r" + line.ljust(80))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _resolve(measures: Iterable[str | Measure]) -> tuple[Measure, ...]:
    resolved = tuple(get_measure(m) if isinstance(m, str) else m for m in measures)
    if not resolved:
        raise ValueError("give at least one measure")
    names = [m.name for m in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"measures repeat a name: {names}")
    return resolved


def _chunks(todo: list[Task], size: int) -> list[list[Task]]:
    return [todo[i : i + size] for i in range(0, len(todo), size)]


def run_sweep(
    points: Sequence[GridPoint],
    *,
    trials: int,
    store: str | os.PathLike[str],
    measures: Iterable[str | Measure] = ("separable",),
    workers: int | None = None,
    scheduler: str | None = None,
    base_seed: int = 0,
    chunk_size: int | None = None,
    progress: TextIO | None = None,
    timeout: float | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> SweepResult:
    """Measure ``trials`` instances at every grid point, resuming from ``store``.

    Parameters
    ----------
    points : sequence of GridPoint
    trials : int
        Instances per point (trial ``t`` at a point always gets the same seed).
    store : path
        Parquet dataset directory; created if missing, resumed if present.
    measures : iterable of str or Measure
        Registered measure names (:data:`ntpprops.sweep.MEASURES`) or measures.
    workers : int, optional
        ``1``: this process, Dask's synchronous scheduler. Otherwise a local cluster of that
        many processes (default ``os.cpu_count()``). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler, used unchanged.
    base_seed : int
        Mixed into every instance seed; part of a row's key.
    chunk_size : int, optional
        Instances per task (default: about eight tasks per worker, at most :data:`MAX_CHUNK`).
    progress : text stream, optional
        Where the progress bar goes (default stderr); drawn only on a TTY.
    timeout : float, optional
        Seconds to wait for all chunks on a cluster before raising ``TimeoutError`` (stored
        chunks stay stored).
    on_chunk : callable, optional
        Called with the number of chunks stored so far after each one is stored.

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError
        On bad arguments, or a store written with other measures.
    ImportError
        If dask or pyarrow is missing (``pip install ntpprops[sweep]``).
    """
    started = time.perf_counter()
    chosen = _resolve(measures)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    store = Path(store)
    names = ",".join(m.name for m in chosen)
    found = store_measures(store) - {names}
    if found:
        raise ValueError(
            f"store {store} holds rows with measures {sorted(found)}, not {names!r}: "
            "use another --store or the same measures"
        )
    table_schema = schema(chosen)
    done = done_keys(store)
    wanted = list(tasks(points, trials, base_seed))
    todo = [t for t in wanted if row_key(t.point, t.trial, base_seed) not in done]
    n_workers = 1 if scheduler is None and workers == 1 else (workers or os.cpu_count() or 1)
    bar = _Bar(len(todo), progress)
    stored = 0

    def keep(rows: list[dict[str, Any]]) -> None:
        nonlocal stored
        append_rows(store, rows, table_schema)
        stored += 1
        bar.update(len(rows))
        if on_chunk is not None:
            on_chunk(stored)

    try:
        if todo and scheduler is None and n_workers == 1:
            import dask

            for chunk in _chunks(todo, chunk_size or MAX_CHUNK):
                task = dask.delayed(run_chunk, pure=False)(chunk, chosen, base_seed)
                keep(task.compute(scheduler="synchronous"))
        elif todo:
            n_workers = _run_distributed(
                todo, chosen, base_seed, keep, n_workers, scheduler, chunk_size, timeout
            )
    finally:
        bar.close()
    return SweepResult(
        store=store,
        table=_final_table(store, wanted, base_seed, table_schema),
        computed=len(todo),
        skipped=len(wanted) - len(todo),
        seconds=time.perf_counter() - started,
        workers=n_workers,
    )


def local_cluster(n_workers: int) -> Any:
    """A ``distributed.LocalCluster`` of ``n_workers`` single-threaded worker processes.

    No dashboard; the scheduler's HTTP endpoints take a free port (``:0``) rather than 8787,
    which another cluster on the machine may hold (Dask would warn and move). Dask's own logs
    are silenced below CRITICAL: at shutdown, workers log the scheduler's closing as heartbeat
    errors; a task's real failure still reaches the client through its future.
    """
    import logging

    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"},
        silence_logs=logging.CRITICAL,
    )


def _run_distributed(
    todo: list[Task],
    measures: tuple[Measure, ...],
    base_seed: int,
    keep: Callable[[list[dict[str, Any]]], None],
    n_workers: int,
    scheduler: str | None,
    chunk_size: int | None,
    timeout: float | None,
) -> int:
    """Run the chunks on a local cluster or ``scheduler``; returns the worker count."""
    from distributed import Client, as_completed

    cluster = None
    if scheduler is None:
        cluster = local_cluster(n_workers)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    futures = []
    try:
        if scheduler is not None:
            n_workers = max(len(client.scheduler_info().get("workers", {})), 1)
        size = chunk_size or max(1, min(MAX_CHUNK, math.ceil(len(todo) / (8 * n_workers))))
        futures = [
            client.submit(run_chunk, chunk, measures, base_seed, pure=False)
            for chunk in _chunks(todo, size)
        ]
        for _, rows in as_completed(futures, with_results=True, timeout=timeout):
            keep(rows)
    finally:
        if futures:
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()
    return n_workers


def _final_table(
    store: Path, wanted: list[Task], base_seed: int, table_schema: pa.Schema
) -> pa.Table:
    """The stored rows of the requested grid, sorted by key."""
    import pyarrow as pa

    table = read_store(store)
    if table is None:
        return table_schema.empty_table()
    keys = {row_key(t.point, t.trial, base_seed) for t in wanted}
    columns = [table.column(c).to_pylist() for c in KEY_COLUMNS]
    mask = pa.array([key in keys for key in zip(*columns, strict=True)], type=pa.bool_())
    return table.filter(mask).sort_by([(c, "ascending") for c in KEY_COLUMNS])
