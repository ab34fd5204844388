"""A strategy for decoders ``W`` of a given instance, from small to huge norms."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from numpy.typing import NDArray

from ntpprops import NTPInstance

from ._validation import check_at_least

__all__ = ["weight_matrices"]


def weight_matrices(
    inst: NTPInstance, *, max_entry: float = 3.0, max_log10_scale: int = 0
) -> st.SearchStrategy[NDArray[np.float64]]:
    """Decoders ``W`` of shape ``(V, d)`` for ``inst``: bounded entries times a power of ten.

    Parameters
    ----------
    inst : NTPInstance
    max_entry : float
        Entries are finite floats in ``[-max_entry, max_entry]`` (no subnormals), which
        shrink towards 0 and small integers.
    max_log10_scale : int
        ``W`` is multiplied by ``10^k`` for ``k`` in ``[0, max_log10_scale]``: use e.g. 8
        to reach the huge norms at which the loss must stay finite and accurate.

    Returns
    -------
    SearchStrategy[ndarray]
        Shrinks to the zero matrix with ``k = 0``.
    """
    if not isinstance(inst, NTPInstance):
        raise InvalidArgument(
            f"inst={inst!r} must be an NTPInstance; draw one first, e.g. with st.data()"
        )
    if not (isinstance(max_entry, int | float) and np.isfinite(max_entry) and max_entry > 0):
        raise InvalidArgument(
            f"max_entry={max_entry!r} must be a positive finite number; pass e.g. max_entry=3.0"
        )
    scale = check_at_least("max_log10_scale", max_log10_scale, 0, "W is scaled by 10^k, k >= 0")
    V, d = inst.weight_shape
    entries = st.lists(
        st.floats(-max_entry, max_entry, allow_nan=False, allow_subnormal=False),
        min_size=V * d,
        max_size=V * d,
    )
    return st.tuples(entries, st.integers(0, scale)).map(
        lambda pair: np.array(pair[0], dtype=np.float64).reshape(V, d) * 10.0 ** pair[1]
    )
