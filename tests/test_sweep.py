"""``ntpprops sweep``: the grid and its seeds, measures, the resumable store, the Dask engine
(a real local cluster of two worker processes, one of them killed mid-sweep) and the CLI."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ntpprops as ntp
from ntpprops.cli import main
from ntpprops.sweep import (
    MEASURES,
    GridPoint,
    Task,
    grid_points,
    instance_seed,
    make_instance,
    measure,
    parse_values,
    plot_phase_diagram,
    read_store,
    run_chunk,
    run_sweep,
    summarize,
    thresholds,
)

pytest.importorskip("dask")
pytest.importorskip("pyarrow")

#: Every wait on a cluster is bounded by this (seconds): generous for a loaded 2-core machine.
CLUSTER_TIMEOUT = 180.0

#: Columns that legitimately differ between two runs of the same instances.
TIMING = frozenset({"seconds"})


def _canon(table: Any) -> list[dict[str, Any]]:
    """Rows without timing, NaN replaced by a sentinel so that equal rows compare equal."""
    rows = table.to_pylist()
    return [
        {
            k: ("NaN" if isinstance(v, float) and math.isnan(v) else v)
            for k, v in row.items()
            if k not in TIMING
        }
        for row in rows
    ]


def _keys(table: Any) -> list[tuple[Any, ...]]:
    from ntpprops.sweep._store import KEY_COLUMNS

    return list(zip(*(table.column(c).to_pylist() for c in KEY_COLUMNS), strict=True))


# ---------------------------------------------------------------------------- grid and seeds


def test_parse_values_reads_lists_and_inclusive_ranges() -> None:
    assert parse_values("16,20,22,26", "--d") == [16, 20, 22, 26]
    assert parse_values("16:26:4", "--d") == [16, 20, 24]
    assert parse_values("1:3,3,7", "--d") == [1, 2, 3, 7]
    for bad in ("", "x", "3:1", "1:5:0", "1:2:3:4", "1.5"):
        with pytest.raises(ValueError, match="--d"):
            parse_values(bad, "--d")


def test_grid_point_rejects_invalid_parameters() -> None:
    with pytest.raises(ValueError, match="support must be <= vocab"):
        GridPoint(m=4, d=2, vocab=3, support=4)
    with pytest.raises(ValueError, match="support_law"):
        GridPoint(m=4, d=2, vocab=3, support=2, support_law="poisson")
    with pytest.raises(ValueError, match="d must be a positive integer"):
        GridPoint(m=4, d=0, vocab=3, support=2)


def test_instance_is_a_function_of_point_and_trial_alone() -> None:
    point = GridPoint(m=6, d=3, vocab=5, support=2, support_law="zipf", pi="dirichlet")
    seeds = [instance_seed(point, t) for t in range(4)]
    assert seeds == [instance_seed(point, t) for t in range(4)]
    assert len(set(seeds)) == 4, "distinct trials share a seed"
    assert instance_seed(point, 0, base_seed=1) != seeds[0]
    other = GridPoint(m=6, d=4, vocab=5, support=2, support_law="zipf", pi="dirichlet")
    assert instance_seed(other, 0) != seeds[0]
    a, b = make_instance(point, seeds[0]), make_instance(point, seeds[0])
    assert np.array_equal(a.embeddings, b.embeddings)
    assert np.array_equal(a.probs, b.probs)
    assert np.array_equal(a.context_weights, b.context_weights)
    assert a.embeddings.shape == (6, 3) and a.probs.shape == (6, 5)
    sizes = a.supports.sum(axis=1)
    assert np.all((sizes >= 1) & (sizes <= 2))


def test_fixed_support_law_gives_every_context_s_tokens() -> None:
    point = GridPoint(m=8, d=3, vocab=6, support=3)
    inst = make_instance(point, instance_seed(point, 0))
    assert np.all(inst.supports.sum(axis=1) == 3)


def test_importing_ntpprops_loads_neither_dask_nor_pyarrow() -> None:
    code = (
        "import sys, ntpprops, ntpprops.sweep, ntpprops.cli; "
        "print([m for m in ('dask', 'distributed', 'pyarrow') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- measures


def test_separable_measure_checks_its_evidence_on_both_sides() -> None:
    """d >= m is separable (Lemma 1); d = 1 with m = 12, V = 4, S = 2 is not (checked by the
    package's solver, and the certificate re-checked solver-free by the measure)."""
    rows = []
    for d in (1, 12):
        point = GridPoint(m=12, d=d, vocab=4, support=2)
        rows += run_chunk([Task(point, 0, instance_seed(point, 0))], [MEASURES["separable"]], 0)
    low, high = rows
    assert low["separable"] is False and high["separable"] is True
    assert low["certificate_checked"] is True and high["certificate_checked"] is True
    assert low["certificate_bound"] > 0 and math.isnan(high["certificate_bound"])
    assert low["error"] is None and high["error"] is None


def test_a_measure_is_added_in_a_few_lines_and_its_errors_are_recorded() -> None:
    @measure("test_rank_or_fail", columns={"test_rank": "int"}, doc="rank of H, fails if d = 2")
    def _rank(inst: ntp.NTPInstance) -> dict[str, Any]:
        if inst.embeddings.shape[1] == 2:
            raise ntp.SolverError("deliberate failure")
        return {"test_rank": int(np.linalg.matrix_rank(inst.embeddings))}

    try:
        with pytest.raises(ValueError, match="already registered"):
            measure("test_rank_or_fail", columns={"x": "int"})(lambda inst: {"x": 0})
        with pytest.raises(ValueError, match="reserved"):
            measure("test_reserved", columns={"seed": "int"})
        points = [GridPoint(m=5, d=d, vocab=3, support=2) for d in (2, 3)]
        chunk = [Task(p, 0, instance_seed(p, 0)) for p in points]
        failed, ok = run_chunk(chunk, [MEASURES["test_rank_or_fail"], MEASURES["fdim"]], 0)
        assert failed["test_rank"] is None
        assert failed["error"] == "test_rank_or_fail: SolverError: deliberate failure"
        # generic dim F = min(m (S - 1), (V - 1) d) = min(5, 4)
        assert failed["f_dim"] == 4, "the measure after the failing one did not run"
        assert ok["test_rank"] == 3 and ok["error"] is None
    finally:
        MEASURES.pop("test_rank_or_fail", None)


# ---------------------------------------------------------------------------- store and resume

SMALL = grid_points(m=[10], d=[3, 5, 8], vocab=[4], support=[2])


def test_resume_after_interrupt_completes_without_duplicates(tmp_path: Path) -> None:
    """Ctrl-C after two stored chunks of three instances; the rerun computes only the rest
    and its table equals an uninterrupted run's."""
    store = tmp_path / "store.parquet"

    def interrupt(stored: int) -> None:
        if stored == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(SMALL, trials=4, store=store, workers=1, chunk_size=3, on_chunk=interrupt)
    partial = read_store(store)
    assert partial is not None and partial.num_rows == 6
    resumed = run_sweep(SMALL, trials=4, store=store, workers=1, chunk_size=3)
    assert (resumed.skipped, resumed.computed) == (6, 12 - 6)
    keys = _keys(read_store(store))
    assert len(keys) == len(set(keys)) == 12
    fresh = run_sweep(SMALL, trials=4, store=tmp_path / "fresh.parquet", workers=1)
    assert _canon(resumed.table) == _canon(fresh.table)
    again = run_sweep(SMALL, trials=4, store=store, workers=1)
    assert (again.computed, again.skipped) == (0, 12)


def test_store_refuses_rows_of_other_measures(tmp_path: Path) -> None:
    store = tmp_path / "store.parquet"
    run_sweep(SMALL[:1], trials=1, store=store, workers=1)
    with pytest.raises(ValueError, match="holds rows with measures"):
        run_sweep(SMALL[:1], trials=1, store=store, workers=1, measures=["separable", "fdim"])


# ---------------------------------------------------------------------------- analysis


def test_thresholds_find_a_known_step_and_the_cover_count() -> None:
    """Fractions 0, 0, 0.5, 1 at d = 16, 20, 22, 26: d50 = 22 exactly, d10 and d90 by linear
    interpolation; the Cover-type count at m = 40, V = 10, S = 3 is the issue's d = 22."""
    base = {"m": 40, "vocab": 10, "support": 3, "support_law": "fixed"}
    base |= {"embedding": "gaussian", "pi": "uniform"}
    fractions = {16: 0.0, 20: 0.0, 22: 0.5, 26: 1.0}
    summary = [
        {**base, "d": d, "decided": 10, "fraction": f, "n": 10, "separable": int(10 * f)}
        for d, f in fractions.items()
    ]
    (fit,) = thresholds(summary)
    assert fit["d50"] == pytest.approx(22.0, abs=1e-12)
    assert fit["d10"] == pytest.approx(20.0 + 0.2 * 2, abs=1e-12)
    assert fit["d90"] == pytest.approx(22.0 + 0.8 * 4, abs=1e-12)
    assert fit["d_cover"] == pytest.approx(22.0, abs=1e-12)
    assert fit["dev_cover"] == pytest.approx(0.0, abs=1e-12)
    # a non-monotone dip is pooled, not read as a crossing
    summary[1]["fraction"] = 0.6
    (pooled,) = thresholds(summary)
    assert pooled["d50"] < 22.0


# ---------------------------------------------------------------------------- CLI and Dask


@pytest.mark.parametrize(
    "argv",
    [
        ["--d", "3:1"],
        ["--d", "x"],
        ["--vocab", "10", "--support", "11"],
        ["--measures", "separable,nope"],
        ["--trials", "0"],
        ["--support-law", "poisson"],
        ["--workers", "0"],
    ],
    ids=["empty-range", "not-int", "support>vocab", "measure", "trials", "law", "workers"],
)
def test_cli_bad_arguments_exit_2(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["sweep", "--store", str(tmp_path / "s.parquet"), *argv])
    assert status == 2
    assert capsys.readouterr().err.startswith("ntpprops sweep:")
    assert not (tmp_path / "s.parquet").exists()


def test_cli_sweep_on_two_local_workers_matches_one_worker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's contract command, end to end on a real local cluster of two worker
    processes; its table equals the synchronous (one worker) run's, timing aside."""
    import pyarrow.parquet as pq

    store, out = tmp_path / "results.parquet", tmp_path / "out"
    argv = ["sweep", "--m", "40", "--d", "16,20,22,26", "--vocab", "10", "--support", "3"]
    argv += ["--trials", "10", "--workers", "2", "--store", str(store)]
    argv += ["--measures", "separable,margin", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "on 2 worker(s)" in printed
    table = pq.read_table(store)
    assert table.num_rows == 40
    required = {"m", "d", "vocab", "support", "trial", "seed", "separable", "seconds"}
    assert required <= set(table.column_names)
    assert str(table.schema.field("separable").type) == "bool"
    assert len(set(_keys(table))) == 40
    for name in ("phase_diagram.png", "summary.csv", "thresholds.csv", "sweep.md"):
        assert (out / name).stat().st_size > 0
    points = grid_points(m=[40], d=[16, 20, 22, 26], vocab=[10], support=[3])
    one = run_sweep(
        points,
        trials=10,
        store=tmp_path / "one.parquet",
        workers=1,
        measures=["separable", "margin"],
    )
    assert one.workers == 1
    two = run_sweep(points, trials=10, store=store, workers=2, measures=["separable", "margin"])
    assert two.computed == 0 and two.skipped == 40
    assert _canon(one.table) == _canon(two.table)
    assert {row["separable"] for row in one.table.to_pylist()} == {False, True}


_SLEEP = 0.25


@measure("test_slow", columns={"test_slept": "float"}, doc="sleeps: a chunk to kill mid-run")
def _slow(inst: ntp.NTPInstance) -> dict[str, Any]:
    time.sleep(_SLEEP)
    return {"test_slept": _SLEEP}


MEASURES.pop("test_slow")  # passed as an object, not left in the shared registry


def test_killing_a_worker_mid_sweep_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """SIGKILL one of two worker processes while it runs a chunk: Dask reruns the chunk
    elsewhere and the store ends with every instance exactly once."""
    import cloudpickle
    from distributed import Client

    from ntpprops.sweep._engine import local_cluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    points = grid_points(m=[6], d=[2, 3, 4, 5], vocab=[3], support=[2])
    store = tmp_path / "store.parquet"
    killed: list[int] = []
    with (
        local_cluster(2) as cluster,
        Client(cluster, timeout=CLUSTER_TIMEOUT) as client,
    ):
        client.wait_for_workers(2, timeout=CLUSTER_TIMEOUT)
        pids = client.run(os.getpid)
        first_chunk = threading.Event()

        def kill_busy_worker() -> None:
            if not first_chunk.wait(CLUSTER_TIMEOUT):
                return
            deadline = time.monotonic() + CLUSTER_TIMEOUT
            while time.monotonic() < deadline:
                busy = [addr for addr, keys in client.processing().items() if keys]
                if busy and busy[0] in pids:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(pids[busy[0]])
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_busy_worker, daemon=True)
        killer.start()
        try:
            result = run_sweep(
                points,
                trials=6,
                store=store,
                measures=["separable", _slow],
                scheduler=cluster.scheduler_address,
                chunk_size=2,
                timeout=CLUSTER_TIMEOUT,
                on_chunk=lambda stored: first_chunk.set(),
            )
        finally:
            first_chunk.set()
            killer.join(CLUSTER_TIMEOUT)
        assert killed, "no worker was busy to kill: the test did not test anything"
        assert killed[0] not in client.run(os.getpid).values(), "the worker survived SIGKILL"
    keys = _keys(read_store(store))
    assert len(keys) == len(set(keys)) == 24
    assert result.table.num_rows == 24
    assert all(row["error"] is None for row in result.table.to_pylist())
    assert all(row["test_slept"] == _SLEEP for row in result.table.to_pylist())


def test_plot_writes_a_png(tmp_path: Path) -> None:
    table = run_sweep(SMALL, trials=2, store=tmp_path / "s.parquet", workers=1).table
    summary = summarize(table)
    assert sum(row["n"] for row in summary) == 6
    path = plot_phase_diagram(summary, thresholds(summary), tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class _Terminal:
    """A text stream that says it is a TTY, keeping what is written."""

    def __init__(self, tty: bool) -> None:
        self.tty, self.parts = tty, []

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("tty", [True, False], ids=["tty", "pipe"])
def test_progress_bar_with_eta_on_a_tty_only(tmp_path: Path, tty: bool) -> None:
    stream = _Terminal(tty)
    run_sweep(
        SMALL, trials=2, store=tmp_path / "s.parquet", workers=1, chunk_size=2, progress=stream
    )
    text = "".join(stream.parts)
    if tty:
        assert "6/6 instances" in text and "ETA" in text
    else:
        assert text == ""


@pytest.mark.parametrize(
    ("vocab", "support", "delta"), [(2, 1, 1.5), (3, 2, 1.5), (4, 4, 1.0), (4, 1, None)]
)
def test_logit_cone_statdim_on_cones_known_in_closed_form(
    vocab: int, support: int, delta: float | None
) -> None:
    """V = 2, S = 1: a half-plane of R^2, δ = 1.5. V = 3, S = 2: the line span(1) plus a
    half-line orthogonal to it, δ = 1 + 1/2. S = V: span(1), δ = 1. V = 4, S = 1 (no closed
    form): K = {l_1 >= max_v l_v} lies in the half-space {l_1 >= l_2} (δ = V - 1/2) and holds
    span(1) plus the ray of e_1 - 1/V (δ = 3/2), and δ is monotone under inclusion. Tolerance:
    5 standard errors of the Monte Carlo mean, sqrt(2 V / samples) each (||Π g||² <= ||g||²,
    whose variance is 2 V)."""
    from ntpprops.sweep._analysis import STATDIM_SAMPLES, logit_cone_statdim

    tol = 5 * math.sqrt(2 * vocab / STATDIM_SAMPLES)
    value = logit_cone_statdim(vocab, support)
    if delta is None:
        assert 1.5 + tol < value < vocab - 0.5 - tol
    else:
        assert abs(value - delta) <= tol


def test_cli_exits_1_with_a_resume_hint_when_the_scheduler_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scheduler address nobody listens on (port 1 of localhost): Dask's connect timeout,
    shortened here to 2 s, ends the run with exit 1 and a resume hint, not a traceback."""
    import dask

    store = tmp_path / "s.parquet"
    argv = ["sweep", "--m", "6", "--d", "2", "--vocab", "3", "--support", "2", "--trials", "1"]
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        status = main([*argv, "--scheduler", "tcp://127.0.0.1:1", "--store", str(store)])
    assert status == 1
    assert "rerun the same command to resume" in capsys.readouterr().err
