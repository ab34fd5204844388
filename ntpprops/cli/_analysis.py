"""Everything ``ntpprops verify`` computes about one instance, before any claim is judged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ntpprops._certify import FIRST_CHECKPOINT, certify_gd_bias
from ntpprops._compat import CompatibilityResult, is_compatible
from ntpprops._errors import NotSeparableError, SolverError
from ntpprops._instance import NTPInstance
from ntpprops._limits import Limits
from ntpprops._loss import safe_step_size, smoothness_bound
from ntpprops._optim import record_steps, train
from ntpprops._regpath import regularization_path
from ntpprops._separability import SeparabilityResult, is_separable
from ntpprops._svm import ntp_svm_result

__all__ = ["PAPER_GD_LR", "PAPER_LR", "Analysis", "RunConfig", "analyse", "lecun_normal"]

FloatArray = NDArray[np.float64]

#: App. A step sizes: GD 0.5 (used only when within the proven-safe 1/(2L)); NGD and Adam 0.01.
PAPER_GD_LR = 0.5
PAPER_LR = 0.01

#: The optimizers of App. A, in report order. Only GD is covered by the theory.
OPTIMIZER_NAMES = ("gd", "ngd", "adam")

#: Default wall-time budget (seconds) of each training run and of the regularisation path.
#: With three optimizers, the path, certification (60 s) and the GD plateau (30 s), a run
#: stays near ten minutes on the largest instance; the paper's instance needs a few seconds.
STAGE_BUDGET = 120.0

#: Steps of the probe run that times one step of an optimizer before the real run.
PROBE_STEPS = 20


@dataclass(frozen=True)
class RunConfig:
    """Options of one verification run."""

    steps: int = 10_000
    seed: int = 0
    regpath_points: int = 4
    certify_budget: float = 60.0
    optimizers: tuple[str, ...] = OPTIMIZER_NAMES
    stage_budget: float = STAGE_BUDGET


@dataclass
class Analysis:
    """The computed objects of one instance, with timings.

    Attributes
    ----------
    inst : NTPInstance
    compat : CompatibilityResult
    sep : SeparabilityResult or None
        ``None`` when the separability test could not decide at this size (see ``sep_error``).
    svm : SVMResult or None
        ``None`` when not separable (or undecided).
    limits : Limits
        ``W*`` and ``W^mm`` as solved above, shared by every training run and the
        certification (nothing is solved twice).
    w0 : ndarray, shape (V, d)
        The LeCun-normal initialisation shared by every optimizer.
    gd_lr, gd_lr_note : float, str
        The GD step actually used and why.
    runs : dict of str to TrainResult
    regpath : RegularizationPath or None
    regpath_error : str
        Why the path is missing, if it is.
    plateau : list of (int, float)
        When the instance is not both compatible and separable: GD's excess loss at
        ``K, 10 K, 100 K, ...`` (continuing the GD run), until it levels off.
    certificate : BiasReport or None
        :func:`ntpprops._certify.certify_gd_bias` with the GD step above (Theorem 2's two
        limits to tolerance, within ``config.certify_budget`` seconds).
    timings : dict of str to float
        Wall-clock seconds per stage.
    sep_error : str
        Why ``sep`` is ``None`` (the solver's message, with what it proved).
    scaled : dict of str to str
        Stages run smaller than asked (or skipped) because the full size would exceed
        ``config.stage_budget`` (``config.certify_budget`` for the certification): what was
        asked, what ran and why.
    step_seconds : dict of str to float
        Seconds per step of each optimizer, as its probe measured them.
    extras : dict
        Input-specific data (e.g. the conditional entropies of a corpus per context length).
    """

    inst: NTPInstance
    config: RunConfig
    compat: CompatibilityResult
    sep: SeparabilityResult | None
    svm: Any
    limits: Limits
    w0: FloatArray
    gd_lr: float
    gd_lr_note: str
    runs: dict[str, Any] = field(default_factory=dict)
    regpath: Any = None
    regpath_error: str = ""
    certificate: Any = None
    plateau: list[tuple[int, float]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    sep_error: str = ""
    scaled: dict[str, str] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def separable(self) -> bool | None:
        """The separability verdict, ``None`` when undecided."""
        return None if self.sep is None else bool(self.sep.separable)

    @property
    def w_star(self) -> FloatArray | None:
        return self.compat.w_star if self.compat.compatible else None

    @property
    def w_mm(self) -> FloatArray | None:
        return None if self.svm is None else self.svm.W


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


def regpath_norms(analysis: Analysis, points: int) -> FloatArray:
    """Norm budgets ``B``: log-spaced from ``2 ||W*||`` over two decades.

    Each point costs a Newton solve in ``V rank(H)`` unknowns (about 0.5 s on the App. A.2
    instance here: ``ntpprops verify`` reports 2.1 s for the default 4), so the grid is short.
    """
    base = 1.0
    if analysis.w_star is not None:
        base = max(base, 2.0 * float(np.linalg.norm(analysis.w_star)))
    return np.geomspace(base, base * 1e2, max(points, 2))


def analyse(
    inst: NTPInstance,
    config: RunConfig,
    stage: Callable[[str, float | None], None] = lambda label, eta: None,
) -> Analysis:
    """Compute ``W*``, separability, ``W^mm``, the training runs and the regularisation path.

    Parameters
    ----------
    inst : NTPInstance
    config : RunConfig
    stage : callable
        Called with a label and the stage's expected seconds (or None) as each stage starts
        (progress reporting); see :func:`stage_count`.
    """
    timings: dict[str, float] = {}

    def timed(label: str, fn: Callable[[], Any], expected: float | None = None) -> Any:
        stage(label, expected)
        start = time.perf_counter()
        value = fn()
        timings[label] = time.perf_counter() - start
        return value

    compat = timed("compatibility", lambda: is_compatible(inst))
    sep, sep_error = timed("separability", lambda: _separability(inst, config.stage_budget))
    svm = None
    if sep:
        svm = timed("NTP-SVM", lambda: _svm_or_none(inst))
    # The limits as solved here, handed to every run: W^mm is not wanted when it does not
    # exist or its solver could not decide (that would only repeat the failing solve).
    limits = Limits.of(
        inst,
        w_star=compat.w_star if compat.compatible else False,
        w_mm=svm.W if svm is not None else False,
        verify=False,
    )
    lr, note = gd_step_size(inst)
    analysis = Analysis(
        inst, config, compat, sep, svm, limits, lecun_normal(inst, config.seed), lr, note
    )
    analysis.timings = timings
    analysis.sep_error = sep_error
    for name in config.optimizers:
        rate = lr if name == "gd" else PAPER_LR
        steps, expected = _budgeted_steps(analysis, name, rate)
        analysis.runs[name] = timed(
            f"training {name}",
            lambda name=name, rate=rate, steps=steps: train(
                inst, method=name, steps=steps, lr=rate, init=analysis.w0, limits=limits
            ),
            expected,
        )
    if config.regpath_points > 0 and svm is not None and compat:
        analysis.regpath = timed("regularisation path", lambda: _budgeted_path(analysis))
    elif config.regpath_points <= 0:
        analysis.regpath_error = "skipped (--regpath-points 0, the --quick default)"
    elif sep is None:
        analysis.regpath_error = f"not run: separability undecided ({sep_error})"
    if "gd" in analysis.runs and not (compat and sep):
        analysis.plateau = timed("GD plateau", lambda: gd_plateau(analysis))
    if config.certify_budget > 0 and svm is not None and compat and _certification_fits(analysis):
        analysis.certificate = timed(
            "certifying Theorem 2",
            lambda: certify_gd_bias(
                inst, lr=lr, time_budget=config.certify_budget, init=analysis.w0, limits=limits
            ),
        )
    return analysis


def _certification_fits(analysis: Analysis) -> bool:
    """Whether certification can reach its second checkpoint within ``--certify-budget``.

    :func:`certify_gd_bias` checks its budget only at checkpoints, the first ones after
    ``FIRST_CHECKPOINT`` and ``sqrt 2`` times as many GD steps: when those alone would take
    longer than the budget (GD's probe says how long a step takes), it is skipped and listed
    as a scaled-down stage rather than overrunning by minutes.
    """
    per_step = analysis.step_seconds.get("gd")
    budget = analysis.config.certify_budget
    needed = 2 * FIRST_CHECKPOINT
    if per_step is None or per_step * needed <= budget:
        return True
    analysis.scaled["certifying Theorem 2"] = (
        f"skipped: its first checkpoints ({needed} GD steps at {per_step * 1e3:.3g} ms) would "
        f"need {per_step * needed:.0f} s, over the {budget:g} s budget (--certify-budget)"
    )
    return False


def _separability(inst: NTPInstance, budget: float) -> tuple[SeparabilityResult | None, str]:
    """:func:`is_separable` within ``budget`` seconds (0: the solver's default), or ``None``
    with the reason when it cannot decide at this size."""
    try:
        return is_separable(inst, max_seconds=budget if budget > 0 else None), ""
    except SolverError as exc:
        return None, str(exc)


def _budgeted_steps(analysis: Analysis, name: str, rate: float) -> tuple[int, float | None]:
    """``config.steps``, or fewer when probe runs show they would exceed the stage budget.

    Two probes with the run's own limits, each recording 2 checkpoints, time a step ``s``
    and a checkpoint's metrics ``c``: ``T_1 = s + 2c`` and ``T_P = P s + 2c`` with
    ``P = PROBE_STEPS``. A run of ``k`` steps is then expected to take ``k s + n(k) c``
    with ``n(k)`` its recorded checkpoints (about 50, log-spaced): at real-text sizes the
    checkpoints cost as much as hundreds of steps. A warm-up step runs first, so one-time costs
    (compilation, caches) are not extrapolated.

    Returns
    -------
    steps : int
    expected : float or None
        The estimate of the run's seconds (None when no probe ran).
    """
    config, inst = analysis.config, analysis.inst
    if config.stage_budget <= 0 or config.steps <= PROBE_STEPS:
        return config.steps, None

    def probe(steps: int) -> float:
        start = time.perf_counter()
        train(inst, method=name, steps=steps, lr=rate, init=analysis.w0, record=2,
              limits=analysis.limits)  # fmt: skip
        return time.perf_counter() - start

    probe(1)  # warm-up
    once, many = probe(1), probe(PROBE_STEPS)
    # On tiny instances timing noise can make the difference negative: the average over the
    # probe (checkpoints included) then bounds a step from above, never by zero.
    per_step = (many - once) / (PROBE_STEPS - 1) if many > once else many / PROBE_STEPS
    per_checkpoint = max(once - per_step, 0.0) / 2
    analysis.step_seconds[name] = per_step

    def expected(steps: int) -> float:
        return steps * per_step + len(record_steps(steps)) * per_checkpoint

    if expected(config.steps) <= config.stage_budget:
        return config.steps, expected(config.steps)
    steps = config.steps
    while steps > PROBE_STEPS and expected(steps) > config.stage_budget:
        steps = max(PROBE_STEPS, _round_down(0.8 * steps))
    analysis.scaled[f"training {name}"] = (
        f"{steps} of {config.steps} steps: {per_step * 1e3:.3g} ms per step and "
        f"{per_checkpoint:.3g} s per recorded checkpoint would need "
        f"{expected(config.steps):.0f} s, over the {config.stage_budget:g} s stage budget "
        "(--stage-budget)"
    )
    return steps, expected(steps)


def _budgeted_path(analysis: Analysis) -> Any:
    """The regularisation path within the stage budget (fewer points when it runs out).

    :func:`regularization_path` stops once the budget is spent and keeps the norms solved;
    the norms not reached are listed as a scaled-down stage. When it cannot give even one
    point (or fails), the path is ``None`` and ``regpath_error`` says why.
    """
    config, inst = analysis.config, analysis.inst
    norms = regpath_norms(analysis, config.regpath_points)
    budget = config.stage_budget
    start = time.perf_counter()
    try:
        path = regularization_path(inst, norms, max_seconds=budget if budget > 0 else None)
    except SolverError as exc:  # e.g. not even the first norm within the budget
        analysis.regpath_error = f"the path could not be computed: {exc}"
        if "max_seconds" in str(exc):
            analysis.scaled["regularisation path"] = (
                f"0 of {len(norms)} norms: the first (B = {norms[0]:.4g}) was not reached in "
                f"the {budget:g} s stage budget (--stage-budget)"
            )
        return None
    if len(path.norms) < path.requested:
        analysis.scaled["regularisation path"] = (
            f"{len(path.norms)} of {path.requested} norms (B up to {path.norms[-1]:.4g} of "
            f"{norms[-1]:.4g}): {time.perf_counter() - start:.0f} s reached the "
            f"{budget:g} s stage budget (--stage-budget)"
        )
    return path


def _round_down(value: float) -> int:
    """``value`` rounded down to two significant digits (a readable step count)."""
    digits = max(0, len(str(int(value))) - 2)
    return int(value) // 10**digits * 10**digits


#: Fraction of the excess loss kept over a decade of GD iterations that counts as levelling
#: off: an excess ``c + a/k`` keeps ``(c + a/K) / (c + 10 a/K) >= 1/2`` once ``K >= 8 a / c``,
#: while an excess going to 0 like ``1/k`` keeps only ~1/10.
PLATEAU_RATIO = 0.5

#: Cap on the GD iterations spent looking for the plateau (wall time: PLATEAU_SECONDS).
PLATEAU_MAX_STEPS = 1_000_000
PLATEAU_SECONDS = 30.0


def gd_plateau(analysis: Analysis) -> list[tuple[int, float]]:
    """Continue GD by decades until its excess loss levels off (see :data:`PLATEAU_RATIO`).

    Returns
    -------
    list of (int, float)
        ``(k, CE(W_k) - H)`` at ``K/10, K, 10 K, ...`` with ``K`` the length of the GD run; the
        last two entries either satisfy the plateau ratio or hit the step or time cap.
    """
    run = analysis.runs["gd"]
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
        more = train(
            analysis.inst, "gd", steps=9 * done, lr=analysis.gd_lr, init=W, record=2, limits=False
        )
        W, done = more.W, 10 * done
        points.append((done, float(more.excess_loss[-1])))
    return points


def stage_count(config: RunConfig) -> int:
    """Upper bound on the number of stages :func:`analyse` announces."""
    return 5 + len(config.optimizers)


def _svm_or_none(inst: NTPInstance) -> Any:
    try:
        return ntp_svm_result(inst)
    except NotSeparableError:
        return None
