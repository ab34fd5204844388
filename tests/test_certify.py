"""Certification of Theorem 2's limits (ntpprops._certify)."""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest
from _builders import one_hot_instance, random_instance
from _oracles import naive_gd

import ntpprops
import ntpprops._svm as svm_module
from ntpprops import Limits, NTPInstance
from ntpprops._certify import (
    BiasReport,
    certify_gd_bias,
    checkpoint_grid,
    measure_bias,
    step_rule,
)
from ntpprops._optim import _initial_weights

HAND_W_MM = np.array([[0.5, -0.5], [-0.5, 0.5]])  # W^mm of one_hot_instance(), by hand


def svm_reference(inst: NTPInstance) -> np.ndarray:
    """``W^mm`` of Definition 3 posed directly over ``W`` (independent of ntpprops._svm).

    Equal logits on each support (6a), and anchor-minus-outside margins >= 1 (6b, which with
    6a is every in-support token against every outside one); Clarabel to ~1e-8.
    """
    H, S = inst.embeddings, inst.supports
    m = S.shape[0]
    W = cp.Variable(inst.weight_shape)
    Z = H @ W.T
    anchor = np.argmax(S, axis=1)
    others = S.copy()
    others[np.arange(m), anchor] = False
    j_in, z_in = np.nonzero(others)
    j_out, v_out = np.nonzero(~S)
    anchors = cp.hstack([Z[j, anchor[j]] for j in range(m)])
    cons = [anchors[j_out] - cp.hstack([Z[j, v] for j, v in zip(j_out, v_out, strict=True)]) >= 1]
    if j_in.size:
        cons.append(cp.hstack([Z[j, z] for j, z in zip(j_in, z_in, strict=True)]) == anchors[j_in])
    cp.Problem(cp.Minimize(cp.sum_squares(W)), cons).solve(solver=cp.CLARABEL)
    return np.asarray(W.value)


def test_certifies_the_symmetric_one_hot_instance_exactly():
    # From W0 = 0 symmetry keeps W_k on the ray of W^mm; W* = 0 and F = {0}.
    inst = one_hot_instance()
    report = certify_gd_bias(inst, init=None, w_mm=HAND_W_MM, backend="numpy")
    assert report and isinstance(report, BiasReport)
    # Grid 0, 1024, 1448, 2048, 2896: the first increments (ratio ~2) end at 2048 and 2896.
    assert report.steps[-1] == 2896
    assert np.all(np.isnan(report.increment_cos_gap[:3]))
    np.testing.assert_allclose(report.increment_cos_gap[3:], 0.0, atol=8 * np.finfo(float).eps)
    assert report.step_rule == "descent lemma"


def test_certifies_a_small_instance_and_its_numbers_check_out():
    inst = random_instance(2)
    w_mm = svm_reference(inst)
    report = certify_gd_bias(
        inst, alignment_tol=5e-3, dist_tol=1e-3, max_steps=2**15, w_mm=w_mm, backend="numpy"
    )
    assert report, report.final()
    assert report.monotone  # eta = 1.9 / L < 2 / L: the descent lemma applies
    k = int(report.steps[-1])
    # The reported iterate is GD from the LeCun(seed 0) init, by the textbook formula; per-step
    # rounding accumulates at most linearly (non-expansive map): k * 16 eps * |W|.
    W0 = _initial_weights(inst, "lecun", 0)
    expected = naive_gd(inst, W0, report.lr, k)
    tol = k * 16 * np.finfo(float).eps * np.abs(expected).max()
    np.testing.assert_allclose(report.W, expected, rtol=0, atol=tol)
    dist = np.linalg.norm(ntpprops.project_f(inst, report.W) - ntpprops.w_star(inst))
    assert report.dist_f_wstar[-1] == pytest.approx(dist, rel=1e-12)
    assert report.dist_f_wstar[-1] <= 1e-3
    cos = np.vdot(report.W, w_mm) / np.linalg.norm(report.W) / np.linalg.norm(w_mm)
    assert report.cos_gap[-1] == pytest.approx(1 - cos, rel=1e-9)


def test_wrong_limit_is_not_certified():
    inst = random_instance(2)
    impostor = svm_reference(random_instance(3))  # a max-margin direction of other data
    # The cheap check of Definition 3 (6a: orthogonal to F) already rejects it ...
    with pytest.raises(ntpprops.InvalidInstanceError, match="6a"):
        certify_gd_bias(inst, max_steps=2**14, w_mm=impostor, backend="numpy")
    # ... and without that check, the run itself does not certify it.
    unchecked = Limits.of(inst, w_mm=impostor, verify=False)
    report = certify_gd_bias(inst, max_steps=2**14, limits=unchecked, backend="numpy")
    assert not report
    assert not report.alignment_within_tol
    assert report.increment_cos_gap[-1] > 1e-2


def test_budget_stops_the_run():
    inst = random_instance(0)
    report = certify_gd_bias(inst, max_steps=4096, w_mm=svm_reference(inst), backend="numpy")
    assert report.steps[-1] == 4096
    assert not report.dist_within_tol  # far from W* this early on this instance


def test_incompatible_instance_raises_before_solving_the_svm(monkeypatch):
    # One embedding, two different in-support ratios: Eq. 4 has no solution.
    inst = NTPInstance(np.ones((2, 1)), [[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]])

    def no_svm(inst, **kw):
        raise AssertionError("W* is missing: the SVM need not be solved")

    monkeypatch.setattr(svm_module, "ntp_svm", no_svm)
    with pytest.raises(ntpprops.NotCompatibleError, match="Theorem 2 needs W"):
        certify_gd_bias(inst)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alignment_tol": 0.0},
        {"dist_tol": -1.0},
        {"dist_tol": True},
        {"time_budget": math.nan},
        {"max_steps": 0},
        {"w_mm": np.zeros((2, 2))},
        {"limits": Limits.of(one_hot_instance(), w_mm=HAND_W_MM)},  # and w_mm: twice
        {"w_mm": None, "limits": Limits.of(NTPInstance(np.eye(2), [[0.5, 0.5], [0, 1]]))},
    ],
)
def test_bad_arguments_raise(kwargs):
    inst = one_hot_instance()
    with pytest.raises(ValueError):
        certify_gd_bias(inst, **{"w_mm": HAND_W_MM, **kwargs})


def test_adam_is_measured_not_judged():
    inst = random_instance(1)
    report = measure_bias(inst, "adam", steps=3000, w_mm=svm_reference(inst))
    assert report.method == "adam" and report.lr == 0.01
    assert report.step_rule == "no guarantee"
    finals = report.final()
    for key in ("excess_loss", "cos_gap", "corrected_cos_gap", "dist_f_wstar"):
        assert math.isfinite(finals[key])
    assert report.steps[-1] == 3000 and report.excess_loss.shape == report.steps.shape


def test_step_rules():
    inst = random_instance(0)
    L = ntpprops.smoothness_bound(inst)
    assert step_rule(inst, ntpprops.safe_step_size(inst)) == "analysed"
    assert step_rule(inst, 1.9 / L) == "descent lemma"
    assert step_rule(inst, 2.01 / L) == "observed only"


def test_checkpoint_grid_doubles_every_two_points():
    grid = checkpoint_grid(10**6)
    assert grid[0] == 0 and grid[1] == 1024 and grid[-1] == 10**6
    inner = grid[1:-1]
    np.testing.assert_allclose(inner[2:] / inner[:-2], 2.0, rtol=1e-3)  # integer rounding
    np.testing.assert_array_equal(checkpoint_grid(100), [0, 100])
    np.testing.assert_array_equal(checkpoint_grid(0), [0])
