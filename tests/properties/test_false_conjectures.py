"""Plausible statements that are false, and the small counterexamples Hypothesis finds for them.

Each test runs ``hypothesis.find`` on the negation of a conjecture and asserts that a
counterexample exists, that it is small (the sizes are stated in each docstring), and that it
really is one, by a check that does not rely on the search: a brute-force verified witness,
or the structural obstruction proved in :func:`ntpprops.strategies.non_separable_instances`.

Separators and max-margin solutions are computed here as least-distance problems
(``min ||x|| s.t. G x >= 1``) with Lawson and Hanson's reduction to non-negative least
squares (``scipy.optimize.nnls``), independently of ``ntpprops``'s solvers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _oracles import dense_f_basis, line_obstruction
from hypothesis import Phase, find, settings
from scipy.optimize import nnls

from ntpprops import NTPInstance, is_separable, ntp_svm
from ntpprops import strategies as nst

FIND_SETTINGS = settings(
    max_examples=400, database=None, deadline=None, phases=[Phase.generate, Phase.shrink]
)

#: A candidate separator must meet (6a) and (6b) to this accuracy, relative to the logit scale
#: ``||W|| max ||h_j||``; LDP solutions of these tiny problems are exact to ~1e-14.
WITNESS_TOL = 1e-9


def least_distance(G: np.ndarray) -> np.ndarray | None:
    """``argmin ||x|| s.t. G x >= 1`` (Lawson and Hanson, LDP via NNLS), or None if infeasible.

    With ``E = [G^T; 1^T]`` and ``u = argmin_{u >= 0} ||E u - e_last||``, the residual
    ``r = E u - e_last`` is zero iff the constraints are infeasible; else ``x = -r[:-1] / r[-1]``.
    """
    n = G.shape[1]
    if G.shape[0] == 0:  # no constraints (nnls aborts on an empty matrix)
        return np.zeros(n)
    E = np.vstack([G.T, np.ones((1, G.shape[0]))])
    f = np.zeros(n + 1)
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=50 * E.shape[1])
    r = E @ u - f
    if np.linalg.norm(r) <= 1e-10:
        return None
    return -r[:-1] / r[-1]


def separation_rows(inst: NTPInstance, labels: list[list[int]] | None = None) -> np.ndarray:
    """Rows ``vec((e_z - e_v) h_j^T)`` for ``z`` the first token of ``labels[j]`` (default: of
    ``S_j``) and every ``v`` outside ``labels[j]``."""
    V, d = inst.weight_shape
    rows = []
    for j in range(inst.m):
        keep = labels[j] if labels is not None else list(np.flatnonzero(inst.supports[j]))
        for v in range(V):
            if v not in keep:
                diff = np.zeros(V)
                diff[keep[0]], diff[v] = 1.0, -1.0
                rows.append(np.kron(diff, inst.embeddings[j]))
    return np.array(rows).reshape(-1, V * d)


def ntp_max_margin(inst: NTPInstance) -> np.ndarray | None:
    """``W^mm`` (Definition 3) as an LDP over an orthonormal basis ``B`` of ``F^perp``."""
    Q = dense_f_basis(inst)
    V, d = inst.weight_shape
    B = np.linalg.svd(np.eye(V * d) - Q @ Q.T)[0][:, : V * d - Q.shape[1]]
    z = least_distance(separation_rows(inst) @ B)
    return None if z is None else (B @ z).reshape(V, d)


def is_witness(inst: NTPInstance, W: np.ndarray | None) -> bool:
    """Brute-force Definition 2: equal logits on every support, margins ``>= 1`` outside."""
    if W is None:
        return False
    L = inst.embeddings @ W.T
    scale = float(np.linalg.norm(W)) * float(np.abs(inst.embeddings).max()) + 1.0
    for j in range(inst.m):
        inside, outside = L[j, inst.supports[j]], L[j, ~inst.supports[j]]
        if np.ptp(inside) > WITNESS_TOL * scale:
            return False
        if outside.size and inside.min() - outside.max() < 1.0 - WITNESS_TOL * scale:
            return False
    return True


def separable(inst: NTPInstance) -> bool:
    return is_witness(inst, ntp_max_margin(inst))


def test_false_conjecture_d_at_least_m_implies_separable():
    """False: "``d >= m`` (no zero embedding) implies NTP-separable", even for ``d = m = 2``.
    Lemma 1 needs rank ``m``.

    Smallest counterexamples: ``m = 2, V = 2, d = 2``, two contexts on one line with clashing
    supports: ``h_1 = h_2 = e_1`` with different supports, or ``h_2 = -h_1`` with the same
    one (the search found the latter before the strategies knew it; see
    :func:`test_false_conjecture_counterexamples`).
    """
    # Searched where rank deficiency is common (m = d = 2, entries in {-1, 0, 1}); over the
    # default family such draws are rare (none in 400 for some seeds).
    square = nst.ntp_instances(
        weights=False, min_contexts=2, max_contexts=2, min_dim=2, max_dim=2, max_entry=1
    )
    inst = find(
        square,
        lambda i: bool(np.all(i.embeddings.any(axis=1))) and not separable(i),
        settings=FIND_SETTINGS,
    )
    assert (inst.m, inst.vocab_size, inst.dim) == (2, 2, 2), f"not minimal: {inst!r}"
    assert line_obstruction(inst), f"not provably non-separable: {inst!r}"
    assert not is_separable(inst), "the package disagrees with the proof"


def test_false_conjecture_separable_implies_d_at_least_m():
    """False: "NTP-separable (every support a strict subset) implies ``d >= m``".

    Smallest counterexample: ``m = 2, V = 2, d = 1``, e.g. ``h_1 = h_2 = 1`` with the same
    one-token support, separated by ``W = [[1], [0]]``.
    """
    inst = find(
        nst.ntp_instances(weights=False),
        lambda i: i.dim < i.m and not i.supports.all(axis=1).any() and separable(i),
        settings=FIND_SETTINGS,
    )
    assert (inst.m, inst.vocab_size, inst.dim) == (2, 2, 1), f"not minimal: {inst!r}"
    assert is_witness(inst, ntp_max_margin(inst))
    assert is_separable(inst), "the package disagrees with a verified witness"


def crammer_singer(inst: NTPInstance) -> np.ndarray | None:
    """Hard-margin multiclass SVM without bias on the most likely tokens (ties: smallest)."""
    labels = [[int(np.argmax(inst.probs[j]))] for j in range(inst.m)]
    w = least_distance(separation_rows(inst, labels))
    return None if w is None else w.reshape(inst.weight_shape)


def cosine(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.sum(A * B) / (np.linalg.norm(A) * np.linalg.norm(B)))


def test_false_conjecture_w_mm_is_the_svm_of_most_likely_tokens():
    """False: "GD's direction ``W^mm`` (Thm. 2) is the multiclass SVM of ``argmax_z p_jz``".

    Smallest counterexamples (``m V d <= 8``): ``m = 1, V = 3, d = 1`` with ``h = 1``,
    ``S = {0, 1}``, or ``m = 2, V = 2, d = 2`` with ``H = I`` and one full support; both
    hand-solved in :func:`test_false_conjecture_svm_counterexamples`.
    """
    inst = find(
        nst.separable_instances(weights=False),
        lambda i: cosine(ntp_max_margin(i), crammer_singer(i)) < 1 - 1e-6,
        settings=FIND_SETTINGS,
    )
    assert inst.m * inst.vocab_size * inst.dim <= 8, f"not minimal: {inst!r}"
    assert inst.m <= 2 and inst.vocab_size <= 3 and inst.dim <= 2, f"not minimal: {inst!r}"
    # The package's W^mm must show the same gap (its solver, not the LDP above).
    assert cosine(ntp_svm(inst), crammer_singer(inst)) < 1 - 1e-6


# -- the counterexamples found while developing, as regression cases ---------------------------

NON_SEPARABLE = {
    "same-ray": NTPInstance([[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]),
    # Found by the search: the strategies' first proof checker knew only positive multiples.
    "opposite-rays": NTPInstance([[0.0, 1.0], [0.0, -1.0]], [[1.0, 0.0], [1.0, 0.0]]),
}


@pytest.mark.parametrize("inst", NON_SEPARABLE.values(), ids=NON_SEPARABLE.keys())
def test_false_conjecture_counterexamples(inst):
    assert inst.dim >= inst.m and line_obstruction(inst)
    assert not separable(inst) and not is_separable(inst)


def test_false_conjecture_separable_with_d_below_m():
    inst = NTPInstance([[1.0], [1.0]], [[1.0, 0.0], [1.0, 0.0]])
    assert is_witness(inst, np.array([[1.0], [0.0]]))
    assert is_separable(inst)


SVM_CASES = {
    # W^mm = [1, 1, -2] / 3 and the SVM of token 0 is [2, -1, -1] / 3: cosine 3/6.
    "one-context": (NTPInstance([[1.0]], [[0.5, 0.5, 0.0]]), 0.5),
    # W^mm = [[1, 0], [-1, 0]] / 2 and the SVM of tokens (0, 0) is [[1, 1], [-1, -1]] / 2.
    "full-support": (NTPInstance(np.eye(2), [[1.0, 0.0], [0.5, 0.5]]), 1 / math.sqrt(2)),
}


@pytest.mark.parametrize(("inst", "expected"), SVM_CASES.values(), ids=SVM_CASES.keys())
def test_false_conjecture_svm_counterexamples(inst, expected):
    W_cs = crammer_singer(inst)
    # LDP answers of these 1-4 constraint problems are exact to ~1e-14; the package's W^mm
    # to its solver tolerance (its KKT report is checked elsewhere), ~1e-8.
    assert math.isclose(cosine(ntp_max_margin(inst), W_cs), expected, abs_tol=1e-9)
    assert math.isclose(cosine(ntp_svm(inst), W_cs), expected, abs_tol=1e-6)
