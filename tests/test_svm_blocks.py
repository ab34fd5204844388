"""Separability and W^mm by orthogonal groups of contexts (ntpprops._svm_blocks).

References: a hand-derived W^mm for two one-hot contexts, the whole-instance active-set
solution of the same instance held dense, and the solver-free Farkas check.
"""

from __future__ import annotations

import numpy as np
import pytest
from _builders import relative_error

import ntpprops._embedding_ops as ops
from ntpprops import NTPInstance, is_separable, ntp_svm_result
from ntpprops._embedding_ops import context_groups
from ntpprops._separation import separability_certificate_bound


@pytest.fixture
def force_sparse(monkeypatch):
    monkeypatch.setattr(ops, "SPARSE_MIN_ENTRIES", 0)
    monkeypatch.setattr(ops, "SPARSE_MAX_DENSITY", 0.5)


def _copy(inst: NTPInstance) -> NTPInstance:
    """The same instance with an empty cache (solved afresh)."""
    return NTPInstance(inst.embeddings, inst.probs, inst.context_weights)


def _block_instance(seed: int, sizes: tuple[int, ...] = (1, 3, 1, 2, 3), V: int = 6) -> NTPInstance:
    """Groups of ``sizes`` contexts; group g lives on its own 2 coordinates, so groups are
    orthogonal and ``rank H = 2 < size`` inside a group of 3. Supports of size 1-2."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(len(sizes)), sizes)
    m, d = group.size, 2 * len(sizes)
    H = np.zeros((m, d))
    P = np.zeros((m, V))
    for j in range(m):
        H[j, 2 * group[j] : 2 * group[j] + 2] = rng.standard_normal(2)
        support = rng.choice(V, rng.integers(1, 3), replace=False)
        P[j, support] = rng.dirichlet(np.ones(support.size))
    return NTPInstance(H, P)


def test_two_one_hot_contexts_have_the_hand_derived_w_mm(force_sparse):
    # h_1 = (2, 0) with S_1 = {0}; h_2 = (0, 1) with S_2 = {1, 2}; V = 3. Per context,
    # W h_j = u_j with u = a on S and b off S, a - b = 1, minimising s a^2 + (V - s) b^2:
    # u_1 = (2/3, -1/3, -1/3), u_2 = (-2/3, 1/3, 1/3); W = sum_j u_j h_j^T / ||h_j||^2.
    inst = NTPInstance(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([[1, 0, 0], [0, 0.5, 0.5]]))
    assert context_groups(inst) is not None
    expected = np.array([[1 / 3, -2 / 3], [-1 / 6, 1 / 3], [-1 / 6, 1 / 3]])
    result = ntp_svm_result(inst)
    assert result.kkt.ok
    assert relative_error(result.W, expected) <= 1e-15 * 10  # a few roundings of 1/3, 1/6


@pytest.mark.parametrize("seed", range(6))
def test_groups_give_the_whole_instance_answer(force_sparse, monkeypatch, seed):
    inst = _block_instance(seed)
    assert context_groups(inst) is not None
    with monkeypatch.context() as m:
        m.setattr(ops, "SPARSE_MIN_ENTRIES", 10**12)  # the reference: solved as a whole
        whole = _copy(inst)
        assert context_groups(whole) is None
        expected = is_separable(whole)
        reference = ntp_svm_result(whole).W if expected else None
    result = is_separable(inst)
    assert result.separable == expected.separable
    if result:
        svm = ntp_svm_result(inst)
        assert svm.kkt.ok
        # Both answers pass the 1e-8 KKT check of a strongly convex problem whose unique
        # solution they approximate; they agree far better in practice.
        assert relative_error(svm.W, reference) <= 1e-8
    else:
        assert separability_certificate_bound(inst, result.certificate) >= 1e8


def test_a_non_separable_group_makes_the_whole_instance_non_separable(force_sparse):
    # Group 1: one coordinate, contexts h = 1 and h = 2 that both predict token 0 only, and
    # h = -1 predicting token 1 only: separable. Group 2: h = 1 and h = 2 with the same
    # direction but disjoint supports {0} and {1} (one direction cannot rank both ways).
    H = np.array([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    P = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [1.0, 0, 0], [0, 1.0, 0]])
    inst = NTPInstance(H, P)
    assert context_groups(inst) is not None
    result = is_separable(inst)
    assert not result
    assert result.certificate is not None
    # The certificate lives on the second group's atoms only, and is checked without solver.
    atoms_ctx = np.nonzero(~inst.supports)[0]
    assert np.all(result.certificate[atoms_ctx < 3] == 0.0)
    assert separability_certificate_bound(inst, result.certificate) >= 1e8


def test_a_zero_embedding_with_a_full_support_constrains_nothing(force_sparse):
    # Context 3 has h = 0 and predicts every token: it has no atom, so it neither certifies
    # non-separability nor changes W^mm; the other contexts are one-hot and separable.
    H = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    P = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.2, 0.3, 0.5]])
    inst = NTPInstance(H, P)
    assert context_groups(inst) is not None
    assert is_separable(inst)
    assert ntp_svm_result(inst).kkt.ok


def test_dense_embeddings_are_never_split():
    inst = NTPInstance(np.eye(4), np.eye(4)[[0, 1, 2, 3]])  # 16 entries: held dense
    assert context_groups(inst) is None
