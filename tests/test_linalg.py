"""Symmetric eigenvalue helpers (ntpprops._linalg) against numpy's independent eigvalsh."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from _oracles import EPS

import ntpprops
from ntpprops import _linalg
from ntpprops._linalg import extreme_eigenvalue, symmetric_eigh

#: K / 3 for H = [[1, 0, 1], [0, 2, 0], [0, 0, 1]]: dsyevr's subset mode fails on it here.
DSYEVR_FAILS = np.array([[2.0, 0.0, 1.0], [0.0, 4.0, 0.0], [1.0, 0.0, 1.0]]) / 3.0


def test_the_matrix_on_which_the_subset_driver_fails_gets_its_eigenvalues():
    exact = np.linalg.eigvalsh(DSYEVR_FAILS)  # numpy: dsyevd, a different driver
    # Backward-stable eigensolvers: eigenvalues within a few eps of ||A|| = 4/3.
    assert extreme_eigenvalue(DSYEVR_FAILS, largest=True) == pytest.approx(4 / 3, abs=8 * EPS)
    assert extreme_eigenvalue(DSYEVR_FAILS, largest=False) == pytest.approx(exact[0], abs=8 * EPS)


def test_smoothness_bound_of_the_instance_that_exposed_it():
    inst = ntpprops.NTPInstance([[1, 0, 1], [0, 2, 0], [0, 0, 1]], [[1, 0], [1, 0], [1, 0]])
    # L = lambda_max(H^T diag(pi) H) / 2 = lambda_max(K) / 6 = 4 / 6 by hand.
    assert ntpprops.smoothness_bound(inst) == pytest.approx(2 / 3, abs=8 * EPS)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("subset_driver_fails", [False, True])
def test_extreme_eigenvalues_match_numpy(monkeypatch, seed, subset_driver_fails):
    if subset_driver_fails:  # force the fallback on matrices where dsyevr works

        def failing(a, subset_by_index=None, **kwargs):
            if subset_by_index is not None:
                raise np.linalg.LinAlgError("Internal Error.")
            return scipy.linalg.eigh(a, eigvals_only=True, **kwargs)

        monkeypatch.setattr(_linalg.scipy.linalg, "eigvalsh", failing)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((7, 5))
    A = X @ X.T  # PSD with a 2-dimensional null space, as the Gram matrices here are
    exact = np.linalg.eigvalsh(A)
    tol = 16 * EPS * exact[-1]  # backward stable: errors of a few eps ||A||
    assert extreme_eigenvalue(A, largest=True) == pytest.approx(exact[-1], abs=tol)
    assert extreme_eigenvalue(A, largest=False) == pytest.approx(exact[0], abs=tol)
    vals, vecs = symmetric_eigh(A)
    np.testing.assert_allclose(vals, exact, rtol=0, atol=tol)
    np.testing.assert_allclose(vecs @ np.diag(vals) @ vecs.T, A, rtol=0, atol=tol)
