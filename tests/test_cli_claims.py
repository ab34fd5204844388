"""The claims registry of ``ntpprops verify``: applicability before checking, every headline
rendered on instances where its claim applies and where it does not, a frozen analysis.

The analyses are computed once per module with short runs (50 steps, a two-point path, no
certification, no stage budget), so every claim's check and headline run on real solver
output; variants of the paper's analysis (``dataclasses.replace``) stand in for outcomes
that are slow or rare to produce (separability undecided).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from ntpprops import NTPInstance
from ntpprops._defaults import PAPER_SEED, paper_instance
from ntpprops.cli._analysis import Analysis, CorpusFacts, RunConfig, analyse
from ntpprops.cli._report import render_table
from ntpprops.cli.claims import CLAIMS, Claim, ClaimSpec, applicability, check_all, judge
from ntpprops.cli.claims._base import Facts, Finding, Requirement

#: Short runs: every stage runs, none long enough to matter for the headlines.
CONFIG = RunConfig(steps=50, regpath_points=2, certify_budget=0.0, stage_budget=0.0)

#: A corpus's facts for App. C, as verify's corpus input computes them (H_t non-increasing).
CORPUS = CorpusFacts({"0": 2.0, "1": 1.25, "2": 0.5}, prediction_events=12, instance_events=12)


def _instances() -> dict[str, tuple[NTPInstance, RunConfig, CorpusFacts | None]]:
    gd_only = dataclasses.replace(CONFIG, optimizers=("gd",))
    return {
        # Compatible, separable, d > m = rank H: every claim but remark1/fullsupport applies.
        "paper": (paper_instance(PAPER_SEED), CONFIG, CORPUS),
        # Two contexts on one ray with disjoint supports: not separable (converse of Prop. 1).
        "non-separable": (
            NTPInstance.from_counts(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[3, 0], [0, 3]])),
            CONFIG,
            None,
        ),
        # Shared tokens on one ray with ratios 1 and 1/4: Eq. 4 has no solution.
        "incompatible": (
            NTPInstance(np.array([[1.0], [2.0]]), np.array([[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]])),
            CONFIG,
            None,
        ),
        # Every S_j = V; only GD runs, so the observations have nothing to observe.
        "full-support": (
            NTPInstance(np.eye(2), np.array([[0.5, 0.5], [0.2, 0.8]])),
            gd_only,
            None,
        ),
        # One-hot (all S_j = 1): Remark 1 applies, with the Crammer-Singer control.
        "one-hot": (
            NTPInstance.from_counts(
                np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]),
                np.array([[2, 0, 0], [0, 5, 0], [0, 0, 1]]),
            ),
            CONFIG,
            None,
        ),
    }


@pytest.fixture(scope="module")
def analyses() -> dict[str, Analysis]:
    done = {
        name: analyse(inst, config, corpus=corpus)
        for name, (inst, config, corpus) in _instances().items()
    }
    # Separability undecided at this size: every claim needing the verdict must say so.
    done["undecided"] = dataclasses.replace(
        done["paper"],
        sep=None,
        svm=None,
        sep_error="out of budget: every separator has ||W|| >= 12",
    )
    return done


@pytest.fixture(scope="module")
def judged(analyses: dict[str, Analysis]) -> dict[str, dict[str, Claim]]:
    return {name: {c.id: c for c in check_all(a)} for name, a in analyses.items()}


def _by_claim(judged: dict[str, dict[str, Claim]]) -> Iterator[tuple[str, dict[str, Claim]]]:
    for spec in CLAIMS:
        yield spec.id, {name: claims[spec.id] for name, claims in judged.items()}


def test_registry_ids_are_unique_and_every_claim_is_judged(judged):
    ids = [spec.id for spec in CLAIMS]
    assert len(ids) == len(set(ids)) == 16
    for claims in judged.values():
        assert list(claims) == ids


@pytest.mark.parametrize("spec", CLAIMS, ids=lambda s: s.id)
def test_every_headline_renders_where_its_claim_applies_and_where_not(judged, spec):
    rows = {name: claims[spec.id] for name, claims in judged.items()}
    applied = {n: c for n, c in rows.items() if c.status != "not_applicable"}
    skipped = {n: c for n, c in rows.items() if c.status == "not_applicable"}
    assert applied, f"{spec.id} applies to none of {sorted(rows)}"
    for name, claim in applied.items():
        # A headline is rendered from the claim's own facts: never empty, never the reason.
        assert claim.headline and claim.headline != claim.reason, (name, claim)
        assert claim.measured, (name, claim)
        # Every applicable proven claim holds on the real analyses (the undecided variant
        # contradicts Lemma 1's route on purpose: rank H = m always decides separability).
        if name != "undecided":
            assert claim.status == ("observed" if spec.observed else "passed"), (name, claim)
    if spec.requires:
        assert skipped, f"{spec.id} is not_applicable on none of {sorted(rows)}"
    for name, claim in skipped.items():
        # Not applicable: decided before the check ran; the reason is the line.
        assert claim.reason and claim.headline == claim.reason, (name, claim)
    table = render_table(list(rows.values()))
    assert table.count(f"\n{spec.id} ") == len(rows)  # one row per instance, none dropped


def test_headlines_show_each_variant_of_a_claim(judged):
    """Claims with two outcomes (a solution or a certificate) render both."""
    assert judged["paper"]["def1"].headline.startswith("Eq. 4 residual")
    assert judged["incompatible"]["def1"].headline.startswith("certificate: every solution")
    assert judged["paper"]["def2"].headline.startswith("witness margin")
    assert judged["non-separable"]["def2"].headline.startswith("certificate: every separator")
    assert judged["paper"]["prop1"].headline.startswith("CE - H along W* + g W^d")
    assert judged["non-separable"]["prop1"].headline.startswith("GD excess levels off")
    assert "not separable" in judged["non-separable"]["prop1"].reason


def test_headlines_digest_the_measured_values(judged):
    paper = judged["paper"]
    lemma2 = paper["lemma2"]
    (k0, e0), (k1, e1) = lemma2.measured["excess"].items()
    assert f"CE - H {e0:.3g} (k={k0}) -> {e1:.3g} (k={k1})" in lemma2.headline
    thm1 = paper["thm1"]
    assert thm1.headline.startswith(f"1 - cos {thm1.measured['one_minus_cos'][0]:.3g} -> ")
    genie = paper["genie"]
    assert f"{min(genie.measured['log_bound_minus_log_excess']):.3g}" in genie.headline
    appc = paper["appc"]
    assert appc.headline == "H_t for t = 0..: [2, 1.25, 0.5]"


def test_lemma1_not_applicable_keeps_the_evidence(judged):
    lemma1 = judged["non-separable"]["lemma1"]
    assert lemma1.status == "not_applicable" and lemma1.reason == "d = 2 <= m = 2"
    assert lemma1.measured == {"m": 2, "d": 2, "rank_H": 1}


def test_undecided_separability_makes_every_claim_needing_it_not_applicable(judged):
    undecided = judged["undecided"]
    for tag in ("def2", "def3", "prop1", "genie", "descent", "thm1", "lemma2", "thm2"):
        assert undecided[tag].status == "not_applicable", tag
        assert "undecided" in undecided[tag].reason and "||W|| >= 12" in undecided[tag].reason
    assert undecided["def1"].status == "passed"


def test_the_controls_stage_holds_every_re_solve(analyses):
    paper, one_hot = analyses["paper"], analyses["one-hot"]
    assert "controls" in paper.timings
    assert paper.controls.w_mm_other_probs is not None
    assert paper.controls.w_star_other_weights is not None
    assert len(paper.controls.f_directions) > 0
    assert paper.controls.crammer_singer is None  # S_j = 6: not one-hot
    assert one_hot.controls.crammer_singer is not None
    assert analyses["incompatible"].controls.lemma4_ran is False


def test_analysis_is_frozen(analyses):
    with pytest.raises(dataclasses.FrozenInstanceError):
        analyses["paper"].regpath_error = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        analyses["paper"].runs["sgd"] = analyses["paper"].runs["gd"]  # type: ignore[index]


@dataclasses.dataclass(frozen=True)
class _Nothing(Facts):
    value: float


def _must_not_run(a: Analysis) -> Finding[_Nothing]:
    raise AssertionError("the check of a claim that does not apply ran")


def test_a_claim_whose_requirement_fails_is_not_checked(analyses):
    never = Requirement("never", lambda a: "the hypothesis fails")
    spec = ClaimSpec("x", "a statement", ((never,),), _must_not_run, lambda m: f"{m.value}")
    claim = judge(spec, analyses["paper"])
    assert (claim.status, claim.reason) == ("not_applicable", "the hypothesis fails")


def test_requirement_groups_report_the_first_failing_group_whole(analyses):
    fails = Requirement("a", lambda a: "first")
    also = Requirement("b", lambda a: "second")
    later = Requirement("c", lambda a: "third")
    holds = Requirement("d", lambda a: None)
    spec = ClaimSpec("x", "s", ((holds,), (fails, also), (later,)), _must_not_run, str)
    assert applicability(spec, analyses["paper"]) == "first; second"


def test_an_applicable_claim_runs_its_check_and_headline(analyses):
    spec = ClaimSpec(
        "x", "s", (), lambda a: Finding(_Nothing(2.5), ok=False, reason="why"), lambda m: "h"
    )
    claim = judge(spec, analyses["paper"])
    assert (claim.status, claim.measured, claim.reason, claim.headline) == (
        "failed",
        {"value": 2.5},
        "why",
        "h",
    )
