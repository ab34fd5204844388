"""The loss side of Proposition 1: ``CE(W) = H + sum_j pi_j KL(p_j || softmax(W h_j)) >= H``
for every ``W`` (huge norms included), the gradient formula, and ``excess_loss``.

References are computed here from the definitions, context by context with ``math.fsum``
(never through ``ntpprops._loss``); the accuracy of ``excess_loss`` at tiny excesses is
checked against 60-digit ``decimal`` arithmetic.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
from _checks import loss_rounding
from _oracles import EPS
from hypothesis import example, given
from hypothesis import strategies as st

from ntpprops import NTPInstance, ce_grad, ce_loss, excess_loss
from ntpprops import strategies as nst

# -- references from the definitions -------------------------------------------------------


def log_softmax_row(scores: np.ndarray) -> list[float]:
    """``l_z - log sum exp l`` for one context, shifted by the max and summed with fsum."""
    top = float(np.max(scores))
    lse = top + math.log(math.fsum(math.exp(float(s) - top) for s in scores))
    return [float(s) - lse for s in scores]


def reference_ce_and_kl(inst: NTPInstance, W: np.ndarray) -> tuple[float, float]:
    """``CE(W)`` (Eq. 2) and ``sum_j pi_j KL(p_j || softmax(W h_j))`` from their definitions."""
    ce_terms, kl_terms = [], []
    for j in range(inst.m):
        log_q = log_softmax_row(W @ inst.embeddings[j])
        pi = float(inst.context_weights[j])
        for z in np.flatnonzero(inst.supports[j]):
            p = float(inst.probs[j, z])
            ce_terms.append(-pi * p * log_q[z])
            kl_terms.append(pi * p * (math.log(p) - log_q[z]))
    return math.fsum(ce_terms), math.fsum(kl_terms)


@st.composite
def instances_with_weights(
    draw: st.DrawFn, instances: st.SearchStrategy[NTPInstance], max_log10_scale: int
) -> tuple[NTPInstance, np.ndarray]:
    inst = draw(instances)
    return inst, draw(nst.weight_matrices(inst, max_log10_scale=max_log10_scale))


# -- CE = H + sum pi KL >= H ------------------------------------------------------------------


@given(instances_with_weights(nst.ntp_instances(), max_log10_scale=8))
@example(  # a huge-norm decoder: logits ~1e9, CE must stay finite and accurate
    (NTPInstance([[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]), np.eye(3, 2) * 1e9)
)
def test_prop1_ce_is_entropy_plus_kl(pair):
    inst, W = pair
    ce = ce_loss(inst, W)
    ref_ce, ref_kl = reference_ce_and_kl(inst, W)
    tol = loss_rounding(inst, W)  # absolute: see loss_rounding
    assert math.isfinite(ce)
    assert abs(ce - ref_ce) <= tol, f"CE(W) = {ce!r}, definition gives {ref_ce!r}"
    assert abs(ce - (inst.entropy + ref_kl)) <= tol, "CE != H + sum pi KL"
    assert ce >= inst.entropy - tol, f"CE(W) = {ce!r} < H = {inst.entropy!r}"


@given(instances_with_weights(nst.ntp_instances(), max_log10_scale=8))
def test_prop1_excess_loss_agrees_with_ce_minus_entropy(pair):
    inst, W = pair
    excess = excess_loss(inst, W)
    assert excess >= 0.0, f"excess_loss is negative: {excess!r}"
    # Both sides within loss_rounding of the exact value; CE - H adds one more rounding.
    tol = loss_rounding(inst, W) + 2 * EPS * (abs(ce_loss(inst, W)) + inst.entropy)
    assert abs(excess - (ce_loss(inst, W) - inst.entropy)) <= tol


# -- excess_loss at tiny excesses, against 60-digit arithmetic ---------------------------------


def decimal_excess(inst: NTPInstance, W: np.ndarray) -> tuple[float, float]:
    """``sum_j pi_j KL_j`` of the float ``W`` in 60-digit arithmetic, and the bound
    ``sum_j pi_j (||q_j - p_j||_1 delta_j + delta_j^2)`` on how much ``delta_j``-sized errors
    in the logits (``delta_j = 4 (d + 2) eps ||h_j||_1 max |W|``) can change it: the KL's
    gradient in the logits is ``q_j - p_j`` and its Hessian is at most 1 in norm. The slack
    also holds ``|1 - sum_z p_jz|`` (exact, from the stored floats): rows of ``P`` sum to 1
    only up to rounding, and forms of the KL that are equal for normalised ``p`` (e.g.
    ``sum p (x + expm1(-x))`` with ``x = log(p / q)``) differ by exactly that.
    """
    with localcontext() as ctx:
        ctx.prec = 60
        total, slack = Decimal(0), 0.0
        for j in range(inst.m):
            h = [Decimal(float(x)) for x in inst.embeddings[j]]
            scores = [
                sum((Decimal(float(w)) * x for w, x in zip(row, h, strict=True)), Decimal(0))
                for row in W
            ]
            top = max(scores)
            log_z = top + sum((s - top).exp() for s in scores).ln()
            p = [Decimal(float(x)) for x in inst.probs[j]]
            kl = sum(
                (pz * (pz.ln() - (s - log_z)) for pz, s in zip(p, scores, strict=True) if pz > 0),
                Decimal(0),
            )
            total += Decimal(float(inst.context_weights[j])) * kl
            l1 = float(sum(abs((s - log_z).exp() - pz) for pz, s in zip(p, scores, strict=True)))
            delta = (
                4 * (inst.dim + 2) * EPS * float(np.abs(inst.embeddings[j]).sum() * np.abs(W).max())
            )
            unnormalised = float(abs(1 - sum(p, Decimal(0))))
            slack += float(inst.context_weights[j]) * (l1 * delta + delta**2 + unnormalised)
        return float(total), slack


def dyadic(inst: NTPInstance, bits: int = 12) -> NTPInstance:
    """The instance with probabilities rounded to multiples of ``2^-bits`` that sum to exactly
    1 in float64 (the remainder goes to the largest entry), so no normalisation rounding
    blurs excesses far below ``eps``. Counts are at most 4 per token, so every ``p >= 1/16``
    stays positive."""
    P = np.round(inst.probs * 2.0**bits) / 2.0**bits
    rows = np.arange(inst.m)
    P[rows, np.argmax(P, axis=1)] += 1.0 - P.sum(axis=1)
    return inst.replace(probs=P)


@st.composite
def near_entropy_decoders(draw: st.DrawFn) -> tuple[NTPInstance, np.ndarray]:
    """``W = W_p + R W_d`` on a rank-``m`` instance, with ``W_p`` solving Eq. 4 and ``W_d``
    separating (both by least squares on logit targets), so ``CE - H ~ e^{-R}`` is tiny."""
    inst = dyadic(draw(nst.separable_instances()))
    H = inst.embeddings
    log_p = np.log(np.where(inst.supports, inst.probs, 1.0))
    W_p = np.linalg.lstsq(H, log_p, rcond=None)[0].T
    W_d = np.linalg.lstsq(H, np.where(inst.supports, 0.0, -1.0), rcond=None)[0].T
    R = draw(st.floats(1.0, 800.0))
    return inst, W_p + R * W_d


@given(near_entropy_decoders())
@example(  # found while developing: rows of thirds sum to 1 - 2^-53, which the slack covers
    (
        NTPInstance([[1.0]], [[1 / 3, 1 / 3, 1 / 3, 0.0]]),
        np.array([[-math.log(3)], [-math.log(3)], [-math.log(3)], [-7.0]]),
    )
)
def test_prop1_excess_loss_resolves_tiny_excess(pair):
    inst, W = pair
    reference, slack = decimal_excess(inst, W)
    excess = excess_loss(inst, W)
    # The package sums O(mV) non-negative terms in float64: 8 m V eps relative, plus the
    # effect of its logit rounding (slack, computed with the exact q - p).
    tol = 8 * inst.m * inst.vocab_size * EPS * reference + slack
    assert abs(excess - reference) <= tol, (
        f"excess_loss = {excess!r}, 60-digit value {reference!r} (tolerance {tol:.3g})"
    )


# -- gradient ------------------------------------------------------------------------------------


@st.composite
def decoder_and_direction(draw: st.DrawFn) -> tuple[NTPInstance, np.ndarray, np.ndarray]:
    inst = draw(nst.ntp_instances())
    W = draw(nst.weight_matrices(inst, max_log10_scale=2))
    E = draw(nst.weight_matrices(inst, max_entry=1.0))
    return inst, W, E


@given(decoder_and_direction())
def test_prop1_gradient_matches_finite_differences(triple):
    inst, W, E = triple
    # Along W + tE, the logits of context j move by s_j = E h_j; the third derivative of CE in
    # t is a weighted third central moment of s_j, at most spread(s_j)^3 in size.
    moves = inst.embeddings @ E.T
    third = float(inst.context_weights @ (np.ptp(moves, axis=1) ** 3))
    rounding = loss_rounding(inst, W + E)  # one CE evaluation, logits of W +- tE
    # Central differences: truncation t^2 third / 6, rounding 2 rounding / (2t); balance them.
    t = (3.0 * rounding / third) ** (1.0 / 3.0) if third > 0 else 1e-3
    fd = (ce_loss(inst, W + t * E) - ce_loss(inst, W - t * E)) / (2.0 * t)
    directional = float(np.sum(ce_grad(inst, W) * E))
    # The inner product of the gradient with E is itself rounded: (V d + m) eps times its
    # absolute terms, bounded by sum_j pi_j 2 max|s_j|.
    dot_rounding = (inst.vocab_size * inst.dim + inst.m) * EPS * 2.0 * float(np.abs(moves).max())
    tol = t**2 * third / 6.0 + rounding / t + dot_rounding
    assert abs(fd - directional) <= tol, (
        f"finite differences {fd!r} vs <grad, E> {directional!r} (t = {t:.3g}, tol {tol:.3g})"
    )


@given(instances_with_weights(nst.ntp_instances(), max_log10_scale=8))
def test_prop1_gradient_is_finite_and_orthogonal_to_constant_shifts(pair):
    # Adding the same vector to every row of W does not change any softmax, so the gradient's
    # columns sum to zero: sum_z (q_jz - p_jz) = 0 for every context.
    inst, W = pair
    G = ce_grad(inst, W)
    assert np.all(np.isfinite(G))
    scale = float(np.abs(inst.embeddings).sum(axis=0).max(initial=0.0)) + 1.0
    assert np.all(np.abs(G.sum(axis=0)) <= 4 * inst.vocab_size * inst.m * EPS * scale)
