"""App. C: training on raw sequences (every prefix predicts its next token) is the NTP problem
on the reduced instance of distinct prefixes; and Shannon's inequality ``H_t >= H_{t+1}``.

The brute force walks every prediction event of the corpus in a Python loop (no merging,
no counting), with an embedding defined here; the conditional entropies are counted here
from the events too.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
from _oracles import EPS
from hypothesis import example, given
from hypothesis import strategies as st

from ntpprops import NTPInstance, ce_loss
from ntpprops import strategies as nst
from ntpprops.corpus import conditional_entropy as package_conditional_entropy

Corpus = list[list[int]]


def events(corpus: Corpus) -> Iterator[tuple[tuple[int, ...], int]]:
    """Every prediction event: (the whole prefix ``x_1..x_t``, the next token ``x_{t+1}``)."""
    for seq in corpus:
        for t in range(1, len(seq)):
            yield tuple(seq[:t]), seq[t]


def vocabulary_size(corpus: Corpus) -> int:
    return max(2, 1 + max(token for seq in corpus for token in seq))


def bag_and_last(V: int) -> Callable[[tuple[int, ...]], np.ndarray]:
    """A context embedding defined here: token counts, one-hot last token, and the length.

    Different prefixes may share an embedding (same bag, same last token, same length):
    the reduction must still give the event-average loss.
    """

    def embed(context: tuple[int, ...]) -> np.ndarray:
        h = np.zeros(2 * V + 1)
        for token in context:
            h[token] += 1.0
        h[V + context[-1]] = 1.0
        h[2 * V] = len(context)
        return h

    return embed


def brute_force_loss(corpus: Corpus, W: np.ndarray, embed: Callable) -> float:
    """``(1/n) sum_events -log softmax_next(W h_prefix)``, one event at a time."""
    losses = []
    for context, token in events(corpus):
        scores = W @ embed(context)
        top = float(scores.max())
        lse = top + math.log(math.fsum(math.exp(float(s) - top) for s in scores))
        losses.append(lse - float(scores[token]))
    return math.fsum(losses) / len(losses)


def loss_rounding(W: np.ndarray, H: np.ndarray, n_events: int, value: float) -> float:
    """Logits err by ``d eps |w||h|`` (Higham), the log-partition by ``eps`` relative; the
    two sums (over events vs over contexts and tokens) add ``n eps |value|``."""
    logit_scale = float(np.abs(W).sum(axis=1).max() * np.abs(H).max())
    return 8.0 * (H.shape[1] + 2) * EPS * (logit_scale + 1.0) + 4 * n_events * EPS * abs(value)


@st.composite
def corpora_with_weights(
    draw: st.DrawFn, embed_kind: str
) -> tuple[Corpus, NTPInstance, np.ndarray]:
    corpus = draw(nst.token_sequences())
    V = vocabulary_size(corpus)
    embed = bag_and_last(V) if embed_kind == "bag" else "onehot"
    inst = NTPInstance.from_sequences(corpus, embed=embed, vocabulary=range(V))
    return corpus, inst, draw(nst.weight_matrices(inst, max_log10_scale=3))


#: Prefixes (0, 1, 1) and (1, 0, 1) share bag, last token and length, hence one embedding,
#: but are distinct contexts with different next tokens.
SHARED_CORPUS = [[0, 1, 1, 0], [1, 0, 1, 1]]
SHARED = NTPInstance.from_sequences(SHARED_CORPUS, embed=bag_and_last(2), vocabulary=range(2))
SHARED_W = np.arange(SHARED.vocab_size * SHARED.dim, dtype=float).reshape(2, -1) % 3 - 1


def test_appc_shared_example_really_shares_an_embedding():
    assert len(np.unique(SHARED.embeddings, axis=0)) < SHARED.m


@given(corpora_with_weights("bag"))
@example((SHARED_CORPUS, SHARED, SHARED_W))
def test_appc_reduced_loss_equals_event_average(triple):
    corpus, inst, W = triple
    brute = brute_force_loss(corpus, W, bag_and_last(vocabulary_size(corpus)))
    n = sum(len(seq) - 1 for seq in corpus)
    tol = loss_rounding(W, inst.embeddings, n, brute)
    assert abs(ce_loss(inst, W) - brute) <= tol, (
        f"CE of the reduced instance {ce_loss(inst, W)!r} != event average {brute!r}"
    )


@given(corpora_with_weights("onehot"))
def test_appc_one_row_per_distinct_prefix(triple):
    corpus, inst, W = triple
    labels = list(inst.context_labels)
    row = {label: j for j, label in enumerate(labels)}
    prefixes = Counter(context for context, _ in events(corpus))
    assert len(labels) == len(set(labels)) == len(prefixes), "one context per distinct prefix"
    n = sum(prefixes.values())
    joint = Counter(events(corpus))
    for context, count in prefixes.items():
        j = row[" ".join(map(str, context))]
        # pi_j and p_jz are ratios of small integers: correctly rounded up to a few eps.
        assert math.isclose(inst.context_weights[j] * n, count, rel_tol=8 * EPS), (
            "pi_j must be the prefix's share of prediction events"
        )
        for z in range(inst.vocab_size):
            expected = joint[context, z] / count
            assert math.isclose(inst.probs[j, z], expected, rel_tol=8 * EPS, abs_tol=0.0)
    # The loss on the one-hot reduction equals the event average too (rows looked up by label).
    lookup = {context: inst.embeddings[row[" ".join(map(str, context))]] for context in prefixes}
    brute = brute_force_loss(corpus, W, lookup.__getitem__)
    assert abs(ce_loss(inst, W) - brute) <= loss_rounding(W, inst.embeddings, n, brute)


# -- conditional entropies ------------------------------------------------------------------------


def conditional_entropy(corpus: Corpus, t: int) -> float:
    """``H_t``: entropy of the next token given the last ``min(t, |prefix|)`` tokens, over
    every prediction event (so ``H_t`` for ``t >=`` the longest prefix is the full-prefix
    entropy)."""
    joint: Counter[tuple[tuple[int, ...], int]] = Counter()
    for context, token in events(corpus):
        joint[context[len(context) - min(t, len(context)) :], token] += 1
    marginal: Counter[tuple[int, ...]] = Counter()
    for (context, _), count in joint.items():
        marginal[context] += count
    n = sum(marginal.values())
    return -math.fsum(c / n * math.log(c / marginal[ctx]) for (ctx, _), c in joint.items())


@given(nst.token_sequences(max_length=7))
@example([[0, 1, 0, 1], [1, 1, 0, 0]])
def test_appc_conditional_entropy_decreases_with_context_length(corpus):
    longest = max(len(seq) for seq in corpus) - 1
    entropies = [conditional_entropy(corpus, t) for t in range(longest + 1)]
    # Each H_t is an fsum of <= n terms |p log p| <= 1/e, each correctly rounded to eps:
    # the computed values are within n eps of the exact ones.
    n = sum(len(seq) - 1 for seq in corpus)
    tol = 2 * n * EPS
    for t, (coarse, fine) in enumerate(itertools.pairwise(entropies)):
        assert coarse >= fine - tol, f"H_{t} = {coarse!r} < H_{t + 1} = {fine!r}"
    for t, value in enumerate(entropies):
        # The package's H_t counts the same events; its sum is plain, not fsum: 4 n eps.
        assert abs(package_conditional_entropy(corpus, t) - value) <= 2 * tol
    inst = NTPInstance.from_sequences(corpus, vocabulary=range(vocabulary_size(corpus)))
    # The instance's entropy is H over whole prefixes; computed as sum_j pi_j sum_z p log p.
    assert abs(inst.entropy - entropies[-1]) <= tol + 8 * inst.m * inst.vocab_size * EPS
