"""Sparse embeddings (one-hot corpora): the CSR products, and training through them.

The reference is the same computation with ``H`` dense (the path every other test covers):
the sparse path must give the same numbers up to the rounding of a different summation
order, never a different answer.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from _builders import relative_error

import ntpprops._embedding_ops as ops
from ntpprops import NTPInstance, ce_grad, ce_loss, smoothness_bound, train
from ntpprops._kernels import FusedGD

#: Sums of at most ``m`` products in a different order differ by ``m eps`` relative to the
#: sum of magnitudes; the instances below have ``m <= 60`` and well-scaled sums.
SUM_RTOL = 1e-12


@pytest.fixture
def force_sparse(monkeypatch):
    """Hold every embedding matrix sparse enough (density <= 1/2), whatever its size."""
    monkeypatch.setattr(ops, "SPARSE_MIN_ENTRIES", 0)
    monkeypatch.setattr(ops, "SPARSE_MAX_DENSITY", 0.5)


def _sparse_instance(seed: int, m: int = 30, V: int = 7, d: int = 40) -> NTPInstance:
    """Each context uses 3 random coordinates of ``d``; random supports of size 1-3."""
    rng = np.random.default_rng(seed)
    H = np.zeros((m, d))
    P = np.zeros((m, V))
    for j in range(m):
        H[j, rng.choice(d, 3, replace=False)] = rng.standard_normal(3)
        support = rng.choice(V, rng.integers(1, 4), replace=False)
        P[j, support] = rng.dirichlet(np.ones(support.size))
    return NTPInstance(H, P, rng.uniform(0.5, 1.5, m))


def test_operator_is_sparse_only_when_large_and_sparse():
    eye = np.eye(400)  # 160,000 entries, density 1/400
    assert isinstance(ops.as_operator(eye), scipy.sparse.csr_array)
    assert isinstance(ops.as_operator(np.eye(50)), np.ndarray)  # 2,500 entries: too small
    dense = np.ones((400, 400))
    assert isinstance(ops.as_operator(dense), np.ndarray)


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_products_equal_the_dense_ones(seed):
    rng = np.random.default_rng(seed)
    H = _sparse_instance(seed).embeddings
    S = scipy.sparse.csr_array(H)
    W = rng.standard_normal((7, H.shape[1]))
    C = rng.standard_normal((H.shape[0], 7))
    assert relative_error(ops.logits_of(S, W), H @ W.T) <= SUM_RTOL
    out = np.empty((H.shape[0], 7))
    assert ops.logits_of(S, W, out=out) is out
    assert relative_error(out, H @ W.T) <= SUM_RTOL
    pulled = ops.pull_back(S, C)
    assert pulled.flags.c_contiguous
    assert relative_error(pulled, C.T @ H) <= SUM_RTOL
    pi = rng.uniform(0.5, 1.5, H.shape[0])
    assert relative_error(ops.weighted(S, pi).toarray(), pi[:, None] * H) <= SUM_RTOL


def test_loss_gradient_and_smoothness_through_the_sparse_path(force_sparse):
    dense = _sparse_instance(3)
    W = np.random.default_rng(3).standard_normal(dense.weight_shape)
    expected = (ce_loss(dense, W), ce_grad(dense, W))
    sparse = NTPInstance(dense.embeddings, dense.probs, dense.context_weights)
    assert isinstance(ops.embedding_operator(sparse), scipy.sparse.csr_array)
    assert abs(ce_loss(sparse, W) - expected[0]) <= SUM_RTOL * abs(expected[0])
    assert relative_error(ce_grad(sparse, W), expected[1]) <= SUM_RTOL
    # lambda_max of diag(sqrt pi) K diag(sqrt pi), block by block: exact, so equal to the
    # dense eigenvalue up to the eigensolver's backward error (~ n eps ||K||).
    reference = (
        0.5
        * np.linalg.eigvalsh(
            (np.sqrt(dense.context_weights)[:, None] * dense.embeddings)
            @ (np.sqrt(dense.context_weights)[:, None] * dense.embeddings).T
        )[-1]
    )
    assert abs(smoothness_bound(sparse) - reference) <= 1e-12 * reference


@pytest.mark.parametrize("sizes", [(1, 1, 1, 1), (1, 3, 2, 1)])
def test_smoothness_over_orthogonal_groups_equals_the_dense_eigenvalue(force_sparse, sizes):
    # Groups of contexts on disjoint coordinate pairs: the grouped eigenvalue (single
    # contexts: the largest pi_j ||h_j||^2; else block by block) against the dense one.
    rng = np.random.default_rng(len(sizes) + sum(sizes))
    group = np.repeat(np.arange(len(sizes)), sizes)
    H = np.zeros((group.size, 2 * len(sizes)))
    for j, g in enumerate(group):
        H[j, 2 * g : 2 * g + 2] = rng.standard_normal(2)
    P = np.eye(3)[rng.integers(0, 3, group.size)]
    inst = NTPInstance(H, P, rng.uniform(0.5, 1.5, group.size))
    assert ops.context_groups(inst) is not None
    scaled = np.sqrt(inst.context_weights)[:, None] * H
    reference = 0.5 * np.linalg.eigvalsh(scaled @ scaled.T)[-1]
    # Both are eigensolver answers on (blocks of) the same matrix: ~ n eps ||K|| apart.
    assert abs(smoothness_bound(inst) - reference) <= 1e-12 * reference


@pytest.mark.parametrize("method", ["gd", "ngd", "adam"])
def test_training_on_sparse_embeddings_follows_the_dense_run(force_sparse, monkeypatch, method):
    dense = _sparse_instance(4)
    W0 = np.random.default_rng(4).standard_normal(dense.weight_shape) / 10.0
    with monkeypatch.context() as m:
        m.setattr(ops, "SPARSE_MIN_ENTRIES", 10**12)  # this run: the dense path
        reference = train(dense, method, steps=200, init=W0, limits=False)
    sparse = NTPInstance(dense.embeddings, dense.probs, dense.context_weights)
    assert isinstance(ops.embedding_operator(sparse), scipy.sparse.csr_array)
    run = train(sparse, method, steps=200, init=W0, limits=False)
    # 200 contracting steps (eta <= 1/(2L)) or bounded steps (ngd, adam, lr 0.01) each add
    # rounding of order SUM_RTOL; 1e-9 leaves three orders of magnitude for its growth.
    assert relative_error(run.W, reference.W) <= 1e-9
    assert np.all(np.abs(run.loss - reference.loss) <= 1e-9 * np.abs(reference.loss))


def test_fused_gd_refuses_logit_mode_for_sparse_embeddings():
    inst = _sparse_instance(5)
    S = scipy.sparse.csr_array(inst.embeddings)
    with pytest.raises(ValueError, match="weight mode"):
        FusedGD(S, inst.probs, inst.context_weights, 0.1, np.zeros(inst.weight_shape), mode="logit")
    assert FusedGD(S, inst.probs, inst.context_weights, 0.1, np.zeros(inst.weight_shape)).mode == (
        "weight"
    )
