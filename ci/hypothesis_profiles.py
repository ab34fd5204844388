"""Hypothesis settings profiles for the ntpprops test suite.

``dev`` (default, fast local runs), ``ci`` (deterministic gate), ``explore`` (long search
with the example database). The root ``conftest.py`` registers them and loads the one named by
``HYPOTHESIS_PROFILE``. Hypothesis loads its own built-in ``ci`` profile whenever the ``CI``
environment variable is set, so ours is always loaded explicitly, by name.
"""

from __future__ import annotations

import os

from hypothesis import settings

__all__ = ["DEFAULT_PROFILE", "PROFILES", "load_profile", "register_profiles"]

DEFAULT_PROFILE = "dev"
PROFILES = ("dev", "ci", "explore")


def register_profiles() -> None:
    """Register ``dev``, ``ci`` and ``explore`` with Hypothesis.

    No deadline anywhere: the machine is shared and solver timings are noisy, and a deadline
    failure says nothing about the mathematics (slow properties are marked ``slow`` instead).
    """
    settings.register_profile("dev", max_examples=25, deadline=None)
    settings.register_profile(
        "ci",
        max_examples=200,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
    )
    # The default database (.hypothesis/examples) keeps failures found by long runs for replay.
    settings.register_profile("explore", max_examples=2000, deadline=None, print_blob=True)


def load_profile(name: str | None = None) -> str:
    """Load the profile ``name`` (default: ``$HYPOTHESIS_PROFILE``, else ``dev``); return it."""
    chosen = name or os.environ.get("HYPOTHESIS_PROFILE") or DEFAULT_PROFILE
    if chosen not in PROFILES:
        raise ValueError(
            f"HYPOTHESIS_PROFILE={chosen!r} is not an ntpprops profile; choose one of {PROFILES}"
        )
    settings.load_profile(chosen)
    return chosen
