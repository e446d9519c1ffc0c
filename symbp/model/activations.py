"""Activations as table entries: the value and its closed-form derivative side by side.

Element-wise activations map one pre-activation ``z`` to one value; a vector-valued
activation (softmax) maps the whole layer ``z`` to the whole layer ``a`` and supplies its
Jacobian instead of an element-wise derivative.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import symengine as se

from ..errors import UnknownNameError

#: The generic activation ``h`` and its undefined derivative ``h'``: an identity proved with
#: these holds for every differentiable activation.
h = se.Function("h")
h_prime = se.Function("hprime")


@dataclass(frozen=True)
class Activation:
    """One activation: ``value(z)`` and ``derivative(z)`` (element-wise) or ``vector``/``jacobian``."""

    name: str
    formula: str
    derivative_formula: str
    value: Callable | None = None
    derivative: Callable | None = None
    vector: Callable | None = None
    jacobian: Callable | None = None
    hidden_ok: bool = True

    @property
    def elementwise(self) -> bool:
        return self.vector is None

    def layer(self, zs):
        """The activation of a whole layer ``z`` (a list)."""
        if self.elementwise:
            return [self.value(z) for z in zs]
        return self.vector(zs)


def _sigmoid(z):
    return 1 / (1 + se.exp(-z))


def _sigmoid_prime(z):
    s = _sigmoid(z)
    return s * (1 - s)


def _softmax(zs):
    e = [se.exp(z) for z in zs]
    total = se.Add(*e)
    return [ei / total for ei in e]


def _softmax_jacobian(zs):
    """d a_k / d z_j = a_k (I(j,k) - a_j), as a nested list [k][j]."""
    a = _softmax(zs)
    n = len(zs)
    return [[a[k] * ((1 if j == k else 0) - a[j]) for j in range(n)] for k in range(n)]


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("sigmoid", "1/(1+exp(-z))", "s(z)*(1-s(z))", _sigmoid, _sigmoid_prime),
        Activation("tanh", "tanh(z)", "1-tanh(z)^2", se.tanh, lambda z: 1 - se.tanh(z) ** 2),
        Activation(
            "relu",
            "max(0, z)",
            "0 for z <= 0, 1 for z > 0",
            lambda z: se.Piecewise((0, z <= 0), (z, True)),
            lambda z: se.Piecewise((0, z <= 0), (1, True)),
        ),
        Activation("identity", "z", "1", lambda z: z, lambda z: se.Integer(1)),
        Activation(
            "softmax",
            "exp(z_j)/sum_k exp(z_k)",
            "a_k*(I(j,k)-a_j)",
            vector=_softmax,
            jacobian=_softmax_jacobian,
            hidden_ok=False,
        ),
        Activation("generic", "h(z)", "h'(z)", h, h_prime),
    ]
}


def get_activation(name: str, option: str = "activation") -> Activation:
    """The activation called ``name``; an error naming ``option`` and the accepted names otherwise."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown {option} {name!r}; expected one of: {', '.join(ACTIVATIONS)}"
        ) from None
