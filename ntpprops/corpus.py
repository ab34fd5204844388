"""Raw token sequences as NTP data (App. C of the paper).

:func:`instance_from_sequences` (also reachable as :meth:`NTPInstance.from_sequences`) merges
every distinct context of a corpus into one row of an :class:`~ntpprops.NTPInstance`;
:func:`conditional_entropy` gives the empirical ``H_t`` of Shannon's inequality
``H_t >= H_{t+1}``; :func:`corpus_loss` is the brute-force average loss over every prediction
event, the reference the reduction is checked against.
"""

from ntpprops._corpus import (
    conditional_entropy,
    corpus_loss,
    distinct_contexts,
    prediction_events,
)
from ntpprops._instance import instance_from_sequences

__all__ = [
    "conditional_entropy",
    "corpus_loss",
    "distinct_contexts",
    "instance_from_sequences",
    "prediction_events",
]
