"""How ``--time-budget`` is shared among the stages of ``ntpprops verify``."""

from __future__ import annotations

import pytest

import ntpprops.cli._timeshare as timeshare
from ntpprops.cli._timeshare import MIN_STAGE_SECONDS, TimeShare


@pytest.fixture
def frozen_clock(monkeypatch):
    """A clock that moves only when told to (``advance(seconds)``)."""
    now = [1000.0]
    monkeypatch.setattr(timeshare.time, "perf_counter", lambda: now[0])

    def advance(seconds: float) -> None:
        now[0] += seconds

    return advance


def test_each_stage_gets_its_weighted_share_of_what_is_left(frozen_clock):
    share = TimeShare(120.0, ["separability", "training gd", "norm optima", "controls"])
    # weights 1, 1, 0.5, 0.5: the first stage gets 1/3 of 120 s
    assert share.budget("separability", 0.0) == pytest.approx(40.0)
    frozen_clock(10.0)  # it used only 10 s: 110 s left for weights 1, 0.5, 0.5
    assert share.budget("training gd", 0.0) == pytest.approx(55.0)
    frozen_clock(55.0)
    assert share.budget("norm optima", 0.0) == pytest.approx(27.5)
    frozen_clock(27.5)
    assert share.budget("controls", 0.0) == pytest.approx(27.5)  # the last takes all left


def test_the_stage_cap_still_bounds_each_stage(frozen_clock):
    share = TimeShare(1000.0, ["training gd", "training ngd"])
    assert share.budget("training gd", 120.0) == 120.0
    assert TimeShare(0.0, ["training gd"]).budget("training gd", 120.0) == 120.0  # no total
    assert TimeShare(0.0, ["training gd"]).budget("training gd", 0.0) == 0.0  # no limit at all


def test_dropped_stages_leave_their_share_and_spent_totals_keep_a_floor(frozen_clock):
    share = TimeShare(90.0, ["training gd", "regularisation path", "controls"])
    share.drop("regularisation path")
    assert share.budget("training gd", 0.0) == pytest.approx(60.0)  # weights 1 and 0.5
    frozen_clock(500.0)  # overran: nothing left, but a budget of 0 would mean "no limit"
    assert share.budget("controls", 0.0) == MIN_STAGE_SECONDS
