"""The limits mechanism (ntpprops._limits) and how ``train`` measures against it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
from _builders import random_instance
from _oracles import dense_w_star, naive_ce, project_f_dense
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ntpprops.strategies import separable_instances, weight_matrices

import ntpprops
import ntpprops._compat as compat_module
import ntpprops._optim as optim_module
import ntpprops._svm as svm_module
from ntpprops import Limits, NTPInstance, train
from ntpprops._errors import (
    InvalidInstanceError,
    NotCompatibleError,
    NotSeparableError,
    SolverError,
)
from ntpprops._limits import LimitMetrics, limit_metrics


def fresh(inst: NTPInstance) -> NTPInstance:
    """The same data as a new object: nothing solved is cached on it."""
    return NTPInstance(inst.embeddings, inst.probs, inst.context_weights)


def forbid_solvers(monkeypatch) -> None:
    """Make every solver of a limit fail the test if it is called."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a limit solver was called")

    for module, name in [
        (compat_module, "w_star"),
        (compat_module, "is_compatible"),
        (svm_module, "ntp_svm"),
        (svm_module, "ntp_svm_result"),
    ]:
        monkeypatch.setattr(module, name, forbidden)


def cos(a: np.ndarray, b: np.ndarray) -> float:
    """Frobenius cosine from the definition (nan for a zero argument)."""
    na, nb = np.linalg.norm(a.ravel()), np.linalg.norm(b.ravel())
    return math.nan if na == 0 or nb == 0 else float(np.dot(a.ravel(), b.ravel()) / (na * nb))


def close(actual: float, expected: float, tol: float) -> bool:
    """Equal within ``tol``, or both nan; a nan on one side only is a failure."""
    if math.isnan(expected):
        return math.isnan(actual)
    return abs(actual - expected) <= tol


# Two orthogonal contexts, each followed by its own token: W* = 0 (F = {0}) and, by hand,
# W^mm = [[.5, -.5], [-.5, .5]] (margins W_00 - W_10 >= 1, W_11 - W_01 >= 1 at least norm).
ONE_HOT = NTPInstance(np.eye(2), np.eye(2))
HAND_W_MM = np.array([[0.5, -0.5], [-0.5, 0.5]])


# -- limits passed in ---------------------------------------------------------------------------


def test_given_limits_are_used_and_no_solver_runs(monkeypatch):
    inst = random_instance(0)
    star, mm = ntpprops.w_star(inst), ntpprops.ntp_svm(inst)
    target = fresh(inst)
    forbid_solvers(monkeypatch)
    limits = Limits.of(target, w_star=star, w_mm=mm)
    assert limits.limit("w_star").source == limits.limit("w_mm").source == "given"
    assert repr(limits) == "Limits(w_star: given, w_mm: given)"
    result = train(target, "gd", steps=20, limits=limits)
    assert result.limits is limits and not result.metric_notes
    np.testing.assert_array_equal(result.w_star, star)
    np.testing.assert_array_equal(result.w_mm, mm)
    assert close(result.cos_mm[-1], cos(result.W, mm), 1e-12)
    assert close(result.cos_mm_corrected[-1], cos(result.W - star, mm), 1e-12)


def test_given_limits_are_private_read_only_copies():
    given_mm = HAND_W_MM.copy()
    limits = Limits.of(ONE_HOT, w_mm=given_mm)
    given_mm[0, 0] = 7.0
    np.testing.assert_array_equal(limits.w_mm, HAND_W_MM)
    with pytest.raises(ValueError):
        limits.w_mm[0, 0] = 1.0


def test_certify_uses_the_given_limits(monkeypatch):
    forbid_solvers(monkeypatch)
    limits = Limits.of(ONE_HOT, w_star=np.zeros((2, 2)), w_mm=HAND_W_MM)
    report = ntpprops.certify_gd_bias(ONE_HOT, init=None, limits=limits, backend="numpy")
    assert report  # from W0 = 0, GD stays on the ray of W^mm: certified exactly


# -- limits that are missing ------------------------------------------------------------------


def test_failing_svm_solver_leaves_metrics_none_with_reason_and_training_runs(monkeypatch):
    inst = random_instance(1)
    calls = []

    def failing(inst, **kwargs):
        calls.append(1)
        raise SolverError("active set did not converge in the budget")

    monkeypatch.setattr(svm_module, "ntp_svm", failing)
    result = train(inst, "gd", steps=30)
    assert result.cos_mm is None and result.cos_mm_corrected is None and result.w_mm is None
    note = result.metric_notes["cos_mm"]
    assert "solver failed" in note and "did not converge in the budget" in note
    assert result.limits.w_mm_reason == note
    assert "did not converge" in result.metric_notes["cos_mm_corrected"]
    assert result.dist_f_wstar is not None and np.all(np.isfinite(result.dist_f_wstar))
    assert "dist_f_wstar" not in result.metric_notes
    with pytest.raises(SolverError, match="did not converge"):
        result.limits.require_w_mm()
    # The failure is cached: reading it again, or training with the same limits, re-solves
    # nothing.
    again = train(inst, "gd", steps=30, limits=result.limits)
    assert result.limits.w_mm_reason and len(calls) == 1
    # Training itself was not affected by the failed limit.
    bare = train(inst, "gd", steps=30, limits=False)
    np.testing.assert_array_equal(result.W, bare.W)
    np.testing.assert_array_equal(again.W, bare.W)
    np.testing.assert_array_equal(result.loss, bare.loss)


def test_an_unwanted_limit_is_never_solved(monkeypatch):
    inst = random_instance(5)
    star = ntpprops.w_star(inst)
    target = fresh(inst)
    forbid_solvers(monkeypatch)
    limits = Limits.of(target, w_star=star, w_mm=False)
    result = train(target, "gd", steps=10, limits=limits)
    assert result.cos_mm is None and result.cos_mm_corrected is None
    assert result.dist_f_wstar is not None
    assert "not requested (w_mm=False)" in result.metric_notes["cos_mm"]
    assert limits.limit("w_mm").source == "skipped"
    with pytest.raises(ValueError, match="not requested"):
        limits.require_w_mm()
    with pytest.raises(ValueError, match="not requested"):
        ntpprops.certify_gd_bias(target, limits=limits)


def test_full_supports_have_no_w_mm():
    rng = np.random.default_rng(0)
    inst = NTPInstance(rng.standard_normal((3, 4)), rng.dirichlet(np.ones(3), size=3))
    limits = Limits.of(inst)
    assert limits.w_mm is None and limits.w_star is not None
    assert "does not exist" in limits.w_mm_reason and "full" in limits.w_mm_reason
    assert set(limits.notes()) == {"w_mm"}
    with pytest.raises(NotSeparableError):
        limits.require_w_mm()


def test_incompatible_instance_has_no_w_star_and_train_says_why():
    # One embedding, two different in-support ratios: Eq. 4 has no solution; W^mm exists
    # (W = [[0], [0], [-1]] is in F^perp with margins 1).
    inst = NTPInstance(np.ones((2, 1)), [[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]])
    result = train(inst, "gd", steps=10)
    assert result.w_star is None and result.dist_f_wstar is None
    assert result.cos_mm_corrected is None and result.cos_mm is not None
    assert "W* does not exist" in result.metric_notes["dist_f_wstar"]
    assert "W* does not exist" in result.metric_notes["cos_mm_corrected"]
    assert "cos_mm" not in result.metric_notes
    with pytest.raises(NotCompatibleError):
        result.limits.require_w_star()


def test_skipped_limits_solve_nothing(monkeypatch):
    forbid_solvers(monkeypatch)
    lazy = Limits.of(ONE_HOT)
    assert not lazy.is_resolved("w_star") and "not solved yet" in repr(lazy)
    result = train(random_instance(2), "ngd", steps=10, limits=False)
    assert result.limits is None and result.w_star is None and result.w_mm is None
    for name in ("cos_mm", "cos_mm_corrected", "dist_f_wstar"):
        assert getattr(result, name) is None
        assert "limits=False" in result.metric_notes[name]


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        (True, TypeError),
        ("w_mm", TypeError),
        (Limits.of(ONE_HOT), ValueError),  # limits of another instance
    ],
)
def test_bad_limits_argument_raises(limits, error):
    with pytest.raises(error):
        train(random_instance(0), steps=3, limits=limits)


def test_limits_of_an_equal_instance_are_accepted():
    inst = random_instance(0)
    result = train(fresh(inst), "gd", steps=3, limits=Limits.of(inst))
    assert result.cos_mm is not None


def test_bad_construction_raises():
    with pytest.raises(TypeError, match="NTPInstance"):
        Limits.of("instance")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="svm_method"):
        Limits.of(ONE_HOT, svm_method="simplex")
    with pytest.raises(ValueError, match="name"):
        Limits.of(ONE_HOT).limit("w_perp")  # type: ignore[arg-type]


# -- validation of limits passed in -------------------------------------------------------------


def _bad_limits(inst: NTPInstance) -> list[tuple[str, dict, str]]:
    star, mm = ntpprops.w_star(inst), ntpprops.ntp_svm(inst)
    H = inst.embeddings
    j = 0
    a, z = np.flatnonzero(inst.supports[j])[:2]
    generator = np.zeros(inst.weight_shape)  # (e_a - e_z) h_j^T: a generator of F
    generator[a] += H[j]
    generator[z] -= H[j]
    return [
        ("shape", {"w_mm": mm[:, :-1]}, "shape"),
        ("finite", {"w_star": np.full(inst.weight_shape, np.inf)}, "finite"),
        ("zero", {"w_mm": np.zeros(inst.weight_shape)}, "non-zero"),
        ("half", {"w_mm": 0.5 * mm}, "6b"),
        ("in_f", {"w_mm": mm + generator}, "6a"),
        ("eq4", {"w_star": star + 1e-3 * generator}, "Eq. 4"),
    ]


@pytest.mark.parametrize("case", range(6))
def test_given_limits_violating_their_definition_are_rejected(case):
    inst = random_instance(3)
    label, kwargs, message = _bad_limits(inst)[case]
    with pytest.raises(InvalidInstanceError, match=message):
        Limits.of(fresh(inst), **kwargs)
    if label in ("half", "in_f", "eq4"):  # well-formed, only wrong: accepted unchecked
        unchecked = Limits.of(fresh(inst), verify=False, **kwargs)
        assert unchecked.limit(next(iter(kwargs))).source == "given"


@settings(max_examples=30, deadline=None)
@given(separable_instances(), st.data())
def test_the_solvers_limits_pass_the_check_and_metrics_match_the_formulas(inst, data):
    solved = Limits.of(inst)
    assume(solved.w_star is not None and solved.w_mm is not None)
    # The solvers' own answers pass the cheap check of Definitions 1 and 3.
    given_limits = Limits.of(fresh(inst), w_star=solved.w_star, w_mm=solved.w_mm)
    W = data.draw(weight_matrices(inst, max_log10_scale=2), label="W")
    got = limit_metrics(given_limits, W)
    assert isinstance(got, LimitMetrics)
    assert got._fields == ("cos_mm", "cos_mm_corrected", "dist_f_wstar")
    assert close(got.cos_mm, cos(W, solved.w_mm), 1e-12)
    assert close(got.cos_mm_corrected, cos(W - solved.w_star, solved.w_mm), 1e-12)
    dense_star, residual = dense_w_star(inst)
    assert residual <= 1e-9  # compatible: the dense least-squares solution is W*
    expected = float(np.linalg.norm(project_f_dense(inst, W) - dense_star))
    scale = 1.0 + float(np.linalg.norm(W)) + float(np.linalg.norm(dense_star))
    assert close(got.dist_f_wstar, expected, 1e-8 * scale)
    assert math.isnan(limit_metrics(given_limits, W, with_dist=False).dist_f_wstar)


# -- train's recorded columns --------------------------------------------------------------------


def test_train_columns_match_the_formulas_at_the_recorded_steps():
    inst = random_instance(4)
    W0 = np.random.default_rng(5).normal(size=inst.weight_shape)
    star, mm = ntpprops.w_star(inst), ntpprops.ntp_svm(inst)
    result = train(inst, "gd", steps=40, init=W0, record=[0, 40])
    H, P, pi = inst.embeddings, inst.probs, inst.context_weights
    for row, W in ((0, W0), (1, np.asarray(result.W))):
        grad = (scipy.special.softmax(H @ W.T, axis=1) - P).T @ (pi[:, None] * H)
        loss = naive_ce(inst, W)
        expected = {
            "loss": loss,
            "excess_loss": loss - inst.entropy,
            "norm": float(np.sqrt(np.sum(W * W))),
            "grad_norm": float(np.sqrt(np.sum(grad * grad))),
            "cos_mm": cos(W, mm),
            "cos_mm_corrected": cos(W - star, mm),
            "dist_f_wstar": float(np.linalg.norm(project_f_dense(inst, W) - star)),
        }
        # Every column differs from the others here, so a swapped column cannot pass.
        assert len({round(v, 6) for v in expected.values()}) == len(expected)
        for name, value in expected.items():
            recorded = float(getattr(result, name)[row])
            assert close(recorded, value, 1e-9 * (1.0 + abs(value))), (name, row)


# -- the cost of the projection onto F ------------------------------------------------------------


def wide_instance(seed: int = 0) -> NTPInstance:
    """``m = 30`` contexts, supports of 10 of ``V = 20`` tokens, ``d = 40 > m`` (compatible):
    ``n_F = 270`` generators, so a projection (``2 n_F^2`` flop) costs several GD steps
    (``2 m^2 V`` flop in logit mode) and its factorisation (``n_F^3 / 3``) about 180."""
    return random_instance(seed, m=30, V=20, d=40, support=10)


def test_dist_is_skipped_when_its_setup_costs_more_than_the_run(monkeypatch):
    monkeypatch.setattr(optim_module, "METRIC_FLOOR_FLOPS", 0.0)
    inst = wide_instance()
    star, mm = ntpprops.w_star(inst), ntpprops.ntp_svm(inst)
    short = fresh(inst)  # nothing factorised on it
    result = train(short, "gd", steps=2, limits=Limits.of(short, w_star=star, w_mm=mm))
    assert result.dist_f_wstar is None
    assert "skipped" in result.metric_notes["dist_f_wstar"]
    assert result.cos_mm is not None and result.cos_mm_corrected is not None
    # A run long enough to pay for the factorisation gets the metric.
    long = fresh(inst)
    result = train(long, "gd", steps=2000, record=[0, 2000], limits=Limits.of(long, w_star=star))
    assert result.dist_f_wstar is not None and np.all(np.isfinite(result.dist_f_wstar))


def test_dist_is_thinned_when_a_projection_costs_more_than_the_steps_between(monkeypatch):
    inst = wide_instance(1)
    limits = Limits.of(inst)
    every_step = np.arange(31)
    everywhere = train(inst, "gd", steps=30, record=every_step, limits=limits)
    # At these tiny flop counts nothing is thinned (METRIC_FLOOR_FLOPS).
    assert np.all(np.isfinite(everywhere.dist_f_wstar))
    assert "dist_f_wstar" not in everywhere.metric_notes
    monkeypatch.setattr(optim_module, "METRIC_FLOOR_FLOPS", 0.0)
    thinned = train(inst, "gd", steps=30, record=every_step, limits=limits)
    dist = thinned.dist_f_wstar
    kept = np.isfinite(dist)
    assert kept[-1] and 2 <= kept.sum() < kept.size
    assert "thinned" in thinned.metric_notes["dist_f_wstar"]
    # What is computed is unchanged: the same numbers where both runs have them.
    np.testing.assert_array_equal(dist[kept], everywhere.dist_f_wstar[kept])
    expected = float(np.linalg.norm(project_f_dense(inst, np.asarray(thinned.W)) - limits.w_star))
    assert close(float(dist[-1]), expected, 1e-8 * (1.0 + expected))
