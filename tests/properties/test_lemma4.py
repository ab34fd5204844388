"""Lemma 4.1-4.2: ``CE_F(W*) = H`` and ``W*`` is the unique minimiser of ``CE_F`` on ``F``;
with the facts the proof rests on: ``CE >= CE_F`` everywhere and ``CE_F`` depends on ``P_F W``
only.

``CE_F`` (Eq. 12) is recomputed here from its definition with ``math`` (a log-sum-exp over
the in-support logit differences of each context), alongside ``ntpprops.ce_f_loss``.
"""

from __future__ import annotations

import math

import numpy as np
from _checks import COMPATIBLE, f_curvature, loss_rounding
from _oracles import EPS, naive_ce_f, project_f_dense, project_perp_dense
from hypothesis import assume, example, given
from hypothesis import strategies as st

from ntpprops import NTPInstance, ce_f_loss, ce_loss, w_star
from ntpprops import strategies as nst


@st.composite
def f_directions(draw: st.DrawFn) -> tuple[NTPInstance, np.ndarray]:
    """A compatible instance and a direction ``Delta in F`` (any size, zero when ``F = {0}``)."""
    inst = draw(COMPATIBLE)
    E = draw(nst.weight_matrices(inst, max_log10_scale=3))
    return inst, project_f_dense(inst, E)


# -- Lemma 4 -----------------------------------------------------------------------------------


@given(COMPATIBLE)
@example(NTPInstance([[1.0, 0.0], [1.0, 1.0]], [[0.5, 0.25, 0.25], [0.2, 0.0, 0.8]]))
def test_lemma4_ce_f_at_w_star_is_entropy(inst):
    W = w_star(inst)
    # W* is exact up to ~1e-10 relative (test_def1) and CE_F is flat to first order at W*,
    # so only the rounding of the evaluation remains.
    tol = loss_rounding(inst, W)
    assert abs(ce_f_loss(inst, W) - inst.entropy) <= tol, "CE_F(W*) != H"
    assert abs(naive_ce_f(inst, W) - inst.entropy) <= tol, "Eq. 12 at W* != H"


def growth_floor(inst: NTPInstance, size: float) -> float:
    """A proven lower bound on ``CE_F(W* + Delta) - H`` for ``Delta in F``, ``||Delta|| = size``.

    With ``mu`` the smallest Hessian eigenvalue of ``CE_F`` on ``F`` at ``W*`` and ``c`` the
    third-derivative bound of :func:`_checks.f_curvature`: Taylor gives ``>= mu s^2 / 4`` for
    ``s <= r0 = 3 mu / (2 c)``, and convexity (minimum at 0) extends it linearly beyond r0.
    """
    mu, c = f_curvature(inst)
    if not (math.isfinite(mu) and mu > 0 and c > 0):
        return 0.0
    r0 = 1.5 * mu / c
    return 0.25 * mu * size**2 if size <= r0 else 0.25 * mu * r0 * size


@given(f_directions())
def test_lemma4_w_star_is_the_unique_minimiser_on_f(pair):
    inst, delta = pair
    W = w_star(inst)
    moved = W + delta
    tol = loss_rounding(inst, moved) + loss_rounding(inst, W)
    floor = growth_floor(inst, float(np.linalg.norm(delta)))
    for value in (ce_f_loss(inst, moved), naive_ce_f(inst, moved)):
        assert value - inst.entropy >= floor - tol, (
            f"CE_F(W* + Delta) - H = {value - inst.entropy:.3g} below the strict-convexity "
            f"floor {floor:.3g}: W* is not the unique minimiser on F"
        )


@given(f_directions())
def test_lemma4_w_star_is_stationary_on_f(pair):
    inst, delta = pair
    norm = float(np.linalg.norm(delta))
    assume(norm > 0.0)  # F = {0} or a zero draw: no direction to differentiate along
    unit = delta / norm
    W = w_star(inst)
    _, third = f_curvature(inst)  # |g'''| <= c per unit direction
    rounding = loss_rounding(inst, W + unit)
    t = (3.0 * rounding / third) ** (1.0 / 3.0) if third > 0 else 1e-4
    slope = (ce_f_loss(inst, W + t * unit) - ce_f_loss(inst, W - t * unit)) / (2.0 * t)
    # g'(0) = 0; central differences err by t^2 c / 6 (truncation) + rounding / t.
    assert abs(slope) <= t**2 * third / 6.0 + rounding / t, f"dCE_F/dt at W* is {slope:.3g}"


# -- the facts the proof uses ---------------------------------------------------------------------


@st.composite
def instances_with_weights(draw: st.DrawFn) -> tuple[NTPInstance, np.ndarray]:
    inst = draw(nst.ntp_instances())
    return inst, draw(nst.weight_matrices(inst, max_log10_scale=8))


@given(instances_with_weights())
def test_lemma4_ce_dominates_ce_f(pair):
    # Dropping out-of-support tokens from the softmax can only raise every in-support q.
    inst, W = pair
    tol = 2.0 * loss_rounding(inst, W)
    assert ce_loss(inst, W) >= ce_f_loss(inst, W) - tol
    assert abs(ce_f_loss(inst, W) - naive_ce_f(inst, W)) <= tol


@st.composite
def weights_and_perp(draw: st.DrawFn) -> tuple[NTPInstance, np.ndarray, np.ndarray]:
    inst = draw(nst.ntp_instances())
    W = draw(nst.weight_matrices(inst, max_log10_scale=2))
    N = project_perp_dense(inst, draw(nst.weight_matrices(inst, max_log10_scale=2)))
    return inst, W, N


@given(weights_and_perp())
def test_lemma4_ce_f_depends_only_on_the_f_component(triple):
    inst, W, N = triple
    # N leaves every in-support logit difference unchanged, up to the dense projector's
    # rounding: ~1e3 eps ||N|| ||h|| per logit (a few eps per SVD entry, summed over V d).
    leak = 1e3 * EPS * float(np.linalg.norm(N)) * float(np.abs(inst.embeddings).max(initial=0))
    tol = loss_rounding(inst, W) + loss_rounding(inst, W + N) + 2.0 * leak
    assert abs(ce_f_loss(inst, W + N) - ce_f_loss(inst, W)) <= tol
