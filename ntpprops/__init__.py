"""ntpprops: an exact reference implementation and property-based verification suite for the
implicit bias of next-token prediction (NTP) in linear models (Thrampoulidis, NeurIPS 2024).

Public API: :class:`NTPInstance`; losses :func:`ce_loss`, :func:`ce_grad`,
:func:`excess_loss`, :func:`ce_f_loss`; the subspace projections :func:`project_f`,
:func:`project_f_perp`; :func:`is_compatible` / :func:`w_star`; :func:`is_separable` /
:func:`ntp_svm` (also in the max, l1 and spectral norms) / :func:`ntp_margin` (with
solver-free checks :func:`kkt_report`, :func:`duality_certificate`,
:func:`separability_certificate_bound`, :func:`incompatibility_bound`); :func:`train` with the
optimizers of :data:`OPTIMIZERS`; norm-aware measures :func:`margin_fraction`,
:func:`margin_trajectory`, :func:`eq4_residual`; :class:`Limits` (``W*`` and ``W^mm`` given
or computed once, or why they are missing: what every comparison with them uses);
:func:`certify_gd_bias` / :func:`measure_bias` for the asymptotic claims;
:func:`regularization_path`; and the exceptions deriving from :class:`NTPError`. Hypothesis
strategies live in :mod:`ntpprops.strategies`, context embedders in
:mod:`ntpprops.embeddings`, conjectures for ``ntpprops explore`` in :mod:`ntpprops.conjectures`.
"""

from ntpprops._bounds import (
    alignment_lower_bound,
    f_curvature,
    f_distance_bound,
    gd_excess_bound,
)
from ntpprops._certify import BiasReport, certify_gd_bias, measure_bias
from ntpprops._compat import (
    CompatibilityResult,
    incompatibility_bound,
    is_compatible,
    w_star,
)
from ntpprops._errors import (
    InvalidInstanceError,
    NotAnInstanceError,
    NotCompatibleError,
    NotSeparableError,
    NTPError,
    SeparabilityUndecidedError,
    SolverError,
    UndecidedInFloat64Error,
)
from ntpprops._instance import NTPInstance
from ntpprops._limits import Limits
from ntpprops._loss import (
    ce_f_loss,
    ce_grad,
    ce_loss,
    excess_loss,
    logits,
    safe_step_size,
    smoothness_bound,
)
from ntpprops._norm_margins import (
    MarginTrajectory,
    eq4_residual,
    margin_fraction,
    margin_trajectory,
    normalized_margin,
)
from ntpprops._optim import OPTIMIZERS, Optimizer, TrainResult, train
from ntpprops._optimal_set import OptimalSetDistance, optimal_set_distance
from ntpprops._regpath import RegularizationPath, regularization_path
from ntpprops._separability import (
    SeparabilityResult,
    is_separable,
    ntp_margin,
    separability_certificate_bound,
    separation_atoms,
)
from ntpprops._subspace import f_dimension, project_f, project_f_perp
from ntpprops._svm import KKTReport, SVMResult, kkt_report, ntp_svm, ntp_svm_result
from ntpprops._svm_norms import (
    DualityCertificate,
    duality_certificate,
    matrix_norm,
    optimal_face_width,
)

__version__ = "0.1.0"

__all__ = [
    "OPTIMIZERS",
    "BiasReport",
    "CompatibilityResult",
    "DualityCertificate",
    "InvalidInstanceError",
    "KKTReport",
    "Limits",
    "MarginTrajectory",
    "NTPError",
    "NTPInstance",
    "NotAnInstanceError",
    "NotCompatibleError",
    "NotSeparableError",
    "OptimalSetDistance",
    "Optimizer",
    "RegularizationPath",
    "SVMResult",
    "SeparabilityResult",
    "SeparabilityUndecidedError",
    "SolverError",
    "TrainResult",
    "UndecidedInFloat64Error",
    "__version__",
    "alignment_lower_bound",
    "ce_f_loss",
    "ce_grad",
    "ce_loss",
    "certify_gd_bias",
    "duality_certificate",
    "eq4_residual",
    "excess_loss",
    "f_curvature",
    "f_dimension",
    "f_distance_bound",
    "gd_excess_bound",
    "incompatibility_bound",
    "is_compatible",
    "is_separable",
    "kkt_report",
    "logits",
    "margin_fraction",
    "margin_trajectory",
    "matrix_norm",
    "measure_bias",
    "normalized_margin",
    "ntp_margin",
    "ntp_svm",
    "ntp_svm_result",
    "optimal_face_width",
    "optimal_set_distance",
    "project_f",
    "project_f_perp",
    "regularization_path",
    "safe_step_size",
    "separability_certificate_bound",
    "separation_atoms",
    "smoothness_bound",
    "train",
    "w_star",
]
