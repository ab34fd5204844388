"""Phase diagrams of NTP-separability: a grid of random instances × seeds, measured on Dask.

Public API: :class:`GridPoint`, :func:`grid_points` and :func:`parse_values` (the grid);
:func:`instance_seed` / :func:`make_instance` (an instance is a function of its grid point and
trial); :func:`measure` / :data:`MEASURES` (what is recorded per instance, registered like
conjectures); :func:`run_sweep` / :class:`SweepResult` (Dask engine, resumable Parquet store,
:func:`read_store`); :func:`summarize`, :func:`thresholds`, :data:`THEORY_CURVES` and
:func:`plot_phase_diagram` (tables, fitted 50 % thresholds against candidate theory curves, the
phase-diagram PNG). The command line is ``ntpprops sweep``; docs/sweeps.md has measured results.

Importing this package does not import dask or pyarrow: they load when a sweep runs.
"""

from ntpprops.sweep._analysis import (
    THEORY_CURVES,
    summarize,
    thresholds,
)
from ntpprops.sweep._engine import SweepResult, run_chunk, run_sweep
from ntpprops.sweep._grid import (
    EMBEDDING_LAWS,
    PI_LAWS,
    SUPPORT_LAWS,
    GridPoint,
    Task,
    grid_points,
    instance_seed,
    make_instance,
    mean_support,
    parse_values,
)
from ntpprops.sweep._measures import MEASURES, Measure, get_measure, measure
from ntpprops.sweep._plot import plot_phase_diagram
from ntpprops.sweep._store import read_store

__all__ = [
    "EMBEDDING_LAWS",
    "MEASURES",
    "PI_LAWS",
    "SUPPORT_LAWS",
    "THEORY_CURVES",
    "GridPoint",
    "Measure",
    "SweepResult",
    "Task",
    "get_measure",
    "grid_points",
    "instance_seed",
    "make_instance",
    "mean_support",
    "measure",
    "parse_values",
    "plot_phase_diagram",
    "read_store",
    "run_chunk",
    "run_sweep",
    "summarize",
    "thresholds",
]
