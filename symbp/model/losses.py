"""Losses as table entries: the per-sample value and its closed-form gradient with respect to ``a``.

The network averages the per-sample loss over its m samples (seeds 000, 002, 004). A pairing
of an output activation with a loss may have a simplified base case ``delta^L`` (``a - y``);
the pairing says which assumptions that simplification needs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import symengine as se

from ..errors import UnknownNameError

#: Assumptions a claim may be checked under; the key is the command-line spelling.
ASSUMPTIONS = {"sum-y-is-1": "sum_k y_k = 1 (targets are a probability distribution)"}


@dataclass(frozen=True)
class Loss:
    """One loss: ``value(a, y)`` for one sample and ``grad(a_k, y_k)`` = d value / d a_k."""

    name: str
    formula: str
    value: Callable
    grad: Callable
    outputs: tuple[str, ...] | None = None  # output activations it fits; None: any
    target: str = "real"  # how targets are sampled: real, unit (0..1), distribution
    default_output: str = "identity"  # the output activation when none is given


def _sum(terms):
    return se.Add(*terms)


LOSSES: dict[str, Loss] = {
    l.name: l
    for l in [
        Loss(
            "bce",
            "-sum_k [y_k log a_k + (1-y_k) log(1-a_k)]",
            lambda a, y: -_sum(yk * se.log(ak) + (1 - yk) * se.log(1 - ak) for ak, yk in zip(a, y)),
            lambda ak, yk: -yk / ak + (1 - yk) / (1 - ak),
            outputs=("sigmoid", "generic"),
            target="unit",
            default_output="sigmoid",
        ),
        Loss(
            "cross-entropy",
            "-sum_k y_k log a_k",
            lambda a, y: -_sum(yk * se.log(ak) for ak, yk in zip(a, y)),
            lambda ak, yk: -yk / ak,
            outputs=("softmax",),
            target="distribution",
            default_output="softmax",
        ),
        Loss(
            "half-squared-error",
            "1/2 sum_k (a_k - y_k)^2",
            lambda a, y: _sum((ak - yk) ** 2 for ak, yk in zip(a, y)) / 2,
            lambda ak, yk: ak - yk,
        ),
        Loss(
            "mse",
            "sum_k (a_k - y_k)^2 (averaged over samples)",
            lambda a, y: _sum((ak - yk) ** 2 for ak, yk in zip(a, y)),
            lambda ak, yk: 2 * (ak - yk),
        ),
    ]
}


@dataclass(frozen=True)
class Pairing:
    """A simplified base case ``delta^L_j = a_j - y_j`` and the assumptions it needs."""

    statement: str
    delta: Callable  # (a_j, y_j) -> delta^L_j
    assumptions: frozenset = field(default_factory=frozenset)


PAIRINGS: dict[tuple[str, str], Pairing] = {
    ("sigmoid", "bce"): Pairing("delta^L = a^L - y", lambda a, y: a - y),
    ("softmax", "cross-entropy"): Pairing(
        "delta^L = a^L - y", lambda a, y: a - y, frozenset({"sum-y-is-1"})
    ),
}


def get_loss(name: str) -> Loss:
    """The loss called ``name``; an error listing the accepted names otherwise."""
    try:
        return LOSSES[name]
    except KeyError:
        raise UnknownNameError(f"unknown loss {name!r}; expected one of: {', '.join(LOSSES)}") from None
