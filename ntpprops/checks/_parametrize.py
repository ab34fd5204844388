"""``parametrize_with_checks``: the checks of many implementations as pytest cases."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ntpprops.checks._checks import yield_checks
from ntpprops.checks._implementation import Implementation

__all__ = ["parametrize_with_checks"]


def parametrize_with_checks(impls: Implementation | Iterable[Implementation]) -> Any:
    """A pytest decorator running every applicable check on every implementation.

    Parameters
    ----------
    impls : Implementation or iterable of Implementation

    Returns
    -------
    pytest.MarkDecorator
        Parametrises the arguments ``impl`` and ``check`` with ids like
        ``check_gradient[my_decoder]``.

    Examples
    --------
    ::

        from ntpprops.checks import from_torch, parametrize_with_checks

        @parametrize_with_checks([from_torch("my_decoder", my_loss)])
        def test_ntp(impl, check):
            check(impl)
    """
    import pytest

    items = [impls] if isinstance(impls, Implementation) else list(impls)
    names = [impl.name for impl in items]
    if len(set(names)) != len(names):
        raise ValueError(f"implementation names must be unique (they name tests); got {names}")
    cases: list[tuple[Implementation, Callable[[Implementation], None]]] = [
        (impl, check) for impl in items for check in yield_checks(impl)
    ]
    ids = [f"{check.__name__}[{impl.name}]" for impl, check in cases]
    return pytest.mark.parametrize(("impl", "check"), cases, ids=ids)
