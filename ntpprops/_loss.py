"""Cross-entropy, its gradient, the excess over the entropy, and the support-only loss CE_F.

All functions take ``W`` of shape ``(V, d)``; context ``j`` gets logits ``W h_j``. Every
quantity is computed from log-sum-exp forms, so it stays finite and accurate at huge norms.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp

from ntpprops._embedding_ops import (
    EmbeddingOperator,
    context_groups,
    embedding_operator,
    logits_of,
    pull_back,
    weighted,
)
from ntpprops._errors import InvalidInstanceError
from ntpprops._instance import NTPInstance, as_weights
from ntpprops._linalg import extreme_eigenvalue

__all__ = [
    "ce_f_loss",
    "ce_grad",
    "ce_loss",
    "excess_loss",
    "logits",
    "safe_step_size",
    "smoothness_bound",
    "softmax",
    "softmax_residual",
]

FloatArray = NDArray[np.float64]


def logits(inst: NTPInstance, W: ArrayLike) -> FloatArray:
    """Logits ``H W^T`` of every context, shape (m, V).

    Raises
    ------
    InvalidInstanceError
        If ``W`` is malformed (see :func:`as_weights`) or so large that a logit overflows.
    """
    W = as_weights(inst, W)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        scores = logits_of(embedding_operator(inst), W)
    if not np.all(np.isfinite(scores)):
        raise InvalidInstanceError(
            "W is too large for this instance: the logits H W^T overflow float64 "
            f"(max |W| = {float(np.max(np.abs(W))):.3g})"
        )
    return scores


def softmax(scores: FloatArray) -> FloatArray:
    """Row-wise softmax of ``scores`` (m, V), shifted by the row maximum (never overflows)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    probs: FloatArray = shifted
    return probs


def ce_loss(inst: NTPInstance, W: ArrayLike) -> float:
    """Cross-entropy ``CE(W)`` of Eq. 2, in nats.

    Parameters
    ----------
    inst : NTPInstance
    W : array_like, shape (V, d)

    Returns
    -------
    float
        ``-sum_j pi_j sum_{z in S_j} p_jz log softmax_z(W h_j)``.
    """
    neg_log_q = -_log_softmax(logits(inst, W), None)
    per_context = np.where(inst.supports, inst.probs * neg_log_q, 0.0).sum(axis=1)
    return float(inst.context_weights @ per_context)


def _log_softmax(L: FloatArray, mask: NDArray[np.bool_] | None) -> FloatArray:
    """Row-wise ``log softmax`` of ``L`` over the entries in ``mask`` (all when ``None``).

    Computed as ``(l - max) - log sum exp(l - max)``, never as ``l - logsumexp(l)``: with
    logits of size 1e6 the latter carries an absolute error of ``ulp(1e6) ~ 1e-10``, the
    former an error relative to the (small) differences that matter. Entries outside
    ``mask`` come out relative to the mask's partition (used for out-of-support tokens).
    """
    if mask is None:
        top = L.max(axis=1, keepdims=True)
        shifted = L - top
        full: FloatArray = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return full
    top = np.where(mask, L, -np.inf).max(axis=1, keepdims=True)
    shifted = L - top
    in_mass = np.where(mask, np.exp(np.where(mask, shifted, 0.0)), 0.0).sum(axis=1, keepdims=True)
    masked: FloatArray = shifted - np.log(in_mass)
    return masked


def ce_grad(inst: NTPInstance, W: ArrayLike) -> FloatArray:
    """Gradient ``(softmax(H W^T) - P)^T diag(pi) H`` of the cross-entropy, shape (V, d)."""
    residual = softmax(logits(inst, W))
    residual -= inst.probs
    return pull_back(embedding_operator(inst), inst.context_weights[:, None] * residual)


def softmax_residual(inst: NTPInstance, L: FloatArray) -> FloatArray:
    """``softmax(L) - P`` (m, V) without cancellation in the in-support entries.

    Computed as ``q_z - p_z = (q_{z|S} - p_z) - q_{z|S} q_out`` for ``z in S_j`` (``q_{z|S}``
    the softmax over the support, ``q_out`` the out-of-support mass from ``expm1``) and
    ``q_v`` for ``v not in S_j``. The plain ``softmax(L) - P`` rounds ``q_z - p_z`` to 0 once
    ``q_out`` falls below machine epsilon (one-hot: ``q_z = 1 - q_out`` is 1.0): harmless for
    GD, whose steps scale with the residual, but sign-type methods (``sign``, ``nsd-*``,
    ``signum``) then read ``sign(0)`` or the sign of rounding noise as a full-size step.
    """
    log_q_support = _log_softmax(L, inst.supports)
    log_out = _out_of_support_log_ratio(inst, log_q_support)
    q_out = -np.expm1(-log_out)[:, None]  # out-of-support mass, accurate when tiny
    q_cond = np.exp(np.where(inst.supports, log_q_support, -np.inf))
    in_support = (q_cond - inst.probs) - q_cond * q_out
    out_support = np.exp(np.where(inst.supports, -np.inf, log_q_support) - log_out[:, None])
    return np.where(inst.supports, in_support, out_support)


def _out_of_support_log_ratio(inst: NTPInstance, log_q_support: FloatArray) -> FloatArray:
    """``log(1 + sum_{v not in S_j} exp(l_jv - lse_support_j)) = -log(1 - q_out)``, shape (m,).

    ``log_q_support`` is :func:`_log_softmax` over the supports, so its out-of-support entries
    are ``l_jv - lse_support_j``; accurate even when the out-of-support mass is far below
    machine epsilon.
    """
    masked_out = np.where(inst.supports, -np.inf, log_q_support)
    with np.errstate(divide="ignore"):
        log_ratio = logsumexp(masked_out, axis=1)  # -inf for a full support
    out: FloatArray = np.logaddexp(0.0, log_ratio)
    return out


def excess_loss(inst: NTPInstance, W: ArrayLike) -> float:
    """``CE(W) - H = sum_j pi_j KL(p_j || softmax(W h_j))``, computed directly.

    The KL divergence is split into the in-support part, summed as
    ``sum_z p_z (x_z + expm1(-x_z))`` with ``x_z = log(p_z / q_z|S)`` (every term is
    non-negative and second-order accurate near 0), plus ``-log(1 - q_out)`` from
    ``logaddexp``; so tiny excesses (down to about 1e-300) are resolved instead of being lost
    to the cancellation in ``CE - H``. Where ``x_z < -1`` the same term is summed as
    ``p_z x_z + (q_z|S - p_z)``: ``expm1(-x_z)`` would overflow for subnormal ``p_z``, and this
    form loses at most a few ulps there.

    Parameters
    ----------
    inst : NTPInstance
    W : array_like, shape (V, d)

    Returns
    -------
    float
        Non-negative.
    """
    kl_support, log_out, _ = excess_terms(inst, logits(inst, W))
    return float(inst.context_weights @ (kl_support + log_out))


def excess_terms(inst: NTPInstance, L: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-context parts of the excess loss at logits ``L`` (m, V), as in :func:`excess_loss`.

    Returns
    -------
    kl_support : ndarray, shape (m,)
        ``KL(p_j || q_j restricted to S_j)``, summed term by term without cancellation.
    log_out : ndarray, shape (m,)
        ``-log(1 - q_out_j)``, accurate when the out-of-support mass is tiny.
    log_q_support : ndarray, shape (m, V)
        ``l_jz - log sum_{z' in S_j} exp(l_jz')`` for every token (the softmax over the
        support; out-of-support entries relative to the same partition). The full softmax
        is ``exp(log_q_support - log_out[:, None])``.
    """
    log_q_support = _log_softmax(L, inst.supports)
    log_out = _out_of_support_log_ratio(inst, log_q_support)
    P = inst.probs
    log_q = np.where(inst.supports, log_q_support, -np.inf)  # log q_z|S
    x = np.where(inst.supports, np.log(np.where(inst.supports, P, 1.0)) - log_q, 0.0)
    near = x >= -1.0
    x_near = np.where(near, x, 0.0)
    terms = np.where(near, P * (x_near + np.expm1(-x_near)), P * x + (np.exp(log_q) - P))
    return terms.sum(axis=1), log_out, log_q_support


def ce_f_loss(inst: NTPInstance, W: ArrayLike) -> float:
    """The support-only loss ``CE_F(W)`` of Eq. 12.

    ``sum_j pi_j sum_{z in S_j} p_jz log(1 + sum_{z' in S_j, z' != z} exp(-(l_jz - l_jz')))``,
    i.e. the cross-entropy with the out-of-support tokens dropped from the softmax.
    """
    log_q_support = _log_softmax(logits(inst, W), inst.supports)
    per_context = np.where(inst.supports, -inst.probs * log_q_support, 0.0)
    return float(inst.context_weights @ per_context.sum(axis=1))


def smoothness_bound(inst: NTPInstance) -> float:
    """The smoothness constant ``L = lambda_max(H^T diag(pi) H) / 2`` of docs/theory.md.

    The softmax Jacobian is bounded by 1/2 in spectral norm, so ``CE`` is ``L``-smooth.
    """
    cached = inst._cache.get("smoothness")
    if cached is None:
        # lambda_max of the smaller of H^T diag(pi) H (d x d) and diag(sqrt pi) K diag(sqrt pi)
        # (m x m): same non-zero spectrum, and a single top eigenvalue is much cheaper than
        # the full SVD behind ``norm(., 2)`` (8 s vs 1.2 s at m = 1000, d = 1200).
        groups = context_groups(inst)
        if groups is None:
            scaled = np.sqrt(inst.context_weights)[:, None] * inst.embeddings
            gram = scaled @ scaled.T if inst.m <= inst.dim else scaled.T @ scaled
            top = extreme_eigenvalue(gram, largest=True)
        else:
            scaled_op = weighted(embedding_operator(inst), np.sqrt(inst.context_weights))
            top = _grouped_top_eigenvalue(scaled_op, groups)
        cached = inst._cache["smoothness"] = 0.5 * max(float(top), 0.0)
    return float(cached)


def _grouped_top_eigenvalue(scaled: EmbeddingOperator, groups: NDArray[np.intp]) -> float:
    """``lambda_max(S S^T)`` for ``S`` (m, d) whose rows fall into mutually orthogonal
    ``groups`` (:func:`ntpprops._embedding_ops.context_groups`), exactly: ``S S^T`` is block
    diagonal over them, so the top eigenvalue is the largest over the blocks (1 x 1 for
    one-hot)."""
    gram = scipy.sparse.csr_array(scaled @ scaled.T)
    if np.unique(groups).size == gram.shape[0]:
        return float(np.max(gram.diagonal(), initial=0.0))
    top = 0.0
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        dense = gram[rows][:, rows].toarray()
        top = max(top, extreme_eigenvalue(dense, largest=True))
    return top


def safe_step_size(inst: NTPInstance) -> float:
    """The step ``eta = 1 / (2 L)`` that the analysis of Lemma 2 and Theorem 2 covers.

    Returns 1.0 when ``H = 0`` (the loss is then constant and any step is safe).
    """
    smooth = smoothness_bound(inst)
    return 1.0 if smooth == 0.0 else 1.0 / (2.0 * smooth)
