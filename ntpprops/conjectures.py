"""Conjectures for ``ntpprops explore``: named statements searched for counterexamples.

A conjecture is a statement about every NTP instance a strategy can generate, with a
predicate that says whether one instance satisfies it. ``ntpprops explore NAME`` asks
Hypothesis for an instance that violates the predicate and shrinks it to a small one.

Adding a conjecture takes a few lines::

    @conjecture(
        "my-name",
        "Every separable instance with d = 1 has m <= 2.",
        strategy=lambda: strategies.separable_instances(max_dim=1, overparameterized=False),
        expected="false",
    )
    def _my_name(inst: NTPInstance) -> bool:
        return inst.dim != 1 or inst.m <= 2 or not is_separable(inst)

``expected`` records what is known: ``"false"`` (a counterexample exists; the search should
find one), ``"true"`` (proven; a control that must come back empty), or ``"open"``. A
predicate answers for one instance only; an instance outside the statement's hypotheses
satisfies it vacuously (return ``True``).

Exploration never gates anything: a counterexample to an ``"open"`` conjecture is evidence
within a finite budget (finite optimisation runs, finite search), not a proof.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, assume, find, settings
from hypothesis.errors import NoSuchExample, Unsatisfiable

from ntpprops import strategies
from ntpprops._compat import is_compatible
from ntpprops._errors import SolverError
from ntpprops._instance import NTPInstance
from ntpprops._norm_margins import margin_trajectory
from ntpprops._optim import train
from ntpprops._separability import is_separable

__all__ = [
    "CONJECTURES",
    "EXPECTATIONS",
    "Conjecture",
    "ExploreResult",
    "conjecture",
    "explore",
    "get_conjecture",
]

EXPECTATIONS = ("false", "true", "open")


@dataclass(frozen=True)
class Conjecture:
    """A named statement about NTP instances.

    Attributes
    ----------
    name : str
        Command-line name (lower case, dashes).
    statement : str
        The statement in words.
    strategy : callable
        ``() -> SearchStrategy[NTPInstance]`` (a factory, so that importing this module does not
        build strategies).
    predicate : callable
        ``NTPInstance -> bool``: True when the instance satisfies the statement.
    expected : {"false", "true", "open"}
        What is known about the statement.
    note : str
        Why it is expected so (reference, construction of a counterexample).
    """

    name: str
    statement: str
    strategy: Callable[[], Any]
    predicate: Callable[[NTPInstance], bool]
    expected: str
    note: str = ""


#: Every registered conjecture, by name, in registration order.
CONJECTURES: dict[str, Conjecture] = {}


def conjecture(
    name: str,
    statement: str,
    *,
    strategy: Callable[[], Any],
    expected: str,
    note: str = "",
) -> Callable[[Callable[[NTPInstance], bool]], Callable[[NTPInstance], bool]]:
    """Decorator registering a predicate as the conjecture ``name`` in :data:`CONJECTURES`."""
    if expected not in EXPECTATIONS:
        raise ValueError(f"expected must be one of {EXPECTATIONS}, got {expected!r}")
    if name in CONJECTURES:
        raise ValueError(f"conjecture {name!r} is already registered")

    def register(predicate: Callable[[NTPInstance], bool]) -> Callable[[NTPInstance], bool]:
        CONJECTURES[name] = Conjecture(name, statement, strategy, predicate, expected, note)
        return predicate

    return register


def get_conjecture(name: str) -> Conjecture:
    """The registered conjecture ``name``.

    Raises
    ------
    KeyError
        With a message listing the known names.
    """
    try:
        return CONJECTURES[name]
    except KeyError:
        known = ", ".join(CONJECTURES)
        raise KeyError(f"unknown conjecture {name!r}; known conjectures: {known}") from None


@dataclass(frozen=True)
class ExploreResult:
    """Outcome of :func:`explore`.

    Attributes
    ----------
    conjecture : Conjecture
    counterexample : NTPInstance or None
        The shrunk counterexample, or None when the budget found none.
    max_examples : int
    seed : int or None
    skipped : int
        Examples rejected because a solver could not decide the predicate (``SolverError``).
    """

    conjecture: Conjecture
    counterexample: NTPInstance | None
    max_examples: int
    seed: int | None
    skipped: int = 0

    @property
    def found(self) -> bool:
        return self.counterexample is not None


def explore_settings(max_examples: int) -> settings:
    """The ``explore`` profile's settings (no deadline) for a one-off search.

    No example database, so a run is reproducible from its ``--seed``; health checks about
    slow or filtered generation are off, since predicates may run solvers and optimisers.
    No explain phase: :func:`hypothesis.find` returns the shrunk example only, and explaining
    it (re-running the predicate on variations of every part) took ~80% of a search's time.
    """
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def explore(
    conj: Conjecture | str, *, max_examples: int = 200, seed: int | None = None
) -> ExploreResult:
    """Search for a counterexample to ``conj`` with Hypothesis and shrink it.

    Parameters
    ----------
    conj : Conjecture or str
        The conjecture or its registered name.
    max_examples : int
        Hypothesis's budget of examples (``>= 1``).
    seed : int, optional
        Seed of the search; the same seed reproduces the same counterexample.

    Returns
    -------
    ExploreResult
    """
    if isinstance(conj, str):
        conj = get_conjecture(conj)
    if max_examples < 1:
        raise ValueError(f"max_examples must be >= 1, got {max_examples}")
    skipped = 0

    def violates(inst: NTPInstance) -> bool:
        nonlocal skipped
        try:
            return not conj.predicate(inst)
        except SolverError:
            # An instance no solver could decide is no evidence either way.
            skipped += 1
            assume(False)
            return False

    rng = random.Random(seed) if seed is not None else None
    try:
        found = find(conj.strategy(), violates, settings=explore_settings(max_examples), random=rng)
    except (NoSuchExample, Unsatisfiable):
        found = None
    return ExploreResult(conj, found, max_examples, seed, skipped)


# -- the registry ----------------------------------------------------------------------------


@conjecture(
    "separable-needs-d-ge-m",
    "Every NTP-separable instance has at least as many dimensions as contexts (d >= m).",
    # A counterexample needs d < m, and separability: draw separable instances built from
    # few prototypes (so m may exceed d), with d <= 2 and entries in {-1, 0, 1}. The smallest
    # possible counterexample, m = 2, V = 2, d = 1, is then found and shrunk to in < 1 s.
    strategy=lambda: strategies.separable_instances(
        min_contexts=2,
        max_contexts=3,
        max_vocab=2,
        max_dim=2,
        max_entry=1,
        max_count=2,
        overparameterized=False,
        compatible=None,
    ),
    expected="false",
    note="Lemma 1 gives d > m as sufficient, not necessary: e.g. contexts on one ray with "
    "the same support are separable in d = 1.",
)
def _separable_needs_d_ge_m(inst: NTPInstance) -> bool:
    return inst.dim >= inst.m or not is_separable(inst)


@conjecture(
    "d-ge-m-implies-separable",
    "Every instance with d >= m is NTP-separable.",
    # Entries in {-1, 0, 1} make zero and repeated embeddings frequent: the smallest
    # counterexample, m = 1, V = 2, d = 1 with h = 0, needs nothing larger.
    strategy=lambda: strategies.ntp_instances(
        max_contexts=2, max_vocab=2, max_dim=2, max_entry=1, max_count=2
    ),
    expected="false",
    note="Lemma 1 also needs rank H = m: a zero or repeated embedding with different "
    "supports breaks separability whatever d is.",
)
def _d_ge_m_implies_separable(inst: NTPInstance) -> bool:
    return inst.dim < inst.m or bool(is_separable(inst))


@conjecture(
    "lemma1-overparameterised",
    "If d > m and rank H = m, the instance is NTP_H-compatible and NTP-separable (Lemma 1).",
    strategy=lambda: strategies.ntp_instances(max_contexts=3, min_dim=2, max_dim=4),
    expected="true",
    note="Proven (Lemma 1): a control, the search must come back empty.",
)
def _lemma1(inst: NTPInstance) -> bool:
    if inst.dim <= inst.m or np.linalg.matrix_rank(inst.embeddings) < inst.m:
        return True
    return bool(is_compatible(inst)) and bool(is_separable(inst))


#: Budget of the Adam conjecture: steps, and the alignment asked of the corrected iterate.
ADAM_STEPS = 3000
ADAM_MIN_COS = 0.99


@conjecture(
    "adam-aligns-with-wmm",
    f"On compatible, separable instances Adam (lr 0.01, betas 0.9/0.99, zero init) aligns "
    f"with W^mm: after {ADAM_STEPS} steps cos(W_k - W*, W^mm) >= {ADAM_MIN_COS}.",
    # Adam's per-coordinate normalisation departs from W^mm once W^mm weighs the tokens off a
    # support unequally, which takes V >= 3 (one-hot S = {0}, d = 1: W^mm ~ (2, -1, -1) h,
    # Adam's sign-like steps ~ (1, -1, -1) h, cos 0.94). Small bounds keep each example to one
    # 3000-step run on a tiny instance; raise --max-examples for a wider search.
    strategy=lambda: strategies.separable_instances(
        max_contexts=2, max_vocab=3, max_dim=2, max_entry=1, max_count=2
    ),
    expected="open",
    note="docs/theory.md: whether Adam's NTP limit is W^mm or a max-norm NTP-SVM is open; long "
    "runs stall near 1 - cos = 1.5e-2. A counterexample is finite-budget evidence only.",
)
def _adam_aligns(inst: NTPInstance) -> bool:
    compat = is_compatible(inst)
    if not compat or not is_separable(inst):
        return True
    run = train(inst, "adam", steps=ADAM_STEPS, record=[0, ADAM_STEPS])
    if run.cos_mm_corrected is None:  # every support full: W^mm = 0, nothing to align with
        return True
    return bool(run.cos_mm_corrected[-1] >= ADAM_MIN_COS)


# -- beyond gradient descent: max-margin in other norms (docs/theory.md, "Beyond the paper") ----

#: Budget of the norm conjectures: steps from W_0 = 0, and the fraction of the optimal
#: q-margin asked of P_perp W_N (ntpprops.margin_fraction).
NORM_STEPS = 3000
NORM_MIN_FRACTION = 0.95

#: Budget of the log-ratio conjecture: the Eq. 4 residual asked of W_N.
LOG_RATIO_MAX_RESIDUAL = 0.05

# The one-hot theorems (Fan, Schmidt and Thrampoulidis 2025) are about limits (with rates
# whose constants are not restated here), so these finite-budget NTP statements are "open":
# a counterexample is evidence that the budget is short or that NTP data behave differently.
_NORM_NOTE = (
    "Proven for one-hot data as t -> infinity (Fan, Schmidt and Thrampoulidis 2025); open for "
    "NTP data (soft labels, constraint 6a). A counterexample is finite-budget evidence only."
)


def _small_separable() -> Any:
    return strategies.separable_instances(
        max_contexts=2, max_vocab=3, max_dim=2, max_entry=1, max_count=2
    )


def _reaches_norm_optimum(inst: NTPInstance, method: str, lr: float, norm: str) -> bool:
    """Whether ``method`` from 0 reaches NORM_MIN_FRACTION of the ``norm``-optimal margin."""

    if not is_compatible(inst) or not is_separable(inst) or np.all(inst.supports):
        return True
    traj = margin_trajectory(inst, method, NORM_STEPS, lr=lr, record=[NORM_STEPS], norms=(norm,))
    return bool(traj.fractions[norm][-1] >= NORM_MIN_FRACTION)


@conjecture(
    "adam-approaches-max-norm-svm",
    f"On compatible, separable instances Adam (lr 0.01, betas 0.9/0.99, W_0 = 0) reaches "
    f"{NORM_MIN_FRACTION} of the max-norm NTP-SVM's margin after {NORM_STEPS} steps "
    "(max-norm margin of P_perp W over ||P_perp W||_max).",
    strategy=_small_separable,
    expected="open",
    note=_NORM_NOTE,
)
def _adam_max_norm(inst: NTPInstance) -> bool:
    return _reaches_norm_optimum(inst, "adam", 0.01, "max")


@conjecture(
    "sign-descent-approaches-max-norm-svm",
    f"On compatible, separable instances sign descent with eta_t = 0.1 (t + 1)^(-1/2) "
    f"(nsd-max, W_0 = 0) reaches {NORM_MIN_FRACTION} of the max-norm NTP-SVM's margin after "
    f"{NORM_STEPS} steps.",
    strategy=_small_separable,
    expected="open",
    note=_NORM_NOTE,
)
def _sign_max_norm(inst: NTPInstance) -> bool:
    return _reaches_norm_optimum(inst, "nsd-max", 0.1, "max")


@conjecture(
    "spectral-descent-approaches-spectral-svm",
    f"On compatible, separable instances spectral descent with eta_t = 0.1 (t + 1)^(-1/2) "
    f"(nsd-spectral, W_0 = 0) reaches {NORM_MIN_FRACTION} of the spectral-norm NTP-SVM's "
    f"margin after {NORM_STEPS} steps.",
    strategy=_small_separable,
    expected="open",
    note=_NORM_NOTE,
)
def _spectral_norm(inst: NTPInstance) -> bool:
    return _reaches_norm_optimum(inst, "nsd-spectral", 0.1, "spectral")


@conjecture(
    "sign-descent-finds-log-ratios",
    f"On compatible, separable instances sign descent with eta_t = 0.1 (t + 1)^(-1/2) "
    f"(nsd-max, W_0 = 0) has in-support logit gaps within {LOG_RATIO_MAX_RESIDUAL} of "
    f"log(p_z / p_z') (the Eq. 4 residual) after {NORM_STEPS} steps.",
    strategy=_small_separable,
    expected="open",
    note="For GD, P_F W_k -> W* (Theorem 2) makes the residual vanish; for sign descent on NTP "
    "data nothing is proven. A counterexample is finite-budget evidence only.",
)
def _sign_log_ratios(inst: NTPInstance) -> bool:

    if not is_compatible(inst) or not is_separable(inst) or np.all(inst.supports):
        return True
    traj = margin_trajectory(
        inst, "nsd-max", NORM_STEPS, lr=0.1, record=[NORM_STEPS], norms=("max",)
    )
    return bool(traj.eq4_residual[-1] <= LOG_RATIO_MAX_RESIDUAL)
