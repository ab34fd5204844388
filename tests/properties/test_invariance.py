"""Symmetries of ``W*`` (Definition 1) and ``W^mm`` (Definition 3).

Relabelling contexts changes nothing; relabelling tokens permutes the rows; an orthogonal
map ``h -> Q h`` of embedding space acts as ``W -> W Q^T``; ``W*`` ignores ``pi``; ``W^mm``
ignores ``pi`` and the in-support values of ``P``.

Tolerances: ``W*`` is compared with the forward-error bound ``_checks.w_star_tolerance``;
for ``W^mm``, :func:`_checks.svm_distance_bound` proves from each solution's own duals how far
it can be from the exact ``W^mm`` of its instance, and the triangle inequality adds the bounds
(every map here is an isometry, so distances carry over).
"""

from __future__ import annotations

import math

import numpy as np
from _checks import svm_distance_bound, w_star_tolerance
from _oracles import EPS
from hypothesis import given
from hypothesis import strategies as st

from ntpprops import NTPInstance, ntp_svm_result, w_star
from ntpprops import strategies as nst
from ntpprops._separability import separation_atoms

COMPATIBLE = st.one_of(
    nst.ntp_instances(compatible=True),
    nst.separable_instances(),
    nst.full_support_instances(compatible=True),
)
SEPARABLE = st.one_of(
    nst.separable_instances(),
    nst.separable_instances(overparameterized=False, max_contexts=5),
    nst.one_hot_instances(separable=True),
)


def w_mm_and_bound(inst: NTPInstance) -> tuple[np.ndarray, float]:
    """``W^mm`` from the package and a proven bound on its distance to the exact one."""
    result = ntp_svm_result(inst)
    W = np.asarray(result.W)
    return W, svm_distance_bound(inst, W, separation_atoms(inst), np.asarray(result.duals))


def apply_rounding(W: np.ndarray, d: int) -> float:
    """Rounding of ``W Q^T`` for orthogonal ``Q``: ``d eps ||W||`` per entry, summed."""
    return 4.0 * d * EPS * float(np.linalg.norm(W)) * math.sqrt(W.size)


# -- transformations, drawn -------------------------------------------------------------------


@st.composite
def orthogonal_maps(draw: st.DrawFn, d: int) -> np.ndarray:
    """A signed permutation (exact) times a Givens rotation by a drawn angle (shrinks to I)."""
    perm = draw(st.permutations(range(d)))
    signs = np.array([-1.0 if draw(st.booleans()) else 1.0 for _ in range(d)])
    Q = np.eye(d)[list(perm)] * signs[:, None]
    if d >= 2:
        i, k = sorted(draw(st.lists(st.integers(0, d - 1), min_size=2, max_size=2, unique=True)))
        theta = draw(st.floats(0.0, 2.0 * math.pi))
        G = np.eye(d)
        G[i, i] = G[k, k] = math.cos(theta)
        G[i, k], G[k, i] = -math.sin(theta), math.sin(theta)
        Q = G @ Q
    return Q


def permute_contexts(inst: NTPInstance, order: list[int]) -> NTPInstance:
    return NTPInstance(inst.embeddings[order], inst.probs[order], inst.context_weights[order])


def permute_tokens(inst: NTPInstance, sigma: list[int]) -> NTPInstance:
    """New token ``k`` is old token ``sigma[k]``."""
    return NTPInstance(inst.embeddings, inst.probs[:, sigma], inst.context_weights)


def rotate(inst: NTPInstance, Q: np.ndarray) -> NTPInstance:
    return NTPInstance(inst.embeddings @ Q.T, inst.probs, inst.context_weights)


@st.composite
def with_transform(draw: st.DrawFn, instances: st.SearchStrategy[NTPInstance], kind: str):
    inst = draw(instances)
    if kind == "contexts":
        return inst, draw(st.permutations(range(inst.m)))
    if kind == "tokens":
        return inst, draw(st.permutations(range(inst.vocab_size)))
    return inst, draw(orthogonal_maps(inst.dim))


@st.composite
def reweighted(draw: st.DrawFn, instances: st.SearchStrategy[NTPInstance], in_support: bool):
    """The instance and a copy with new ``pi`` (and, if ``in_support``, new in-support values)."""
    inst = draw(instances)
    pi = np.array(draw(st.lists(st.integers(1, 9), min_size=inst.m, max_size=inst.m)), float)
    probs = inst.probs
    if in_support:
        counts = np.array(
            draw(st.lists(st.integers(1, 9), min_size=inst.probs.size, max_size=inst.probs.size))
        ).reshape(inst.probs.shape)
        masked = np.where(inst.supports, counts, 0.0)
        probs = masked / masked.sum(axis=1, keepdims=True)
    return inst, NTPInstance(inst.embeddings, probs, pi)


# -- W* ---------------------------------------------------------------------------------------


@given(with_transform(COMPATIBLE, "contexts"))
def test_def1_w_star_invariant_under_context_permutation(pair):
    inst, order = pair
    W = w_star(inst)
    assert np.linalg.norm(w_star(permute_contexts(inst, order)) - W) <= 2 * w_star_tolerance(
        inst, W
    )


@given(with_transform(COMPATIBLE, "tokens"))
def test_def1_w_star_rows_follow_token_permutation(pair):
    inst, sigma = pair
    W = w_star(inst)
    moved = w_star(permute_tokens(inst, sigma))
    assert np.linalg.norm(moved - W[sigma]) <= 2 * w_star_tolerance(inst, W)


@given(with_transform(COMPATIBLE, "orthogonal"))
def test_def1_w_star_equivariant_under_orthogonal_maps(pair):
    inst, Q = pair
    W = w_star(inst)
    moved = w_star(rotate(inst, Q))
    tol = 2 * w_star_tolerance(inst, W) + apply_rounding(W, inst.dim)
    assert np.linalg.norm(moved - W @ Q.T) <= tol


@given(reweighted(COMPATIBLE, in_support=False))
def test_def1_w_star_ignores_context_weights(pair):
    inst, other = pair
    W = w_star(inst)
    assert np.linalg.norm(w_star(other) - W) <= 2 * w_star_tolerance(inst, W)


# -- W^mm -------------------------------------------------------------------------------------


@given(with_transform(SEPARABLE, "contexts"))
def test_def3_w_mm_invariant_under_context_permutation(pair):
    inst, order = pair
    W, bound = w_mm_and_bound(inst)
    moved, moved_bound = w_mm_and_bound(permute_contexts(inst, order))
    assert np.linalg.norm(moved - W) <= bound + moved_bound


@given(with_transform(SEPARABLE, "tokens"))
def test_def3_w_mm_rows_follow_token_permutation(pair):
    inst, sigma = pair
    W, bound = w_mm_and_bound(inst)
    moved, moved_bound = w_mm_and_bound(permute_tokens(inst, sigma))
    assert np.linalg.norm(moved - W[sigma]) <= bound + moved_bound


@given(with_transform(SEPARABLE, "orthogonal"))
def test_def3_w_mm_equivariant_under_orthogonal_maps(pair):
    inst, Q = pair
    W, bound = w_mm_and_bound(inst)
    moved, moved_bound = w_mm_and_bound(rotate(inst, Q))
    tol = bound + moved_bound + apply_rounding(W, inst.dim)
    assert np.linalg.norm(moved - W @ Q.T) <= tol


@given(reweighted(SEPARABLE, in_support=True))
def test_def3_w_mm_ignores_weights_and_in_support_values(pair):
    inst, other = pair
    W, bound = w_mm_and_bound(inst)
    moved, moved_bound = w_mm_and_bound(other)
    assert np.linalg.norm(moved - W) <= bound + moved_bound
