"""The built-in default instances of ``ntpprops verify``: the settings of the paper's App. A.

- :func:`paper_instance`: App. A.2 (Fig. 4-5) -- ``n = 5000`` samples, ``m = 50`` contexts,
  ``d = 60``, ``V = 10``, supports of size ``S_j = 6``, random supports and probabilities,
  Gaussian embeddings. The instance is built from the *counts* of ``n`` sampled (context,
  next token) pairs, so ``pi`` and ``p`` are empirical, as in the paper.
- :func:`toy_instance`: the 2-D toy of Fig. 1 (``d = 2, m = 3, V = 5, S_j = 3``), used for the
  geometry figure.

Both are deterministic functions of their seed.
"""

from __future__ import annotations

import numpy as np

from ntpprops._instance import NTPInstance

__all__ = ["PAPER_SEED", "TOY_SEED", "paper_instance", "toy_instance"]

#: Seed of the default App. A.2 instance.
PAPER_SEED = 0

#: Seed of the default 2-D toy. With d = 2 < m = 3 neither compatibility nor separability is
#: automatic (Lemma 1 needs d > m); this draw is both (checked in tests/test_conjectures.py),
#: like the paper's Fig. 1.
TOY_SEED = 15


def _random_laws(rng: np.random.Generator, m: int, vocab: int, support: int) -> np.ndarray:
    """Random supports of size ``support`` with Dirichlet(1) probabilities on them, (m, V).

    Dirichlet(1) (uniform on the simplex) has expected entropy ``sum_{k=2}^{S} 1/k`` nats,
    1.45 for ``S = 6``: the paper's ``H ~ 1.445``.
    """
    probs = np.zeros((m, vocab))
    for j in range(m):
        tokens = rng.choice(vocab, size=support, replace=False)
        probs[j, tokens] = rng.dirichlet(np.ones(support))
    return probs


def paper_instance(
    seed: int = PAPER_SEED,
    *,
    samples: int = 5000,
    contexts: int = 50,
    dim: int = 60,
    vocab: int = 10,
    support: int = 6,
) -> NTPInstance:
    """The App. A.2 setting, built from the counts of ``samples`` sampled pairs.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``.
    samples, contexts, dim, vocab, support : int
        ``n, m, d, V, S_j`` (defaults: the paper's 5000, 50, 60, 10, 6).

    Returns
    -------
    NTPInstance
        Embeddings ``H ~ N(0, 1)`` of shape ``(m, d)``; each sample draws a context uniformly
        and its next token from the context's law, and the instance is
        ``NTPInstance.from_counts(H, counts)``. Each (context, support token) pair is seeded
        with one observation, so the empirical supports have size exactly ``S_j``.
    """
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((contexts, dim))
    laws = _random_laws(rng, contexts, vocab, support)
    # Every (context, support token) pair is observed once so that the empirical supports
    # keep size S_j (Dirichlet draws can put ~1e-3 mass on a token, which 100 samples per
    # context would miss); the other n - m S_j samples are drawn as pairs (context uniform,
    # token from its law).
    counts = (laws > 0).astype(np.int64)
    rest = samples - int(counts.sum())
    if rest < 0:
        raise ValueError(f"samples={samples} is below contexts*support={int(counts.sum())}")
    per_context = np.bincount(rng.integers(contexts, size=rest), minlength=contexts)
    counts += np.stack(
        [rng.multinomial(n_j, law) for n_j, law in zip(per_context, laws, strict=True)]
    )
    return NTPInstance.from_counts(
        embeddings,
        counts,
        context_labels=[f"c{j}" for j in range(contexts)],
        token_labels=[f"t{z}" for z in range(vocab)],
    )


def toy_instance(seed: int = TOY_SEED) -> NTPInstance:
    """The 2-D toy of Fig. 1: ``d = 2, m = 3, V = 5, S_j = 3``, uniform ``pi``.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``; the default draw is compatible and separable.

    Returns
    -------
    NTPInstance
        Gaussian embeddings, random supports, Dirichlet(1) probabilities on them (exact, not
        sampled).
    """
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((3, 2))
    probs = _random_laws(rng, 3, 5, 3)
    return NTPInstance(
        embeddings,
        probs,
        context_labels=["h1", "h2", "h3"],
        token_labels=[f"z{z}" for z in range(5)],
    )
