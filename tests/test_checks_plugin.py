"""The pytest plugin (entry point ``pytest11``): profiles on request only, and its fixtures.

Each case runs pytest in a subprocess on a tiny project made by ``pytester``, so that this
suite's own profile (loaded by the root ``conftest.py``) cannot leak in.
"""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

#: A project that knows nothing of ntpprops: it records Hypothesis's current profile.
UNRELATED = """
from hypothesis import given, settings, strategies as st

def test_profile():
    print("PROFILE", settings.get_current_profile_name(), settings().max_examples)

@given(st.integers())
def test_property(x):
    assert isinstance(x, int)
"""


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # CI makes Hypothesis load its own "ci" profile; the other two select profiles.
    for name in ("CI", "NTPPROPS_PROFILE", "HYPOTHESIS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def _profile_line(result: pytest.RunResult) -> str:
    found = [m.group(0) for line in result.outlines if (m := re.search(r"PROFILE \S+ \d+", line))]
    assert len(found) == 1, result.outlines
    return found[0]


@pytest.mark.usefixtures("clean_env")
def test_unrelated_suite_is_unchanged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unrelated=UNRELATED)
    # -W error: loading the plugin (and so ntpprops) must not warn in a strict suite either.
    with_plugin = pytester.runpytest_subprocess("-s", "-W", "error")
    without = pytester.runpytest_subprocess("-s", "-W", "error", "-p", "no:ntpprops")
    with_plugin.assert_outcomes(passed=2)
    without.assert_outcomes(passed=2)
    assert _profile_line(with_plugin) == _profile_line(without) == "PROFILE default 100"
    assert any("ntpprops-0.1.0" in line for line in with_plugin.outlines)  # it was loaded
    assert not any(line.startswith("ntpprops:") for line in with_plugin.outlines)


@pytest.mark.usefixtures("clean_env")
def test_option_loads_a_profile_and_fixtures_work(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fixtures="""
from hypothesis import strategies as st
import pytest

def test_fixtures(ntp_paper_instance, ntp_strategy):
    assert (ntp_paper_instance.m, ntp_paper_instance.dim, ntp_paper_instance.vocab_size) == (
        50, 60, 10)
    assert isinstance(ntp_strategy("separable", max_contexts=2), st.SearchStrategy)
    with pytest.raises(ValueError, match="unknown family"):
        ntp_strategy("nonsense")
"""
    )
    pytester.makepyfile(test_unrelated=UNRELATED)
    result = pytester.runpytest_subprocess("-s", "--ntpprops-profile", "ci")
    result.assert_outcomes(passed=3)
    assert _profile_line(result) == "PROFILE ntpprops-ci 200"
    result.stdout.fnmatch_lines(["ntpprops: hypothesis profile 'ntpprops-ci'"])


@pytest.mark.usefixtures("clean_env")
def test_environment_variable_selects_a_profile(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NTPPROPS_PROFILE", "explore")
    pytester.makepyfile(test_unrelated=UNRELATED)
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=2)
    assert _profile_line(result) == "PROFILE ntpprops-explore 2000"


@pytest.mark.usefixtures("clean_env")
def test_unknown_profile_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unrelated=UNRELATED)
    result = pytester.runpytest_subprocess("--ntpprops-profile", "fast")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*invalid choice: 'fast'*"])
