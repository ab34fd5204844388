"""Definition 3 (NTP-SVM): ``W^mm`` is the min-norm separator, and no direction beats it.

Optimality is checked from the returned duals alone (KKT: feasibility, dual sign,
complementarity, stationarity ``W = P_perp(sum lambda A)``), and turned into proofs:
any ``lambda >= 0`` bounds the NTP margin of *every* unit direction in ``F^perp``
(:func:`_checks.margin_upper_bound`), and strong convexity bounds the distance from the
returned ``W`` to the exact ``W^mm`` (:func:`_checks.svm_distance_bound`). Hypothesis then
hunts for a direction with a larger margin.
"""

from __future__ import annotations

import math

import numpy as np
from _checks import (
    assert_kkt_optimal,
    logit_rounding,
    margin_upper_bound,
    svm_distance_bound,
    unit_margin,
)
from _oracles import EPS, project_perp_dense
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ntpprops import ntp_margin, ntp_svm, ntp_svm_result
from ntpprops import strategies as nst
from ntpprops._separability import separation_atoms

#: KKT residuals (relative): the SVM is solved by an active-set method whose last step is a
#: linear solve on the active atoms' Gram matrix; with integer embeddings of entries <= 3 and
#: d <= 4 its condition number stays below ~1e4, so residuals sit near 1e4 * EPS ~ 1e-12;
#: 1e-10 leaves two orders of magnitude (observed residuals: ~3e-16).
KKT_TOL = 1e-10

#: Certified relative distance to the exact W^mm: sqrt of a relative duality gap of KKT_TOL
#: (strong convexity: dist^2 <= ||W_f||^2 - 2 D), plus the sqrt(8 EPS) rounding floor.
DIST_TOL = math.sqrt(2 * KKT_TOL) + 2 * math.sqrt(8 * EPS)

#: Entries of drawn directions: 0 or magnitude in [1e-3, 1] (the claims are scale-invariant;
#: tinier entries only make ||U|| underflow).
directions = st.one_of(st.just(0.0), st.floats(1e-3, 1.0), st.floats(-1.0, -1e-3))


def _direction(data, inst):
    return data.draw(arrays(np.float64, inst.weight_shape, elements=directions), label="U")


@given(nst.separable_instances())
def test_def3_kkt_optimal(inst):
    result = ntp_svm_result(inst)
    assert_kkt_optimal(inst, result, KKT_TOL)
    assert result.kkt.ok
    assert np.all(result.duals[~np.asarray(result.active)] == 0), "inactive atom with a dual"


@given(nst.separable_instances())
def test_def3_certified_distance_to_exact_wmm(inst):
    result = ntp_svm_result(inst)
    W = np.asarray(result.W)
    bound = svm_distance_bound(inst, W, separation_atoms(inst), result.duals)
    assert bound <= DIST_TOL * np.linalg.norm(W), f"only ||W - W^mm|| <= {bound:.3g} proven"


@given(nst.separable_instances())
def test_def3_normalised_wmm_attains_margin(inst):
    """``ntp_margin(W^mm) = 1 / ||W^mm||``: the normalised W^mm has margin gamma*."""
    W = ntp_svm(inst)
    norm = float(np.linalg.norm(W))
    # The min margin of a KKT point is 1 up to the primal residual KKT_TOL.
    assert math.isclose(ntp_margin(inst, W), 1.0 / norm, rel_tol=KKT_TOL)
    assert math.isclose(unit_margin(inst, W), 1.0 / norm, rel_tol=KKT_TOL)
    assert math.isclose(ntp_svm_result(inst).margin, 1.0 / norm, rel_tol=KKT_TOL)


@given(nst.separable_instances(), st.data())
def test_def3_no_direction_has_larger_margin(inst, data):
    result = ntp_svm_result(inst)
    U = project_perp_dense(inst, _direction(data, inst))
    norm = float(np.linalg.norm(U))
    assume(norm > 1e-6)  # a direction that (nearly) projects to 0 has no defined margin
    U /= norm
    proven = margin_upper_bound(inst, separation_atoms(inst), result.duals)
    # unit_margin of U errs by the logit rounding; the bound itself by a few EPS relative.
    slack = logit_rounding(inst, U) + 1e3 * EPS * proven
    assert unit_margin(inst, U) <= proven + slack
    assert unit_margin(inst, U) <= result.margin * (1 + KKT_TOL) + slack


@given(nst.separable_instances(), st.data(), st.floats(1e-9, 1e-1))
def test_def3_perturbing_wmm_does_not_raise_margin(inst, data, size):
    result = ntp_svm_result(inst)
    W = np.asarray(result.W)
    W_unit = W / np.linalg.norm(W)
    U = project_perp_dense(inst, W_unit + size * _direction(data, inst))
    U /= np.linalg.norm(U)
    proven = margin_upper_bound(inst, separation_atoms(inst), result.duals)
    slack = logit_rounding(inst, U) + 1e3 * EPS * proven
    assert unit_margin(inst, U) <= proven + slack


@given(nst.separable_instances(), st.data())
def test_def3_depends_only_on_supports(inst, data):
    """Changing ``pi`` and the in-support probabilities leaves ``W^mm`` unchanged."""
    m, V = inst.m, inst.vocab_size
    raw = data.draw(arrays(np.float64, (m, V), elements=st.floats(0.05, 1.0)), label="values")
    probs = np.where(inst.supports, raw, 0.0)
    probs /= probs.sum(axis=1, keepdims=True)
    weights = data.draw(arrays(np.float64, (m,), elements=st.floats(0.05, 1.0)), label="pi")
    other = inst.replace(probs=probs, context_weights=weights)
    first, second = ntp_svm_result(inst), ntp_svm_result(other)
    atoms = separation_atoms(inst)
    # Both distances to the exact (shared) W^mm are proven; their sum bounds the difference.
    allowed = svm_distance_bound(inst, np.asarray(first.W), atoms, first.duals)
    allowed += svm_distance_bound(other, np.asarray(second.W), atoms, second.duals)
    assert np.linalg.norm(np.asarray(first.W) - np.asarray(second.W)) <= allowed


@given(nst.ntp_instances(), st.data())
def test_def3_ntp_margin_matches_brute_force(inst, data):
    W = _direction(data, inst)
    assume(np.any(W))
    expected = unit_margin(inst, W)
    got = ntp_margin(inst, W)
    if math.isinf(expected):
        assert got == math.inf
    else:
        assert abs(got - expected) <= logit_rounding(inst, W) / np.linalg.norm(W)
