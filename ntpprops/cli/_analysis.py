"""Everything ``ntpprops verify`` computes about one instance, before any claim is judged.

:func:`analyse` runs the stages in order, each timed and announced for progress, and returns
a frozen :class:`Analysis`: the claims (:mod:`ntpprops.cli.claims`) are pure functions of it
and solve nothing themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ntpprops._certify import BiasReport, certify_gd_bias
from ntpprops._compat import CompatibilityResult, is_compatible
from ntpprops._errors import NotSeparableError, SolverError
from ntpprops._instance import NTPInstance
from ntpprops._limits import Limits
from ntpprops._optim import TrainResult, train
from ntpprops._regpath import RegularizationPath
from ntpprops._separability import SeparabilityResult, is_separable
from ntpprops._svm import SVMResult, ntp_svm_result
from ntpprops.cli._controls import Controls, run_controls
from ntpprops.cli._norms import NORM_STAGE_SKIPPED, NormMargins, norm_margins, not_measured
from ntpprops.cli._stages import (
    PAPER_GD_LR,
    PLATEAU_RATIO,
    budgeted_path,
    budgeted_steps,
    certification_fits,
    gd_plateau,
    gd_step_size,
    lecun_normal,
)
from ntpprops.cli._timeshare import TIME_BUDGET, TimeShare

__all__ = [
    "PAPER_GD_LR",
    "PAPER_LR",
    "PLATEAU_RATIO",
    "Analysis",
    "CorpusFacts",
    "RunConfig",
    "analyse",
    "lecun_normal",
    "stage_count",
]

FloatArray = NDArray[np.float64]
T = TypeVar("T")

#: App. A step size of normalised GD and Adam.
PAPER_LR = 0.01

#: The optimizers of App. A, in report order. Only GD is covered by the theory.
OPTIMIZER_NAMES = ("gd", "ngd", "adam")

#: Default wall-time budget (seconds) of each training run and of the regularisation path.
#: With three optimizers, the path, certification (60 s) and the GD plateau (30 s), a run
#: stays near ten minutes on the largest instance; the paper's instance needs a few seconds.
STAGE_BUDGET = 120.0


@dataclass(frozen=True)
class RunConfig:
    """Options of one verification run."""

    steps: int = 10_000
    seed: int = 0
    regpath_points: int = 4
    certify_budget: float = 60.0
    optimizers: tuple[str, ...] = OPTIMIZER_NAMES
    stage_budget: float = STAGE_BUDGET
    time_budget: float = TIME_BUDGET
    #: Solve the NTP-SVMs in the other norms and measure each run in them (the
    #: ``"norm optima"`` stage, issue 11); ``--quick`` turns it off unless ``--norms``.
    norm_stage: bool = True


@dataclass(frozen=True)
class CorpusFacts:
    """What App. C's check needs from a corpus input.

    Attributes
    ----------
    entropy_by_context_length : mapping of str to float
        ``H_t`` of the corpus with contexts truncated to ``t = 0..K`` tokens (keys ``"t"``).
    prediction_events : int
        Windows of ``K`` tokens followed by a token.
    instance_events : int or None
        The events counted by the instance (``None`` when it has no counts).
    """

    entropy_by_context_length: Mapping[str, float]
    prediction_events: int
    instance_events: int | None


def _frozen(mapping: Mapping[str, T]) -> Mapping[str, T]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Analysis:
    """The computed objects of one instance, with timings (frozen: claims only read it).

    Attributes
    ----------
    inst : NTPInstance
    config : RunConfig
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
    runs : mapping of str to TrainResult
        One run per optimizer, in :data:`OPTIMIZER_NAMES` order.
    regpath : RegularizationPath or None
    regpath_error : str
        Why the path is missing, if it is.
    plateau : tuple of (int, float)
        When the instance is not both compatible and separable: GD's excess loss at
        ``K, 10 K, 100 K, ...`` (continuing the GD run), until it levels off.
    certificate : BiasReport or None
        :func:`ntpprops._certify.certify_gd_bias` with the GD step above (Theorem 2's two
        limits to tolerance, within ``config.certify_budget`` seconds).
    controls : Controls
        Re-solves of perturbed copies of the instance (Definition 3, Lemma 4, Remark 1).
    corpus : CorpusFacts or None
        Set when the input is a corpus (App. C).
    timings : mapping of str to float
        Wall-clock seconds per stage.
    sep_error : str
        Why ``sep`` is ``None`` (the solver's message, with what it proved).
    scaled : mapping of str to str
        Stages run smaller than asked (or skipped) because the full size would exceed
        ``config.stage_budget`` (``config.certify_budget`` for the certification): what was
        asked, what ran and why.
    step_seconds : mapping of str to float
        Seconds per step of each optimizer, as its probe measured them.
    norms : NormMargins
        The NTP-SVM optimum in each norm (``l2``, ``max``, ``l1``, ``spectral``; a norm that
        could not be solved within ``config.stage_budget`` is skipped with the reason) and
        every run's last iterate measured against them (issue 11; read by the observations).
    """

    inst: NTPInstance
    config: RunConfig
    compat: CompatibilityResult
    sep: SeparabilityResult | None
    svm: SVMResult | None
    limits: Limits
    w0: FloatArray
    gd_lr: float
    gd_lr_note: str
    runs: Mapping[str, TrainResult] = field(default_factory=dict)
    regpath: RegularizationPath | None = None
    regpath_error: str = ""
    plateau: tuple[tuple[int, float], ...] = ()
    certificate: BiasReport | None = None
    controls: Controls = field(default_factory=Controls)
    corpus: CorpusFacts | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    sep_error: str = ""
    scaled: Mapping[str, str] = field(default_factory=dict)
    step_seconds: Mapping[str, float] = field(default_factory=dict)
    norms: NormMargins = field(default_factory=NormMargins)

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


def regpath_norms(w_star: FloatArray | None, points: int) -> FloatArray:
    """Norm budgets ``B``: log-spaced from ``2 ||W*||`` over two decades.

    Each point costs a Newton solve in ``V rank(H)`` unknowns (about 0.5 s on the App. A.2
    instance here: ``ntpprops verify`` reports 2.1 s for the default 4), so the grid is short.
    """
    base = 1.0
    if w_star is not None:
        base = max(base, 2.0 * float(np.linalg.norm(w_star)))
    return np.geomspace(base, base * 1e2, max(points, 2))


def stage_count(config: RunConfig) -> int:
    """Upper bound on the number of stages :func:`analyse` announces."""
    return 7 + len(config.optimizers)


def analyse(
    inst: NTPInstance,
    config: RunConfig,
    stage: Callable[[str, float | None], None] = lambda label, eta: None,
    corpus: CorpusFacts | None = None,
) -> Analysis:
    """Compute ``W*``, separability, ``W^mm``, the training runs, the NTP-SVMs in other norms,
    the regularisation path, the GD plateau, the certification and the controls.

    Parameters
    ----------
    inst : NTPInstance
    config : RunConfig
    stage : callable
        Called with a label and the stage's expected seconds (or None) as each stage starts
        (progress reporting); see :func:`stage_count`.
    corpus : CorpusFacts, optional
        Carried into the analysis for App. C's check.
    """
    timings: dict[str, float] = {}
    scaled: dict[str, str] = {}

    def timed(label: str, fn: Callable[[], T], expected: float | None = None) -> T:
        stage(label, expected)
        start = time.perf_counter()
        value = fn()
        timings[label] = time.perf_counter() - start
        return value

    compat = timed("compatibility", lambda: is_compatible(inst))
    planned = ["separability", *(f"training {name}" for name in config.optimizers)]
    planned += ["norm optima"] if config.norm_stage else []
    planned += ["regularisation path"] if config.regpath_points > 0 else []
    planned += ["certifying Theorem 2"] if config.certify_budget > 0 else []
    share = TimeShare(config.time_budget, [*planned, "controls"])
    sep_budget = share.budget("separability", config.stage_budget)
    sep, sep_error = timed("separability", lambda: _separability(inst, sep_budget))
    # A separator of the dual ascent decided large instances without W^mm; its polish
    # (ntpprops._svm_active.solve_dual_cd) would need more than a stage here.
    svm = timed("NTP-SVM", lambda: _svm_or_none(inst)) if sep and sep.margin_upper is None else None
    # The limits as solved here, handed to every run: W^mm is not wanted when it does not
    # exist or its solver could not decide (that would only repeat the failing solve).
    limits = Limits.of(
        inst,
        w_star=compat.w_star if compat.compatible else False,
        w_mm=svm.W if svm is not None else False,
        verify=False,
    )
    lr, note = gd_step_size(inst)
    w0 = lecun_normal(inst, config.seed)
    runs: dict[str, TrainResult] = {}
    step_seconds: dict[str, float] = {}
    for name in config.optimizers:
        rate = lr if name == "gd" else PAPER_LR
        budget = share.budget(f"training {name}", config.stage_budget)
        fit = budgeted_steps(inst, name, rate, w0, limits, config.steps, budget)
        if fit.per_step is not None:
            step_seconds[name] = fit.per_step
        if fit.scaled:
            scaled[f"training {name}"] = fit.scaled
        runs[name] = timed(
            f"training {name}",
            partial(train, inst, method=name, steps=fit.steps, lr=rate, init=w0, limits=limits),
            fit.expected,
        )
    if config.norm_stage:
        by_norm = timed(
            "norm optima",
            lambda: norm_margins(
                inst,
                svm,
                no_svm_reason(inst, sep, sep_error),
                runs,
                share.budget("norm optima", config.stage_budget),
            ),
        )
    else:
        by_norm = not_measured(inst, runs, NORM_STAGE_SKIPPED)
    if by_norm.budget_note:
        scaled["norm optima"] = by_norm.budget_note
    path, path_error = None, ""
    if config.regpath_points > 0 and svm is not None and compat:
        norms = regpath_norms(compat.w_star, config.regpath_points)
        path_budget = share.budget("regularisation path", config.stage_budget)
        path, path_error, note_path = timed(
            "regularisation path", lambda: budgeted_path(inst, norms, path_budget)
        )
        if note_path:
            scaled["regularisation path"] = note_path
    else:
        share.drop("regularisation path")
    if config.regpath_points <= 0:
        path_error = "skipped (--regpath-points 0, the --quick default)"
    elif sep is None:
        path_error = f"not run: separability undecided ({sep_error})"
    plateau: tuple[tuple[int, float], ...] = ()
    if "gd" in runs and not (compat and sep):
        plateau = timed("GD plateau", lambda: gd_plateau(inst, runs["gd"]))
    certificate = None
    if config.certify_budget > 0 and svm is not None and compat:
        cert_budget = share.budget("certifying Theorem 2", config.certify_budget)
        skip = certification_fits(step_seconds.get("gd"), cert_budget)
        if skip:
            scaled["certifying Theorem 2"] = skip
        else:
            certificate = timed(
                "certifying Theorem 2",
                lambda: certify_gd_bias(
                    inst, lr=lr, time_budget=cert_budget, init=w0, limits=limits
                ),
            )
    share.drop("certifying Theorem 2")
    controls_budget = share.budget("controls", config.stage_budget)
    controls = timed(
        "controls",
        lambda: run_controls(
            inst,
            config.seed,
            compatible=compat.compatible,
            has_w_mm=svm is not None,
            svm_seconds=timings.get("NTP-SVM", 0.0),
            budget=controls_budget,
        ),
        timings.get("NTP-SVM", 0.0) + timings["compatibility"] if svm is not None else None,
    )
    scaled.update((f"controls ({claim})", why) for claim, why in controls.skipped)
    return Analysis(
        inst,
        config,
        compat,
        sep,
        svm,
        limits,
        w0,
        lr,
        note,
        runs=_frozen(runs),
        regpath=path,
        regpath_error=path_error,
        plateau=plateau,
        certificate=certificate,
        controls=controls,
        corpus=corpus,
        timings=_frozen(timings),
        sep_error=sep_error,
        scaled=_frozen(scaled),
        step_seconds=_frozen(step_seconds),
        norms=by_norm,
    )


def _separability(inst: NTPInstance, budget: float) -> tuple[SeparabilityResult | None, str]:
    """:func:`is_separable` within ``budget`` seconds (0: the solver's default), or ``None``
    with the reason when it cannot decide at this size."""
    try:
        return is_separable(inst, max_seconds=budget if budget > 0 else None), ""
    except SolverError as exc:
        return None, str(exc)


def no_svm_reason(inst: NTPInstance, sep: SeparabilityResult | None, sep_error: str) -> str:
    """Why the analysis has no ``W^mm`` (given that it has none)."""
    if sep is None:
        return f"separability undecided ({sep_error})"
    if not sep.separable:
        return "not NTP-separable"
    if sep.margin_upper is not None:
        return (
            "not solved; separability was decided by a separator of the dual ascent "
            f"(gamma* in [{sep.margin:.4g}, {sep.margin_upper:.4g}]), and the exact NTP-SVM "
            "at this size needs more than a stage's budget"
        )
    if bool(np.all(inst.supports)):
        return "every support is the whole vocabulary, so there is no margin (6b) to maximise"
    return "the NTP-SVM solver found no solution"


def _svm_or_none(inst: NTPInstance) -> SVMResult | None:
    try:
        return ntp_svm_result(inst)
    except NotSeparableError:
        return None
