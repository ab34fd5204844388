"""Rounding tolerances of the checks, each derived from sizes, magnitudes and precision.

A user's float computation and the reference's both round; the comparisons allow the sum of
the two error bounds, written with a safety factor ``SAFETY`` for the constants that a
first-order analysis drops (fused operations, summation order, ``exp``/``log`` ulp errors).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ntpprops import NTPInstance

__all__ = ["SAFETY", "grad_tol", "logit_scale", "loss_tol", "step_tol"]

#: Factor over the first-order bounds (a few ulps per elementary operation, two codes).
SAFETY = 16.0


def logit_scale(inst: NTPInstance, W: NDArray[np.float64]) -> float:
    """``max_j sum_k |h_jk| max_z |W_zk|``: bounds every ``|l_jz|`` and its rounding."""
    return float((np.abs(inst.embeddings) @ np.abs(W).max(axis=0)).max())


def loss_tol(inst: NTPInstance, W: NDArray[np.float64], u: float) -> float:
    """Absolute tolerance on ``CE(W)``.

    Each logit is a length-``d`` dot product (error ``<= d u scale``); log-sum-exp over ``V``
    terms adds ``<= V u (scale + log V)``; the ``pi p``-weighted sum of terms bounded by
    ``2 scale + log V`` adds ``<= (m + V) u`` of that.
    """
    scale = logit_scale(inst, W)
    n = inst.dim + inst.vocab_size + inst.m
    return SAFETY * n * u * (1.0 + 2.0 * scale + math.log(inst.vocab_size))


def grad_tol(inst: NTPInstance, W: NDArray[np.float64], u: float) -> float:
    """Absolute tolerance on each entry of ``grad CE(W) = (softmax(H W^T) - P)^T diag(pi) H``.

    A logit error ``e`` moves a softmax entry by ``<= 2 e`` (its log is 1-Lipschitz in each
    logit, the entry is ``<= 1``), so ``|softmax - P|`` errs by ``<= (d + V) u (1 + 2 scale)``;
    the ``pi``-weighted sum over ``m`` contexts multiplies by ``max |h|`` and adds ``m u``.
    """
    scale = logit_scale(inst, W)
    n = inst.dim + inst.vocab_size + inst.m
    h = float(np.abs(inst.embeddings).max())
    return SAFETY * n * u * (1.0 + 2.0 * scale) * max(h, 1.0)


def step_tol(inst: NTPInstance, W: NDArray[np.float64], lr: float, u: float) -> float:
    """Absolute tolerance on one GD step ``W - lr g``: ``lr`` times the gradient's, plus the
    rounding of the subtraction (``<= 2 u (|W| + lr |g|)``, with ``|g| <= 2 max |h|``)."""
    h = float(np.abs(inst.embeddings).max())
    return lr * grad_tol(inst, W, u) + SAFETY * u * (float(np.abs(W).max()) + 2.0 * lr * h)
