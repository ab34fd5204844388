"""The budgeted stages of :func:`ntpprops.cli._analysis.analyse`, each a function of its inputs.

Every function here returns what it computed together with a note when it ran smaller than
asked (a *scaled* stage); none mutates an analysis, so the analysis can be frozen once built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ntpprops._certify import FIRST_CHECKPOINT
from ntpprops._errors import SolverError
from ntpprops._instance import NTPInstance
from ntpprops._limits import Limits
from ntpprops._loss import safe_step_size, smoothness_bound
from ntpprops._optim import TrainResult, record_steps, train
from ntpprops._regpath import RegularizationPath, regularization_path

__all__ = [
    "PAPER_GD_LR",
    "PLATEAU_MAX_STEPS",
    "PLATEAU_RATIO",
    "PLATEAU_SECONDS",
    "PROBE_STEPS",
    "Budgeted",
    "budgeted_path",
    "budgeted_steps",
    "certification_fits",
    "gd_plateau",
    "gd_step_size",
    "lecun_normal",
]

FloatArray = NDArray[np.float64]

#: App. A step size of GD, used only when within the proven-safe 1/(2L).
PAPER_GD_LR = 0.5

#: Steps of the probe run that times one step of an optimizer before the real run.
PROBE_STEPS = 20

#: Fraction of the excess loss kept over a decade of GD iterations that counts as levelling
#: off: an excess ``c + a/k`` keeps ``(c + a/K) / (c + 10 a/K) >= 1/2`` once ``K >= 8 a / c``,
#: while an excess going to 0 like ``1/k`` keeps only ~1/10.
PLATEAU_RATIO = 0.5

#: Cap on the GD iterations spent looking for the plateau (wall time: PLATEAU_SECONDS).
PLATEAU_MAX_STEPS = 1_000_000
PLATEAU_SECONDS = 30.0


@dataclass(frozen=True)
class Budgeted:
    """How much of a stage fits its budget.

    Attributes
    ----------
    steps : int
        Steps (or points) to run.
    expected : float or None
        Estimated seconds of the run (``None`` when no probe ran).
    per_step : float or None
        Seconds per step measured by the probe.
    scaled : str
        Why the stage runs smaller than asked (empty when it runs in full).
    """

    steps: int
    expected: float | None = None
    per_step: float | None = None
    scaled: str = ""


def lecun_normal(inst: NTPInstance, seed: int) -> FloatArray:
    """LeCun-normal initialisation ``W_0 ~ N(0, 1/d)`` entrywise (fan-in ``d``), shape (V, d)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0 / np.sqrt(inst.dim), size=inst.weight_shape)


def gd_step_size(inst: NTPInstance) -> tuple[float, str]:
    """The paper's GD step 0.5 if it is within ``1/(2L)``, else ``1/(2L)``; with a note."""
    safe = safe_step_size(inst)
    if PAPER_GD_LR <= safe:
        return PAPER_GD_LR, f"eta = {PAPER_GD_LR} (App. A) is within the safe 1/(2L) = {safe:.4g}"
    return safe, (
        f"eta = {PAPER_GD_LR} (App. A) exceeds the proven-safe 1/(2L) = {safe:.4g} "
        f"(L = {smoothness_bound(inst):.4g}); GD uses eta = 1/(2L) instead"
    )


def budgeted_steps(
    inst: NTPInstance,
    name: str,
    rate: float,
    w0: FloatArray,
    limits: Limits,
    steps: int,
    budget: float,
) -> Budgeted:
    """``steps``, or fewer when probe runs show they would exceed ``budget`` seconds.

    Two probes with the run's own limits, each recording 2 checkpoints, time a step ``s``
    and a checkpoint's metrics ``c``: ``T_1 = s + 2c`` and ``T_P = P s + 2c`` with
    ``P = PROBE_STEPS``. A run of ``k`` steps is then expected to take ``k s + n(k) c``
    with ``n(k)`` its recorded checkpoints (about 50, log-spaced): at real-text sizes the
    checkpoints cost as much as hundreds of steps. A warm-up step runs first, so one-time
    costs (compilation, caches) are not extrapolated. ``budget <= 0``: no limit, no probe.
    """
    if budget <= 0 or steps <= PROBE_STEPS:
        return Budgeted(steps)

    def probe(k: int) -> float:
        start = time.perf_counter()
        train(inst, method=name, steps=k, lr=rate, init=w0, record=2, limits=limits)
        return time.perf_counter() - start

    probe(1)  # warm-up
    once, many = probe(1), probe(PROBE_STEPS)
    # On tiny instances timing noise can make the difference negative: the average over the
    # probe (checkpoints included) then bounds a step from above, never by zero.
    per_step = (many - once) / (PROBE_STEPS - 1) if many > once else many / PROBE_STEPS
    per_checkpoint = max(once - per_step, 0.0) / 2

    def expected(k: int) -> float:
        return k * per_step + len(record_steps(k)) * per_checkpoint

    if expected(steps) <= budget:
        return Budgeted(steps, expected(steps), per_step)
    fitted = steps
    while fitted > PROBE_STEPS and expected(fitted) > budget:
        fitted = max(PROBE_STEPS, _round_down(0.8 * fitted))
    note = (
        f"{fitted} of {steps} steps: {per_step * 1e3:.3g} ms per step and "
        f"{per_checkpoint:.3g} s per recorded checkpoint would need "
        f"{expected(steps):.0f} s, over the {budget:g} s stage budget "
        "(--stage-budget, --time-budget)"
    )
    return Budgeted(fitted, expected(fitted), per_step, note)


def _round_down(value: float) -> int:
    """``value`` rounded down to two significant digits (a readable step count)."""
    digits = max(0, len(str(int(value))) - 2)
    scale: int = 10**digits
    return int(value) // scale * scale


def budgeted_path(
    inst: NTPInstance, norms: FloatArray, budget: float
) -> tuple[RegularizationPath | None, str, str]:
    """The regularisation path within ``budget`` seconds (fewer points when it runs out).

    :func:`regularization_path` stops once the budget is spent and keeps the norms solved.

    Returns
    -------
    path : RegularizationPath or None
        ``None`` when not even one point could be computed.
    error : str
        Why ``path`` is ``None`` (empty otherwise).
    scaled : str
        The norms not reached, when the budget cut the path short (empty otherwise).
    """
    start = time.perf_counter()
    try:
        path = regularization_path(inst, norms, max_seconds=budget if budget > 0 else None)
    except SolverError as exc:  # e.g. not even the first norm within the budget
        scaled = ""
        if "max_seconds" in str(exc):
            scaled = (
                f"0 of {len(norms)} norms: the first (B = {norms[0]:.4g}) was not reached in "
                f"the {budget:g} s stage budget (--stage-budget, --time-budget)"
            )
        return None, f"the path could not be computed: {exc}", scaled
    scaled = ""
    if len(path.norms) < path.requested:
        scaled = (
            f"{len(path.norms)} of {path.requested} norms (B up to {path.norms[-1]:.4g} of "
            f"{norms[-1]:.4g}): {time.perf_counter() - start:.0f} s reached the "
            f"{budget:g} s stage budget (--stage-budget, --time-budget)"
        )
    return path, "", scaled


def certification_fits(per_step: float | None, budget: float) -> str:
    """Why certification cannot reach its second checkpoint in ``budget`` s (empty: it can).

    :func:`certify_gd_bias` checks its budget only at checkpoints, the first ones after
    ``FIRST_CHECKPOINT`` and ``sqrt 2`` times as many GD steps: when those alone would take
    longer than the budget (GD's probe says how long a step takes), it is skipped and listed
    as a scaled-down stage rather than overrunning by minutes.
    """
    needed = 2 * FIRST_CHECKPOINT
    if per_step is None or per_step * needed <= budget:
        return ""
    return (
        f"skipped: its first checkpoints ({needed} GD steps at {per_step * 1e3:.3g} ms) would "
        f"need {per_step * needed:.0f} s, over the {budget:g} s budget "
        "(--certify-budget, --time-budget)"
    )


def gd_plateau(inst: NTPInstance, run: TrainResult) -> tuple[tuple[int, float], ...]:
    """Continue the GD ``run`` by decades until its excess loss levels off.

    Returns
    -------
    tuple of (int, float)
        ``(k, CE(W_k) - H)`` at ``K/10, K, 10 K, ...`` with ``K`` the length of the run; the
        last two entries either satisfy :data:`PLATEAU_RATIO` or hit the step or time cap.
    """
    steps = np.asarray(run.steps)
    k0 = int(np.searchsorted(steps, steps[-1] // 10, side="right") - 1)
    points = [
        (int(steps[k0]), float(run.excess_loss[k0])),
        (int(steps[-1]), float(run.excess_loss[-1])),
    ]
    W, done, start = run.W, int(steps[-1]), time.perf_counter()
    while (
        points[-1][1] < PLATEAU_RATIO * points[-2][1]
        and 10 * done <= PLATEAU_MAX_STEPS
        and time.perf_counter() - start < PLATEAU_SECONDS
    ):
        more = train(inst, "gd", steps=9 * done, lr=run.lr, init=W, record=2, limits=False)
        W, done = more.W, 10 * done
        points.append((done, float(more.excess_loss[-1])))
    return tuple(points)
