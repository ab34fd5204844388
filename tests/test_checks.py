"""ntpprops.checks: correct NTP code passes every check; planted bugs fail the check naming them.

Two correct implementations (NumPy, and a PyTorch ``nn.Linear`` decoder through
:func:`ntpprops.checks.from_torch`) run every applicable check; four planted bugs must each fail
their check with a shrunk, pasteable counterexample (``m <= 2``, ``V <= 3``).
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from ntpprops.strategies import ntp_instances
from numpy.typing import NDArray

from ntpprops import NTPInstance
from ntpprops.checks import (
    Implementation,
    check_gradient,
    check_loss,
    check_stability_huge_norm,
    check_train_direction,
    from_numpy,
    from_torch,
    instance_repr,
    parametrize_with_checks,
    yield_checks,
)
from ntpprops.checks._checks import _fewer_tokens
from ntpprops.checks._report import Case, CheckFailure

torch = pytest.importorskip("torch")

FloatArray = NDArray[np.float64]


# --- a correct NumPy implementation ------------------------------------------------------------


def _log_softmax(L: FloatArray) -> FloatArray:
    L = L - L.max(axis=1, keepdims=True)
    return L - np.log(np.exp(L).sum(axis=1, keepdims=True))


def np_loss(H: FloatArray, P: FloatArray, pi: FloatArray, W: FloatArray) -> float:
    logq = _log_softmax(H @ W.T)
    return float(-(pi[:, None] * np.where(P > 0, P * logq, 0.0)).sum())


def np_grad(H: FloatArray, P: FloatArray, pi: FloatArray, W: FloatArray) -> FloatArray:
    q = np.exp(_log_softmax(H @ W.T))
    return (q - P).T @ (pi[:, None] * H)


def np_train(
    H: FloatArray, P: FloatArray, pi: FloatArray, W0: FloatArray, lr: float, steps: int
) -> FloatArray:
    W = W0.copy()
    for _ in range(steps):
        W = W - lr * np_grad(H, P, pi, W)
    return W


NUMPY_OK = from_numpy("numpy_decoder", loss=np_loss, grad=np_grad, train=np_train)


# --- a correct PyTorch decoder -----------------------------------------------------------------


def torch_loss(logits: torch.Tensor, P: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
    return -(pi[:, None] * P * torch.log_softmax(logits, dim=1)).sum()


TORCH_OK = from_torch("torch_decoder", torch_loss)


# --- planted bugs ------------------------------------------------------------------------------


def loss_averaged(H: FloatArray, P: FloatArray, pi: FloatArray, W: FloatArray) -> float:
    """Bug: mean over contexts of the mean over support tokens, instead of pi * p weights."""
    logq, S = _log_softmax(H @ W.T), P > 0
    return float(-(np.where(S, logq, 0.0).sum(axis=1) / S.sum(axis=1)).mean())


def loss_no_shift(H: FloatArray, P: FloatArray, pi: FloatArray, W: FloatArray) -> float:
    """Bug: softmax without the max-shift (exp overflows beyond logits of ~709)."""
    E = np.exp(H @ W.T)
    logq = np.log(E / E.sum(axis=1, keepdims=True))
    return float(-(pi[:, None] * np.where(P > 0, P * logq, 0.0)).sum())


def grad_drops_pi(H: FloatArray, P: FloatArray, pi: FloatArray, W: FloatArray) -> FloatArray:
    """Bug: the gradient sums contexts without their weights pi."""
    return np_grad(H, P, np.ones_like(pi), W)


#: The planted trainer's weight decay: its finite limit stalls above the proven GD excess bound.
WEIGHT_DECAY = 1e-2


def train_weight_decay(
    H: FloatArray, P: FloatArray, pi: FloatArray, W0: FloatArray, lr: float, steps: int
) -> FloatArray:
    """Bug: GD on CE + (decay / 2) ||W||^2: a finite limit, no divergence along W^mm."""
    W = W0.copy()
    for _ in range(steps):
        W = W - lr * (np_grad(H, P, pi, W) + WEIGHT_DECAY * W)
    return W


BUGS = [
    (Implementation("loss_averaged", loss=loss_averaged), check_loss),
    (Implementation("softmax_no_shift", loss=loss_no_shift), check_stability_huge_norm),
    (Implementation("grad_drops_pi", grad=grad_drops_pi), check_gradient),
    (Implementation("train_weight_decay", train=train_weight_decay), check_train_direction),
]

_INSTANCE_LINE = re.compile(r"^  inst = (NTPInstance\(.*\))$", re.MULTILINE)


# --- correct implementations pass --------------------------------------------------------------


@parametrize_with_checks([NUMPY_OK, TORCH_OK])
def test_correct_implementation_passes(impl: Implementation, check) -> None:
    check(impl)


# --- planted bugs fail, shrunk -----------------------------------------------------------------


@pytest.mark.parametrize(("impl", "check"), BUGS, ids=[f"{c.__name__}[{i.name}]" for i, c in BUGS])
def test_planted_bug_fails_its_check_shrunk(impl: Implementation, check) -> None:
    with pytest.raises(AssertionError) as info:
        check(impl)
    message = str(info.value)
    assert message.startswith(f"{check.__name__}[{impl.name}] failed on")
    found = _INSTANCE_LINE.search(message)
    assert found is not None, message
    inst = eval(found.group(1), {"NTPInstance": NTPInstance})
    assert inst.m <= 2 and inst.vocab_size <= 3, message
    for part in ("claim:", "expected:", "actual:", "tolerance:"):
        assert part in message


# --- the pasteable instance --------------------------------------------------------------------


@given(ntp_instances(max_contexts=4, max_vocab=5, max_dim=4))
def test_instance_repr_rebuilds_an_equal_instance(inst: NTPInstance) -> None:
    rebuilt = eval(instance_repr(inst), {"NTPInstance": NTPInstance})
    assert rebuilt == inst


def test_instance_repr_of_inexact_floats_rebuilds_exactly() -> None:
    inst = NTPInstance([[0.1, 1 / 3]], [[1 / 3, 2 / 3, 0.0]], [1.0])
    assert eval(instance_repr(inst), {"NTPInstance": NTPInstance}) == inst


# --- which checks apply ------------------------------------------------------------------------


def _names(impl: Implementation) -> list[str]:
    return [check.__name__ for check in yield_checks(impl)]


def test_checks_follow_what_is_supplied() -> None:
    assert _names(Implementation("l", loss=np_loss)) == [
        "check_loss",
        "check_loss_at_least_entropy",
        "check_loss_reaches_entropy",
        "check_stability_huge_norm",
    ]
    assert _names(Implementation("g", grad=np_grad)) == [
        "check_gradient",
        "check_stability_huge_norm",
    ]
    assert _names(Implementation("t", train=np_train)) == [
        "check_gd_step",
        "check_gd_monotone",
        "check_train_f_limit",
        "check_train_direction",
    ]
    assert len(_names(NUMPY_OK)) == 9


def test_parametrize_ids_name_check_and_implementation() -> None:
    mark = parametrize_with_checks([NUMPY_OK, Implementation("mine", grad=np_grad)])
    ids = mark.kwargs["ids"]
    assert "check_gradient[numpy_decoder]" in ids
    assert ids[-2:] == ["check_gradient[mine]", "check_stability_huge_norm[mine]"]
    assert mark.args[0] == ("impl", "check")


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        parametrize_with_checks([NUMPY_OK, NUMPY_OK])


def test_implementation_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="supplies nothing"):
        Implementation("empty")
    with pytest.raises(TypeError, match="loss="):
        Implementation("bad", loss=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unit_roundoff"):
        Implementation("bad", loss=np_loss, unit_roundoff=0.5)
    with pytest.raises(TypeError, match="Implementation"):
        list(yield_checks(np_loss))  # type: ignore[arg-type]


# --- user code that raises or returns the wrong shape -------------------------------------------


def test_an_exception_in_user_code_fails_with_the_instance() -> None:
    def broken(H: FloatArray, P: FloatArray, pi: FloatArray, W: FloatArray) -> float:
        raise RuntimeError("boom")

    with pytest.raises(AssertionError, match=r"(?s)inst = NTPInstance\(.*raised RuntimeError"):
        check_loss(Implementation("broken", loss=broken))


def test_a_wrong_shape_fails_with_the_instance() -> None:
    def transposed(H: FloatArray, P: FloatArray, pi: FloatArray, W: FloatArray) -> FloatArray:
        return np_grad(H, P, pi, W).T

    with pytest.raises(AssertionError, match=r"(?s)inst = NTPInstance\(.*shape \(V, d\)"):
        check_gradient(Implementation("transposed", grad=transposed))


def test_float32_decoder_passes_with_float32_tolerances() -> None:
    impl = from_torch("torch_f32", torch_loss, dtype=torch.float32)
    assert impl.unit_roundoff == 2.0**-24
    check_loss(impl)
    check_gradient(impl)


# --- the post-shrink step: tokens that no context predicts are dropped -------------------------


def _case_on_v4() -> Case:
    # m = 1, V = 4, support {0, 3}: tokens 1 and 2 sit between used ones, where shrinking
    # Hypothesis's draw of V cannot remove them.
    inst = NTPInstance([[1.0, 0.5]], [[0.25, 0.0, 0.0, 0.75]])
    return Case("check_always", NUMPY_OK, inst, W=np.arange(8.0).reshape(4, 2))


def test_a_failure_is_reported_without_the_unused_tokens() -> None:
    seen: list[tuple[int, list[float]]] = []

    def always_fails(pair: tuple[NTPInstance, FloatArray]) -> None:
        inst, W = pair
        seen.append((inst.vocab_size, W[:, 0].tolist()))
        Case("check_always", NUMPY_OK, inst, W=W).require(False, "never", 0, 1, 0, "test")

    start = _case_on_v4()
    with pytest.raises(CheckFailure) as info:
        start.require(False, "never", 0, 1, 0, "test")
    smallest = _fewer_tokens(info.value, always_fails, "W")
    assert smallest.case.inst.vocab_size == 2
    assert np.array_equal(smallest.case.inst.probs, [[0.25, 0.75]])
    # W's first column is [0, 2, 4, 6]; the reruns get it without row 2, then without row 1.
    assert seen == [(3, [0.0, 2.0, 6.0]), (2, [0.0, 6.0])]


def test_a_smaller_instance_that_passes_keeps_the_original_failure() -> None:
    def passes(pair: tuple[NTPInstance, FloatArray]) -> None:
        assert pair[0].vocab_size == 3

    with pytest.raises(CheckFailure) as info:
        _case_on_v4().require(False, "never", 0, 1, 0, "test")
    assert _fewer_tokens(info.value, passes, "W") is info.value


# --- import hygiene ----------------------------------------------------------------------------


def test_importing_checks_imports_neither_torch_nor_pytest() -> None:
    code = (
        "import sys, ntpprops, ntpprops.checks; "
        "print(sorted(m for m in ('torch', 'jax', 'pytest') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
