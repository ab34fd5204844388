"""One-hot runs of the steepest-descent optimizers and the quantities their gates read.

Shared by ``test_nsd_onehot.py`` (NSD) and ``test_nmd_onehot.py`` (its momentum variants);
the notation (``L``, ``G``, ``gamma``, ``B``) is that of ``test_nsd_onehot.py``'s docstring.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ntpprops import ntp_svm_result
from ntpprops._loss import softmax_residual
from ntpprops._svm_norms import dual_norm, matrix_norm

__all__ = ["loss_proxy_margin", "margin_constants", "one_hot_atoms", "run_exact_gradients"]


def one_hot_atoms(inst):
    """Every ``(e_{y_j} - e_v) h_j^T``, ``v != y_j``, shape (n, V, d) (one-hot labels ``y``)."""
    labels = np.argmax(inst.supports, axis=1)
    out = []
    for j, y in enumerate(labels):
        for v in range(inst.vocab_size):
            if v != y:
                A = np.zeros(inst.weight_shape)
                A[y] += inst.embeddings[j]
                A[v] -= inst.embeddings[j]
                out.append(A)
    return np.array(out)


def margin_constants(inst, norm):
    """``(gamma, B)``: a certified solution's ``q``-margin over its norm, the data bound."""
    atoms = one_hot_atoms(inst)
    W = np.asarray(ntp_svm_result(inst, norm=norm).W)
    gamma = float(np.min(np.einsum("nvd,vd->n", atoms, W))) / matrix_norm(W, norm)
    bound = max(dual_norm(A, norm) for A in atoms)
    return gamma, bound


def run_exact_gradients(inst, optimizer, steps):
    """Iterates ``W_0 = 0, ..., W_T`` (T + 1, V, d), updates and gradients fed (T, V, d)."""
    weighted = inst.context_weights[:, None] * inst.embeddings
    W = np.zeros(inst.weight_shape)
    state = optimizer.init(W)
    iterates, updates, grads = [W], [], []
    for _ in range(steps):
        grad = softmax_residual(inst, inst.embeddings @ W.T).T @ weighted
        update, state = optimizer.update(grad, state, W)
        W = W + update
        iterates.append(W)
        updates.append(update)
        grads.append(grad)
    return np.array(iterates), np.array(updates), np.array(grads)


def loss_proxy_margin(inst, iterates):
    """``L_t``, ``G_t``, the minimum margin and ``max |logit|`` of each iterate, shape (T + 1,)."""
    labels = np.argmax(inst.supports, axis=1)
    Z = np.einsum("md,tvd->tmv", inst.embeddings, iterates)
    margins = Z[:, np.arange(inst.m), labels][:, :, None] - Z  # 0 at the label
    log_s = logsumexp(np.where(inst.supports, -np.inf, -margins), axis=2)  # log S_j
    per_loss = np.logaddexp(0.0, log_s)  # l_j = log(1 + S_j)
    per_proxy = np.exp(log_s - per_loss)  # S_j / (1 + S_j)
    lowest = np.min(np.where(inst.supports, np.inf, margins), axis=(1, 2))
    return (
        per_loss @ inst.context_weights,
        per_proxy @ inst.context_weights,
        lowest,
        np.max(np.abs(Z), axis=(1, 2)),
    )
