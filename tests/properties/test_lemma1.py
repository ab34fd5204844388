"""Lemma 1 (overparameterisation): ``d >= m`` and ``rank H = m`` give compatible and separable.

The instance's supports and probabilities are drawn freely; only the embeddings are replaced
by a drawn integer matrix of full row rank, with ``d = m`` (the lemma's boundary, which
suffices) or ``d > m``. Both answers must come with verified evidence: ``W*`` solving Eq. 4,
and a separating witness.
"""

from __future__ import annotations

import numpy as np
from _checks import assert_separator, logit_rounding
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ntpprops import is_compatible, is_separable
from ntpprops import strategies as nst

#: Eq. 4 residual: W* solves a Gram system of integer atoms (entries <= 3, m <= 4), whose
#: condition number stays below ~1e4, on targets |log ratio| <= log 4; 1e-9 is ~1e4 x that
#: rounding.
EQ4_TOL = 1e-9

#: The witness is checked by the package before it is returned; ours re-checks to rounding.
WITNESS_TOL = 1e-8


def _eq4_residual(inst, W) -> float:
    """``max |(l_z - l_z') - log(p_z / p_z')|`` over every context and in-support pair."""
    L = inst.embeddings @ W.T
    with np.errstate(divide="ignore"):
        dev = np.where(inst.supports, L - np.log(inst.probs), np.nan)
    return float(np.max(np.nanmax(dev, axis=1) - np.nanmin(dev, axis=1)))


@given(nst.ntp_instances(max_contexts=4), st.integers(0, 2), st.data())
def test_lemma1_full_row_rank_is_compatible_and_separable(inst, extra, data):
    m = inst.m
    d = m + extra
    H = data.draw(arrays(np.float64, (m, d), elements=st.integers(-3, 3)), label="H")
    assume(np.linalg.matrix_rank(H) == m)  # integer H: rank decided exactly at this size
    inst = inst.replace(embeddings=H)

    compat = is_compatible(inst)
    assert compat, f"rank-{m} embeddings with d={d} declared incompatible"
    assert _eq4_residual(inst, compat.w_star) <= EQ4_TOL + 2 * logit_rounding(inst, compat.w_star)

    result = is_separable(inst)
    assert result, f"rank-{m} embeddings with d={d} declared not separable"
    assert_separator(inst, result.witness, WITNESS_TOL)
