"""The pytest plugin of ntpprops (entry point ``pytest11``: ``ntpprops``).

- ``--ntpprops-profile {dev,ci,explore}`` (or ``NTPPROPS_PROFILE``) loads one of ntpprops's
  Hypothesis profiles. Without either, nothing is loaded: an unrelated test suite runs exactly
  as without ntpprops installed.
- Fixtures: ``ntp_paper_instance`` (the App. A.2 setting of the paper, built once per session)
  and ``ntp_strategy`` (a factory of ntpprops's instance strategies by family name).

The heavy imports (ntpprops itself) happen inside the fixtures, not at plugin load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ntpprops.checks._profiles import ENV_VAR, PROFILES, load_profile, register_profiles

__all__ = [
    "ntp_paper_instance",
    "ntp_strategy",
    "pytest_addoption",
    "pytest_configure",
    "pytest_report_header",
]

_LOADED = pytest.StashKey[str | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--ntpprops-profile``."""
    group = parser.getgroup("ntpprops", "ntpprops (property-based checks of NTP code)")
    group.addoption(
        "--ntpprops-profile",
        action="store",
        choices=PROFILES,
        default=None,
        help=f"load ntpprops's Hypothesis profile (default: ${ENV_VAR}, else none is loaded)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register ntpprops's profiles; load one only if asked for."""
    register_profiles()
    config.stash[_LOADED] = load_profile(config.getoption("ntpprops_profile"))


def pytest_report_header(config: pytest.Config) -> str | None:
    """Name the loaded ntpprops profile, if any (silent otherwise)."""
    loaded = config.stash.get(_LOADED, None)
    return None if loaded is None else f"ntpprops: hypothesis profile {loaded!r}"


@pytest.fixture(scope="session")
def ntp_paper_instance() -> Any:
    """The App. A.2 instance (``m = 50, d = 60, V = 10, S_j = 6``, 5000 samples, seed 0)."""
    from ntpprops._defaults import paper_instance

    return paper_instance()


@pytest.fixture
def ntp_strategy() -> Callable[..., Any]:
    """A factory ``ntp_strategy(family="ntp", **bounds)`` of ntpprops's instance strategies.

    ``family`` is one of ``ntp``, ``separable``, ``one_hot``, ``full_support``,
    ``non_separable``, ``incompatible``; ``bounds`` are passed on (``max_contexts=3``, ...).
    """
    from ntpprops import strategies

    def make(family: str = "ntp", **bounds: Any) -> Any:
        name = f"{family}_instances"
        if name not in strategies.__all__:
            families = sorted(n.removesuffix("_instances") for n in strategies.__all__)
            raise ValueError(f"unknown family {family!r}; choose one of {families}")
        return getattr(strategies, name)(**bounds)

    return make
