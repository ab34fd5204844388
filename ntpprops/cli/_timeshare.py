"""One wall-time budget for a whole ``ntpprops verify`` run, shared among its stages.

``--stage-budget`` bounds each budgeted stage on its own; with three optimizers, the path,
the separability test, the norm optima, the certification and the controls, those bounds add
up to well over ten minutes on a corpus of thousands of contexts. ``--time-budget`` bounds
the sum: when a budgeted stage starts, it gets ``min(--stage-budget, its share of the time
left)``, the share being its weight over the weights of the budgeted stages still to come.
Time spent by unbudgeted work (compatibility, the exact NTP-SVM solve, the GD plateau) is
taken from what is left, so a run overshoots the total only by what no stage can bound
(those solves, checking the claims, writing the report).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

__all__ = ["MIN_STAGE_SECONDS", "STAGE_WEIGHTS", "TIME_BUDGET", "TimeShare"]

#: Default ``--time-budget`` (seconds): nine minutes, leaving one of a ten-minute target for
#: the claims, the report and the plots.
TIME_BUDGET = 540.0

#: A stage always gets at least this long (a budget of 0 would mean "no limit").
MIN_STAGE_SECONDS = 1.0

#: Relative shares of the budgeted stages (the three training runs are one weight each).
STAGE_WEIGHTS: Mapping[str, float] = {
    "separability": 1.0,
    "training gd": 1.0,
    "training ngd": 1.0,
    "training adam": 1.0,
    "norm optima": 0.5,
    "regularisation path": 1.0,
    "certifying Theorem 2": 0.5,
    "controls": 0.5,
}


class TimeShare:
    """Hands out stage budgets from a total (see the module docstring).

    Parameters
    ----------
    total : float
        ``--time-budget`` in seconds (0: no total; every stage gets its own ``cap``).
    stages : iterable of str
        The budgeted stages this run will start, each a key of :data:`STAGE_WEIGHTS`.
    """

    def __init__(self, total: float, stages: list[str]) -> None:
        self.total = total
        self.start = time.perf_counter()
        self.pending = {name: STAGE_WEIGHTS.get(name, 1.0) for name in stages}

    def drop(self, stage: str) -> None:
        """``stage`` will not run: its share goes to the stages still to come."""
        self.pending.pop(stage, None)

    def budget(self, stage: str, cap: float) -> float:
        """The budget of ``stage`` as it starts: ``min(cap, share)`` (``cap = 0``: no cap).

        Returns ``cap`` unchanged when there is no total. A stage not announced in
        ``stages`` gets no share of its own (it still cannot exceed what is left).
        """
        weight = self.pending.pop(stage, 0.0)
        if not self.total > 0:
            return cap
        left = max(self.total - (time.perf_counter() - self.start), 0.0)
        others = sum(self.pending.values())
        share = left * weight / (weight + others) if weight > 0 else left
        share = max(share, MIN_STAGE_SECONDS)
        share = round(share, 1)
        return share if not cap > 0 else min(cap, share)
