"""Remark 1 (one-hot NTP) for the momentum variants of normalised steepest descent (NMD):
``signum`` (max norm) and ``muon`` with ``orthogonalize="svd"`` (spectral norm) maximise the
``q``-margin (Fan, Schmidt and Thrampoulidis 2025, arXiv 2502.04664, NMD theorem).

The derivation extends ``test_nsd_onehot.py``'s (same notation: ``L``, the proxy ``G``, the
certified margin ``gamma``, the data bound ``B``) by the momentum error, measured along the
run. The methods (``ntpprops._steepest._momentum_method``) keep the moving average
``M_t = beta M_{t-1} + (1 - beta) g_t``, ``M_{-1} = 0`` (no bias correction), of the gradients
``g_t = grad L(W_t)`` and step ``W_{t+1} = W_t - eta_t D_t``, ``eta_t = eta_0 (t + 1)^(-a)``,
with ``D_t`` the unit ``q``-steepest direction of ``M_t`` (``sign(M_t)``; the exact polar
factor ``U V^T``). The direction is scale-free, so ``D_t`` is also steepest for the convex
combination ``hat M_t = M_t / (1 - beta^(t + 1))`` of ``g_0..g_t``; the momentum error is
``e_t = ||g_t - hat M_t||_{q*}`` (``e_0 = 0``). The test recomputes ``M_t`` from the recorded
gradients by the recursion above and never reads the optimizer's state.

1. With ``||D_t||_q = 1`` and ``<hat M_t, D_t> = ||hat M_t||_{q*}``: ``<g_t, D_t> = <hat M_t,
   D_t> + <g_t - hat M_t, D_t> >= ||hat M_t||_{q*} - e_t >= ||g_t||_{q*} - 2 e_t >= gamma G_t
   - 2 e_t`` (triangle inequality, then step 1 of the NSD notes);
2. the second-order bound of the NSD notes needs only ``||D_t||_q = 1``, so **(P')**
   ``L_{t+1} <= L_t - eta_t (G_t (gamma - eta_t B^2 e^{eta_t B} / 2) - 2 e_t)``;
3. summing as for (R), ``log L_{s+1} - log L_s <= -(rho_s eta_s (gamma - eta_s B^2 e^{eta_s B}
   / 2) - 2 eta_s e_s / L_s)``: **(R')** is (R) with ``sum_{s<t} 2 eta_s e_s / L_s``
   subtracted from its numerator. It tends to ``gamma`` exactly when the momentum error is
   small against the loss on average (``e_s / L_s -> 0``, which the NMD theorem's conditions
   on ``beta`` and ``a`` provide: ``g`` changes by ``O(eta_s G_s)`` per step while ``hat M``
   averages over ``~1 / (1 - beta)`` steps); here it is measured, not assumed.

The properties check the premise (``D_t = -(W_{t+1} - W_t) / eta_t`` has ``||D_t||_q = 1``
and ``<hat M_t, D_t> = ||hat M_t||_{q*}``: a maximiser, hence the exact steepest direction
wherever that is unique, and for the max norm ``D_t = sign(M_t)`` entrywise wherever
``|M_t|`` exceeds its rounding), (P') at every step and (R') at every step. Muon's default
Newton-Schulz direction is not NMD: its singular values lie in about ``[0.7, 1.2]`` (and far
below 1 for singular values of ``M_t`` small against ``||M_t||_F``), so neither ``||D_t|| = 1``
nor step 1 holds. For it the premise is the step itself (``U p^5(S / ||M_t||_F) V^T`` of the
recomputed ``M_t``, ``p`` Muon's quintic) and (P'') is (P') with the measured deviation from
``U V^T`` and the measured step length carried through; no margin bound is asserted.

Verified by hand to fail: signum taking normalised-GD steps (premise: length); Muon (SVD)
without momentum, with ``beta / 2`` or ``beta + 0.05``, and the shared recursion with swapped
weights, an unkept state, a Nesterov look-ahead or a one-step-stale buffer (premise: not
steepest for ``hat M_t``; the one-context hand case cannot see these, its gradient keeps one
direction); Muon (Newton-Schulz) without momentum, with ``beta / 2``, swapped weights, 4
iterations or a changed coefficient (its premise). With the premise switched off, signum
stepping along ``M_t / ||M_t||_max`` or along l1's direction breaks (P'); momentum faults do
not (a unit steepest step for some other average of the gradients still satisfies it), nor
does Muon stepping along ``M_t / ||M_t||_op``. The plain sum ``M_t = beta M_{t-1} + g_t``
passes, as it should: it gives the same steps.

Rounding. The recursion's entrywise error obeys ``eps_t <= beta eps_{t-1} + 3 EPS (beta
||M_{t-1}||_max + (1 - beta) ||g_t||_max)`` (two products and a sum), so ``||delta hat
M_t||_{q*} <= u_t = V d eps_t / (1 - beta^(t + 1))`` (``||.||_1`` and the nuclear norm are at
most ``V d`` times the max norm); the implementation's buffer obeys the same bound, so a
maximiser for its ``M_t`` is one for ours to within ``tau_t = 4 u_t + 64 V d EPS ||hat
M_t||_{q*}`` (the last term for the SVD and the sums). The recorded gradient is within
``(m + 5) EPS 2 G_t max|h|`` entrywise-summed of ``grad L``, costing ``2 (m + 5) V d EPS
max|h| G_t`` in step 1. (P') is allowed ``delta (L_t + L_{t+1})`` as in the NSD notes plus
``eta_t (2 u_t + tau_t + 2 (m + 5) V d EPS max|h| G_t)``; (R') ``delta`` times its terms'
size plus the sum of those ``eta_t``-terms over ``L_t``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _onehot_runs import loss_proxy_margin, margin_constants, run_exact_gradients
from _oracles import EPS
from hypothesis import given
from hypothesis import strategies as st

from ntpprops import OPTIMIZERS, NTPInstance
from ntpprops import strategies as nst
from ntpprops._svm_norms import GAP_RTOL, dual_norm, matrix_norm

#: Momentum method -> the norm whose margin the NMD theorem says it maximises.
NMD_NORMS = {"signum": "max", "muon": "spectral"}


def nmd_optimizer(method, lr, beta, decay):
    """The method of Fan et al.'s NMD theorem: Muon with the exact polar factor."""
    if method == "muon":
        return OPTIMIZERS["muon"](lr, beta=beta, decay=decay, orthogonalize="svd")
    return OPTIMIZERS["signum"](lr, beta=beta, decay=decay)


def textbook_momentum(grads, beta):
    """``hat M_t`` (T, V, d) by ``M_t = beta M_{t-1} + (1 - beta) g_t``, and its rounding ``u``.

    ``u`` is in the dual norm, per the module notes (without the factor ``V d``).
    """
    M = np.zeros_like(grads[0])
    error = 0.0
    averages, errors = [], []
    for t, g in enumerate(grads):
        error = beta * error + 3 * EPS * (beta * np.max(np.abs(M)) + (1 - beta) * np.max(np.abs(g)))
        M = beta * M + (1.0 - beta) * g
        weight = 1.0 - beta ** (t + 1)
        averages.append(M / weight)
        errors.append(error / weight)
    return np.array(averages), np.array(errors)


def check_nmd_certificate(inst, method, beta, optimizer, eta):
    """Assert the premise, (P') and (R') of the module notes along ``optimizer``'s run.

    Returns the final ``(margin, (R') bound, gamma)`` and ``e_t / G_t`` along the run.
    """
    norm = NMD_NORMS[method]
    steps = len(eta)
    V, d = inst.weight_shape
    gamma, bound = margin_constants(inst, norm)
    iterates, updates, grads = run_exact_gradients(inst, optimizer, steps)
    average, rounding = textbook_momentum(grads, beta)
    u = V * d * rounding
    directions = -updates / eta[:, None, None]
    lengths = np.array([matrix_norm(D, norm) for D in directions])
    # Premise: unit q-length (an SVD / a division: ~ dims * EPS) ...
    np.testing.assert_allclose(lengths, 1.0, rtol=64 * max(V, d) * EPS)
    # ... and steepest for the independently recomputed momentum.
    momentum_dual = np.array([dual_norm(M, norm) for M in average])
    attained = np.einsum("tvd,tvd->t", average, directions)
    tau = 4 * u + 64 * V * d * EPS * momentum_dual
    shortfall = momentum_dual - attained - tau
    assert np.all(shortfall <= 0.0), (
        f"step {int(np.argmax(shortfall))} is not steepest for the momentum M_t: "
        f"<M_t, D_t> falls {float(np.max(shortfall + tau)):.3g} short of ||M_t||_{norm}* "
        f"(allowed {float(tau[np.argmax(shortfall)]):.3g})"
    )
    if norm == "max":
        clear = np.abs(average) > 2 * rounding[:, None, None]
        assert np.array_equal(np.sign(directions[clear]), np.sign(average[clear]))
    loss, proxy, lowest, top = loss_proxy_margin(inst, iterates)
    momentum_error = np.array([dual_norm(g - M, norm) for g, M in zip(grads, average, strict=True)])
    delta = 4 * (inst.dim + 2) * EPS * (1.0 + top)
    h_max = float(np.max(np.abs(inst.embeddings)))
    extra = eta * (2 * u + tau + 2 * (inst.m + 5) * V * d * EPS * h_max * proxy[:-1])
    second = eta * bound**2 * np.exp(eta * bound) / 2.0
    allowed = loss[:-1] - eta * (proxy[:-1] * (gamma - second) - 2 * momentum_error)
    slack = allowed + extra + delta[1:] * (loss[:-1] + loss[1:]) - loss[1:]
    assert np.all(slack >= 0.0), (
        f"(P') fails at step {int(np.argmin(slack))}: L_t+1 exceeds the proven bound by "
        f"{-float(np.min(slack)):.3g} (gamma = {gamma:.4g}, B = {bound:.4g}, e_t = "
        f"{float(momentum_error[np.argmin(slack)]):.3g})"
    )
    pi_min = float(np.min(inst.context_weights))
    rho = proxy[:-1] / loss[:-1]
    total = np.cumsum(eta)
    gained = np.cumsum(rho * eta * (gamma - second) - 2 * eta * momentum_error / loss[:-1])
    numerator = math.log(pi_min) - math.log(loss[0]) + gained - loss[1:] / pi_min
    rate_bound = numerator / total
    norms = np.array([matrix_norm(W, norm) for W in iterates[1:]])
    normalised = lowest[1:] / norms
    size = (
        abs(math.log(pi_min))
        + math.log(loss[0])
        + np.cumsum(eta * (gamma + 2 * momentum_error / loss[:-1]))
    ) / total
    allowance = delta[1:] * (1.0 + size) + np.cumsum(extra / loss[:-1]) / total
    assert np.all(normalised + allowance >= rate_bound), (
        f"(R') fails: normalised {norm}-margin {float(normalised[-1]):.6g} below the proven "
        f"{float(rate_bound[-1]):.6g} (gamma = {gamma:.6g})"
    )
    return float(normalised[-1]), float(rate_bound[-1]), gamma, momentum_error / proxy[:-1]


@pytest.mark.parametrize("method", sorted(NMD_NORMS))
@given(
    inst=nst.one_hot_instances(separable=True),
    scale=st.floats(0.02, 1.0),
    decay=st.floats(0.25, 1.0),
    beta=st.floats(0.0, 0.95),
)
def test_nmd_one_hot_per_step_certificate(method, inst, scale, decay, beta):
    _, bound = margin_constants(inst, NMD_NORMS[method])
    lr = scale / bound  # scale-free: eta_0 B
    eta = lr * np.arange(1, 151, dtype=np.float64) ** -decay
    check_nmd_certificate(inst, method, beta, nmd_optimizer(method, lr, beta, decay), eta)


# The NSD file's hand instances: one context with V = 4, and three contexts whose l1/max
# optima are not l2's.
RATE_CASES = [
    NTPInstance([[1.0]], [[1, 0, 0, 0]]),
    NTPInstance([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
]

RATE_FLOORS = (0.7, 0.55)


@pytest.mark.parametrize("method", sorted(NMD_NORMS))
@pytest.mark.parametrize("case", range(len(RATE_CASES)))
def test_nmd_one_hot_margin_rate(method, case):
    # 5000 steps at beta = 0.9 (the methods' default) and eta_t = 1/(4 B sqrt(t + 1)): the
    # proven bound (R') is then 0.75 (signum) and 0.80 (muon) of gamma on the one-context
    # case and 0.62, 0.59 on the other (measured; (R') of NSD with the same schedule gives
    # 0.93 and 0.46 at 2000 steps: the momentum term costs more on the first case). The
    # floors keep (R') informative: above 2/3, the max-margin fraction of the l2 optimum on
    # the one-context case. The momentum error must vanish relative to G, as the NMD theorem
    # needs: measured e_t / G_t = O(eta_t) (at most 25 eta_t B over the run), so its maximum
    # over the last 1000 steps is at most a quarter of its maximum over steps 10 to 100
    # (measured 0.08 to 0.11 of it).
    inst = RATE_CASES[case]
    gamma, bound = margin_constants(inst, NMD_NORMS[method])
    lr = 0.25 / bound
    eta = lr * np.arange(1, 5001, dtype=np.float64) ** -0.5
    optimizer = nmd_optimizer(method, lr, 0.9, 0.5)
    margin, proven, gamma, ratio = check_nmd_certificate(inst, method, 0.9, optimizer, eta)
    assert proven >= RATE_FLOORS[case] * gamma
    assert np.max(ratio[-1000:]) <= 0.25 * np.max(ratio[10:100])
    # No direction beats the optimum, which is within the certificate's gap of gamma.
    assert margin <= gamma * (1.0 + GAP_RTOL[NMD_NORMS[method]]) + 1e-12


#: Muon's reference quintic ``p(s) = a s + b s^3 + c s^5`` and its five iterations (Jordan et
#: al., 2024), written out here rather than read from ntpprops.
NS_COEFFS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
#: ``max |p'|`` on ``[0, 1.2]`` (the iterates' range) is below 3.9 (``p'(1.2) = 3.88``,
#: ``p'(0) = 3.44``), so ``NS_STEPS`` iterations amplify an early rounding at most ``3.9^5``.
NS_AMPLIFICATION = 3.9**NS_STEPS


def newton_schulz_by_svd(M):
    """``U p^5(S / ||M||_F) V^T`` for ``M = U S V^T``: Newton-Schulz acts on singular values."""
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    x = s / np.linalg.norm(s)
    a, b, c = NS_COEFFS
    for _ in range(NS_STEPS):
        x = a * x + b * x**3 + c * x**5
    return (U * x) @ Vt


def polar_factor(M):
    """``U V^T`` over the singular values of ``M`` above rounding (spectral steepest direction)."""
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    keep = s > max(M.shape) * EPS * s[0]
    return U[:, keep] @ Vt[keep]


@given(
    inst=nst.one_hot_instances(separable=True),
    scale=st.floats(0.02, 1.0),
    decay=st.floats(0.25, 1.0),
    beta=st.floats(0.0, 0.95),
)
def test_muon_newton_schulz_step_and_descent(inst, scale, decay, beta):
    # Default Muon (Newton-Schulz, not the exact polar factor). Premise: the step is -eta_t
    # U p^5(S / ||M_t||_F) V^T of the recomputed M_t (each X X^T X product rounds by at most
    # (V + d) EPS sum|coeffs| ~ 32 (V + d) EPS, amplified by NS_AMPLIFICATION; M_t's own
    # relative rounding V d eps_t / ||M_t||_F likewise). Descent: with the measured deviation
    # k_t = ||D_t - U V^T||_op and r_t = ||D_t||_op, <g, D_t> >= (1 - k_t) ||g||_nuc - 2 e_t
    # (step 1 of the notes plus <g, D - UV^T> >= -k_t ||g||_nuc), ||g||_nuc in [gamma G, B G],
    # and step 2 with a step of spectral length eta_t r_t: (P'') L_{t+1} <= L_t - eta_t (c_t
    # (1 - k_t) G_t - 2 e_t) + eta_t^2 r_t^2 B^2 e^{eta_t r_t B} G_t / 2, c_t = gamma if k_t
    # <= 1 else B. No margin bound follows (k_t need not vanish), so none is asserted.
    gamma, bound = margin_constants(inst, "spectral")
    lr = scale / bound
    eta = lr * np.arange(1, 151, dtype=np.float64) ** -decay
    optimizer = OPTIMIZERS["muon"](lr, beta=beta, decay=decay)
    iterates, updates, grads = run_exact_gradients(inst, optimizer, len(eta))
    V, d = inst.weight_shape
    average, rounding = textbook_momentum(grads, beta)
    directions = -updates / eta[:, None, None]
    expected = np.array([newton_schulz_by_svd(M) for M in average])
    sizes = np.linalg.norm(average, axis=(1, 2))
    tolerance = NS_AMPLIFICATION * (32 * (V + d) * EPS + V * d * rounding / sizes)
    deviation = np.max(np.abs(directions - expected), axis=(1, 2))
    assert np.all(deviation <= tolerance), (
        f"step {int(np.argmax(deviation - tolerance))} is not Newton-Schulz of the momentum: "
        f"off by {float(np.max(deviation)):.3g} (allowed {float(np.min(tolerance)):.3g})"
    )
    loss, proxy, _, top = loss_proxy_margin(inst, iterates)
    momentum_error = np.array(
        [dual_norm(g - M, "spectral") for g, M in zip(grads, average, strict=True)]
    )
    length = np.array([matrix_norm(D, "spectral") for D in directions])
    off = np.array(
        [
            matrix_norm(D - polar_factor(M), "spectral")
            for D, M in zip(directions, average, strict=True)
        ]
    )
    first = np.where(off <= 1.0, gamma, bound) * (1.0 - off)
    second = eta * length**2 * bound**2 * np.exp(eta * length * bound) / 2.0
    allowed = loss[:-1] - eta * (proxy[:-1] * (first - second) - 2 * momentum_error)
    delta = 4 * (inst.dim + 2) * EPS * (1.0 + top)
    h_max = float(np.max(np.abs(inst.embeddings)))
    u = V * d * rounding
    extra = eta * (4 * u + 2 * (inst.m + 5) * V * d * EPS * h_max * proxy[:-1])
    extra += eta * proxy[:-1] * bound * 64 * V * d * EPS  # k_t's own rounding (two SVDs)
    slack = allowed + extra + delta[1:] * (loss[:-1] + loss[1:]) - loss[1:]
    assert np.all(slack >= 0.0), (
        f"(P'') fails at step {int(np.argmin(slack))}: L_t+1 exceeds the proven bound by "
        f"{-float(np.min(slack)):.3g} (k_t = {float(off[np.argmin(slack)]):.3g})"
    )
