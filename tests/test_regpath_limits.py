"""regularization_path(limits=...): the same Limits as training and certification, no re-solve."""

from __future__ import annotations

import numpy as np
import pytest

import ntpprops._regpath as regpath_module
import ntpprops._svm as svm_module
from ntpprops import Limits, NTPInstance, ntp_svm, regularization_path, w_star

# m = d = 2, rank 2: separable and compatible (Lemma 1); supports {0, 1} and {1, 2}.
INST = NTPInstance(np.eye(2), [[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.vdot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_the_path_measures_against_the_limits_it_is_given(monkeypatch):
    # A given W^mm (2 W^mm: not the SVM solution, but it satisfies (6a) and (6b)) is used as
    # is: the SVM solver, made to fail, is never called.
    given = 2.0 * ntp_svm(INST)
    limits = Limits.of(INST, w_mm=given)

    def no_solve(*args: object, **kwargs: object) -> None:
        raise AssertionError("the path re-solved W^mm")

    monkeypatch.setattr(svm_module, "ntp_svm", no_solve)
    monkeypatch.setattr(svm_module, "ntp_svm_result", no_solve)
    path = regularization_path(INST, [1.0, 4.0], limits=limits)
    assert path.cos_mm is not None and path.dist_f_wstar is not None
    # cos is scale-free, so the doubled W^mm gives the same cosines; computed here directly.
    for k in range(2):
        assert path.cos_mm[k] == pytest.approx(_cos(path.weights[k], given), rel=1e-12)
    assert limits.is_resolved("w_star") and limits.limit("w_mm").source == "given"
    assert dict(path.metric_notes) == {}
    # dist_f_wstar is measured against the W* the limits hold (the solved one).
    np.testing.assert_array_equal(limits.w_star, w_star(INST))


def test_limits_of_another_instance_are_refused():
    other = INST.replace(probs=[[0.25, 0.75, 0.0], [0.0, 0.25, 0.75]])
    with pytest.raises(ValueError, match="another instance"):
        regularization_path(INST, [1.0], limits=Limits.of(other))
    with pytest.raises(TypeError, match="Limits"):
        regularization_path(INST, [1.0], limits="w_mm")  # type: ignore[arg-type]


def test_matrix_free_sizes_say_why_cos_mm_is_missing_and_take_a_known_w_mm(monkeypatch):
    monkeypatch.setattr(regpath_module, "DENSE_MAX_COORDINATES", 0)  # force the matrix-free path
    fresh = INST.replace(embeddings=INST.embeddings.copy())  # nothing cached on it
    path = regularization_path(fresh, [1.0])
    assert path.method == "matrix-free" and path.cos_mm is None
    assert "ntp_svm_result" in path.metric_notes["cos_mm"]
    limits = Limits.of(fresh, w_mm=ntp_svm(INST))  # known without a solve
    path = regularization_path(fresh, [1.0], limits=limits)
    assert path.cos_mm is not None and "cos_mm" not in path.metric_notes


def test_an_incompatible_instance_says_why_dist_f_wstar_is_missing():
    # Equal embeddings with different log-odds: Eq. 4 has no solution.
    inst = NTPInstance([[1.0], [1.0]], [[0.5, 0.5], [0.25, 0.75]])
    path = regularization_path(inst, [1.0])
    assert path.dist_f_wstar is None
    assert "W* does not exist" in path.metric_notes["dist_f_wstar"]
