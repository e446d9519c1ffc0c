"""The functions of the language as table entries: value, partial derivatives and kernel code in one place.

Each entry says what ``exp(u)``, ``max(u, v)``, ... is as a SymEngine expression (so that direct
differentiation and the numeric engine see through it), its partial derivatives written in the language
itself (so that a derived recursion stays in the language), and the code that computes it in every kernel
target, numerically stable (``softplus`` as ``logaddexp``, ``erf`` without SciPy). :class:`SymEngineValues`
gives the language's evaluators their SymEngine meaning: numbers, sums, functions and conditions on values
(a condition on values is a piecewise expression, decided at each random point).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import symengine as se

from .. import lang as il
from ..errors import ParseError
from ..exact import number


def _piecewise_max(u, v):
    return se.Piecewise((u, se.Ge(u, v)), (v, True))


def _piecewise_min(u, v):
    return se.Piecewise((u, se.Le(u, v)), (v, True))


@dataclass(frozen=True)
class Function:
    """One function: ``value`` builds it in SymEngine, ``partials`` are its derivatives in the language (in
    ``u`` and ``v``, its arguments), ``code`` maps a kernel target to a template with ``{0}``, ``{1}``, and
    ``helpers`` to the helper source that template needs."""

    name: str
    value: Callable
    partials: tuple
    code: dict
    helpers: dict = None

    @property
    def arity(self) -> int:
        return len(self.partials)


#: numerically stable helpers for the NumPy target: a sigmoid that never overflows, and erf to double
#: precision without SciPy (an everywhere-positive series below 2.5, the continued fraction of erfc above;
#: within 2e-15 of math.erf, tests/test_functions.py)
NUMPY_HELPERS = {
    "sigmoid": '''
def _sigmoid(u):
    return np.exp(-np.logaddexp(0, -u))
''',
    "erf": '''
def _erf(x):
    a = np.abs(x)
    s = np.minimum(a, 2.5)
    x2 = s * s
    term, total = s.copy(), s.copy()
    for n in range(1, 60):
        term *= 2 * x2 / (2 * n + 1)
        total += term
    near = 2 / np.sqrt(np.pi) * np.exp(-x2) * total
    b = np.maximum(a, 2.5)
    c = b.copy()
    for n in range(80, 0, -1):
        c = b + (n / 2) / c
    far = 1 - np.exp(-b * b) / (np.sqrt(np.pi) * c)
    return np.sign(x) * np.where(a < 2.5, near, far)
''',
}

FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    Function("exp", se.exp, ("exp(u)",), {"numpy": "np.exp({0})", "jax": "jnp.exp({0})"}),
    Function("log", se.log, ("1/u",), {"numpy": "np.log({0})", "jax": "jnp.log({0})"}),
    Function("sqrt", se.sqrt, ("1/(2*sqrt(u))",), {"numpy": "np.sqrt({0})", "jax": "jnp.sqrt({0})"}),
    Function("tanh", se.tanh, ("1 - tanh(u)**2",), {"numpy": "np.tanh({0})", "jax": "jnp.tanh({0})"}),
    Function("sigmoid", lambda u: 1 / (1 + se.exp(-u)), ("sigmoid(u)*(1 - sigmoid(u))",),
             {"numpy": "_sigmoid({0})", "jax": "jax.nn.sigmoid({0})"}, {"numpy": NUMPY_HELPERS["sigmoid"]}),
    Function("softplus", lambda u: se.log(1 + se.exp(u)), ("sigmoid(u)",),
             {"numpy": "np.logaddexp(0, {0})", "jax": "jnp.logaddexp(0, {0})"}),
    Function("erf", se.erf, ("2/sqrt(pi)*exp(-u**2)",),
             {"numpy": "_erf({0})", "jax": "jax.scipy.special.erf({0})"}, {"numpy": NUMPY_HELPERS["erf"]}),
    Function("abs", lambda u: se.Piecewise((u, se.Ge(u, 0)), (-u, True)), ("1 if u >= 0 else -1",),
             {"numpy": "np.abs({0})", "jax": "jnp.abs({0})"}),
    Function("max", _piecewise_max, ("1 if u >= v else 0", "0 if u >= v else 1"),
             {"numpy": "np.maximum({0}, {1})", "jax": "jnp.maximum({0}, {1})"}),
    Function("min", _piecewise_min, ("1 if u <= v else 0", "0 if u <= v else 1"),
             {"numpy": "np.minimum({0}, {1})", "jax": "jnp.minimum({0}, {1})"}),
]}

#: the generic activation ``h`` and its undefined derivative ``hprime``: an identity proved with these
#: holds for every differentiable activation
h = se.Function("h")
h_prime = se.Function("hprime")
OPAQUE = {"h": h, "hprime": h_prime}

_RELATIONS = {"==": se.Eq, "!=": se.Ne, "<": se.Lt, "<=": se.Le, ">": se.Gt, ">=": se.Ge}


class SymEngineValues:
    """The SymEngine meaning of the language's values, mixed into an :class:`symbp.lang.Evaluator`."""

    def number(self, value):
        return number(value)

    def add(self, terms):
        return se.Add(*terms) if terms else se.Integer(0)  # one flat sum, not a chain of binary additions

    def exact(self, value):
        if isinstance(value, (int, Fraction)) and not isinstance(value, bool):
            return Fraction(value)
        if isinstance(value, se.Basic) and value.is_Number and value.is_Rational:
            num, den = value.get_num_den()
            return Fraction(int(num), int(den))
        return None

    def function(self, name, args):
        entry = FUNCTIONS.get(name)
        if entry is None:
            raise ParseError(f"unknown function {name!r}")
        return entry.value(*args)

    def relation(self, op, a, b):
        return _RELATIONS[op](se.sympify(a), se.sympify(b))

    def logic(self, op, values):
        values = [se.true if v is True else se.false if v is False else v for v in values]
        if op == "not":
            return se.Not(values[0])
        return se.And(*values) if op == "and" else se.Or(*values)

    def piecewise(self, test, then, orelse):
        return se.Piecewise((then, test), (orelse, True))

    def named_constant(self, name):
        """The value of a reserved constant such as ``pi``, or None."""
        return se.pi if name == "pi" else None


class Formula(SymEngineValues, il.Evaluator):
    """Evaluates a catalog formula: bare names and indexed names bound to SymEngine values.

    >>> Formula({"u": se.Symbol("x")}).eval(il.parse_expr("sigmoid(u) * max(u, 0)"), {})
    Piecewise((x, 0 <= x), (0, True))/(1 + exp(-x))
    """

    def __init__(self, names: dict, refs: Callable | None = None):
        self.names, self.refs = names, refs

    def constant(self, name):
        if name in self.names:
            return self.names[name]
        value = self.named_constant(name)
        if value is None:
            raise ParseError(f"unknown name {name!r} in a formula")
        return value

    def ref(self, name, idx):
        if self.refs is None:
            raise ParseError(f"{name}[...] has no value in this formula")
        return self.refs(name, idx)

    def apply(self, node, env):
        if node.name in OPAQUE and not node.indices:
            return OPAQUE[node.name](self.eval(node.arg, env))
        raise ParseError(f"unknown function {node.name!r} in a formula")


def formula(text: str, where: str):
    """Parse a catalog formula once, naming the entry on error."""
    return il.parse_expr(text, where)


__all__ = ["FUNCTIONS", "Formula", "Function", "OPAQUE", "SymEngineValues", "formula", "h", "h_prime"]
