"""The NTP-SVM in other norms: ``min ||W||`` subject to (6a) and (6b), with a duality certificate.

For a norm ``||.||`` on ``R^{V x d}`` the ``||.||``-NTP-SVM (docs/theory.md, "Beyond the paper") is

    min ||W||   s.t.   (6a) <W, E_e> = 0 for the generators E_e of F,
                       (6b) <W, A_i> >= 1 for the out-of-support atoms A_i,

with ``E_e`` from :func:`ntpprops._subspace.f_generators` and ``A_i`` from
:func:`ntpprops._separability.separation_atoms`. Its optimal margin is ``1 / ||W||``. Three
norms are solved here (``"l2"``, the Frobenius norm of Definition 3, stays in
:mod:`ntpprops._svm`):

- ``"max"``, the entrywise max-norm ``max_{z,k} |W_zk|`` (the one-hot limit of SignGD and
  Adam): a linear program, posed as ``max gamma`` s.t. ``<W, A_i> >= gamma``, (6a),
  ``-1 <= W <= 1`` (box bounds, no extra rows), solved by HiGHS; ``W / gamma`` is optimal;
- ``"l1"``, the entrywise sum-norm ``sum |W_zk|``: a linear program over ``W = W+ - W-``,
  ``W+-  >= 0``, solved by HiGHS;
- ``"spectral"``, the largest singular value (Schatten-inf; the one-hot limit of spectral
  descent and Muon): a semidefinite program through cvxpy with Clarabel. As the spectral norm
  is unitarily invariant and ``||W Q|| <= ||W||`` for the projection ``Q`` onto the row space
  of ``H``, the optimum lies in that row space, so it is solved over ``W = X V_r^T``
  (``H = B V_r^T``, rank ``r``). The entrywise norms are not invariant, so they keep all of
  ``W``.

Certificate (weak duality, checked without trusting the solver). For multipliers
``lambda >= 0`` on (6b) and any ``mu`` on (6a), ``G = sum_i lambda_i A_i + sum_e mu_e E_e``
satisfies, for every feasible ``W``,

    sum_i lambda_i  <=  <G, W>  <=  ||W|| ||G||_*,

(``<G, W> = sum_i lambda_i <W, A_i> >= sum lambda`` because ``<W, E_e> = 0``), with the dual
norm ``||.||_*``: the sum-norm for ``"max"``, the max-norm for ``"l1"``, the nuclear norm for
``"spectral"``. So ``sum(lambda) / ||G||_*`` is a lower bound on the optimal norm, and the norm
of any feasible ``W`` an upper bound. :func:`duality_certificate` evaluates both from
``(W, lambda, mu)`` and the instance alone; a solution is returned only if ``W`` is feasible
to :data:`FEAS_RTOL` and the relative gap is at most :data:`GAP_RTOL` (per norm).

Uniqueness. The optimal *margin* is always well defined; the minimiser need not be unique
outside ``"l2"`` (a linear or conic objective may be optimal on a whole face). Example: one-hot
``H = I_2`` with labels 0, 1 (constraints ``W_00 - W_10 >= 1``, ``W_11 - W_01 >= 1``) has
``l1``-optimum 2 at both ``W = I`` and ``W = [[.5, -.5], [-.5, .5]]``, and spectral optimum 1
at both as well. Then only the set of optimal directions is well defined;
:func:`optimal_face_width` measures how far the optimal face extends along a direction.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linprog

from ntpprops._atoms import Atoms, atom_coefficients, atom_values
from ntpprops._errors import InvalidInstanceError, SolverError
from ntpprops._instance import NTPInstance
from ntpprops._separability import separation_atoms
from ntpprops._subspace import f_generators, project_f_perp
from ntpprops._svm_active import reduced_factor

__all__ = [
    "DUAL_NORMS",
    "FEAS_RTOL",
    "GAP_RTOL",
    "NORMS",
    "DualityCertificate",
    "NormName",
    "dual_norm",
    "duality_certificate",
    "matrix_norm",
    "optimal_face_width",
    "solve_norm_svm",
]

FloatArray = NDArray[np.float64]
NormName = Literal["l2", "max", "l1", "spectral"]

#: Norms of :func:`ntpprops.ntp_svm` (``"l2"`` is the Frobenius norm of Definition 3).
NORMS: tuple[NormName, ...] = ("l2", "max", "l1", "spectral")

#: The dual norm of each norm (what the certificate's ``G`` is measured in).
DUAL_NORMS = {"l2": "l2", "max": "l1", "l1": "max", "spectral": "nuclear"}

#: Relative feasibility a returned ``W`` must meet: ``1 - <W, A_i> <= FEAS_RTOL`` and
#: ``|<W, E_e>| <= FEAS_RTOL ||E_e||_F ||W||_F``. The returned ``W`` is projected onto
#: ``F^perp`` and rescaled to minimum margin exactly 1, so both are rounding-level (~1e-14
#: times the conditioning of the generators' Gram matrix); 1e-9 leaves five orders of room.
FEAS_RTOL = 1e-9

#: Largest relative duality gap ``(upper - lower) / upper`` of a returned solution, per norm:
#: the margin ``1 / ||W||`` is then proven within this fraction of the optimum. For the LPs,
#: HiGHS's dual feasibility tolerance 1e-10 on each of the ``V d`` reduced costs moves
#: ``||G||_1`` by at most ``V d 1e-10`` (relative ``~1e-8`` at ``V d = 600``); measured gaps
#: are 1e-15..1e-12. Clarabel's duals carry its interior-point accuracy: 3e-7 measured on the
#: paper's instance (``V + r = 60``), so the spectral tolerance is 1e-5. ``"l2"`` (a check
#: of :func:`ntpprops.ntp_svm`'s exact answers) uses its KKT tolerance.
GAP_RTOL = {"l2": 1e-8, "max": 1e-7, "l1": 1e-7, "spectral": 1e-5}

#: Sizes beyond which a solve is refused (a typed error, never a hang): nonzeros of the LP
#: constraint matrix, and the order ``V + r`` of the spectral program's semidefinite block.
#: Measured: order 60 (the paper's instance) 4.4 s; order 173 (the Zen of Python, words,
#: K = 1) 61 s and 7.2 GB without finishing, past a 15 s max_seconds that Clarabel's set-up
#: does not see. So the cap is set at 120.
LP_MAX_NONZEROS = 20_000_000
SPECTRAL_MAX_ORDER = 120

#: A constraint (6b) with ``<W, A_i> <= 1 + ACTIVE_RTOL`` counts as tight: the solvers'
#: accuracy (1e-10, relative to margins of order 1) with room.
ACTIVE_RTOL = 1e-7

#: HiGHS options: tight feasibility so that the duals and the active set are accurate.
HIGHS_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}

#: Clarabel settings for the spectral program (as tight as its interior point reliably gets).
CLARABEL_SETTINGS = {
    "tol_gap_abs": 1e-10,
    "tol_gap_rel": 1e-10,
    "tol_feas": 1e-10,
    "max_iter": 500,
}


def _check_norm(norm: str, allowed: tuple[str, ...] = NORMS) -> str:
    if not isinstance(norm, str) or norm not in allowed:
        raise ValueError(f"norm must be one of {allowed}, got {norm!r}")
    return norm


def matrix_norm(W: ArrayLike, norm: str) -> float:
    """A norm of a matrix ``W`` (shape (V, d)).

    Parameters
    ----------
    W : array_like, shape (V, d)
    norm : {"l2", "max", "l1", "spectral", "nuclear"}
        Frobenius, entrywise max, entrywise sum, largest singular value, sum of singular
        values.

    Returns
    -------
    float
    """
    norm = _check_norm(norm, (*NORMS, "nuclear"))
    A = np.asarray(W, dtype=np.float64)
    if A.size == 0:
        return 0.0
    if norm == "l2":
        return float(np.linalg.norm(A))
    if norm == "max":
        return float(np.max(np.abs(A)))
    if norm == "l1":
        return float(np.sum(np.abs(A)))
    singular = np.linalg.svd(A, compute_uv=False)
    return float(singular[0]) if norm == "spectral" else float(np.sum(singular))


def dual_norm(G: ArrayLike, norm: str) -> float:
    """``||G||_*``, the dual of ``norm`` (``sup_{||W|| <= 1} <G, W>``), shape (V, d)."""
    return matrix_norm(G, DUAL_NORMS[_check_norm(norm)])


@dataclass(frozen=True)
class DualityCertificate:
    """Weak-duality evidence that ``W`` solves the ``norm``-NTP-SVM (see the module notes).

    Attributes
    ----------
    norm : str
    upper : float
        ``||W||`` of the returned (feasible) ``W``: no optimum is larger.
    lower : float
        ``sum(lambda) / ||G||_*`` with ``G = sum lambda_i A_i + sum mu_e E_e``: no feasible
        ``W`` has a smaller norm. ``0.0`` when the multipliers prove nothing (a negative
        ``lambda``, wrong shape, non-finite values).
    gap : float
        ``(upper - lower) / upper``.
    primal_infeasibility : float
        ``max(max_i (1 - <W, A_i>)^+, max_e |<W, E_e>| / (||E_e||_F ||W||_F))``.
    ok : bool
        ``primal_infeasibility <= FEAS_RTOL`` and ``|gap| <= GAP_RTOL[norm]``.
    """

    norm: str
    upper: float
    lower: float
    gap: float
    primal_infeasibility: float
    ok: bool

    @property
    def margin_bounds(self) -> tuple[float, float]:
        """``(1 / upper, 1 / lower)``: the optimal margin lies in this interval."""
        return 1.0 / self.upper, (math.inf if self.lower == 0.0 else 1.0 / self.lower)


def duality_certificate(
    inst: NTPInstance,
    W: ArrayLike,
    duals: ArrayLike,
    f_duals: ArrayLike,
    norm: str,
) -> DualityCertificate:
    """Check ``(W, lambda, mu)`` for the ``norm``-NTP-SVM from the instance alone.

    Parameters
    ----------
    inst : NTPInstance
    W : array_like, shape (V, d)
        The claimed minimiser.
    duals : array_like, shape (n_out,)
        ``lambda`` over :func:`~ntpprops._separability.separation_atoms`.
    f_duals : array_like, shape (n_F,)
        ``mu`` over the default generators :func:`~ntpprops._subspace.f_generators`.
    norm : {"l2", "max", "l1", "spectral"}

    Returns
    -------
    DualityCertificate
    """
    norm = _check_norm(norm)
    atoms, gens = separation_atoms(inst), f_generators(inst)
    H = inst.embeddings
    W = np.asarray(W, dtype=np.float64)
    if W.shape != inst.weight_shape or not np.all(np.isfinite(W)):
        raise InvalidInstanceError(
            f"W must be finite with shape {inst.weight_shape}, got shape {W.shape}"
        )
    upper = matrix_norm(W, norm)
    primal = _primal_infeasibility(inst, W, atoms, gens)
    lam = np.asarray(duals, dtype=np.float64)
    mu = np.asarray(f_duals, dtype=np.float64)
    lower = 0.0
    valid = (
        lam.shape == (len(atoms),)
        and mu.shape == (len(gens),)
        and np.all(np.isfinite(lam))
        and np.all(np.isfinite(mu))
        and not np.any(lam < 0.0)
    )
    if valid and lam.sum() > 0.0:
        m, V = inst.m, inst.vocab_size
        C = atom_coefficients(atoms, lam, m, V) + atom_coefficients(gens, mu, m, V)
        g_norm = dual_norm(C.T @ H, norm)
        lower = math.inf if g_norm == 0.0 else float(lam.sum()) / g_norm
    gap = (upper - lower) / upper if upper > 0.0 else math.inf
    ok = primal <= FEAS_RTOL and abs(gap) <= GAP_RTOL[norm]
    return DualityCertificate(norm, upper, lower, gap, primal, bool(ok))


def _primal_infeasibility(inst: NTPInstance, W: FloatArray, atoms: Atoms, gens: Atoms) -> float:
    w_fro = float(np.linalg.norm(W))
    if w_fro == 0.0:
        return math.inf
    scores = inst.embeddings @ W.T
    worst = float(np.max(1.0 - atom_values(atoms, scores), initial=0.0))
    if len(gens):
        gen_norms = np.sqrt(2.0) * np.linalg.norm(inst.embeddings, axis=1)[gens.ctx]
        inner = np.abs(atom_values(gens, scores))
        scaled = np.where(gen_norms > 0.0, inner / np.where(gen_norms > 0.0, gen_norms, 1.0), 0.0)
        worst = max(worst, float(np.max(scaled)) / w_fro)
    return worst


# -- the solvers ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NormSolution:
    """A certified solution of :func:`solve_norm_svm` (see :class:`DualityCertificate`)."""

    W: FloatArray = field(repr=False)
    duals: FloatArray = field(repr=False)
    f_duals: FloatArray = field(repr=False)
    active: NDArray[np.bool_] = field(repr=False)
    certificate: DualityCertificate
    method: str
    solve_time: float


def _atom_matrix(atoms: Atoms, H: FloatArray, V: int) -> Any:
    """Rows ``vec((e_pos - e_neg) h_ctx^T)`` (row-major ``W[z, k]`` at ``z d + k``)."""
    n, d = len(atoms), H.shape[1]
    k = np.arange(d)
    rows = np.repeat(np.arange(n), 2 * d)
    cols = np.concatenate([atoms.pos[:, None] * d + k, atoms.neg[:, None] * d + k], axis=1)
    data = np.concatenate([H[atoms.ctx], -H[atoms.ctx]], axis=1)
    return scipy.sparse.csr_matrix((data.ravel(), (rows, cols.ravel())), shape=(n, V * d))


def _run_highs(max_seconds: float | None, **problem: Any) -> Any:
    options: dict[str, Any] = dict(HIGHS_OPTIONS)
    if max_seconds is not None:
        options["time_limit"] = max_seconds
    with warnings.catch_warnings():
        # HiGHS may warn about tolerances it tightens; the answer is certified anyway.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = linprog(method="highs", options=options, **problem)
    if result.status == 1 and max_seconds is not None:  # iteration or time limit
        raise SolverError(
            f"HiGHS did not solve the NTP-SVM linear program within max_seconds = "
            f"{max_seconds:.3g} s ({result.message}); allow more time or use a smaller instance"
        )
    if result.status != 0:
        raise SolverError(
            f"HiGHS did not solve the NTP-SVM linear program (status {result.status}: "
            f"{result.message}); the instance is separable, so this is a solver failure: "
            "rescale the embeddings or try another norm"
        )
    return result


def _lp_max(A: Any, E: Any, max_seconds: float | None) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``max gamma`` s.t. ``A w >= gamma``, ``E w = 0``, ``-1 <= w <= 1``: (W, lambda, mu)."""
    n_w = A.shape[1]
    col = scipy.sparse.csr_matrix(np.ones((A.shape[0], 1)))
    c = np.zeros(n_w + 1)
    c[-1] = -1.0
    problem = {
        "c": c,
        "A_ub": scipy.sparse.hstack([-A, col], format="csr"),
        "b_ub": np.zeros(A.shape[0]),
        "bounds": [(-1.0, 1.0)] * n_w + [(0.0, None)],
    }
    if E.shape[0]:
        problem["A_eq"] = scipy.sparse.hstack(
            [E, scipy.sparse.csr_matrix((E.shape[0], 1))], format="csr"
        )
        problem["b_eq"] = np.zeros(E.shape[0])
    result = _run_highs(max_seconds, **problem)
    gamma = float(result.x[-1])
    if not gamma > 0.0:
        raise SolverError(
            f"HiGHS found max-norm margin {gamma:.3g} <= 0 on an instance proven separable; "
            "rescale the embeddings"
        )
    # Stationarity in w: A^T lambda + E^T mu = -(bound multipliers), with lambda = -y_ub >= 0
    # and mu = y_eq (scipy's marginals); in gamma: sum(lambda) = 1.
    lam = -np.asarray(result.ineqlin.marginals)
    mu = np.asarray(result.eqlin.marginals) if E.shape[0] else np.zeros(0)
    return result.x[:-1] / gamma, lam, mu


def _lp_l1(A: Any, E: Any, max_seconds: float | None) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``min 1^T (w+ + w-)`` s.t. ``A (w+ - w-) >= 1``, ``E (w+ - w-) = 0``: (W, lambda, mu)."""
    n_w = A.shape[1]
    problem = {
        "c": np.ones(2 * n_w),
        "A_ub": scipy.sparse.hstack([-A, A], format="csr"),
        "b_ub": -np.ones(A.shape[0]),
        "bounds": (0.0, None),
    }
    if E.shape[0]:
        problem["A_eq"] = scipy.sparse.hstack([E, -E], format="csr")
        problem["b_eq"] = np.zeros(E.shape[0])
    result = _run_highs(max_seconds, **problem)
    x = np.asarray(result.x)
    # Stationarity: 1 - A^T lambda - E^T mu >= 0 and 1 + A^T lambda + E^T mu >= 0, i.e.
    # ||G||_max <= 1, with lambda = -y_ub >= 0 and mu = y_eq.
    lam = -np.asarray(result.ineqlin.marginals)
    mu = np.asarray(result.eqlin.marginals) if E.shape[0] else np.zeros(0)
    return x[:n_w] - x[n_w:], lam, mu


def _conic_spectral(
    inst: NTPInstance, atoms: Atoms, gens: Atoms, max_seconds: float | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``min sigma_max(X)`` over ``W = X V_r^T``, constraints on the logits ``B X^T``."""
    import cvxpy as cp

    B, Vt = reduced_factor(inst)
    V = inst.vocab_size
    order = V + B.shape[1]
    if order > SPECTRAL_MAX_ORDER:
        raise SolverError(
            f"the spectral NTP-SVM needs a semidefinite block of order V + rank H = {order} "
            f"> {SPECTRAL_MAX_ORDER}, beyond what this conic solve handles in reasonable time; "
            "use norm='max' or norm='l1' (linear programs), or fewer contexts"
        )
    X = cp.Variable((V, B.shape[1]))
    flat = cp.vec(B @ X.T, order="C")  # logits, row-major (m, V)
    margin = flat[atoms.ctx * V + atoms.pos] - flat[atoms.ctx * V + atoms.neg]
    constraints = [margin >= 1.0]
    equal = None
    if len(gens):
        equal = flat[gens.ctx * V + gens.pos] - flat[gens.ctx * V + gens.neg] == 0.0
        constraints.append(equal)
    problem = cp.Problem(cp.Minimize(cp.sigma_max(X)), constraints)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Solution may be inaccurate", UserWarning)
            settings: dict[str, Any] = dict(CLARABEL_SETTINGS)
            if max_seconds is not None:
                settings["time_limit"] = max_seconds
            problem.solve(solver=cp.CLARABEL, **settings)
    except cp.error.SolverError as exc:
        raise SolverError(
            f"Clarabel failed on the spectral NTP-SVM ({exc}); rescale the embeddings"
        ) from exc
    if problem.status == cp.USER_LIMIT and max_seconds is not None:
        raise SolverError(
            f"Clarabel did not solve the spectral NTP-SVM within max_seconds = "
            f"{max_seconds:.3g} s; allow more time or use fewer contexts"
        )
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or X.value is None:
        raise SolverError(
            f"Clarabel returned status {problem.status!r} on the spectral NTP-SVM of a "
            "separable instance; rescale the embeddings"
        )
    lam = np.asarray(constraints[0].dual_value, dtype=np.float64)
    # cvxpy's Lagrangian is f - lambda^T (margin - 1) + nu^T (equal-lhs): G = A^T lambda - E^T nu.
    mu = np.zeros(0) if equal is None else -np.asarray(equal.dual_value, dtype=np.float64)
    return np.asarray(X.value) @ Vt, lam, mu


def solve_norm_svm(
    inst: NTPInstance, norm: str, *, max_seconds: float | None = None
) -> NormSolution:
    """Solve the ``norm``-NTP-SVM of a separable instance and certify the answer.

    Parameters
    ----------
    inst : NTPInstance
        Must be NTP-separable with at least one support smaller than ``V`` (the caller,
        :func:`ntpprops.ntp_svm_result`, decides that first).
    norm : {"max", "l1", "spectral"}
    max_seconds : float, optional
        Time limit handed to the solver (HiGHS's ``time_limit``, Clarabel's), less the time
        spent setting the problem up; ``None``: none. The set-up (and cvxpy's compilation of
        the spectral program) is not interrupted.

    Returns
    -------
    NormSolution
        ``W`` projected onto ``F^perp`` and scaled to minimum margin exactly 1, the
        multipliers (negative rounding clipped to 0), and the certificate.

    Raises
    ------
    SolverError
        If the solver fails or runs out of ``max_seconds``, the instance is beyond the
        method's size (:data:`LP_MAX_NONZEROS`, :data:`SPECTRAL_MAX_ORDER`), or the answer fails
        :func:`duality_certificate`.
    """
    norm = _check_norm(norm, ("max", "l1", "spectral"))
    if max_seconds is not None and not (math.isfinite(max_seconds) and max_seconds > 0):
        raise ValueError(f"max_seconds must be positive and finite or None, got {max_seconds!r}")
    start = time.perf_counter()
    atoms, gens = separation_atoms(inst), f_generators(inst)
    H, V = inst.embeddings, inst.vocab_size

    def remaining() -> float | None:
        if max_seconds is None:
            return None
        left = max_seconds - (time.perf_counter() - start)
        if not left > 0.0:
            raise SolverError(
                f"the {norm}-NTP-SVM was not solved: its set-up alone took the "
                f"max_seconds = {max_seconds:.3g} s allowed; allow more time"
            )
        return left

    if norm == "spectral":
        W, lam, mu = _conic_spectral(inst, atoms, gens, remaining())
        method = "clarabel"
    else:
        nonzeros = 2 * inst.dim * (len(atoms) + len(gens)) * (2 if norm == "l1" else 1)
        if nonzeros > LP_MAX_NONZEROS:
            raise SolverError(
                f"the {norm}-NTP-SVM linear program would have {nonzeros:.3g} constraint "
                f"nonzeros (> {LP_MAX_NONZEROS:.3g}); use fewer contexts or a smaller vocabulary"
            )
        A, E = _atom_matrix(atoms, H, V), _atom_matrix(gens, H, V)
        solve = _lp_max if norm == "max" else _lp_l1
        w, lam, mu = solve(A, E, remaining())
        W = np.asarray(w).reshape(inst.weight_shape)
        method = "highs"
    lam = np.maximum(lam, 0.0)
    # Exact (6a) by projection, exact (6b) by rescaling: both move W by the solver's
    # feasibility error only, which the duality gap then accounts for.
    W = project_f_perp(inst, W)
    lowest = float(np.min(atom_values(atoms, H @ W.T)))
    if not lowest > 0.0:
        raise SolverError(
            f"the {norm}-NTP-SVM solution of the solver has minimum margin {lowest:.3g} <= 0 "
            "after projection onto F^perp; rescale the embeddings"
        )
    W = W / lowest
    active = atom_values(atoms, H @ W.T) <= 1.0 + ACTIVE_RTOL
    cert = duality_certificate(inst, W, lam, mu, norm)
    if not cert.ok:
        raise SolverError(
            f"the {norm}-NTP-SVM solution failed its duality certificate (relative gap "
            f"{cert.gap:.2e}, tolerance {GAP_RTOL[norm]:g}; primal infeasibility "
            f"{cert.primal_infeasibility:.2e}, tolerance {FEAS_RTOL:g}); rescale the "
            "embeddings or use norm='l2'"
        )
    return NormSolution(W, lam, mu, active, cert, method, time.perf_counter() - start)


def optimal_face_width(
    inst: NTPInstance, norm: str, direction: ArrayLike, *, optimum: float | None = None
) -> tuple[float, float]:
    """How far the set of optimal solutions extends along ``direction`` (LP norms only).

    Solves ``min`` and ``max <D, W>`` over the optimal face ``{W : (6a), (6b),
    ||W|| <= ||W_opt|| (1 + GAP_RTOL[norm])}``. If the optimum is unique the two agree (to the
    slack); a gap well above the slack proves two distinct optimal solutions. For a random
    ``D`` a face of positive dimension shows a positive width with probability 1.

    Parameters
    ----------
    inst : NTPInstance
        Separable.
    norm : {"max", "l1"}
    direction : array_like, shape (V, d)
    optimum : float, optional
        The optimal norm if known (else solved here).

    Returns
    -------
    (low, high) : tuple of float
        ``min`` and ``max`` of ``<D, W>`` over the face.
    """
    norm = _check_norm(norm, ("max", "l1"))
    D = np.asarray(direction, dtype=np.float64).ravel()
    if D.shape != (inst.vocab_size * inst.dim,) or not np.all(np.isfinite(D)):
        raise InvalidInstanceError(f"direction must be finite with shape {inst.weight_shape}")
    if optimum is None:
        optimum = solve_norm_svm(inst, norm).certificate.upper
    radius = optimum * (1.0 + GAP_RTOL[norm])
    atoms, gens = separation_atoms(inst), f_generators(inst)
    A, E = (
        _atom_matrix(atoms, inst.embeddings, inst.vocab_size),
        _atom_matrix(gens, inst.embeddings, inst.vocab_size),
    )
    n_w = A.shape[1]
    values = []
    for sign in (1.0, -1.0):
        if norm == "max":
            problem = {
                "c": sign * D,
                "A_ub": -A,
                "b_ub": -np.ones(A.shape[0]),
                "bounds": (-radius, radius),
            }
            if E.shape[0]:
                problem |= {"A_eq": E, "b_eq": np.zeros(E.shape[0])}
        else:
            ones = scipy.sparse.csr_matrix(np.ones((1, 2 * n_w)))
            problem = {
                "c": sign * np.concatenate([D, -D]),
                "A_ub": scipy.sparse.vstack([scipy.sparse.hstack([-A, A]), ones], format="csr"),
                "b_ub": np.concatenate([-np.ones(A.shape[0]), [radius]]),
                "bounds": (0.0, None),
            }
            if E.shape[0]:
                problem |= {
                    "A_eq": scipy.sparse.hstack([E, -E], format="csr"),
                    "b_eq": np.zeros(E.shape[0]),
                }
        values.append(sign * float(_run_highs(None, **problem).fun))
    return values[0], values[1]
