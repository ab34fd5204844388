"""Not separable, certified on a vocabulary-restricted sub-instance (large instances).

For a token set ``T`` the restriction ``I_T`` of an instance ``I`` keeps the contexts whose
support lies in ``T``, with vocabulary ``T`` (their rows of ``P`` restricted to ``T``, which
still sum to 1). A separator ``W`` of ``I`` (Definition 2) restricts to one of ``I_T``: its
rows in ``T`` satisfy (6a) on every kept support and (6b) for every out-of-support token in
``T``. So if ``I_T`` is not separable, neither is ``I``, and a Farkas certificate ``y`` of
``I_T`` (weights on the atoms ``(e_{a_j} - e_v) h_j^T``, ``v in T \\ S_j``) is one of ``I``:
the combination ``G = sum_i y_i A_i`` has its rows in ``T``, the generators of ``F`` of
``I_T`` are generators of ``F`` of ``I``, and so

    ||P_perp^I G|| = dist(G, F_I) <= dist(G, F_{I_T}) = ||P_perp^{I_T} G||.

Why this decides real text: with many more contexts than dimensions, the contexts whose
next tokens are among the two most frequent already outnumber ``2 d`` (1083 on every licence
text at K = 2, 2482 at K = 3, against d = 384), and a two-token problem on generic
embeddings beyond Cover's capacity ``2 d`` is not separable. The exact dense min-norm point
of :mod:`ntpprops._svm_active` decides each restriction (``V_T r`` rows, small); the search
grows ``T`` along the tokens ordered by how many supports contain them, and stops at the
first restriction that is not separable, at one the dense method cannot take, or at its
deadline. It never answers "separable": that is left to the caller's method.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ntpprops._instance import NTPInstance
from ntpprops._separation import SeparabilityResult, separation_atoms, sub_atom_index

__all__ = ["RESTRICT_SIZES", "restricted_certificate", "restriction"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Sizes of the token sets tried, in order (about 1.6 times the previous: a restriction's
#: dense solve grows with its ``|T| r`` rows times its atoms).
RESTRICT_SIZES = (2, 3, 5, 8, 13, 21, 34, 55)

#: A dense decision of a restriction: ``SeparabilityResult`` (a certificate when not
#: separable), or None when the restriction is beyond the dense method (the search stops).
Decide = Callable[[NTPInstance], "SeparabilityResult | None"]


def restriction(inst: NTPInstance, tokens: IntArray) -> tuple[NTPInstance, IntArray] | None:
    """The sub-instance ``I_T`` on the contexts with ``S_j`` inside ``tokens``.

    Parameters
    ----------
    inst : NTPInstance
    tokens : ndarray of int, shape (t,)
        The token set ``T`` (sorted, distinct).

    Returns
    -------
    (NTPInstance, ndarray of int) or None
        ``I_T`` (vocabulary ``T`` in the order of ``tokens``) and its contexts' indices in
        ``inst``; None when no kept context has an out-of-support token in ``T`` (nothing to
        separate).
    """
    inside = np.zeros(inst.vocab_size, dtype=bool)
    inside[tokens] = True
    rows = np.flatnonzero(~np.any(inst.supports & ~inside, axis=1))
    if rows.size == 0 or bool(np.all(inst.supports[np.ix_(rows, tokens)])):
        return None
    sub = NTPInstance(inst.embeddings[rows], inst.probs[np.ix_(rows, tokens)])
    return sub, rows


def _lift(
    inst: NTPInstance, sub: NTPInstance, rows: IntArray, tokens: IntArray, y: FloatArray
) -> FloatArray:
    """A certificate of ``I_T`` as weights on :func:`separation_atoms` of ``inst``."""
    lifted = np.zeros(len(separation_atoms(inst)))
    lifted[sub_atom_index(inst, sub, rows, tokens)] = y
    return lifted


def restricted_certificate(
    inst: NTPInstance,
    decide: Decide,
    *,
    threshold: float,
    deadline: float,
    sizes: tuple[int, ...] = RESTRICT_SIZES,
) -> SeparabilityResult | None:
    """A "not separable" answer for ``inst`` from a restriction ``I_T``, or None.

    Parameters
    ----------
    inst : NTPInstance
    decide : callable
        The exact dense decision of a restriction (see :data:`Decide`).
    threshold : float
        ``inst``'s decision threshold ``SEPARABLE_RTOL * max_i ||A_i||``: the lifted
        certificate's projected norm (bounded by the restriction's, see the module
        docstring) must be at most this.
    deadline : float
        A ``time.perf_counter()`` value; no restriction is started after it, nor one whose
        expected time (three times the previous one's) would pass it.
    sizes : tuple of int
        The sizes ``|T|`` tried, in order.

    Returns
    -------
    SeparabilityResult or None
        Not separable, with the lifted certificate and the restriction's projected norm as
        ``certificate_norm`` (an upper bound on ``inst``'s); None when no restriction tried
        was found not separable.
    """
    ranked = np.argsort(-inst.supports.sum(axis=0), kind="stable")
    last = 0.0
    for t in sizes:
        if t > inst.vocab_size or time.perf_counter() + 3.0 * last > deadline:
            return None
        tokens = np.sort(ranked[:t])
        found = restriction(inst, tokens)
        if found is None:
            continue
        sub, rows = found
        start = time.perf_counter()
        result = decide(sub)
        last = time.perf_counter() - start
        if result is None:
            return None
        if result.separable:
            continue
        assert result.certificate is not None
        if not result.certificate_norm <= threshold:
            continue  # rounding above the whole instance's threshold: not a proof here
        y = _lift(inst, sub, rows, tokens, result.certificate)
        return SeparabilityResult(False, None, 0.0, y, result.certificate_norm)
    return None
