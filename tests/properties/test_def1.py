"""Definition 1 (NTP_H-compatibility) and the finite limit ``W*``.

``W*`` must lie in ``F``, solve Eq. 4 over *every* pair of support tokens, be the projection
``P_F`` of every other solution ``W* + N`` (``N in F^perp``), and not depend on the anchors
that generate ``F`` nor on the solution method (here: dense minimum-norm least squares over
all pairs, whose solution lies in the row space, i.e. in ``F``). Incompatible instances raise
``NotCompatibleError`` with a certificate that is re-checked here with dense algebra.
"""

from __future__ import annotations

import numpy as np
import pytest
from _checks import COMPATIBLE, w_star_tolerance
from _oracles import (
    EPS,
    all_pairs,
    atom_rows,
    condition,
    dense_f_basis,
    dense_w_star,
    log_ratios,
    project_f_dense,
    project_perp_dense,
)
from hypothesis import assume, example, given
from hypothesis import strategies as st

from ntpprops import NotCompatibleError, NTPInstance, is_compatible, project_f, w_star
from ntpprops import strategies as nst
from ntpprops._atoms import atom_coefficients, atom_gram
from ntpprops._subspace import f_generators, kernel

# -- W* ---------------------------------------------------------------------------------------


@given(COMPATIBLE)
@example(  # Fig. 1-like: two contexts sharing a token; W* is non-trivial but exact
    NTPInstance([[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.25, 0.25, 0.0], [0.0, 0.5, 0.5, 0.0]])
)
def test_def1_w_star_lies_in_f_and_solves_eq4(inst):
    W = w_star(inst)
    tol = w_star_tolerance(inst, W)
    assert np.linalg.norm(W - project_f_dense(inst, W)) <= tol, "W* is not in F"
    pairs = all_pairs(inst)
    if len(pairs):
        A = atom_rows(inst, pairs)
        residual = np.abs(A @ W.reshape(-1) - log_ratios(inst, pairs))
        # A residual is a row of A times the error of W*: at most ||A_row|| tol.
        assert residual.max() <= float(np.linalg.norm(A, axis=1).max()) * tol + 4 * EPS, (
            f"W* violates Eq. 4 by {residual.max():.3g}"
        )


@given(COMPATIBLE)
def test_def1_w_star_matches_dense_least_squares(inst):
    W = w_star(inst)
    reference = dense_w_star(inst)[0]
    assert np.linalg.norm(W - reference) <= w_star_tolerance(inst, reference), (
        f"W* differs from the dense minimum-norm solution by {np.linalg.norm(W - reference):.3g}"
    )


@st.composite
def solutions_off_f(draw: st.DrawFn) -> tuple[NTPInstance, np.ndarray]:
    """A compatible instance and ``N in F^perp`` of any size (the dense projector of a draw)."""
    inst = draw(COMPATIBLE)
    E = draw(nst.weight_matrices(inst, max_log10_scale=6))
    return inst, project_perp_dense(inst, E)


@given(solutions_off_f())
def test_def1_w_star_is_projection_of_every_solution(pair):
    inst, N = pair
    W = w_star(inst)
    other = W + N
    pairs = all_pairs(inst)
    tol_w = w_star_tolerance(inst, W)
    # N is in F^perp only up to the dense projector's rounding, ~ eps cond ||N||.
    tol_n = (
        100.0
        * EPS
        * condition(atom_rows(inst, f_generators(inst))) ** 2
        * (float(np.linalg.norm(N)) + 1.0)
    )
    if len(pairs):
        A = atom_rows(inst, pairs)
        residual = np.abs(A @ other.reshape(-1) - log_ratios(inst, pairs)).max()
        row = float(np.linalg.norm(A, axis=1).max())
        assert residual <= row * (tol_w + tol_n) + 4 * EPS, "W* + N should solve Eq. 4 too"
    assert np.linalg.norm(project_f(inst, other) - W) <= tol_w + tol_n, "P_F(W* + N) != W*"


@st.composite
def anchored(draw: st.DrawFn) -> tuple[NTPInstance, np.ndarray]:
    """A compatible instance and one anchor token ``a_j in S_j`` per context."""
    inst = draw(COMPATIBLE)
    anchors = [
        int(np.flatnonzero(inst.supports[j])[draw(st.integers(0, inst.support_sizes[j] - 1))])
        for j in range(inst.m)
    ]
    return inst, np.array(anchors)


@given(anchored())
def test_def1_w_star_independent_of_anchors(pair):
    inst, anchors = pair
    gens = f_generators(inst, anchors=anchors)
    assert np.all(gens.pos == anchors[gens.ctx])
    W = w_star(inst)
    if len(gens) == 0:
        np.testing.assert_array_equal(W, 0.0)
    assume(len(gens) > 0)  # F = {0}: W* = 0 (checked above), no anchors to vary
    # The kernel form with these anchors, solved by dense least squares (not the package's
    # factorisation): sum_g alpha_g g with G alpha = b.
    G = atom_gram(kernel(inst), gens)
    alpha = np.linalg.lstsq(G, log_ratios(inst, gens), rcond=None)[0]
    other = atom_coefficients(gens, alpha, inst.m, inst.vocab_size).T @ inst.embeddings
    tol = w_star_tolerance(inst, W) + 100.0 * EPS * condition(atom_rows(inst, gens)) ** 2 * (
        float(np.linalg.norm(W)) + 1.0
    )
    assert np.linalg.norm(other - W) <= tol, "W* depends on the anchors"


@given(COMPATIBLE)
def test_def1_dim_f_matches_dense_basis(inst):
    assert is_compatible(inst).f_dim == dense_f_basis(inst).shape[1]


# -- incompatible instances -----------------------------------------------------------------------


@given(
    st.one_of(
        nst.incompatible_instances(),
        nst.full_support_instances(compatible=False, min_contexts=2),
        nst.separable_instances(
            overparameterized=False, compatible=False, min_contexts=2, min_vocab=3
        ),
    )
)
@example(  # the smallest incompatible instance: one ray, ratios 1:1 and 1:2
    NTPInstance([[1.0], [1.0]], [[0.5, 0.5], [1 / 3, 2 / 3]])
)
def test_def1_incompatible_raises_with_verified_certificate(inst):
    assert not is_compatible(inst)
    with pytest.raises(NotCompatibleError) as info:
        w_star(inst)
    result = info.value.certificate
    assert result is not None and not result.compatible
    y = np.asarray(result.certificate)
    gens = f_generators(inst)  # the certificate weighs the default generators
    assert y.shape == (len(gens),)
    b = log_ratios(inst, gens)
    # y . b = 1 by construction; recomputing b with math.log changes it by ~eps ||y|| ||b||.
    assert abs(float(y @ b) - 1.0) <= 1e3 * EPS * float(np.linalg.norm(y) * np.linalg.norm(b))
    D = float(np.linalg.norm(atom_rows(inst, gens).T @ y))  # ||sum_g y_g g||, densely
    # Any W solving Eq. 4 has 1 = <W, D> <= ||W|| ||D||. The clash is exact in integers
    # (>= 6e-5 in log-ratio, see test_strategies), so D is rounding: ~eps ||y|| ||g|| with
    # ||y|| <~ 1e2 / 6e-5; that leaves ||W|| >= ~1e9 -- we ask for 1e6.
    assert D == 0.0 or 1.0 / D >= 1e6, f"certificate only excludes ||W|| < {1 / D:.3g}"
