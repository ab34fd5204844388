"""Root pytest configuration: register the Hypothesis profiles and load the selected one.

The profiles live in ``ci/hypothesis_profiles.py``; ``HYPOTHESIS_PROFILE`` picks one (``dev``
by default). Hypothesis's pytest option ``--hypothesis-profile`` still overrides it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import settings

_spec = importlib.util.spec_from_file_location(
    "ntpprops_ci_profiles", Path(__file__).parent / "ci" / "hypothesis_profiles.py"
)
assert _spec is not None and _spec.loader is not None
_profiles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_profiles)
_profiles.register_profiles()
_profiles.load_profile()


def pytest_report_header(config: pytest.Config) -> str:
    """Name the profile in every run's header (Hypothesis does so only with ``-v``)."""
    return f"ntpprops: hypothesis profile {settings.get_current_profile_name()!r}"
