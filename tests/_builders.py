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


def random_instance(seed: int, m: int = 4, V: int = 5, d: int = 6, support: int = 3) -> NTPInstance:
    """``m`` contexts with random supports of size ``support`` and random ``pi``
    (``d > m``: Lemma 1 applies, so compatible and separable)."""
    rng = np.random.default_rng(seed)
    P = np.zeros((m, V))
    for j in range(m):
        tokens = rng.choice(V, size=support, replace=False)
        P[j, tokens] = rng.dirichlet(np.ones(support))
    return NTPInstance(rng.standard_normal((m, d)), P, rng.uniform(0.5, 1.5, size=m))


def one_hot_instance() -> NTPInstance:
    """Two orthogonal contexts, each followed by its own token: W^mm = [[.5, -.5], [-.5, .5]]
    by hand (margins W_00 - W_10 >= 1 and W_11 - W_01 >= 1 at least norm), W* = 0, F = {0}."""
    return NTPInstance(np.eye(2), np.eye(2))


def random_support_instance(m: int, V: int, d: int, S: int, seed: int) -> NTPInstance:
    """Gaussian ``H`` (m, d) and random supports of size ``S`` (probabilities from ``seed``)."""
    rng = np.random.default_rng(seed)
    supports = np.zeros((m, V), dtype=bool)
    for j in range(m):
        supports[j, rng.choice(V, size=S, replace=False)] = True
    return instance_on_supports(rng.standard_normal((m, d)), supports, seed)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / ||b||`` (Frobenius)."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))
