"""The tolerances of the claims' checks, each with the reason for its size."""

from __future__ import annotations

import numpy as np

__all__ = ["EPS", "EXCESS_FLOOR", "QP_RTOL", "ROUNDING_FLOOR", "SOLVE_RTOL"]

EPS = float(np.finfo(np.float64).eps)

#: Relative accuracy expected of Gram-based solves (W*, projections): float64 eps times a
#: condition-number allowance of 1e6 (the generators' Gram of the default instance has
#: cond ~ 1e3; the slack covers nearly dependent generators).
SOLVE_RTOL = 1e-9

#: Relative accuracy of W^mm from an interior-point QP (Clarabel's default gap ~ 1e-8, which
#: moves the solution by about its square root).
QP_RTOL = 1e-4

#: The regularisation path's documented absolute accuracy floor on the excess loss.
EXCESS_FLOOR = 1e-30

#: Below this a cosine gap or a distance of O(1)-sized vectors is rounding (both are exact to
#: ~1e-15); rises under it are not reported as non-monotone trends.
ROUNDING_FLOOR = 1e-12
