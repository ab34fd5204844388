"""ntpprops's Hypothesis profiles, shipped with the package for any project's test suite.

The same settings as the repository's ``ci/hypothesis_profiles.py`` (which is not installed),
registered under prefixed names (``ntpprops-dev``, ``ntpprops-ci``, ``ntpprops-explore``) so
that they never replace a project's own profiles, nor Hypothesis's built-in ``ci`` profile.
Registering loads nothing.
"""

from __future__ import annotations

import os

from hypothesis import settings

__all__ = ["ENV_VAR", "PROFILES", "load_profile", "profile_name", "register_profiles"]

#: Environment variable selecting a profile when ``--ntpprops-profile`` is not given.
ENV_VAR = "NTPPROPS_PROFILE"
#: Short names accepted by ``--ntpprops-profile`` and ``NTPPROPS_PROFILE``.
PROFILES = ("dev", "ci", "explore")


def profile_name(short: str) -> str:
    """The registered name of a short profile name: ``"ci"`` -> ``"ntpprops-ci"``."""
    if short not in PROFILES:
        raise ValueError(f"{short!r} is not an ntpprops profile; choose one of {PROFILES}")
    return f"ntpprops-{short}"


def register_profiles() -> None:
    """Register the three profiles with Hypothesis (without loading any).

    No deadline anywhere (shared machines, noisy timings). ``ci`` is deterministic
    (``derandomize``, no database) for gating; ``explore`` keeps the example database.
    """
    settings.register_profile(profile_name("dev"), max_examples=25, deadline=None)
    settings.register_profile(
        profile_name("ci"),
        max_examples=200,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
    )
    settings.register_profile(
        profile_name("explore"), max_examples=2000, deadline=None, print_blob=True
    )


def load_profile(short: str | None) -> str | None:
    """Load ``short`` (or ``$NTPPROPS_PROFILE`` if ``short`` is None); None if neither is set.

    Returns
    -------
    str or None
        The registered name loaded, or None when nothing was selected (nothing is loaded).
    """
    chosen = short or os.environ.get(ENV_VAR) or None
    if chosen is None:
        return None
    name = profile_name(chosen)
    settings.load_profile(name)
    return name
