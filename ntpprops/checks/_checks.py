"""The named checks: Hypothesis properties comparing a user's code with the reference.

Each ``check_*`` takes an :class:`~ntpprops.checks.Implementation` and runs one property over
ntpprops's strategies; a failure shrinks to a small instance and raises ``AssertionError``
with the instance as a pasteable ``NTPInstance(...)``, the expected and actual values and the
tolerance with its one-line justification. :func:`yield_checks` decides which checks apply
from what the implementation supplies (loss, grad, train).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import ntpprops as ntp
from ntpprops import NTPInstance
from ntpprops.checks._implementation import Implementation
from ntpprops.checks._report import Case, CheckFailure
from ntpprops.checks._tolerances import SAFETY, grad_tol, loss_tol, step_tol
from ntpprops.strategies import ntp_instances, separable_instances, weight_matrices

__all__ = [
    "ALL_CHECKS",
    "BIAS_STEPS",
    "HUGE_NORM",
    "check_gd_monotone",
    "check_gd_step",
    "check_gradient",
    "check_loss",
    "check_loss_at_least_entropy",
    "check_loss_reaches_entropy",
    "check_stability_huge_norm",
    "check_train_direction",
    "check_train_f_limit",
    "yield_checks",
]

FloatArray = NDArray[np.float64]
Check = Callable[[Implementation], None]

#: ``||W||_F`` of the stability check: far beyond where a naive ``exp`` overflows (~709).
HUGE_NORM = 1e6
#: GD steps of the implicit-bias checks: the proven excess bound is then ~1e-2 on small
#: instances (a weight decay of 1e-2 stalls above it); 500 PyTorch steps take ~0.5 s.
BIAS_STEPS = 500
#: Steps compared one by one with the textbook update in :func:`check_gd_step`.
TRAJECTORY_STEPS = 8
#: Step counts at which :func:`check_gd_monotone` evaluates the loss.
MONOTONE_STEPS = (1, 2, 4, 8, 16)
#: Multiples of ``W^mm`` added to ``W*`` in :func:`check_loss_reaches_entropy`.
GENIE_RADII = (0.0, 4.0, 16.0, 40.0)

_SIZES = {"max_contexts": 3, "max_vocab": 4, "max_dim": 3}
_BIAS_SIZES = {"max_contexts": 2, "max_vocab": 3, "max_dim": 3}


def _settings(expensive: bool = False) -> settings:
    """The loaded profile, without deadline and without the explain phase.

    Long-running checks run a tenth of the examples. The explain phase (which reruns the
    shrunk case with each part varied) would double a failure's cost; the message already
    prints the whole instance.
    """
    current = settings()
    n = max(5, current.max_examples // 10) if expensive else current.max_examples
    return settings(
        max_examples=n,
        deadline=None,
        phases=[p for p in current.phases if p is not Phase.explain],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _data(inst: NTPInstance) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Writable float64 copies of ``H, P, pi`` to hand to user code."""
    return (
        np.array(inst.embeddings, dtype=np.float64),
        np.array(inst.probs, dtype=np.float64),
        np.array(inst.context_weights, dtype=np.float64),
    )


def _as_float(case: Case, what: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{case.context()}\n  {what} returned {value!r}, not a float") from exc


def _as_matrix(case: Case, what: str, value: object) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    case.require(
        arr.shape == case.inst.weight_shape,
        f"{what} returns an array of shape (V, d)",
        case.inst.weight_shape,
        arr.shape,
        0,
        "shapes are exact",
    )
    return arr


def _max_abs(a: FloatArray, b: FloatArray) -> float:
    # nan propagates through max: a NaN entry makes every "<= tol" comparison False.
    return float(np.max(np.abs(a - b)))


def _user_loss(case: Case, W: FloatArray) -> float:
    assert case.impl.loss is not None
    return _as_float(case, "loss", case.call("loss", case.impl.loss, *_data(case.inst), W.copy()))


def _user_grad(case: Case, W: FloatArray) -> FloatArray:
    assert case.impl.grad is not None
    return _as_matrix(case, "grad", case.call("grad", case.impl.grad, *_data(case.inst), W.copy()))


def _user_train(case: Case, W0: FloatArray, lr: float, steps: int) -> FloatArray:
    assert case.impl.train is not None
    out = case.call("train", case.impl.train, *_data(case.inst), W0.copy(), lr, steps)
    return _as_matrix(case, "train", out)


def _instance_and_weights(**weights: float) -> st.SearchStrategy[tuple[NTPInstance, FloatArray]]:
    pairs: st.SearchStrategy[tuple[NTPInstance, FloatArray]] = ntp_instances(**_SIZES).flatmap(
        lambda inst: st.tuples(st.just(inst), weight_matrices(inst, **weights))
    )
    return pairs


def _bias_instances() -> st.SearchStrategy[tuple[NTPInstance, FloatArray]]:
    """Small separable, compatible instances (``m <= 2, V <= 3``) and an initial ``W0``."""
    pairs: st.SearchStrategy[tuple[NTPInstance, FloatArray]] = separable_instances(
        **_BIAS_SIZES
    ).flatmap(lambda inst: st.tuples(st.just(inst), weight_matrices(inst, max_entry=1.0)))
    return pairs


def _drop_token(inst: NTPInstance, z: int) -> NTPInstance:
    """``inst`` without token ``z`` (a column of ``probs`` that is zero in every context)."""
    keep = np.arange(inst.vocab_size) != z
    labels = inst.token_labels
    return inst.replace(
        probs=inst.probs[:, keep],
        token_labels=None if labels is None else [labels[i] for i in np.flatnonzero(keep)],
    )


def _fewer_tokens(
    failure: CheckFailure, rerun: Callable[..., None], weights: str | None
) -> CheckFailure:
    """The failure on the instance with the fewest tokens outside every support.

    Hypothesis shrinks the draws, not the instance: a vocabulary whose unused tokens sit
    between used ones (support ``{0, 3}`` of ``V = 4``) cannot lose them by shrinking ``V``.
    Dropping a token that no context predicts keeps the instance valid; the check is rerun on
    each such smaller instance (with the drawn ``W``'s row dropped) and the smallest failure is
    the one reported.
    """
    while True:
        case = failure.case
        inst = case.inst
        unused = np.flatnonzero(~inst.supports.any(axis=0))
        for z in unused[::-1]:
            if inst.vocab_size <= 2:
                break
            smaller = _drop_token(inst, int(z))
            args: tuple[object, ...] = (smaller,)
            if weights is not None:
                W = np.asarray(case.arrays[weights])
                args = ((smaller, np.delete(W, z, axis=0)),)
            try:
                rerun(*args)
            except CheckFailure as exc:
                failure = exc
                break
            except Exception:
                # Not a smaller counterexample of this claim (an assumption or a
                # precondition such as separability no longer holds): try the next token.
                continue
        else:
            return failure
        if failure.case is case:
            return failure


def _run(run: Callable[[], None], weights: str | None = "W") -> None:
    """Run a ``@given`` check; on failure, report it on the fewest unused tokens.

    Parameters
    ----------
    run : callable
        The check's ``@given`` property; its undecorated body (``run.hypothesis.inner_test``)
        takes an instance, or a pair ``(instance, W)`` when ``weights`` names the failing
        case's array that was drawn as that ``W``.
    weights : str or None
    """
    __tracebackhide__ = True
    try:
        run()
    except CheckFailure as failure:
        smallest = _fewer_tokens(failure, run.hypothesis.inner_test, weights)  # type: ignore[attr-defined]
        if smallest is failure:
            raise
        raise smallest from None


# --- loss -------------------------------------------------------------------------------------


def check_loss(impl: Implementation) -> None:
    """``loss(H, P, pi, W)`` equals ``CE(W) = -sum_j pi_j sum_z p_jz log softmax_z(W h_j)``."""

    @_settings()
    @given(_instance_and_weights())
    def run(pair: tuple[NTPInstance, FloatArray]) -> None:
        inst, W = pair
        case = Case("check_loss", impl, inst, W=W)
        expected, actual = ntp.ce_loss(inst, W), _user_loss(case, W)
        tol = loss_tol(inst, W, impl.unit_roundoff)
        case.require(
            abs(actual - expected) <= tol,
            "loss equals the cross-entropy of Eq. 2 (pi * p weighted)",
            expected,
            actual,
            tol,
            "rounding of d-term logits and V-term log-sum-exp at this logit scale",
        )

    _run(run)


def check_loss_at_least_entropy(impl: Implementation) -> None:
    """``loss(W) >= H`` (the entropy) for every ``W``: ``CE = H + sum_j pi_j KL >= H``."""

    @_settings()
    @given(_instance_and_weights())
    def run(pair: tuple[NTPInstance, FloatArray]) -> None:
        inst, W = pair
        case = Case("check_loss_at_least_entropy", impl, inst, W=W)
        actual = _user_loss(case, W)
        tol = loss_tol(inst, W, impl.unit_roundoff)
        case.require(
            actual >= inst.entropy - tol,
            "loss >= entropy H (CE = H + sum_j pi_j KL(p_j || softmax(W h_j)))",
            f">= {inst.entropy!r}",
            actual,
            tol,
            "rounding of the loss at this logit scale",
        )

    _run(run)


def _limit_residuals(inst: NTPInstance, star: FloatArray, mm: FloatArray) -> tuple[float, float]:
    """How far the computed ``W*`` and ``W^mm`` are from exact (logit units).

    ``rho_star``: max deviation of ``W*``'s in-support logit gaps from ``log(p_z / p_z')``;
    ``rho_mm``: max violation of (6a) (equal in-support logits) or of (6b) (margins >= 1).
    """
    logp = np.log(np.where(inst.supports, inst.probs, 1.0))
    L_star, L_mm = inst.embeddings @ star.T, inst.embeddings @ mm.T
    rho_star = rho_mm = 0.0
    for j in range(inst.m):
        s = inst.supports[j]
        gap = (L_star[j] - logp[j])[s]
        rho_star = max(rho_star, float(gap.max() - gap.min()))
        rho_mm = max(rho_mm, float(L_mm[j][s].max() - L_mm[j][s].min()))
        if not s.all():
            margin = float(L_mm[j][s].min() - L_mm[j][~s].max())
            rho_mm = max(rho_mm, 1.0 - margin)
    return rho_star, rho_mm


def check_loss_reaches_entropy(impl: Implementation) -> None:
    """On separable, compatible data the loss tends to the entropy along ``W* + R W^mm``.

    The genie bound of Theorem 1's proof (Eq. 9): ``H <= CE(W* + R W^mm) <= H + C e^{-R}``
    with ``C = V exp(||W*|| M)``, ``M = sqrt 2 max_j ||h_j||``.
    """

    @_settings(expensive=True)
    @given(separable_instances(**_SIZES))
    def run(inst: NTPInstance) -> None:
        lim = ntp.Limits.of(inst)
        star, mm = lim.require_w_star(), lim.require_w_mm()
        rho_star, rho_mm = _limit_residuals(inst, star, mm)
        M = math.sqrt(2.0) * float(np.linalg.norm(inst.embeddings, axis=1).max())
        C = inst.vocab_size * math.exp(float(np.linalg.norm(star)) * M)
        for R in GENIE_RADII:
            W = star + R * mm
            case = Case("check_loss_reaches_entropy", impl, inst, W=W)
            actual = _user_loss(case, W)
            # CE moves by <= 2 |dl|_inf per context: solver residuals count twice.
            tol = loss_tol(inst, W, impl.unit_roundoff) + 2.0 * (rho_star + R * rho_mm)
            upper = inst.entropy + C * math.exp(-R)
            case.require(
                inst.entropy - tol <= actual <= upper + tol,
                f"H <= loss(W* + R W^mm) <= H + C e^-R at R = {R:g} (genie bound, Eq. 9)",
                f"[{inst.entropy!r}, {upper!r}]",
                actual,
                tol,
                "loss rounding plus twice the solvers' logit residuals (CE is 2-Lipschitz)",
            )

    _run(run, weights=None)


def check_stability_huge_norm(impl: Implementation) -> None:
    """Loss and gradient stay finite and accurate at ``||W||_F = 1e6`` (logits ~ 1e6).

    A softmax without the max-shift overflows (``exp(710) = inf``) and returns ``nan``.
    """

    @_settings()
    @given(_instance_and_weights())
    def run(pair: tuple[NTPInstance, FloatArray]) -> None:
        inst, D = pair
        norm = float(np.linalg.norm(D))
        event("W = 0 (no direction to scale)" if norm == 0 else "W scaled to 1e6")
        W = D * (HUGE_NORM / norm) if norm > 0 else D
        case = Case("check_stability_huge_norm", impl, inst, W=W)
        u = impl.unit_roundoff
        if impl.loss is not None:
            expected, actual = ntp.ce_loss(inst, W), _user_loss(case, W)
            tol = loss_tol(inst, W, u)
            case.require(
                abs(actual - expected) <= tol,
                "loss is finite and equals CE at ||W|| = 1e6",
                expected,
                actual,
                tol,
                "rounding of the loss at logit scale ~1e6 (relative u times the logits)",
            )
        if impl.grad is not None:
            G, Gu = ntp.ce_grad(inst, W), _user_grad(case, W)
            tol = grad_tol(inst, W, u)
            case.require(
                _max_abs(Gu, G) <= tol,
                "grad is finite and equals grad CE at ||W|| = 1e6 (max abs entry difference)",
                G.tolist(),
                Gu.tolist(),
                tol,
                "rounding of softmax - P at logit scale ~1e6 times max |h|",
            )

    _run(run)


# --- gradient ---------------------------------------------------------------------------------


def check_gradient(impl: Implementation) -> None:
    """``grad(H, P, pi, W)`` equals ``(softmax(H W^T) - P)^T diag(pi) H``."""

    @_settings()
    @given(_instance_and_weights())
    def run(pair: tuple[NTPInstance, FloatArray]) -> None:
        inst, W = pair
        case = Case("check_gradient", impl, inst, W=W)
        G, Gu = ntp.ce_grad(inst, W), _user_grad(case, W)
        tol = grad_tol(inst, W, impl.unit_roundoff)
        case.require(
            _max_abs(Gu, G) <= tol,
            "grad equals (softmax(H W^T) - P)^T diag(pi) H (max abs entry difference)",
            G.tolist(),
            Gu.tolist(),
            tol,
            "rounding of softmax - P at this logit scale, times max |h|",
        )

    _run(run)


# --- training ---------------------------------------------------------------------------------


def _gd_trajectory(inst: NTPInstance, W0: FloatArray, lr: float, steps: int) -> list[FloatArray]:
    Ws = [W0]
    for _ in range(steps):
        Ws.append(Ws[-1] - lr * ntp.ce_grad(inst, Ws[-1]))
    return Ws


def check_gd_step(impl: Implementation) -> None:
    """``train(..., W0, lr, k)`` equals ``k`` textbook steps ``W <- W - lr grad CE(W)``.

    Checked for ``k = 1`` and ``k = 8`` at the safe step ``lr = 1/(2L)``.
    """

    @_settings()
    @given(_instance_and_weights())
    def run(pair: tuple[NTPInstance, FloatArray]) -> None:
        inst, W0 = pair
        lr = ntp.safe_step_size(inst)
        Ws = _gd_trajectory(inst, W0, lr, TRAJECTORY_STEPS)
        u = impl.unit_roundoff
        for k in (1, TRAJECTORY_STEPS):
            case = Case("check_gd_step", impl, inst, W0=W0, lr=lr, steps=k)
            actual = _user_train(case, W0, lr, k)
            # lr <= 2/L makes the GD map non-expansive: per-step errors add up, no growth.
            tol = sum(step_tol(inst, W, lr, u) for W in Ws[:k])
            case.require(
                _max_abs(actual, Ws[k]) <= tol,
                f"train(W0, lr, {k}) equals {k} steps of W - lr grad CE(W)",
                Ws[k].tolist(),
                actual.tolist(),
                tol,
                "sum of per-step rounding (the GD map is non-expansive at lr <= 2/L)",
            )

    _run(run, weights="W0")


def check_gd_monotone(impl: Implementation) -> None:
    """At the safe step ``lr = 1/(2L)`` the loss of ``train`` never increases with the steps.

    The descent lemma: ``CE(W - lr g) <= CE(W) - lr (1 - lr L / 2) |g|^2``.
    """

    @_settings()
    @given(_instance_and_weights())
    def run(pair: tuple[NTPInstance, FloatArray]) -> None:
        inst, W0 = pair
        lr = ntp.safe_step_size(inst)
        previous, prev_steps = ntp.ce_loss(inst, W0), 0
        for k in MONOTONE_STEPS:
            case = Case("check_gd_monotone", impl, inst, W0=W0, lr=lr, steps=k)
            W = _user_train(case, W0, lr, k)
            current = ntp.ce_loss(inst, W)
            tol = 2.0 * loss_tol(inst, W, impl.unit_roundoff)
            case.require(
                current <= previous + tol,
                f"CE(train(W0, lr, {k})) <= CE(train(W0, lr, {prev_steps})) at lr = 1/(2L)",
                f"<= {previous!r}",
                current,
                tol,
                "rounding of the two losses compared",
            )
            previous, prev_steps = current, k

    _run(run, weights="W0")


def _bias_run(
    name: str, impl: Implementation, inst: NTPInstance, W0: FloatArray
) -> tuple[Case, FloatArray, FloatArray, FloatArray, float, float]:
    """Train ``BIAS_STEPS`` steps at ``lr = 1/L``; return the proven excess bound of GD there."""
    lr = 1.0 / ntp.smoothness_bound(inst)
    case = Case(name, impl, inst, W0=W0, lr=lr, steps=BIAS_STEPS)
    lim = ntp.Limits.of(inst)
    star, mm = lim.require_w_star(), lim.require_w_mm()
    W = _user_train(case, W0, lr, BIAS_STEPS)
    eps = ntp.gd_excess_bound(inst, W0, lr, BIAS_STEPS, star, mm)
    # Rounding over BIAS_STEPS non-expansive steps: per-step error ~ SAFETY u (|W| + 1).
    drift = BIAS_STEPS * SAFETY * impl.unit_roundoff * (1.0 + float(np.abs(W).max()))
    return case, W, star, mm, eps, drift


def check_train_f_limit(impl: Implementation) -> None:
    """Theorem 2, ``P_F W_k -> W*``: after ``k`` GD steps at ``lr = 1/L``,
    ``||P_F W_k - W*|| <= f_distance_bound(gd_excess_bound(k))`` (both proven bounds)."""

    @_settings(expensive=True)
    @given(_bias_instances())
    def run(pair: tuple[NTPInstance, FloatArray]) -> None:
        inst, W0 = pair
        case, W, star, _, eps, drift = _bias_run("check_train_f_limit", impl, inst, W0)
        bound = ntp.f_distance_bound(inst, eps)
        event("f bound informative" if math.isfinite(bound) else "f bound infinite")
        dist = float(np.linalg.norm(ntp.project_f(inst, W) - star))
        tol = drift * math.sqrt(W.size)
        case.require(
            dist <= bound + tol,
            f"||P_F W_k - W*|| <= f_distance_bound(gd_excess_bound) after k = {BIAS_STEPS} steps",
            f"<= {bound!r} (excess bound {eps!r}; CE - H = {ntp.excess_loss(inst, W)!r})",
            dist,
            tol,
            "k steps of rounding, non-expansive map, Frobenius over V d entries",
        )

    _run(run, weights="W0")


def check_train_direction(impl: Implementation) -> None:
    """Lemma 2 and Theorem 2, direction: GD diverges along ``W^mm``.

    After ``k`` GD steps at ``lr = 1/L``: (a) ``CE(W_k) - H <= gd_excess_bound(k)`` (proven for
    GD; no finite ``W`` reaches ``H``, Proposition 1, so a trainer with a finite limit fails
    it as ``k`` grows) and (b) ``cos(W_k, W^mm) >= alignment_lower_bound`` (proven, from the
    excess and ``F`` bounds), i.e. ``<W_k, W^mm> / ||W^mm|| >= G ||W^mm||`` with
    ``G ~ log(1/excess)``.
    """

    @_settings(expensive=True)
    @given(_bias_instances())
    def run(pair: tuple[NTPInstance, FloatArray]) -> None:
        inst, W0 = pair
        case, W, star, mm, eps, drift = _bias_run("check_train_direction", impl, inst, W0)
        excess = ntp.excess_loss(inst, W)
        tol = 2.0 * loss_tol(inst, W, impl.unit_roundoff) + drift
        case.require(
            excess <= eps + tol,
            f"CE(W_k) - H <= gd_excess_bound after k = {BIAS_STEPS} GD steps at lr = 1/L "
            "(the loss reaches H only as W_k diverges along W^mm)",
            f"<= {eps!r}",
            excess,
            tol,
            "rounding of the loss plus k steps of rounding of W_k",
        )
        norm, mm_norm = float(np.linalg.norm(W)), float(np.linalg.norm(mm))
        dist = ntp.f_distance_bound(inst, eps)
        lower = ntp.alignment_lower_bound(inst, star, mm_norm, eps, dist, norm)
        event("alignment bound informative" if lower > 0 else "alignment bound vacuous")
        along = float(np.sum(W * mm)) / mm_norm
        cos = along / norm if norm > 0 else math.nan
        tol = drift * math.sqrt(W.size) / max(norm, 1.0)
        case.require(
            cos >= lower - tol,
            f"cos(W_k, W^mm) >= alignment_lower_bound after k = {BIAS_STEPS} steps "
            f"(<W_k, W^mm>/||W^mm|| = {along:.6g} must reach {lower * norm:.6g})",
            f">= {lower!r}",
            cos,
            tol,
            "k steps of rounding, non-expansive map, relative to ||W_k||",
        )

    _run(run, weights="W0")


# --- registry ---------------------------------------------------------------------------------

#: Every check with what it needs: scikit-learn's tags, as a table.
ALL_CHECKS: tuple[tuple[Check, frozenset[str]], ...] = (
    (check_loss, frozenset({"loss"})),
    (check_loss_at_least_entropy, frozenset({"loss"})),
    (check_loss_reaches_entropy, frozenset({"loss"})),
    (check_gradient, frozenset({"grad"})),
    (check_stability_huge_norm, frozenset({"loss", "grad"})),
    (check_gd_step, frozenset({"train"})),
    (check_gd_monotone, frozenset({"train"})),
    (check_train_f_limit, frozenset({"train"})),
    (check_train_direction, frozenset({"train"})),
)


def _supplied(impl: Implementation) -> frozenset[str]:
    return frozenset(k for k in ("loss", "grad", "train") if getattr(impl, k) is not None)


def yield_checks(impl: Implementation) -> Iterator[Check]:
    """The checks that apply to ``impl``: those needing something it supplies.

    ``check_stability_huge_norm`` applies to a loss or a gradient (it checks whichever is
    given); every other check needs exactly one of ``loss``, ``grad``, ``train``.

    Parameters
    ----------
    impl : Implementation

    Yields
    ------
    callable
        ``check(impl)``; raises ``AssertionError`` on a counterexample.
    """
    if not isinstance(impl, Implementation):
        raise TypeError(f"impl={impl!r} must be an ntpprops.checks.Implementation")
    have = _supplied(impl)
    for check, needs in ALL_CHECKS:
        if needs & have:
            yield check
