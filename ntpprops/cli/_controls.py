"""Controls: the instance perturbed where a claim says nothing may change, re-solved.

Definition 3 says ``W^mm`` depends only on ``H`` and the supports; Lemma 4 that ``W*`` does
not depend on ``pi``; Remark 1 that on one-hot data ``W^mm`` is the Crammer-Singer SVM. Their
checks compare the analysis's own solutions with these re-solves, which run here, as one
timed stage of :func:`ntpprops.cli._analysis.analyse`, so that the claims stay pure functions
of the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ntpprops._compat import is_compatible
from ntpprops._instance import NTPInstance
from ntpprops._subspace import project_f
from ntpprops._svm import ntp_svm

__all__ = ["CRAMMER_SINGER_MAX_SIZE", "LEMMA4_DIRECTIONS", "Controls", "run_controls"]

FloatArray = NDArray[np.float64]

#: Largest ``V * d`` for which Remark 1's independent Crammer-Singer solve is attempted.
CRAMMER_SINGER_MAX_SIZE = 20_000

#: Random unit directions of ``F`` along which Lemma 4's check looks for a rise of ``CE_F``.
LEMMA4_DIRECTIONS = 4


@dataclass(frozen=True)
class Controls:
    """The re-solves of perturbed copies of the instance (``None``: not run, see ``skipped``).

    Attributes
    ----------
    w_mm_other_probs : ndarray, shape (V, d), or None
        ``W^mm`` of the instance with random ``pi`` and in-support ``p`` (same supports).
    w_star_other_weights : ndarray, shape (V, d), or None
        ``W*`` of the instance with random ``pi`` (``None`` also when that copy was found
        incompatible, which Lemma 4 excludes; ``lemma4_ran`` tells the cases apart).
    lemma4_ran : bool
    f_directions : tuple of ndarray, shape (V, d)
        Unit vectors of ``F`` drawn for Lemma 4 (empty when ``F = {0}``).
    crammer_singer : ndarray, shape (V, d), or None
        The hard-margin multiclass SVM without bias, solved with cvxpy (one-hot data only).
    skipped : dict of str to str
        Controls not run because they would exceed the stage budget, with why.
    """

    w_mm_other_probs: FloatArray | None = None
    w_star_other_weights: FloatArray | None = None
    lemma4_ran: bool = False
    f_directions: tuple[FloatArray, ...] = ()
    crammer_singer: FloatArray | None = None
    skipped: tuple[tuple[str, str], ...] = ()


def run_controls(
    inst: NTPInstance,
    seed: int,
    *,
    compatible: bool,
    has_w_mm: bool,
    svm_seconds: float,
    budget: float,
) -> Controls:
    """Re-solve the perturbed copies the claims need.

    Parameters
    ----------
    inst : NTPInstance
    seed : int
        The run's seed: ``seed + 1`` draws Definition 3's copy, ``seed + 2`` Lemma 4's.
    compatible, has_w_mm : bool
        Whether ``W*`` and ``W^mm`` exist (their controls are run only then).
    svm_seconds : float
        Time of the NTP-SVM solve: its re-solve is expected to take about as long.
    budget : float
        The stage budget in seconds (0: no limit). A re-solve expected to exceed it is
        skipped and listed in ``skipped``.
    """
    w_mm_other = None
    skipped: list[tuple[str, str]] = []
    if has_w_mm:
        if budget > 0 and svm_seconds > budget:
            skipped.append((
                "def3",
                f"W^mm re-solve with other pi and p skipped: the NTP-SVM took "
                f"{svm_seconds:.0f} s, over the {budget:g} s stage budget "
                "(--stage-budget, --time-budget)",
            ))  # fmt: skip
        else:
            rng = np.random.default_rng(seed + 1)
            probs = np.where(inst.supports, rng.uniform(0.1, 1.0, inst.probs.shape), 0.0)
            other = inst.replace(
                probs=probs / probs.sum(axis=1, keepdims=True),
                context_weights=rng.uniform(0.1, 1.0, inst.m),
            )
            w_mm_other = ntp_svm(other)
    w_star_other = None
    directions: tuple[FloatArray, ...] = ()
    if compatible:
        rng = np.random.default_rng(seed + 2)
        directions = _f_directions(inst, rng)
        reweighted = inst.replace(context_weights=rng.uniform(0.1, 1.0, inst.m))
        w_star_other = is_compatible(reweighted).w_star
    crammer_singer = None
    one_hot = not np.any(inst.support_sizes > 1)
    if one_hot and has_w_mm and inst.vocab_size * inst.dim <= CRAMMER_SINGER_MAX_SIZE:
        crammer_singer = _crammer_singer(inst)
    return Controls(
        w_mm_other, w_star_other, compatible, directions, crammer_singer, tuple(skipped)
    )


def _f_directions(inst: NTPInstance, rng: np.random.Generator) -> tuple[FloatArray, ...]:
    """Up to :data:`LEMMA4_DIRECTIONS` random unit vectors of ``F`` (none when ``F = {0}``)."""
    directions = []
    for _ in range(LEMMA4_DIRECTIONS):
        D = project_f(inst, rng.standard_normal(inst.weight_shape))
        norm = float(np.linalg.norm(D))
        if norm == 0.0:
            break
        directions.append(D / norm)
    return tuple(directions)


def _crammer_singer(inst: NTPInstance) -> FloatArray:
    """The hard-margin multiclass SVM without bias, solved directly with cvxpy (Clarabel)."""
    import cvxpy as cp

    W = cp.Variable(inst.weight_shape)
    scores = inst.embeddings @ W.T
    rows, cols = np.nonzero(~inst.supports)
    # (e_{y_j} - e_v)^T W h_j >= 1 for every v != y_j, as one vectorised constraint.
    true = cp.sum(cp.multiply(inst.supports.astype(np.float64), scores), axis=1)
    constraints = [true[rows] - scores[rows, cols] >= 1]
    cp.Problem(cp.Minimize(cp.sum_squares(W)), constraints).solve(solver=cp.CLARABEL)
    return np.asarray(W.value, dtype=np.float64)
