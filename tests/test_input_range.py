"""Badly scaled and mistyped input: a correct answer or a typed error, never a wrong verdict.

The range is documented in ``docs/design.md`` ("Range of magnitudes") and
:mod:`ntpprops._scale`: any overall scale (decided on ``2^-k H``, mapped back exactly), row
norms within a factor ``1e100`` of each other for compatibility, separability at any row
spread (decided on the row-normalised instance, cross-checked).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from ntpprops.strategies import ntp_instances

import ntpprops as ntp
from ntpprops import (
    InvalidInstanceError,
    NotAnInstanceError,
    NTPInstance,
    SolverError,
    UndecidedInFloat64Error,
)
from ntpprops._scale import MAX_ROW_SPREAD, NATIVE_EXPONENT, NATIVE_ROW_SPREAD
from ntpprops._separation import raw_margin, separation_atoms
from ntpprops.cli import main

# Lemma 1: d = 3 > m = 2 and rank H = 2, so every such instance is compatible and separable.
P_SPARSE = np.array([[0.5, 0.5, 0.0], [0.3, 0.0, 0.7]])


def _lemma1_instance(big: float) -> NTPInstance:
    return NTPInstance(np.array([[1.0, 0.0, big], [0.0, 1.0, 0.0]]), P_SPARSE)


# -- the cases of the issue ------------------------------------------------------------------


def test_a_1e300_entry_is_undecided_in_float64_not_incompatible():
    inst = _lemma1_instance(1e300)
    with pytest.raises(UndecidedInFloat64Error, match="undecided in float64") as info:
        ntp.w_star(inst)
    assert "nan" not in str(info.value) and "1e+300" in str(info.value)
    # An input problem (verify exits 2) and a solver that could not decide (Limits copes).
    assert isinstance(info.value, InvalidInstanceError) and isinstance(info.value, SolverError)
    reason = ntp.Limits.of(inst).w_star_reason  # a reason, as for a solver failure
    assert reason is not None and "float64" in reason


@pytest.mark.parametrize("big", [1e300, 1e150, 1e20])
def test_separability_of_rows_far_apart_is_never_answered_false(big):
    # Lemma 1 proves these separable; the row-normalised instance decides so, and W^mm of the
    # rows as given is out of float64's reach: a typed error, not False (1e150 said False).
    inst = _lemma1_instance(big)
    with pytest.raises(UndecidedInFloat64Error, match="separable: the row-normalised"):
        ntp.is_separable(inst)
    with pytest.raises(UndecidedInFloat64Error):
        ntp.ntp_svm_result(inst)
    assert ntp.Limits.of(inst).w_mm_reason is not None  # Limits records it as a reason


def test_verify_exits_2_with_a_message_on_a_1e300_entry(tmp_path, capsys):
    data = tmp_path / "big.npz"
    np.savez(data, embeddings=[[1.0, 0.0, 1e300], [0.0, 1.0, 0.0]], probs=P_SPARSE)
    status = main(["verify", "--data", str(data), "--out", str(tmp_path / "out"), "--quick"])
    err = capsys.readouterr().err
    assert status == 2
    assert "undecided in float64" in err and "Traceback" not in err


def test_an_array_for_the_instance_is_a_typed_error_naming_it():
    H, W = np.eye(2), np.zeros((2, 2))
    with pytest.raises(NotAnInstanceError, match=r"inst must be an NTPInstance, got a numpy"):
        ntp.ce_loss(H, W)  # type: ignore[arg-type]
    for function in (ntp.is_compatible, ntp.is_separable, ntp.ntp_svm_result):
        with pytest.raises(TypeError, match="NTPInstance"):  # also a TypeError
            function(H)  # type: ignore[arg-type]


# -- scale invariance ------------------------------------------------------------------------

SEPARABLE = NTPInstance([[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
# h_2 = h_1 with disjoint supports: not separable (Farkas); equal rows with different
# log-odds: not compatible.
NOT_SEPARABLE = NTPInstance([[1.0, 2.0], [1.0, 2.0]], [[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
NOT_COMPATIBLE = NTPInstance([[1.0, 2.0], [1.0, 2.0]], [[0.5, 0.5], [0.25, 0.75]])


@pytest.mark.parametrize(
    "inst",
    [SEPARABLE, NOT_SEPARABLE, NOT_COMPATIBLE],
    ids=["separable", "not-separable", "not-compatible"],
)
@pytest.mark.parametrize("exponent", [-400, -300, 300, 400])
def test_multiplying_h_by_a_power_of_two_maps_every_answer_exactly(inst, exponent):
    scaled = inst.replace(embeddings=np.ldexp(inst.embeddings, exponent))
    # Far outside the native range both go through the same normalised instance. (At
    # 2^+-1000 the multipliers of W^mm, scaled by 2^-+2000, leave float64: tested below.)
    assert abs(exponent) > NATIVE_EXPONENT
    twin = inst.replace(embeddings=np.ldexp(inst.embeddings, -exponent))
    compat, compat_twin = ntp.is_compatible(scaled), ntp.is_compatible(twin)
    assert compat.compatible == compat_twin.compatible == ntp.is_compatible(inst).compatible
    if compat.compatible:
        assert compat.w_star is not None and compat_twin.w_star is not None
        # W* -> 2^-e W*: bit for bit once mapped back (powers of two are exact).
        np.testing.assert_array_equal(
            np.ldexp(compat.w_star, exponent), np.ldexp(compat_twin.w_star, -exponent)
        )
    sep = ntp.is_separable(scaled)
    assert sep.separable == ntp.is_separable(inst).separable
    if sep.separable and len(separation_atoms(scaled)):
        assert sep.witness is not None and raw_margin(scaled, sep.witness) >= 1.0
        mm = ntp.ntp_svm_result(scaled)
        assert mm.kkt.ok  # the mapped-back duals still certify W^mm on the scaled data
        np.testing.assert_array_equal(
            np.ldexp(mm.W, exponent), np.ldexp(ntp.ntp_svm_result(twin).W, -exponent)
        )
    elif not sep.separable:
        assert sep.certificate is not None
        bound = ntp.separability_certificate_bound(scaled, sep.certificate)
        # No separator of the scaled data is shorter than the bound: it must be far above
        # 2^-e (the scale of W there), else the certificate proves nothing.
        assert np.ldexp(bound, exponent) > 1e8  # inf passes, nan fails


@given(
    ntp_instances(max_contexts=3, max_vocab=3, max_dim=3),
    st.integers(-900, 900),
)
def test_verdicts_do_not_change_when_h_is_scaled_by_a_power_of_two(inst, exponent):
    # Multiplying by 2^e is exact and the solvers' tolerances are relative, so a verdict
    # depends on the scale only through float64's range, which the rescaling removes.
    scaled = inst.replace(embeddings=np.ldexp(inst.embeddings, exponent))
    event("rescaled" if abs(exponent) > NATIVE_EXPONENT else "native")
    assert ntp.is_compatible(scaled).compatible == ntp.is_compatible(inst).compatible
    assert ntp.is_separable(scaled).separable == ntp.is_separable(inst).separable


@given(
    ntp_instances(max_contexts=3, max_vocab=3, max_dim=3),
    st.lists(st.integers(-60, 60), min_size=3, max_size=3),
)
def test_rescaling_rows_never_changes_a_separability_verdict(inst, exponents):
    # Definition 2 is invariant under positive row scaling. Beyond NATIVE_ROW_SPREAD the
    # answer is either right or "undecided in float64" (separable, W^mm out of reach).
    factors = np.ldexp(1.0, np.array(exponents[: inst.m]))
    scaled = inst.replace(embeddings=inst.embeddings * factors[:, None])
    expected = ntp.is_separable(inst).separable
    try:
        got = ntp.is_separable(scaled).separable
    except UndecidedInFloat64Error:
        event("undecided")
        assert expected  # only a separable instance may be undecided
    else:
        spread = factors.max() / factors.min() > NATIVE_ROW_SPREAD
        event(f"decided, spread above native: {spread}")
        assert got == expected


def test_answers_that_leave_float64_when_mapped_back_are_refused():
    # W^mm of 2^-1000 H is 2^1000 W^mm(H): representable, but its multipliers scale by
    # 2^2000. A typed error, not an inf in the KKT evidence.
    tiny = SEPARABLE.replace(embeddings=np.ldexp(SEPARABLE.embeddings, -1000))
    assert ntp.is_separable(tiny).separable  # the verdict and witness are representable
    with pytest.raises(UndecidedInFloat64Error, match="multipliers of W\\^mm"):
        ntp.ntp_svm_result(tiny)


def test_a_zero_row_next_to_rows_far_apart_keeps_its_certificate():
    # Found by the explore profile: h_0 = 0 with an out-of-support token is a Farkas
    # certificate by itself; mapping the row-normalised certificate back divided by ||h_0||.
    inst = NTPInstance([[0.0], [1.0], [16384.0]], [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    assert 16384.0 > NATIVE_ROW_SPREAD
    result = ntp.is_separable(inst)
    assert not result.separable and result.certificate is not None
    assert np.all(np.isfinite(result.certificate))
    assert ntp.separability_certificate_bound(inst, result.certificate) == np.inf


def test_compatibility_beyond_the_spread_limit_is_refused_not_guessed():
    inst = NTPInstance([[1.0, 0.0], [0.0, 1e-101]], [[0.5, 0.5], [0.25, 0.75]])
    assert 1e101 > MAX_ROW_SPREAD
    with pytest.raises(UndecidedInFloat64Error, match="differ by a factor 1e\\+101"):
        ntp.is_compatible(inst)
    # Within the limit the same instance is decided (Lemma 1: rank H = m, compatible).
    assert ntp.is_compatible(inst.replace(embeddings=[[1.0, 0.0], [0.0, 1e-99]])).compatible


# -- the pasteable repr ----------------------------------------------------------------------


@given(ntp_instances(max_contexts=4, max_vocab=4, max_dim=3, weights=True))
def test_eval_of_the_repr_rebuilds_an_equal_instance(inst):
    rebuilt = eval(repr(inst), {"NTPInstance": NTPInstance})
    assert rebuilt == inst
    assert repr(rebuilt) == repr(inst)


def test_repr_round_trips_inexact_rows_and_near_uniform_weights():
    weights = np.full(3, 1.0 / 3)
    weights[0] = np.nextafter(weights[0], 1.0)  # one ulp from uniform: not 'uniform'
    inst = NTPInstance(np.eye(3), [[1 / 7, 2 / 7, 4 / 7], [0.1, 0.2, 0.7], [1.0, 0.0, 0.0]])
    inst = inst.replace(context_weights=weights)
    assert "uniform" not in repr(inst)
    assert eval(repr(inst), {"NTPInstance": NTPInstance}) == inst
    counted = NTPInstance.from_counts([[1.0], [3.0]], [[1, 2, 4], [3, 3, 1]])
    assert eval(repr(counted), {"NTPInstance": NTPInstance}) == counted


def test_a_pasted_repr_whose_summary_contradicts_its_data_is_refused():
    text = repr(SEPARABLE)
    assert eval(text, {"NTPInstance": NTPInstance}) == SEPARABLE
    for wrong in (text.replace("m=2", "m=3"), text.replace("S=[2, 2]", "S=[2, 1]")):
        with pytest.raises(InvalidInstanceError, match="given, but"):
            eval(wrong, {"NTPInstance": NTPInstance})
