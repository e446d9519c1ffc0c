"""Assertions for users' own test suites."""
from __future__ import annotations

from .errors import SymbpError
from .model.network import Network
from .present.report import to_text
from .checking.verify import Report, verify


class BackpropClaimError(SymbpError, AssertionError):
    """A backpropagation claim failed; the message is the full report."""


def assert_backprop_holds(layers, activation="sigmoid", output=None, loss="bce", *, assume=(), **options) -> Report:
    """Verify the standard recursions for a network; raise with the report if any claim fails.

    >>> report = assert_backprop_holds([2, 3, 1], "tanh", "identity", "half-squared-error")
    >>> report.ok
    True
    """
    keys = {"form", "layout", "samples"}
    net = Network(layers, activation, output, loss, **{k: v for k, v in options.items() if k in keys})
    report = verify(net, assume, **{k: v for k, v in options.items() if k not in keys})
    if not report.ok:
        raise BackpropClaimError(to_text(report))
    return report
