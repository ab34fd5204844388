"""Hypothesis strategies for NTP instances: ``ntp_instances``, ``separable_instances``,
``one_hot_instances``, ``full_support_instances``, ``non_separable_instances``,
``incompatible_instances``, ``token_sequences`` and, for a drawn instance, ``weight_matrices``.

Every strategy takes keyword-only bounds (``min_contexts``/``max_contexts``,
``min_vocab``/``max_vocab``, ``min_dim``/``max_dim``, ...), validated when it is called
(:class:`hypothesis.errors.InvalidArgument` names the argument and the fix), and returns a
``SearchStrategy``. Instances are built from explicit small structure, so failures shrink to
small readable examples; families with a defining property (separable, non-separable,
incompatible) have it by construction, never by filtering.

Example
-------
::

    import numpy as np
    from hypothesis import given
    from ntpprops import ce_loss
    from ntpprops.strategies import ntp_instances

    @given(ntp_instances(max_contexts=3))
    def test_cross_entropy_is_at_least_entropy(inst):
        assert ce_loss(inst, np.zeros(inst.weight_shape)) >= inst.entropy
"""

from ._instances import (
    full_support_instances,
    incompatible_instances,
    non_separable_instances,
    ntp_instances,
    one_hot_instances,
    separable_instances,
)
from ._sequences import token_sequences
from ._weights import weight_matrices

__all__ = [
    "full_support_instances",
    "incompatible_instances",
    "non_separable_instances",
    "ntp_instances",
    "one_hot_instances",
    "separable_instances",
    "token_sequences",
    "weight_matrices",
]
