"""Small random-instance builders shared by the unit tests (seeded, no global RNG)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ntpprops import NTPInstance


def random_probs(rng: np.random.Generator, m: int, V: int, full: bool = False) -> np.ndarray:
    """Next-token laws (m, V): random supports (all of ``V`` if ``full``), Dirichlet values."""
    P = np.zeros((m, V))
    for j in range(m):
        size = V if full else rng.integers(1, V + 1)
        support = rng.choice(V, size=size, replace=False)
        P[j, support] = rng.dirichlet(np.ones(size))
    return P


def instance_on_supports(
    H: ArrayLike, supports: ArrayLike, seed: int = 0, weights: ArrayLike | None = None
) -> NTPInstance:
    """An instance with the given embeddings and supports, random in-support probabilities."""
    rng = np.random.default_rng(seed)
    mask = np.asarray(supports, dtype=bool)
    P = np.where(mask, rng.uniform(0.5, 1.5, mask.shape), 0.0)
    return NTPInstance(H, P / P.sum(axis=1, keepdims=True), weights)
