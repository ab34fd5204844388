"""The ``ntpprops`` command line: inputs, exit codes, report schema, explore round trips.

Everything runs in-process through ``main([...])`` on tiny instances with ``--quick`` (and no
regularisation path or certification unless a test is about them); one subprocess test
checks the installed console script.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ntpprops import NTPInstance, SolverError
from ntpprops.cli import _analysis as analysis_module
from ntpprops.cli import main
from ntpprops.cli._inputs import load_npz, save_npz
from ntpprops.cli._progress import Progress
from ntpprops.cli.claims import STATUSES

#: Options that keep a verify run to about a second on a tiny instance.
FAST = ["--quick", "--no-plots", "--regpath-points", "0", "--certify-budget", "0"]

#: Every claim tag the report must carry (docs/theory.md's claims, then the observations).
CLAIM_IDS = {
    "def1",
    "def2",
    "def3",
    "lemma1",
    "remark1",
    "prop1",
    "lemma4",
    "genie",
    "descent",
    "thm1",
    "lemma2",
    "thm2",
    "fullsupport",
    "appc",
    "obs-ngd",
    "obs-adam",
}


def write_npz(path: Path, **arrays: object) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.fixture
def separable_npz(tmp_path: Path) -> Path:
    """d = 3 > m = 2 with rank H = 2: compatible and separable by Lemma 1."""
    return write_npz(
        tmp_path / "sep.npz",
        embeddings=np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]),
        probs=np.array([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]]),
        context_weights=np.array([1.0, 3.0]),
    )


@pytest.fixture
def non_separable_npz(tmp_path: Path) -> Path:
    """Two contexts with the same embedding and disjoint one-token supports.

    Separation would need ``w_0 . h > w_1 . h`` and ``w_1 . h > w_0 . h``: impossible. F = {0},
    so the instance is compatible; the best CE puts 1/2 on each token: ``inf CE - H = log 2``.
    """
    return write_npz(
        tmp_path / "nonsep.npz",
        embeddings=np.array([[1.0, 0.0], [1.0, 0.0]]),
        counts=np.array([[3, 0, 0], [0, 3, 0]]),
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def read_report(out_dir: Path) -> dict:
    return json.loads((out_dir / "report.json").read_text())


def claims_by_id(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["claims"]}


def assert_usage_error(status: int, err: str, *needles: str) -> None:
    """Exit 2, exactly one line on stderr naming the problem, no traceback."""
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- verify on data files -------------------------------------------------------------------


def test_verify_separable_data_passes_with_valid_schema(capsys, tmp_path, separable_npz):
    out_dir = tmp_path / "report"
    status, out, err = run(
        capsys, "verify", "--data", str(separable_npz), "--out", str(out_dir), *FAST
    )
    assert status == 0, out + err
    assert err == ""  # not a TTY: no progress bar
    report = read_report(out_dir)
    inst = report["instance"]
    expected_types = {
        "contexts": int,
        "vocab_size": int,
        "dim": int,
        "entropy": float,
        "compatible": bool,
        "separable": bool,
    }
    for key, kind in expected_types.items():
        assert isinstance(inst[key], kind), key
    assert (inst["contexts"], inst["vocab_size"], inst["dim"]) == (2, 3, 3)
    # H = pi_1 log 2 + pi_2 H(1/4, 3/4), pi = (1/4, 3/4), computed here by hand.
    h2 = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    assert inst["entropy"] == pytest.approx(0.25 * np.log(2) + 0.75 * h2, rel=1e-12)
    assert inst["compatible"] is True and inst["separable"] is True
    assert {c["id"] for c in report["claims"]} == CLAIM_IDS
    for claim in report["claims"]:
        assert set(claim) >= {"id", "statement", "status", "measured", "reason"}
        assert claim["status"] in STATUSES
        assert isinstance(claim["statement"], str) and claim["statement"]
        assert isinstance(claim["measured"], dict) and isinstance(claim["reason"], str)
        if claim["status"] == "not_applicable":
            assert claim["reason"], claim["id"]
    claims = claims_by_id(report)
    for tag in ("def1", "def2", "def3", "lemma1", "prop1", "lemma4", "genie", "descent"):
        assert claims[tag]["status"] == "passed", claims[tag]
    assert claims["obs-adam"]["status"] == "observed"
    assert claims["appc"]["status"] == "not_applicable"
    # The terminal table names every claim with its verdict.
    for tag in CLAIM_IDS:
        assert tag in out
    assert (out_dir / "report.md").read_text().count("| def1 |") == 1


def test_regularisation_path_and_certification_on_a_tiny_instance(capsys, tmp_path, separable_npz):
    out_dir = tmp_path / "r"
    status, out, err = run(
        capsys, "verify", "--data", str(separable_npz), "--out", str(out_dir), "--quick",
        "--no-plots", "--regpath-points", "3", "--certify-budget", "30",
    )  # fmt: skip
    assert status == 0, out + err
    claims = claims_by_id(read_report(out_dir))
    thm1 = claims["thm1"]
    assert thm1["status"] == "passed", thm1
    assert len(thm1["measured"]["B"]) == 3
    thm2 = claims["thm2"]
    assert thm2["status"] == "passed", thm2
    certification = thm2["measured"]["certification"]
    assert certification["monotone"] is True
    assert certification["step_rule"] == "analysed"  # the proven-safe step of Lemma 2


def test_verify_writes_plots_for_each_optimizer_and_2d_geometry(capsys, tmp_path):
    data = write_npz(
        tmp_path / "toy2d.npz",
        embeddings=np.array([[1.0, 0.0], [0.0, 1.0]]),
        probs=np.array([[0.5, 0.5, 0.0], [0.0, 0.4, 0.6]]),
    )
    out_dir = tmp_path / "r"
    status, out, err = run(
        capsys, "verify", "--data", str(data), "--out", str(out_dir), "--quick",
        "--regpath-points", "0", "--certify-budget", "0",
    )  # fmt: skip
    assert status == 0, out + err
    names = {p.name for p in out_dir.glob("*.png")}
    assert names == {"training_gd.png", "training_ngd.png", "training_adam.png", "geometry.png"}
    assert all((out_dir / n).stat().st_size > 1000 for n in names)
    files = {f["file"] for f in read_report(out_dir)["figures"]}
    assert files == names
    markdown = (out_dir / "report.md").read_text()
    assert all(f"({n})" in markdown for n in names)


def test_non_separable_data_marks_dependent_claims_not_applicable(
    capsys, tmp_path, non_separable_npz
):
    out_dir = tmp_path / "r"
    status, out, err = run(
        capsys, "verify", "--data", str(non_separable_npz), "--out", str(out_dir), *FAST
    )
    assert status == 0, out + err
    report = read_report(out_dir)
    assert report["instance"]["separable"] is False
    assert report["instance"]["compatible"] is True
    claims = claims_by_id(report)
    for tag in ("def3", "genie", "descent", "lemma2", "thm2", "thm1"):
        assert claims[tag]["status"] == "not_applicable", tag
        assert "separab" in claims[tag]["reason"], claims[tag]["reason"]
    # The evidence of non-separability is checked, and the converse of Proposition 1 holds.
    assert claims["def2"]["status"] == "passed"
    bound = claims["def2"]["measured"]["separator_norm_lower_bound"]
    assert bound == "inf" or bound > 0  # JSON spells an infinite bound "inf"
    prop1 = claims["prop1"]
    assert prop1["status"] == "passed" and "not separable" in prop1["reason"]
    # inf CE - H = log 2 here (see the fixture): GD's excess cannot go below it.
    final = list(prop1["measured"]["excess_at_step"].values())[-1]
    assert final >= np.log(2) * (1 - 1e-12)


def test_incompatible_data_reports_certificate(capsys, tmp_path):
    # Same ray, shared tokens {0, 1} with ratios 1 and 1/4: Eq. 4 needs w.h = 0 and w.2h = log 4.
    data = write_npz(
        tmp_path / "incompat.npz",
        embeddings=np.array([[1.0], [2.0]]),
        probs=np.array([[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]]),
    )
    out_dir = tmp_path / "r"
    status, out, err = run(capsys, "verify", "--data", str(data), "--out", str(out_dir), *FAST)
    assert status == 0, out + err
    report = read_report(out_dir)
    assert report["instance"]["compatible"] is False
    claims = claims_by_id(report)
    assert claims["def1"]["status"] == "passed"
    assert claims["def1"]["measured"]["solution_norm_lower_bound"] > 0
    for tag in ("lemma4", "genie", "lemma2", "thm2"):
        assert claims[tag]["status"] == "not_applicable"
        assert "compatib" in claims[tag]["reason"]


def test_a_wrong_w_star_fails_def1_and_exits_1(capsys, tmp_path, separable_npz, monkeypatch):
    """Gating: feed the checks a W* that is off by 1e-3 in F; Eq. 4 then fails to 1e-3."""
    real = analysis_module.is_compatible

    def wrong(inst: NTPInstance):
        result = real(inst)
        shifted = result.w_star + 1e-3 * np.linalg.norm(result.w_star) * _unit_f_direction(inst)
        return type(result)(True, shifted, result.residual, None, 0.0, result.f_dim)

    monkeypatch.setattr(analysis_module, "is_compatible", wrong)
    out_dir = tmp_path / "r"
    status, out, _ = run(
        capsys, "verify", "--data", str(separable_npz), "--out", str(out_dir), *FAST
    )
    assert status == 1
    claims = claims_by_id(read_report(out_dir))
    assert claims["def1"]["status"] == "failed"
    assert read_report(out_dir)["exit_status"] == 1
    assert "FAIL" in out


@pytest.fixture
def dip_npz(tmp_path: Path) -> Path:
    """The property suite's instance on which ``cos(W_B, W^mm)`` is not monotone in ``B``.

    ``H = I_2``, ``p_1 = (1, 0)``, ``p_2 = (1/3, 2/3)``, ``pi = (2/3, 1/3)``: the cosine falls
    from 0.985 at ``B = 0.1`` to 0.975 at ``B = 1.6`` before rising to 1.
    """
    return write_npz(
        tmp_path / "dip.npz",
        embeddings=np.eye(2),
        probs=np.array([[1.0, 0.0], [1 / 3, 2 / 3]]),
        context_weights=np.array([2 / 3, 1 / 3]),
    )


#: Runs the regularisation path (4 points) and GD but no certification: ~1 s on ``dip_npz``.
PATH_ONLY = ["--quick", "--no-plots", "--regpath-points", "4", "--certify-budget", "0"]


def test_thm1_passes_on_the_default_grid_of_the_dip_instance(capsys, tmp_path, dip_npz):
    out_dir = tmp_path / "r"
    status, out, err = run(
        capsys, "verify", "--data", str(dip_npz), "--out", str(out_dir), *PATH_ONLY
    )
    assert status == 0, out + err
    claims = claims_by_id(read_report(out_dir))
    for tag in ("thm1", "thm2"):
        assert claims[tag]["status"] == "passed", claims[tag]
        assert claims[tag]["measured"]["all_within_proven_bounds"] is True


def passing_thm1(capsys: pytest.CaptureFixture[str], out_dir: Path, data: Path) -> dict:
    """Run verify with the path on ``data``: it must exit 0 with thm1 passed; that claim."""
    status, out, err = run(capsys, "verify", "--data", str(data), "--out", str(out_dir), *PATH_ONLY)
    assert status == 0, out + err
    thm1 = claims_by_id(read_report(out_dir))["thm1"]
    assert thm1["status"] == "passed", thm1
    return thm1


def test_thm1_judges_a_matrix_free_path_by_its_own_accuracy(capsys, tmp_path, dip_npz, monkeypatch):
    # Real text takes the matrix-free path (V rank H > 1500), accurate to MF_KKT_RTOL = 1e-9,
    # not to the dense 1e-11 steps: thm1 must pass it on the same instance and grid.
    from ntpprops import _regpath

    monkeypatch.setattr(_regpath, "DENSE_MAX_COORDINATES", 0)
    thm1 = passing_thm1(capsys, tmp_path / "r", dip_npz)
    assert max(thm1["measured"]["kkt_residual"]) > 0  # a real residual, not a dense zero


def test_thm1_does_not_gate_on_a_cosine_that_falls_with_b(capsys, tmp_path, dip_npz, monkeypatch):
    """On ``B`` in [0.1, 1.6] the cosine only falls: a trend gate fails, the proven bound not.

    The grid is injected so the path covers the dip; the verdict must rest on ``||W_B|| = B``,
    KKT and ``cos >= alignment_lower_bound``, and the reason must say the trend is reported.
    """
    monkeypatch.setattr(analysis_module, "regpath_norms", lambda w, n: np.geomspace(0.1, 1.6, 4))
    thm1 = passing_thm1(capsys, tmp_path / "r", dip_npz)
    gap = np.array(thm1["measured"]["one_minus_cos"])
    assert np.all(np.diff(gap) > 0), gap  # the instance really dips on this grid
    assert "not monotonicity" in thm1["reason"]
    assert "reported, not gating" in thm1["reason"]


@pytest.mark.parametrize(
    ("corrupt", "tags"),
    [
        pytest.param(lambda W: 1.01 * W, ("thm1",), id="norm-1pct-high"),
        pytest.param(lambda W: W[:, ::-1].copy(), ("thm1", "thm2"), id="columns-swapped"),
        # ||W_k|| >= ||W^mm|| G(excess): a W^mm 1.5 times too long asks more than GD has.
        pytest.param(lambda W: 1.5 * W, ("thm1", "thm2", "lemma2"), id="norm-50pct-high"),
    ],
)
def test_a_wrong_w_mm_fails_thm1_and_thm2(capsys, tmp_path, dip_npz, monkeypatch, corrupt, tags):
    """The gate can fail: a W^mm 1% too long, or pointing elsewhere, violates the proven bound.

    The bound scales with ``||W^mm||`` and is within 1e-6 of the measured cosine at the
    largest ``B`` here, so a 1% scale error exceeds the 3e-4 tolerance (2 QP_RTOL + ...). The
    300 quick GD steps leave their bound ~1e-2 below the cosine: only a wrong direction shows.
    """
    real = analysis_module.ntp_svm_result

    def wrong(inst: NTPInstance):
        result = real(inst)
        return dataclasses.replace(result, W=corrupt(np.asarray(result.W)))

    monkeypatch.setattr(analysis_module, "ntp_svm_result", wrong)
    out_dir = tmp_path / "r"
    status, _, _ = run(capsys, "verify", "--data", str(dip_npz), "--out", str(out_dir), *PATH_ONLY)
    assert status == 1
    claims = claims_by_id(read_report(out_dir))
    for tag in tags:
        assert claims[tag]["status"] == "failed", claims[tag]
    for tag in set(tags) - {"lemma2"}:
        assert claims[tag]["measured"]["all_within_proven_bounds"] is False
        assert "below its proven lower bound" in claims[tag]["reason"]
    if "lemma2" in tags:
        assert "fell below the norm its excess loss forces" in claims["lemma2"]["reason"]


def _unit_f_direction(inst: NTPInstance) -> np.ndarray:
    """``(e_a - e_b) h_0^T`` for two support tokens of context 0, normalised: a vector of F."""
    a, b = np.flatnonzero(inst.supports[0])[:2]
    direction = np.zeros(inst.weight_shape)
    direction[a] += inst.embeddings[0]
    direction[b] -= inst.embeddings[0]
    return direction / np.linalg.norm(direction)


def test_one_hot_data_check_remark1_against_crammer_singer(capsys, tmp_path):
    data = write_npz(
        tmp_path / "onehot.npz",
        embeddings=np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]),
        counts=np.array([[2, 0, 0], [0, 5, 0], [0, 0, 1]]),
    )
    out_dir = tmp_path / "r"
    status, out, err = run(capsys, "verify", "--data", str(data), "--out", str(out_dir), *FAST)
    assert status == 0, out + err
    remark1 = claims_by_id(read_report(out_dir))["remark1"]
    assert remark1["status"] == "passed", remark1
    assert remark1["measured"]["entropy"] == 0 and remark1["measured"]["f_dim"] == 0
    # cvxpy's Clarabel vs the package's active-set solver: both to ~1e-8 relative.
    assert remark1["measured"]["relative_gap_to_crammer_singer"] < 1e-5


def test_full_supports_converge_to_w_star_plus_initial_perp_part(capsys, tmp_path):
    data = write_npz(
        tmp_path / "full.npz", embeddings=np.eye(2), probs=np.array([[0.5, 0.5], [0.2, 0.8]])
    )
    out_dir = tmp_path / "r"
    status, out, err = run(capsys, "verify", "--data", str(data), "--out", str(out_dir), *FAST)
    assert status == 0, out + err
    claims = claims_by_id(read_report(out_dir))
    assert claims["fullsupport"]["status"] == "passed"
    for tag in ("prop1", "def3", "genie", "lemma2", "thm2"):
        assert claims[tag]["status"] == "not_applicable"
        assert "every support is full" in claims[tag]["reason"]


def test_undecided_separability_is_reported_not_guessed(
    capsys, tmp_path, non_separable_npz, monkeypatch
):
    # A separability solver that runs out of budget: verify must finish, train every optimizer,
    # say "undecided" and keep every claim that needs the verdict in the report, with why.
    def undecided(inst, max_seconds=None):
        raise SolverError("out of budget: every separator has ||W|| >= 12")

    monkeypatch.setattr(analysis_module, "is_separable", undecided)
    out_dir = tmp_path / "r"
    status, out, err = run(capsys, "verify", "--data", str(non_separable_npz),
                           "--out", str(out_dir), *FAST)  # fmt: skip
    assert status == 0, out + err
    assert "separable = undecided" in out and "out of budget" in out
    report = read_report(out_dir)
    assert report["instance"]["separable"] is None
    assert "out of budget" in report["instance"]["separability_note"]
    claims = claims_by_id(report)
    assert set(claims) == CLAIM_IDS  # nothing silently dropped
    for tag in ("def2", "def3", "prop1", "descent", "thm2"):
        assert claims[tag]["status"] == "not_applicable", tag
        assert "undecided" in claims[tag]["reason"] and "||W|| >= 12" in claims[tag]["reason"]
    assert set(report["timings_seconds"]) >= {"training gd", "training ngd", "training adam"}


def test_separable_by_a_separator_reports_the_bracket_without_w_mm(capsys, tmp_path, monkeypatch):
    # Beyond the dense solver (forced here) separability is decided by a separator of the dual
    # ascent: verify must use the verdict, not solve W^mm, and say why W^mm's claims are n/a.
    from _builders import random_support_instance

    import ntpprops._svm_active as active

    monkeypatch.setattr(active, "DENSE_MAX_ENTRIES", 10.0)
    inst = random_support_instance(30, 8, 20, 2, seed=3)  # rank 20 < 30, separable
    solved = []
    monkeypatch.setattr(analysis_module, "ntp_svm_result", lambda *a, **k: solved.append(1) or None)
    data = write_npz(tmp_path / "lowrank.npz", embeddings=inst.embeddings, probs=inst.probs)
    out_dir = tmp_path / "r"
    import matplotlib.axes

    texts: list[str] = []
    real_text = matplotlib.axes.Axes.text
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "text",
        lambda self, x, y, s, *a, **k: texts.append(s) or real_text(self, x, y, s, *a, **k),
    )
    with_plots = [arg for arg in FAST if arg != "--no-plots"]
    status, out, err = run(
        capsys, "verify", "--data", str(data), "--out", str(out_dir), *with_plots
    )
    assert status == 0, out + err
    assert not solved
    # Each training plot's alignment panel says W^mm was not solved, not "not defined".
    assert texts.count("W^mm not solved\nat this size (see report)") == 3
    assert "separability: by a checked separator" in out
    report = read_report(out_dir)
    facts = report["instance"]
    assert facts["separable"] is True and facts["norm_w_mm"] is None
    assert 0.0 < facts["margin"] <= facts["margin_upper"]
    claims = claims_by_id(report)
    assert claims["def2"]["status"] == "passed"
    for tag in ("def3", "thm2"):
        assert claims[tag]["status"] == "not_applicable", tag
        assert "separator of the dual ascent" in claims[tag]["reason"], tag


def test_training_plot_says_w_mm_was_not_solved_rather_than_undefined(tmp_path):
    # When a separator decided separability, W^mm exists but was not computed: the alignment
    # panel must not claim it is "not defined for this instance".
    import matplotlib.axes

    from ntpprops import train
    from ntpprops.cli._plots import plot_training

    inst = NTPInstance(np.eye(2), np.array([[1.0, 0.0], [0.0, 1.0]]))
    run = train(inst, method="gd", steps=3, limits=False)
    texts: list[str] = []
    real = matplotlib.axes.Axes.text

    def record(self, x, y, s, *args, **kwargs):
        texts.append(s)
        return real(self, x, y, s, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matplotlib.axes.Axes, "text", record)
        plot_training(run, tmp_path / "a.png", "GD", "W^mm not solved\nat this size")
        plot_training(run, tmp_path / "b.png", "GD")
    assert texts.count("W^mm not solved\nat this size") == 1
    assert (
        "not defined\nfor this instance"
        in texts[texts.index("W^mm not solved\nat this size") + 1 :]
    )
    assert (tmp_path / "a.png").stat().st_size > 0


def test_stage_budget_scales_training_down_and_says_so(capsys, tmp_path, separable_npz):
    out_dir = tmp_path / "r"
    # 1e-9 s per stage cannot hold 300 steps: each optimizer runs the probe's 20 steps.
    status, out, err = run(capsys, "verify", "--data", str(separable_npz), "--out", str(out_dir),
                           *FAST, "--norms", "--stage-budget", "1e-9")  # fmt: skip
    assert status in (0, 1), out + err
    report = read_report(out_dir)
    scaled = report["scaled_stages"]
    training = {"training gd", "training ngd", "training adam"}
    # The W^mm re-solve of def3's control would take as long as the NTP-SVM: skipped too,
    # and so are the NTP-SVMs in the norms beyond l2 (issue 11).
    assert set(scaled) == training | {"controls (def3)", "norm optima"}
    assert all(scaled[stage].startswith("20 of 300 steps") for stage in training), scaled
    assert scaled["norm optima"].startswith("max, l1, spectral not solved"), scaled
    def3 = claims_by_id(report)["def3"]
    assert def3["measured"]["relative_change_other_pi_and_p"] is None
    assert "skipped" in def3["reason"] and "--stage-budget" in def3["reason"]
    assert "scaled down to fit the stage budget" in out
    assert "Stages scaled down" in (out_dir / "report.md").read_text()


def test_time_budget_shares_its_total_among_the_stages(capsys, tmp_path, separable_npz):
    out_dir = tmp_path / "r"
    # No stage cap, but a total of 1e-9 s: every training run gets the 1 s floor at most
    # (MIN_STAGE_SECONDS), far short of 1e9 probe-timed steps, and the notes name the total.
    status, out, err = run(capsys, "verify", "--data", str(separable_npz), "--out", str(out_dir),
                           *FAST, "--steps", "1000000000", "--stage-budget", "0",
                           "--time-budget", "1e-9")  # fmt: skip
    assert status in (0, 1), out + err
    scaled = read_report(out_dir)["scaled_stages"]
    for stage in ("training gd", "training ngd", "training adam"):
        assert "of 1000000000 steps" in scaled[stage], scaled
        assert "over the 1 s stage budget" in scaled[stage] and "--time-budget" in scaled[stage]


def test_quick_skips_the_norm_stage_and_the_rows_say_so(capsys, tmp_path, separable_npz):
    reports = {}
    for extra in ([], ["--norms"]):
        out_dir = tmp_path / f"r{len(extra)}"
        status, out, err = run(capsys, "verify", "--data", str(separable_npz),
                               "--out", str(out_dir), *FAST, *extra)  # fmt: skip
        assert status == 0, out + err
        reports[bool(extra)] = read_report(out_dir)
    quick, asked = reports[False], reports[True]
    assert "norm optima" not in quick["timings_seconds"]
    assert "norm optima" in asked["timings_seconds"]
    for tag in ("obs-ngd", "obs-adam"):
        measured = claims_by_id(quick)[tag]["measured"]
        assert measured["margin_fraction"] == {} and measured["approached_norm"] is None
        assert set(measured["norms_skipped"]) == {"l2", "max", "l1", "spectral"}
        assert all(
            "--quick" in why and "--norms" in why for why in measured["norms_skipped"].values()
        )
        assert "n/a" in claims_by_id(quick)[tag]["summary"]
        # The same key set either way (only the values say what ran).
        assert set(measured) == set(claims_by_id(asked)[tag]["measured"])
        assert set(claims_by_id(asked)[tag]["measured"]["margin_fraction"]) >= {"l2", "max"}


def test_stage_budget_shortens_the_path_and_thm1_judges_what_ran(capsys, tmp_path, dip_npz):
    out_dir = tmp_path / "r"
    status, out, err = run(capsys, "verify", "--data", str(dip_npz), "--out", str(out_dir),
                           *PATH_ONLY, "--stage-budget", "1e-9")  # fmt: skip
    assert status == 0, out + err
    report = read_report(out_dir)
    assert report["scaled_stages"]["regularisation path"].startswith("1 of 4 norms")
    thm1 = claims_by_id(report)["thm1"]
    assert thm1["status"] == "passed" and len(thm1["measured"]["B"]) == 1, thm1


def test_a_path_out_of_budget_is_reported_not_fatal(capsys, tmp_path, dip_npz, monkeypatch):
    from ntpprops import _regpath

    monkeypatch.setattr(_regpath, "DENSE_MAX_COORDINATES", 0)  # the matrix-free Newton
    out_dir = tmp_path / "r"
    status, out, err = run(capsys, "verify", "--data", str(dip_npz), "--out", str(out_dir),
                           *PATH_ONLY, "--stage-budget", "1e-9")  # fmt: skip
    assert status == 0, out + err
    report = read_report(out_dir)
    assert report["scaled_stages"]["regularisation path"].startswith("0 of 4 norms")
    thm1 = claims_by_id(report)["thm1"]
    assert thm1["status"] == "not_applicable" and "max_seconds" in thm1["reason"], thm1


def test_certification_that_cannot_reach_a_checkpoint_is_skipped_and_listed(
    capsys, tmp_path, separable_npz
):
    # 2048 GD steps cannot fit in a microsecond: no overrun, the stage is listed instead.
    out_dir = tmp_path / "r"
    status, out, err = run(capsys, "verify", "--data", str(separable_npz), "--out", str(out_dir),
                           "--quick", "--no-plots", "--regpath-points", "0",
                           "--certify-budget", "1e-6")  # fmt: skip
    assert status == 0, out + err
    report = read_report(out_dir)
    assert report["scaled_stages"]["certifying Theorem 2"].startswith("skipped: its first")
    assert "certifying Theorem 2" not in report["timings_seconds"]


def test_no_stage_budget_runs_every_step(capsys, tmp_path, separable_npz):
    out_dir = tmp_path / "r"
    status, out, err = run(capsys, "verify", "--data", str(separable_npz), "--out", str(out_dir),
                           *FAST, "--stage-budget", "0")  # fmt: skip
    assert status == 0, out + err
    assert read_report(out_dir)["scaled_stages"] == {}
    assert "scaled down" not in out


def test_thm2_with_thinned_distances(capsys, tmp_path, separable_npz, monkeypatch):
    # On large instances train() leaves ||P_F W_k - W*|| nan where it thinned the metric: thm2
    # must judge the measured points only, say so, and report no number for the others.
    real = analysis_module.train

    def thinned(inst, method="gd", **kwargs):
        result = real(inst, method, **kwargs)
        if method != "gd" or result.dist_f_wstar is None:
            return result
        dist = np.array(result.dist_f_wstar)
        dist[:-1] = np.nan
        notes = {"dist_f_wstar": "thinned in this test"}
        return dataclasses.replace(result, dist_f_wstar=dist, metric_notes=notes)

    monkeypatch.setattr(analysis_module, "train", thinned)
    out_dir = tmp_path / "r"
    status, out, err = run(capsys, "verify", "--data", str(separable_npz),
                           "--out", str(out_dir), *FAST)  # fmt: skip
    assert status == 0, out + err
    thm2 = claims_by_id(read_report(out_dir))["thm2"]
    assert thm2["status"] == "passed", thm2
    assert "measured at 1 of" in thm2["reason"] and "thinned in this test" in thm2["reason"]
    first, final = thm2["measured"]["dist_P_F_W_to_w_star"].values()
    assert first is None and final is not None and final >= 0


# -- corpora --------------------------------------------------------------------------------


def test_verify_corpus_of_words_checks_shannon(capsys, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\nthe dog sat on the log\na cat\n\n")
    out_dir = tmp_path / "r"
    status, out, err = run(
        capsys, "verify", "--corpus", str(corpus), "--context-length", "2",
        "--out", str(out_dir), *FAST,
    )  # fmt: skip
    assert status == 0, out + err
    report = read_report(out_dir)
    appc = claims_by_id(report)["appc"]
    assert appc["status"] == "passed"
    entropies = list(appc["measured"]["entropy_by_context_length"].values())
    assert len(entropies) == 3 and entropies[0] >= entropies[1] >= entropies[2]
    # Windows of 2 words: 4 + 4 events in the two long lines; "a cat" is too short and dropped.
    assert appc["measured"]["prediction_events"] == 8
    assert appc["measured"]["events_in_instance"] == 8
    # one-hot embedding: d = m distinct contexts, so Lemma 1 does not apply (needs d > m).
    assert claims_by_id(report)["lemma1"]["status"] == "not_applicable"


def test_verify_corpus_with_a_one_token_line(capsys, tmp_path):
    # A one-token line has no prediction event, so it must change no H_t (it used to make
    # the entropy computation raise, ending verify on real texts such as GPL-3).
    entropies = []
    for extra in ("", "hello\n"):
        corpus = tmp_path / f"corpus{len(extra)}.txt"
        corpus.write_text("the cat sat on the mat\n" + extra + "the dog sat on the log\n")
        out_dir = tmp_path / f"r{len(extra)}"
        status, out, err = run(
            capsys, "verify", "--corpus", str(corpus), "--context-length", "1",
            "--out", str(out_dir), *FAST,
        )  # fmt: skip
        assert status == 0, out + err
        appc = claims_by_id(read_report(out_dir))["appc"]["measured"]
        entropies.append(appc["entropy_by_context_length"])
    assert entropies[0] == entropies[1]


def test_verify_corpus_of_chars_with_gaussian_embedding(capsys, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abab\nabba\n")
    out_dir = tmp_path / "r"
    status, out, err = run(
        capsys, "verify", "--corpus", str(corpus), "--context-length", "1", "--tokens",
        "chars", "--embedding", "gaussian", "--dim", "4", "--out", str(out_dir), *FAST,
    )  # fmt: skip
    assert status == 0, out + err
    inst = read_report(out_dir)["instance"]
    # Contexts "a" and "b"; tokens {a, b}; d = 4 > m = 2: Lemma 1 applies.
    assert (inst["contexts"], inst["vocab_size"], inst["dim"]) == (2, 2, 4)
    assert claims_by_id(read_report(out_dir))["lemma1"]["status"] == "passed"


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrays", "needle"),
    [
        ({"embeddings": np.eye(2)}, "probs' or 'counts'"),
        ({"probs": np.full((2, 2), 0.5)}, "embeddings"),
        ({"embeddings": np.eye(2), "probs": np.full((2, 2), 0.5), "prob": np.eye(2)}, "unknown"),
        (
            {"embeddings": np.eye(2), "probs": np.full((2, 2), 0.5), "counts": np.ones((2, 2))},
            "both",
        ),
        (
            {"embeddings": np.array([[1.0, np.nan], [0, 1]]), "probs": np.full((2, 2), 0.5)},
            "non-finite",
        ),
        ({"embeddings": np.eye(2), "probs": np.array([[0.5, 0.6], [0.5, 0.5]])}, "sum"),
        ({"embeddings": np.eye(3), "probs": np.full((2, 2), 0.5)}, "rows"),
    ],
    ids=["no-probs", "no-embeddings", "unknown-key", "both", "nan", "not-normalised", "shapes"],
)
def test_bad_data_files_exit_2_with_one_line(capsys, tmp_path, arrays, needle):
    data = write_npz(tmp_path / "bad.npz", **arrays)
    status, _, err = run(capsys, "verify", "--data", str(data), "--out", str(tmp_path / "r"), *FAST)
    assert_usage_error(status, err, needle)
    assert not (tmp_path / "r" / "report.json").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["verify", "--data", "missing.npz"], "not found"),
        (["verify", "--corpus", "missing.txt", "--context-length", "1"], "not found"),
        (["verify", "--context-length", "2"], "--corpus"),
        (["verify", "--steps", "0"], "--steps"),
        (["verify", "--stage-budget", "-1"], "--stage-budget"),
        (["verify", "--stage-budget", "nan"], "--stage-budget"),
        (["verify", "--time-budget", "-1"], "--time-budget"),
        (["verify", "--time-budget", "nan"], "--time-budget"),
        (["verify", "--tokens", "bytes"], "invalid choice"),
        (["verify", "--data", "a.npz", "--corpus", "b.txt"], "not allowed"),
        (["explore", "no-such-conjecture"], "unknown conjecture"),
        (["explore"], "CONJECTURE"),
        (["explore", "--list", "--max-examples", "x"], "invalid int"),
        (["frobnicate"], "invalid choice"),
        ([], "give a command"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, list) else None,
)
def test_usage_errors_exit_2_with_one_line(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, *argv)
    assert_usage_error(status, err, needle)


def test_a_file_that_is_not_an_npz_archive_exits_2(capsys, tmp_path):
    text = tmp_path / "data.npz"
    text.write_text("embeddings,probs\n")
    status, _, err = run(capsys, "verify", "--data", str(text))
    assert_usage_error(status, err, "not an .npz archive")
    npy = tmp_path / "array.npy"
    np.save(npy, np.eye(2))
    status, _, err = run(capsys, "verify", "--data", str(npy))
    assert_usage_error(status, err, "not an .npz archive")


def test_corpus_needs_context_length_and_lines_long_enough(capsys, tmp_path):
    corpus = tmp_path / "short.txt"
    corpus.write_text("a b\nc\n")
    status, _, err = run(capsys, "verify", "--corpus", str(corpus))
    assert_usage_error(status, err, "--context-length")
    status, _, err = run(capsys, "verify", "--corpus", str(corpus), "--context-length", "3")
    assert_usage_error(status, err, "K = 3")
    status, _, err = run(
        capsys, "verify", "--corpus", str(corpus), "--context-length", "1", "--embedding",
        "gaussian",
    )  # fmt: skip
    assert_usage_error(status, err, "--dim")


# -- npz round trip, progress ---------------------------------------------------------------


def test_save_and_load_npz_round_trip(tmp_path):
    inst = NTPInstance(
        np.array([[1.0, -2.0]]),
        np.array([[0.25, 0.75, 0.0]]),
        token_labels=["x", "y", "z"],
    )
    path = save_npz(inst, tmp_path / "inst")
    assert path.suffix == ".npz"
    back = load_npz(path)
    assert back == inst and back.token_labels == ("x", "y", "z")


def test_progress_bar_only_on_a_tty():
    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty, self.text = tty, ""

        def isatty(self) -> bool:
            return self.tty

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    for tty in (True, False):
        stream = Stream(tty)
        bar = Progress(2, stream=stream, width=4)  # type: ignore[arg-type]
        bar.stage("one")
        bar.stage("two", 41.6)
        bar.close()
        assert ("[####] 2/2 done" in stream.text) is tty
        assert ("two, stage ETA ~42 s" in stream.text) is tty
        assert (stream.text == "") is not tty


# -- explore --------------------------------------------------------------------------------


def test_explore_list_names_every_conjecture(capsys):
    status, out, _ = run(capsys, "explore", "--list")
    assert status == 0
    for name in (
        "separable-needs-d-ge-m",
        "d-ge-m-implies-separable",
        "lemma1-overparameterised",
        "adam-aligns-with-wmm",
    ):
        assert name in out


def test_explore_false_conjecture_saves_a_counterexample_that_verify_reads(capsys, tmp_path):
    saved = tmp_path / "cex.npz"
    status, out, err = run(
        capsys, "explore", "d-ge-m-implies-separable", "--seed", "0", "--max-examples", "100",
        "--save", str(saved),
    )  # fmt: skip
    assert status == 0, err
    assert "counterexample" in out and "NTPInstance(" in out
    inst = load_npz(saved)
    assert inst.dim >= inst.m  # the saved instance satisfies the hypothesis ...
    out_dir = tmp_path / "r"
    status, out, err = run(capsys, "verify", "--data", str(saved), "--out", str(out_dir), *FAST)
    assert status == 0, out + err
    report = read_report(out_dir)
    assert report["instance"]["separable"] is False  # ... and verify confirms the conclusion
    assert claims_by_id(report)["def2"]["status"] == "passed"  # fails, with a checked certificate.
    assert (report["instance"]["contexts"], report["instance"]["dim"]) == (inst.m, inst.dim)
    assert report["instance"]["entropy"] == inst.entropy


def test_explore_true_conjecture_reports_none_found(capsys):
    status, out, _ = run(
        capsys, "explore", "lemma1-overparameterised", "--seed", "1", "--max-examples", "30"
    )
    assert status == 0
    assert "no counterexample found within 30 examples" in out


# -- the installed console script -----------------------------------------------------------


def test_console_script_smoke(tmp_path, separable_npz):
    script = Path(sys.executable).with_name("ntpprops")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ntpprops"]
    done = subprocess.run(
        [*command, "verify", "--data", str(separable_npz), "--out", str(tmp_path / "r"), *FAST],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""  # stderr is a pipe, not a TTY: no progress bar
    assert (tmp_path / "r" / "report.json").exists()
    bad = subprocess.run(
        [*command, "verify", "--data", str(tmp_path / "nope.npz")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
