"""Activations as table entries: the value and its closed-form derivative side by side, in the language.

An element-wise activation is a formula in ``u``; its ``derivative`` is the closed form a derivation
writes (checked against direct differentiation of the formula by ``symbp verify``), and ``derivative_in_a``
the same written with ``a`` = the activation's value where that is shorter (kernels reuse the forward
pass's ``A``). A vector-valued activation (softmax) is a formula in ``u[j]`` over the layer ``u[1..K]``
and supplies its Jacobian ``d a[j] / d u[k]``. Adding an activation is adding one entry here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import lang as il
from ..errors import UnknownNameError
from .functions import OPAQUE, Formula, formula, h, h_prime

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "h", "h_prime"]


@dataclass(frozen=True)
class Activation:
    """One activation, element-wise (a formula in ``u``) or vector-valued (a formula in ``u[j]``, ``K``)."""

    name: str
    formula: str
    derivative_formula: str  # element-wise: d/du in u; vector-valued: d a[j]/d u[k] in j, k and a[.]
    derivative_in_a: str = ""  # the derivative in u and a = formula(u), where a kernel can reuse A
    hidden_ok: bool = True
    vector_valued: bool = False
    trees: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        where = f"activation {self.name}"
        self.trees.update(value=formula(self.formula, where), derivative=formula(self.derivative_formula, where))
        if self.derivative_in_a:
            self.trees["derivative_in_a"] = formula(self.derivative_in_a, where)

    @property
    def elementwise(self) -> bool:
        return not self.vector_valued

    @property
    def generic(self) -> bool:
        """Whether it is built on the generic ``h``, whose derivative is the undefined ``hprime``."""
        return any(isinstance(n, il.Apply) and n.name in OPAQUE for n in il.walk(self.trees["value"]))

    def value(self, u):
        """The activation of one pre-activation ``u`` (a SymEngine expression)."""
        return Formula({"u": u}).eval(self.trees["value"], {})

    def derivative(self, u):
        """Its closed-form derivative at ``u``."""
        return Formula({"u": u}).eval(self.trees["derivative"], {})

    def vector(self, zs):
        """A vector-valued activation of a whole layer ``zs``: the list of its values."""
        ev = Formula({"K": len(zs)}, lambda name, idx: _layer(name, idx, zs))
        return [ev.eval(self.trees["value"], {"j": j}) for j in range(1, len(zs) + 1)]

    def jacobian(self, zs):
        """d a_k / d z_j as a nested list [k][j] (a vector-valued activation's closed form)."""
        a = self.vector(zs)
        ev = Formula({"K": len(zs)}, lambda name, idx: _layer(name, idx, zs, a))
        n = len(zs)
        return [[ev.eval(self.trees["derivative"], {"j": k, "k": j}) for j in range(1, n + 1)] for k in range(1, n + 1)]

    def layer(self, zs):
        """The activation of a whole layer ``z`` (a list)."""
        return [self.value(z) for z in zs] if self.elementwise else self.vector(zs)


def _layer(name, idx, zs, a=None):
    values = {"u": zs, "a": a}.get(name)
    if values is None or len(idx) != 1 or not 1 <= idx[0] <= len(zs):
        raise UnknownNameError(f"{name}[{', '.join(map(str, idx))}] is not part of the layer")
    return values[idx[0] - 1]


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in [
    Activation("sigmoid", "sigmoid(u)", "sigmoid(u) * (1 - sigmoid(u))", "a * (1 - a)"),
    Activation("tanh", "tanh(u)", "1 - tanh(u)**2", "1 - a**2"),
    # seed 000: the derivative is 0 for u <= 0 and 1 for u > 0
    Activation("relu", "u if u > 0 else 0", "1 if u > 0 else 0"),
    Activation("identity", "u", "1"),
    Activation("softmax", "exp(u[j]) / sum(exp(u[k]), (k, 1, K))", "a[j] * (I(j, k) - a[k])", hidden_ok=False,
               vector_valued=True),
    Activation("generic", "h(u)", "hprime(u)"),
    Activation("gelu", "u * (1 + erf(u / sqrt(2))) / 2", "(1 + erf(u / sqrt(2))) / 2 + u * exp(-u**2 / 2) / sqrt(2 * pi)"),
    Activation("softplus", "softplus(u)", "sigmoid(u)"),
    Activation("leaky-relu", "u if u > 0 else u / 100", "1 if u > 0 else 1 / 100"),
    Activation("swish", "u * sigmoid(u)", "sigmoid(u) * (1 + u * (1 - sigmoid(u)))"),
]}


def get_activation(name: str, option: str = "activation") -> Activation:
    """The activation called ``name``; an error naming ``option`` and the accepted names otherwise."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise UnknownNameError(
            f"unknown {option} {name!r}; expected one of: {', '.join(ACTIVATIONS)}"
        ) from None
