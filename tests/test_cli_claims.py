"""The claims registry of ``ntpprops verify``: applicability before checking, every headline
rendered on instances where its claim applies and where it does not, a frozen analysis.

The analyses are computed once per module with short runs (50 steps, a two-point path, no
certification, no stage budget), so every claim's check and headline run on real solver
output; variants of the paper's analysis (``dataclasses.replace``) stand in for outcomes
that are slow or rare to produce (separability undecided).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from ntpprops import NTPInstance, train
from ntpprops._defaults import PAPER_SEED, paper_instance
from ntpprops._norm_margins import normalized_margin
from ntpprops._svm_norms import NORMS
from ntpprops.cli._analysis import Analysis, CorpusFacts, RunConfig, analyse
from ntpprops.cli._markdown import measured_markdown
from ntpprops.cli._norms import measure_run, norm_margins
from ntpprops.cli._report import jsonable, render_table, write_reports
from ntpprops.cli.claims import CLAIMS, Claim, ClaimSpec, applicability, check_all, judge
from ntpprops.cli.claims._base import Facts, Finding, Requirement

#: Short runs: every stage runs, none long enough to matter for the headlines.
CONFIG = RunConfig(steps=50, regpath_points=2, certify_budget=0.0, stage_budget=0.0)

#: A corpus's facts for App. C, as verify's corpus input computes them (H_t non-increasing).
CORPUS = CorpusFacts({"0": 2.0, "1": 1.25, "2": 0.5}, prediction_events=12, instance_events=12)


def _spectral_too_large() -> NTPInstance:
    """``V = 401``, ``m = d = 3``: the spectral program's block has order ``V + rank H = 404``
    (> ``SPECTRAL_MAX_ORDER = 120``, refused up front) while the LPs stay tiny."""
    rng = np.random.default_rng(0)
    probs = np.zeros((3, 401))
    probs[0, :2] = [0.5, 0.5]
    probs[1, 2:5] = [0.2, 0.3, 0.5]
    probs[2, [0, 7]] = [0.9, 0.1]
    return NTPInstance(rng.standard_normal((3, 3)), probs)


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
        # A norm skipped with its reason (issue 11); no path (52 s here at V = 401).
        "spectral-too-large": (
            _spectral_too_large(),
            dataclasses.replace(CONFIG, regpath_points=0),
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


#: The ``measured`` keys of each applicable claim on the paper's instance, as report.json
#: 0.1 wrote them (its schema stays compatible); ``certification`` only with
#: --certify-budget > 0, which these analyses skip.
MEASURED_KEYS_0_1 = {
    "def1": ("compatible", "eq4_max_residual", "norm_w_star", "norm_perp_w_star", "tolerance"),
    "def2": ("separable", "witness_support_spread", "witness_min_margin", "margin", "tolerance"),
    "def3": (
        "norm_w_mm", "min_margin", "support_spread", "witness_norm", "kkt_ok",
        "relative_change_other_pi_and_p", "tolerance",
    ),
    "lemma1": ("m", "d", "rank_H", "compatible", "separable"),
    "prop1": ("gamma", "excess_along_ray", "excess_final_iterates"),
    "lemma4": (
        "ce_f_at_w_star_minus_entropy", "tolerance", "min_rise_along_F",
        "relative_change_other_pi",
    ),
    "genie": ("log_C", "R", "excess", "log_bound_minus_log_excess"),
    "descent": ("inner_products", "formula", "max_relative_mismatch"),
    "thm1": (
        "B", "max_relative_norm_error", "converged", "multipliers", "kkt_residual",
        "kkt_tolerance", "excess", "excess_non_increasing", "one_minus_cos",
        "dist_P_F_W_to_w_star", "all_within_proven_bounds", "min_cos_minus_lower_bound",
        "cos_lower_bound", "one_minus_cos_upper_bound", "dist_upper_bound",
    ),
    "lemma2": (
        "lr", "lr_note", "max_loss_increase", "excess", "excess_upper_bound_final", "norm",
        "norm_lower_bound", "norm_perp", "norm_P_F_final", "norm_P_F_W0_plus_norm_w_star",
    ),
    "thm2": (
        "one_minus_cos", "one_minus_cos_corrected", "dist_P_F_W_to_w_star",
        "corrected_closer_at_end", "max_loss_increase", "loss_monotone",
        "cos_mm_final_vs_analysis_w_mm", "all_within_proven_bounds",
        "min_cos_minus_lower_bound", "cos_lower_bound", "one_minus_cos_upper_bound",
        "dist_upper_bound",
    ),
    "obs-ngd": (
        "lr", "excess_final", "norm_final", "gd_excess_final", "cos_mm_final",
        "gd_cos_mm_final", "cos_mm_corrected_final", "gd_cos_mm_corrected_final",
        "dist_f_wstar_final", "gd_dist_f_wstar_final",
    ),
}  # fmt: skip


#: Keys added since 0.1, after the old ones (report.json only gains keys).
MEASURED_KEYS_ADDED = {
    "obs-ngd": (
        "margin_fraction", "margin_lead", "approached_norm", "approached_reason",
        "norm_optimum", "norms_skipped", "eq4_residual_final", "gd_margin_fraction",
    ),
}  # fmt: skip


def test_measured_keys_are_those_of_report_json_0_1(judged):
    paper = judged["paper"]
    for tag, keys in MEASURED_KEYS_0_1.items():
        assert tuple(paper[tag].measured) == keys + MEASURED_KEYS_ADDED.get(tag, ()), tag


def test_report_md_details_are_lists_and_tables():
    lines = measured_markdown(
        {
            "lr": 0.5,
            "B": [1.0, 10.0],
            "excess": [0.25, 0.125],
            "norm": {"1000": 7.5, "10000": 14.25},
            "entropy_by_context_length": {"0": 2.0, "1": 1.0},
            "certification": {"steps": 7, "monotone": True, "lr": 0.25, "dist_tol": 0.01},
            "norms_skipped": {},
        }
    )
    assert "- norms_skipped: none" in lines
    assert "- lr: 0.5" in lines
    assert "| quantity | B = 1 | B = 10 |" in lines and "| excess | 0.25 | 0.125 |" in lines
    assert "| quantity | k = 1000 | k = 10000 |" in lines and "| norm | 7.5 | 14.25 |" in lines
    assert "| quantity | t = 0 | t = 1 |" in lines
    assert lines[lines.index("- certification:") + 1] == "  - steps: 7"


def test_report_md_shows_headlines_and_details_not_dict_dumps(tmp_path, analyses, judged):
    claims = list(judged["paper"].values())
    write_reports(tmp_path, analyses["paper"], claims, [], {"version": "test", "source": "s"})
    markdown = (tmp_path / "report.md").read_text()
    table = markdown[markdown.index("## Claims") : markdown.index("## Details")]
    for claim in claims:
        row = f"| {claim.id} | {claim.headline.replace('|', chr(92) + '|')} |"
        assert row in table, claim.id
        assert f"### {claim.id}: " in markdown
    assert "{" not in table  # the nested measurements are in the details, not the table
    assert "| quantity | B = " in markdown  # thm1's path, one column per norm
    document = json.loads((tmp_path / "report.json").read_text())
    assert [c["measured"] for c in document["claims"]] == [
        jsonable(dict(c.measured)) for c in claims
    ]


# -- issue 11: the observations measured in every norm ------------------------------------

OBSERVATIONS = ("obs-ngd", "obs-adam")


def _dual_norm_of_atoms(inst: NTPInstance, norm: str) -> float:
    """``max_i ||A_i||_*`` over the atoms ``A_i = (e_z - e_v) h_j^T`` (any z != v): a rank-one
    matrix with entries ``+-h_j`` in two rows, so its dual norms are closed-form."""
    H = inst.embeddings
    per_context = {
        "l2": np.sqrt(2.0) * np.linalg.norm(H, axis=1),  # Frobenius
        "max": 2.0 * np.abs(H).sum(axis=1),  # dual of max: entrywise sum
        "l1": np.abs(H).max(axis=1),  # dual of l1: entrywise max
        "spectral": np.sqrt(2.0) * np.linalg.norm(H, axis=1),  # nuclear of a rank-one matrix
    }[norm]
    return float(per_context.max())


@pytest.mark.parametrize("tag", OBSERVATIONS)
@pytest.mark.parametrize("name", ["paper", "spectral-too-large"])
def test_observations_report_each_norm_and_the_one_approached(analyses, judged, name, tag):
    a, claim = analyses[name], judged[name][tag]
    m = claim.measured
    fractions, skipped = m["margin_fraction"], m["norms_skipped"]
    # Every norm is measured or skipped with its reason, never both, never silently.
    assert set(fractions) | set(skipped) == set(NORMS) and not set(fractions) & set(skipped)
    assert all(isinstance(why, str) and why for why in skipped.values())
    expected_skips = {"paper": set(), "spectral-too-large": {"spectral"}}[name]
    assert set(skipped) == expected_skips
    if expected_skips:
        assert "V + rank H = 404 > 120" in skipped["spectral"]
    run = a.runs[tag.removeprefix("obs-")]
    for q, fraction in fractions.items():
        optimum = m["norm_optimum"][q]
        # Recomputed here from the stored q-optimal solution (its margin is 1 by construction,
        # so 1 / its normalised margin is its norm), to the rounding of two projections.
        scale = 1.0 / normalized_margin(a.inst, a.norms.solutions[q], q)
        assert scale == pytest.approx(optimum, rel=1e-9)
        assert fraction == pytest.approx(normalized_margin(a.inst, run.W, q) * scale, rel=1e-9)
        # A sane range: at most 1 up to the certificate's relative gap; at least
        # -max_i ||A_i||_* ||W_q||_q, since |<A_i, W>| <= ||A_i||_* ||W||.
        assert fraction <= 1.0 + a.norms.gaps[q] + 1e-12
        assert fraction >= -_dual_norm_of_atoms(a.inst, q) * optimum
    leads, approached = m["margin_lead"], m["approached_norm"]
    assert set(leads) == set(fractions)
    if approached is None:
        assert m["approached_reason"] and not any(v > 0 for v in leads.values())
    else:
        assert approached in fractions and leads[approached] == max(leads.values()) > 0
    # The headline digests the same numbers, norm by norm, then the approached norm.
    for q in NORMS:
        label = "spec" if q == "spectral" else q
        shown = f"{label} n/a" if q in skipped else f"{label} {fractions[q]:.3g}"
        assert shown in claim.headline, (q, claim.headline)
    assert f"-> {approached or 'none'};" in claim.headline
    assert claim.status == "observed"


def test_each_optimum_approaches_its_own_norm(analyses):
    """The readout on known answers: a run sitting at the q-optimal solution beats every
    other optimum in q (lead 1 - best rival > 0 when the optima differ, as on this
    instance) and no other norm, whose best rival includes that very solution (lead <= 0)."""
    a = analyses["paper"]
    norms = a.norms
    assert set(norms.solutions) == set(NORMS)
    for q, W in norms.solutions.items():
        start = train(a.inst, "gd", steps=0, init=W, record=[0], limits=False)
        measured = measure_run(a.inst, start, norms.optima, norms.cross)
        assert measured.approached == q, (q, measured)
        assert measured.fractions[q] == pytest.approx(1.0, abs=1e-9)


def test_norms_out_of_stage_budget_are_skipped_with_the_reason(analyses):
    a = analyses["paper"]
    # 1 ns cannot cover one solve: every norm beyond l2 is skipped, l2 (W^mm) is kept.
    short_of_time = norm_margins(a.inst, a.svm, "", a.runs, budget=1e-9)
    assert set(short_of_time.optima) == {"l2"}
    assert set(short_of_time.skipped) == {"max", "l1", "spectral"}
    assert all("stage budget" in why for why in short_of_time.skipped.values())
    assert "--stage-budget" in short_of_time.budget_note
    claims = {c.id: c for c in check_all(dataclasses.replace(a, norms=short_of_time))}
    for tag in OBSERVATIONS:
        m = claims[tag].measured
        # One norm cannot be told from the others: no approached norm, and the reason says so.
        assert m["approached_norm"] is None and "two norms" in m["approached_reason"]
        assert "max n/a" in claims[tag].headline and "-> none;" in claims[tag].headline


def test_a_projection_too_slow_for_the_budget_is_refused_up_front(analyses, monkeypatch):
    from ntpprops._limits import ProjectionCost
    from ntpprops.cli import _norms

    a = analyses["paper"]
    # A set-up of 1e12 flops (~1000 s at the assumed 1e9 flop/s) cannot fit a 10 s budget:
    # nothing is solved or measured, and the report says why.
    monkeypatch.setattr(_norms, "projection_cost", lambda inst: ProjectionCost(1e12, 0.0, 7))
    refused = norm_margins(a.inst, a.svm, "", a.runs, budget=10.0)
    assert refused.optima == {} and set(refused.skipped) == set(NORMS)
    assert "n_F = 7" in refused.budget_note and "--stage-budget" in refused.budget_note
    assert all(r.fractions == {} and r.approached is None for r in refused.runs.values())
    assert all(math.isfinite(r.eq4_residual) for r in refused.runs.values())  # norm-free


def test_no_norm_is_measured_without_a_max_margin_problem(judged):
    for tag in OBSERVATIONS:
        m = judged["non-separable"][tag].measured
        assert m["margin_fraction"] == {} and m["approached_norm"] is None
        assert set(m["norms_skipped"]) == set(NORMS)
        assert all("not NTP-separable" in why for why in m["norms_skipped"].values())
        assert judged["non-separable"][tag].headline.startswith("no norm optimum")
