"""Proven, solver-free bounds that turn a measured excess loss into statements about ``W``.

Finite runs cannot show a limit; these bounds make a finite run say something proven:

- :func:`f_distance_bound`: ``||P_F W - W*||`` from ``CE(W) - H`` (Lemma 4's strict convexity
  of ``CE_F`` on ``F``, made quantitative);
- :func:`alignment_lower_bound`: ``cos(W, W^mm)`` from ``CE(W) - H``, ``||P_F W - W*||`` and
  ``||W||`` (strong convexity of Definition 3's objective).

Both hold for *any* ``W`` (no optimiser is assumed), so a measured quantity below its bound
can only come from a wrong ``W*``, ``W^mm``, excess or cosine: a check that cannot fail on a
true theorem.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from ntpprops._instance import NTPInstance
from ntpprops._linalg import extreme_eigenvalue
from ntpprops._loss import excess_loss
from ntpprops._subspace import gram_factor, kernel

__all__ = ["alignment_lower_bound", "f_curvature", "f_distance_bound", "gd_excess_bound"]

FloatArray = NDArray[np.float64]


def _kernel_f_hessian_min(inst: NTPInstance) -> float:
    """Smallest eigenvalue of the ``CE_F`` Hessian at ``W*`` on ``F``, in kernel form.

    ``W = sum_i alpha_i g_i`` over the independent generators ``g_i`` that
    :func:`ntpprops._subspace.gram_factor` picked; with their Gram matrix
    ``diag(s) L L^T diag(s)`` and ``beta = L^T diag(s) alpha``, ``||W|| = ||beta||``. The
    in-support logits are ``l_jz = <W, e_z h_j^T> = (J alpha)_jz`` with
    ``J[(j, z), i] = K[j, ctx_i] (delta(z, pos_i) - delta(z, neg_i))``, so the Hessian is
    ``J'^T diag-blocks(pi_j (diag p_j - p_j p_j^T)) J'`` with ``J' = J diag(1/s) L^{-T}``:
    sizes ``dim F`` and ``sum_j S_j``, never ``V d``.
    """
    gens, factor = gram_factor(inst)
    if factor.rank == 0:
        return math.inf
    K = kernel(inst)
    ctx, pos, neg = (a[factor.basis] for a in gens)
    rows_j, rows_z = np.nonzero(inst.supports)
    J = K[np.ix_(rows_j, ctx)] * (
        (rows_z[:, None] == pos[None, :]).astype(np.float64) - (rows_z[:, None] == neg[None, :])
    )
    L = np.tril(factor.cholesky)
    Jp = scipy.linalg.solve_triangular(L, (J / factor.scale).T, lower=True).T
    p = inst.probs[rows_j, rows_z]
    pi = inst.context_weights[rows_j]
    # sum_j pi_j (J_j^T diag(p_j) J_j - (p_j^T J_j)^T (p_j^T J_j)), per context block j.
    mean = np.zeros((inst.m, Jp.shape[1]))
    np.add.at(mean, rows_j, p[:, None] * Jp)
    hess = (Jp * (pi * p)[:, None]).T @ Jp
    hess -= (mean * inst.context_weights[:, None]).T @ mean
    return extreme_eigenvalue(hess, largest=False)


def f_curvature(inst: NTPInstance, basis: FloatArray | None = None) -> tuple[float, float]:
    """Curvature constants of ``CE_F`` on ``F`` around ``W*``.

    Parameters
    ----------
    inst : NTPInstance
        ``m`` contexts, ``V`` tokens, dimension ``d``.
    basis : ndarray, shape (V*d, dim F), optional
        An orthonormal basis of ``F`` (vectorised row-major, as ``W.ravel()``). Given, ``mu``
        is computed densely in ``V d`` on it (tests pass a basis built independently of the
        package's projector); by default in kernel form on the generators of ``F``, at the
        cost of the projector itself, and cached on the instance.

    Returns
    -------
    mu : float
        Smallest eigenvalue on ``F`` of the Hessian at ``W*``,
        ``sum_j pi_j A_j^T (diag p_j - p_j p_j^T) A_j`` (rows of ``A_j``: ``e_z kron h_j``,
        ``z in S_j``). At ``W*`` the in-support softmax equals ``p_j``, so ``W*`` itself is
        not needed. ``inf`` when ``F = {0}``.
    c : float
        Bound ``sum_j pi_j (sqrt 2 ||h_j||)^3`` on the third directional derivative of
        ``CE_F`` per unit direction (a third central moment is at most the cube of the range
        of the logit differences, ``<= sqrt 2 ||h_j||`` per unit ``||Delta||``).
    """
    if basis is None:
        mu = inst._cache.get("f_curvature_mu")
        if mu is None:
            mu = inst._cache["f_curvature_mu"] = _kernel_f_hessian_min(inst)
    else:
        mu = _dense_f_hessian_min(inst, np.asarray(basis, dtype=np.float64))
    atom_scale = math.sqrt(2.0) * np.linalg.norm(inst.embeddings, axis=1)
    c = float(inst.context_weights @ atom_scale**3)
    return mu, c


def _dense_f_hessian_min(inst: NTPInstance, Q: FloatArray) -> float:
    """``mu`` of :func:`f_curvature` from the dense ``(V d x V d)`` Hessian on the basis ``Q``."""
    V, d = inst.weight_shape
    hess = np.zeros((V * d, V * d))
    for j in range(inst.m):
        support = np.flatnonzero(inst.supports[j])
        p = inst.probs[j, support]
        A = np.kron(np.eye(V)[support], inst.embeddings[j])
        hess += inst.context_weights[j] * A.T @ (np.diag(p) - np.outer(p, p)) @ A
    return float(np.linalg.eigvalsh(Q.T @ hess @ Q)[0]) if Q.shape[1] else math.inf


def f_distance_bound(
    inst: NTPInstance, excess: float, curvature: tuple[float, float] | None = None
) -> float:
    """A proven bound on ``||P_F W - W*||`` for any ``W`` with ``CE(W) - H <= excess``.

    Parameters
    ----------
    inst : NTPInstance
        An NTP_H-compatible instance (``W*`` exists).
    excess : float
        An upper bound on ``CE(W) - H`` (``>= 0``).
    curvature : (float, float), optional
        ``(mu, c)`` as returned by :func:`f_curvature`, when already computed (or computed
        independently, as the property suite does).

    Returns
    -------
    float
        ``2 sqrt(excess / mu)``; ``0`` when ``F = {0}``; ``inf`` outside the proven regime
        (``mu <= 0`` or ``excess >= mu r0^2 / 4``).

    Notes
    -----
    Derivation. ``CE_F`` depends on ``P_F W`` only and ``CE >= CE_F`` (the out-of-support
    mass only adds loss), with ``CE_F(W*) = H`` and ``grad CE_F(W*) = 0`` on ``F``
    (Lemma 4). Along ``Delta = P_F W - W*``, ``g(s) = CE_F(W* + s Delta / |Delta|)`` has
    ``g'(0) = 0``, ``g''(0) >= mu`` and ``|g'''| <= c``, so Taylor gives
    ``CE_F - H >= (mu/2)|D|^2 - (c/6)|D|^3 >= (mu/4)|D|^2`` for ``|D| <= r0 = 3 mu / (2 c)``.
    Convexity of ``g`` extends this: if ``|D| > r0`` then ``g(|D|) >= g(r0) >= mu r0^2 / 4``,
    so ``excess < mu r0^2 / 4`` forces ``|D| < r0`` and then ``|D| <= 2 sqrt(excess / mu)``.
    """
    mu, c = f_curvature(inst) if curvature is None else curvature
    if math.isinf(mu):
        return 0.0  # F = {0}
    r0 = 1.5 * mu / c
    if not mu > 0 or excess >= 0.25 * mu * r0**2:
        return math.inf
    return 2.0 * math.sqrt(max(excess, 0.0) / mu)


def alignment_lower_bound(
    inst: NTPInstance,
    w_star: FloatArray,
    w_mm_norm: float,
    excess: float,
    dist_f: float,
    norm: float,
) -> float:
    """A proven lower bound on ``cos(W, W^mm)`` from ``CE(W) - H``, ``||P_F W - W*||``, ``||W||``.

    Parameters
    ----------
    inst : NTPInstance
        A compatible, separable instance.
    w_star : ndarray, shape (V, d)
        ``W*`` (Lemma 4).
    w_mm_norm : float
        ``||W^mm||`` (Definition 3).
    excess : float
        An upper bound on ``CE(W) - H``.
    dist_f : float
        An upper bound on ``||P_F W - W*||`` (e.g. :func:`f_distance_bound`).
    norm : float
        ``||W||``.

    Returns
    -------
    float
        The bound; ``-inf`` when an ingredient carries no information (``dist_f = inf``,
        an excess of exactly 0, which only an underflow produces, or an excess too large for
        Pinsker's bound to keep ``q_{z|S}`` positive). It tends to 1 at rate
        ``1 / log(1/excess)`` along ``||W|| ~ ||W^mm|| log(1/excess)``.

    Notes
    -----
    Derivation. For ``W`` with excess ``<= eps`` and ``||P_F W - W*|| <= delta``, at each
    context ``j`` with ``v not in S_j`` and ``z in S_j`` (logits ``l = W h_j``,
    ``lse_S`` the log-sum-exp over ``S_j``):

    - ``pi_j log(1 + exp(l_v - lse_S)) <= eps`` gives ``l_v - lse_S <= log expm1(eps / pi_j)``;
    - the in-support KL is ``<= eps / pi_j``, so by Pinsker
      ``l_z - lse_S = log q_{z|S} >= log(p_z - sqrt(eps / (2 pi_j)))``;
    - ``P_F W = W* + Delta`` moves the margin ``l_z - l_v`` by at most ``sqrt 2 delta ||h_j||``
      from ``W*``'s ``l*_z - l*_v``, and ``P_perp W`` carries the rest.

    So every margin of ``P_perp W`` is ``>= G``, the minimum over ``(j, z, v)`` of
    ``log q_low - log expm1(eps / pi_j) - (l*_z - l*_v) - sqrt 2 delta ||h_j||``. Then
    ``P_perp W / G`` is feasible for Definition 3, and strong convexity of ``||.||^2 / 2`` over
    that convex set gives ``<P_perp W / G, W^mm> >= ||W^mm||^2``, i.e.
    ``<W, W^mm> = <P_perp W, W^mm> >= G ||W^mm||^2``, hence
    ``cos(W, W^mm) >= ||W^mm|| G / ||W||``.
    """
    if not (math.isfinite(dist_f) and excess > 0 and norm > 0):
        # excess == 0 only by underflow: it carries no quantitative information.
        return -math.inf
    ctx, out_tok = np.nonzero(~inst.supports)
    if ctx.size == 0:
        return -math.inf  # no out-of-support token: W^mm = 0, nothing to align with
    pi = inst.context_weights[ctx]
    # Only contexts with an out-of-support token constrain a margin.
    constrained = inst.supports & ~np.all(inst.supports, axis=1)[:, None]
    q_low = inst.probs - np.sqrt(excess / (2.0 * inst.context_weights))[:, None]
    if np.any(q_low[constrained] <= 0):
        return -math.inf
    L_star = inst.embeddings @ np.asarray(w_star, dtype=np.float64).T
    # Worst in-support term log q_low - l*_z of each context, then one margin per (j, v).
    safe_q = np.where(constrained, q_low, 1.0)
    worst_in = np.where(constrained, np.log(safe_q) - L_star, np.inf).min(axis=1)
    rows = np.linalg.norm(inst.embeddings, axis=1)
    out = np.log(np.expm1(excess / pi))
    margins = worst_in[ctx] + L_star[ctx, out_tok] - out - math.sqrt(2.0) * dist_f * rows[ctx]
    return float(w_mm_norm * margins.min() / norm)


def gd_excess_bound(
    inst: NTPInstance,
    W0: FloatArray,
    lr: float,
    k: int,
    anchor: FloatArray,
    direction: FloatArray,
    radii: FloatArray | None = None,
) -> float:
    """A proven bound on ``CE(W_k) - H`` for GD with step ``lr <= 1/L`` from ``W0``.

    Parameters
    ----------
    inst : NTPInstance
    W0 : ndarray, shape (V, d)
        The initialisation.
    lr : float
        The GD step, ``<= 1/L`` for ``L`` a smoothness constant of ``CE``.
    k : int
        The iteration (``>= 0``).
    anchor, direction : ndarray, shape (V, d)
        Reference points ``U = anchor + R direction`` (``W* + R W^mm`` in use).
    radii : ndarray, shape (r,), optional
        The ``R`` tried; default 0 and 60 values log-spaced over ``[1e-2, 1e3]``.

    Returns
    -------
    float
        ``min_R (CE(U_R) - H + ||W0 - U_R||^2 / (2 lr k))``; ``CE(W0) - H`` at ``k = 0``. It
        tends to 0 as ``k`` grows (take ``R ~ log k``).

    Notes
    -----
    Convex ``L``-smooth GD with ``lr <= 1/L`` satisfies
    ``f(W_k) - f(U) <= ||W0 - U||^2 / (2 lr k)`` for *any* reference ``U`` (sum the
    descent-lemma inequality against ``U`` and use that ``f(W_k)`` is non-increasing).
    """
    if k == 0:
        return excess_loss(inst, W0)
    if radii is None:
        radii = np.concatenate([[0.0], np.geomspace(1e-2, 1e3, 60)])
    values = [
        excess_loss(inst, anchor + R * direction)
        + float(np.linalg.norm(W0 - anchor - R * direction)) ** 2 / (2.0 * lr * k)
        for R in radii
    ]
    return float(min(values))
