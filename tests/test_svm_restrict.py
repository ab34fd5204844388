"""Not separable by a vocabulary restriction (:mod:`ntpprops._svm_restrict`).

The lemma behind it: a separator of an instance restricts to one of ``I_T`` (the contexts
with ``S_j`` inside ``T``, vocabulary ``T``), so the restriction is separable whenever the
instance is, and a restriction's certificate, lifted, is one of the instance with a projected
norm no larger. Tolerances: projected norms are computed in kernel form with a relative
rounding of about ``1e-13`` of the atoms' scale here (integer data, d <= 4); ``1e-9`` of the
largest atom norm leaves four orders of margin.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from _builders import instance_on_supports, random_support_instance
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ntpprops.strategies import ntp_instances

import ntpprops._svm_active as active
from ntpprops import NTPInstance, is_separable
from ntpprops._separation import (
    perp_combination_norm,
    separability_certificate_bound,
    separation_atoms,
)
from ntpprops._svm_active import SEPARABLE_RTOL, _decide_restriction, decide_separability
from ntpprops._svm_restrict import _lift, restricted_certificate, restriction

NORM_ATOL = 1e-9


def _scale(inst):
    """``max_i ||A_i||`` over the out-of-support atoms."""
    return np.sqrt(2) * np.max(np.linalg.norm(inst.embeddings[~inst.supports.all(1)], axis=1))


def _subsets(V):
    return st.lists(st.integers(0, V - 1), min_size=1, max_size=V, unique=True).map(
        lambda ts: np.array(sorted(ts), dtype=np.intp)
    )


def _restricted(data):
    """A small instance, a token set ``T`` and its restriction ``(sub, rows)`` (non-empty)."""
    inst = data.draw(ntp_instances(max_contexts=5, max_vocab=5, max_dim=3))
    tokens = data.draw(_subsets(inst.vocab_size))
    found = restriction(inst, tokens)
    assume(found is not None)
    sub, rows = found
    return inst, tokens, sub, rows


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_a_separable_instance_has_separable_restrictions(data):
    inst, tokens, sub, rows = _restricted(data)
    # The restriction keeps exactly the contexts whose supports lie in T, in order.
    inside = np.isin(np.arange(inst.vocab_size), tokens)
    assert np.array_equal(rows, np.flatnonzero(~(inst.supports & ~inside).any(axis=1)))
    assert np.array_equal(sub.supports, inst.supports[np.ix_(rows, tokens)])
    if is_separable(inst):
        assert is_separable(sub)


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_lifted_weights_project_no_longer_on_the_whole_instance(data):
    # For any convex weights y on the restriction's atoms (not only certificates), the lifted
    # combination is the same matrix on the rows of T, and F of the whole instance contains
    # F of the restriction: ||P_perp(lift y)|| <= ||P_perp^{I_T}(y)||.
    inst, tokens, sub, rows = _restricted(data)
    n = len(separation_atoms(sub))
    raw = np.array(data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), float)
    assume(raw.sum() > 0)
    y = raw / raw.sum()
    lifted = _lift(inst, sub, rows, tokens, y)
    assert lifted.sum() == pytest.approx(1.0, abs=1e-12) and np.all(lifted >= 0.0)
    atoms = separation_atoms(inst)
    kept = lifted > 0
    assert np.all(np.isin(atoms.ctx[kept], rows)) and np.all(np.isin(atoms.neg[kept], tokens))
    whole = perp_combination_norm(inst, lifted)
    assert whole <= perp_combination_norm(sub, y) + NORM_ATOL * _scale(inst)


def test_two_frequent_tokens_on_one_ray_decide_the_whole_instance():
    # Contexts 0 and 1 lie on one ray with supports {0} and {1}: the restriction to the two
    # most frequent tokens is not separable, so neither is the instance. The other contexts
    # are generic and use other tokens.
    rng = np.random.default_rng(0)
    H = rng.standard_normal((8, 3))
    H[1] = 2.0 * H[0]
    supports = np.zeros((8, 6), dtype=bool)
    supports[[0, 2, 3], 0] = True
    supports[[1, 4], 1] = True
    for j, v in zip(range(5, 8), (2, 3, 4), strict=True):
        supports[j, v] = True
    supports[2, 5] = True
    inst = instance_on_supports(H, supports, 1)
    result = restricted_certificate(
        inst,
        _decide_restriction,
        threshold=SEPARABLE_RTOL * _scale(inst),
        deadline=time.perf_counter() + 60.0,
    )
    assert result is not None and not result.separable
    assert result.certificate is not None and result.margin == 0.0 and result.witness is None
    # Checked on the whole instance without any solver: no separator below 1e8 / scale.
    assert separability_certificate_bound(inst, result.certificate) >= 1.0 / (
        SEPARABLE_RTOL * _scale(inst)
    )
    # Only atoms of contexts 0..4 against tokens 0, 1 (the restriction) carry weight.
    atoms = separation_atoms(inst)
    kept = result.certificate > 0
    assert set(atoms.neg[kept]) <= {0, 1} and set(atoms.ctx[kept]) <= {0, 1, 2, 3, 4}


@pytest.mark.parametrize("seed", range(3))
def test_search_never_answers_separable_instances(seed):
    inst = random_support_instance(12, 8, 8, 2, seed=seed)  # separable (checked below)
    assert is_separable(NTPInstance(inst.embeddings, inst.probs))
    calls = []

    def decide(sub):
        calls.append(sub.m)
        return _decide_restriction(sub)

    got = restricted_certificate(
        inst, decide, threshold=SEPARABLE_RTOL * _scale(inst), deadline=time.perf_counter() + 60
    )
    assert got is None and calls  # it searched, and found nothing to certify


def test_search_starts_nothing_after_its_deadline():
    inst = random_support_instance(12, 8, 8, 2, seed=0)
    calls = []
    got = restricted_certificate(
        inst, lambda sub: calls.append(1), threshold=1.0, deadline=time.perf_counter() - 1.0
    )
    assert got is None and not calls


def test_large_non_separable_instance_is_decided_before_the_ascent(monkeypatch):
    # Beyond the dense solver (forced), the restriction decides; the ascent is never run.
    monkeypatch.setattr(active, "DENSE_MAX_ENTRIES", 10.0)

    def no_ascent(*args, **kwargs):
        raise AssertionError("the dual ascent ran")

    monkeypatch.setattr(active, "dual_coordinate_ascent", no_ascent)
    rng = np.random.default_rng(3)
    H = rng.standard_normal((40, 4))
    supports = np.zeros((40, 6), dtype=bool)
    supports[np.arange(40), rng.choice(2, size=40)] = True  # 40 > 2 d contexts on 2 tokens
    supports[30:, 2 + np.arange(10) % 4] = True
    supports[30:, :2] = False
    inst = instance_on_supports(H, supports, 2)
    sep = decide_separability(inst, method="auto")
    assert not sep
    assert separability_certificate_bound(inst, sep.certificate) >= 1.0 / (
        SEPARABLE_RTOL * _scale(inst)
    )
    # The dense method agrees on this small instance.
    monkeypatch.undo()
    assert not decide_separability(NTPInstance(inst.embeddings, inst.probs), method="active-set")


def test_the_whole_vocabulary_is_a_restriction_too():
    # |T| = V restricts to the instance itself (every support lies in T): still tried.
    inst = instance_on_supports(
        [[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    )
    result = restricted_certificate(
        inst,
        _decide_restriction,
        threshold=SEPARABLE_RTOL * _scale(inst),
        deadline=time.perf_counter() + 60.0,
        sizes=(inst.vocab_size,),
    )
    assert result is not None and not result.separable
    assert separability_certificate_bound(inst, result.certificate) >= 1.0 / (
        SEPARABLE_RTOL * _scale(inst)
    )
