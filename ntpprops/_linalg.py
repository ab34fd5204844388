"""Symmetric eigenvalues that survive the failures of LAPACK's subset driver.

``scipy.linalg.eigvalsh(a, subset_by_index=...)`` uses ``dsyevr``, which returns "Internal
Error" on some small, well-conditioned matrices (scipy issues #13220 and #17880; with the
OpenBLAS in scipy 1.17's wheels, ``[[2/3, 0, 1/3], [0, 4/3, 0], [1/3, 0, 1/3]]`` is one, found
by the property suite as the smoothness matrix of a 3-context instance). The helpers fall
back to the divide-and-conquer driver ``dsyevd``, which computes every eigenvalue.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

__all__ = ["extreme_eigenvalue", "symmetric_eigh"]


def extreme_eigenvalue(a: NDArray[np.float64], *, largest: bool) -> float:
    """The largest (or smallest) eigenvalue of the symmetric matrix ``a``, shape (n, n)."""
    index = a.shape[0] - 1 if largest else 0
    try:
        vals = scipy.linalg.eigvalsh(a, subset_by_index=[index, index], check_finite=False)
        return float(vals[0])
    except np.linalg.LinAlgError:
        return float(scipy.linalg.eigvalsh(a, driver="evd", check_finite=False)[index])


def symmetric_eigh(a: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Every eigenvalue (ascending) and eigenvector of the symmetric ``a``, by ``dsyevd``."""
    vals, vecs = scipy.linalg.eigh(a, driver="evd", check_finite=False)
    return vals, vecs
