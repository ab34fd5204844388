"""Gate your own next-token-prediction code against the theory, in your own CI.

Public API: :class:`Implementation` (``loss``, ``grad``, ``train`` NumPy callables) and the
adapters :func:`from_torch`, :func:`from_numpy`, :func:`from_jax`; :func:`yield_checks` and
:func:`parametrize_with_checks` (pytest); the named ``check_*`` functions; and
:func:`instance_repr` (a pasteable ``NTPInstance(...)``). The pytest plugin
(``ntpprops.checks._plugin``, entry point ``pytest11``) adds ``--ntpprops-profile`` and the
fixtures ``ntp_paper_instance`` and ``ntp_strategy``. See docs/checks.md.

Example
-------
::

    import torch
    from ntpprops.checks import from_torch, parametrize_with_checks

    def my_loss(logits, P, pi):
        return -(pi[:, None] * P * torch.log_softmax(logits, dim=1)).sum()

    @parametrize_with_checks([from_torch("my_decoder", my_loss)])
    def test_ntp(impl, check):
        check(impl)
"""

from ntpprops.checks._adapters import from_jax, from_numpy, from_torch
from ntpprops.checks._checks import (
    ALL_CHECKS,
    check_gd_monotone,
    check_gd_step,
    check_gradient,
    check_loss,
    check_loss_at_least_entropy,
    check_loss_reaches_entropy,
    check_stability_huge_norm,
    check_train_direction,
    check_train_f_limit,
    yield_checks,
)
from ntpprops.checks._implementation import Implementation
from ntpprops.checks._parametrize import parametrize_with_checks
from ntpprops.checks._report import instance_repr

__all__ = [
    "ALL_CHECKS",
    "Implementation",
    "check_gd_monotone",
    "check_gd_step",
    "check_gradient",
    "check_loss",
    "check_loss_at_least_entropy",
    "check_loss_reaches_entropy",
    "check_stability_huge_norm",
    "check_train_direction",
    "check_train_f_limit",
    "from_jax",
    "from_numpy",
    "from_torch",
    "instance_repr",
    "parametrize_with_checks",
    "yield_checks",
]
