"""The tree of the equation and claim language: one frozen dataclass per node.

Equations, definitions and claims are all written in one small language and read into these
nodes by :mod:`symbp.lang.parse`; evaluators, provers and printers walk them through
:class:`symbp.lang.visitor.Visitor`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

#: a name of the language: letters, digits, _ and ', starting with a letter
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_']*$")
#: built-in functions of several arguments, with their arity
BUILTINS = {"T": 1, "ones": 2, "samplesum": 2, "rows": 3}
#: functions of values, with their arity; what each computes is :mod:`symbp.model.functions`
FUNCTIONS = {"exp": 1, "log": 1, "sqrt": 1, "tanh": 1, "sigmoid": 1, "softplus": 1, "erf": 1, "abs": 1, "max": 2,
             "min": 2}
#: names with a fixed meaning wherever they appear
CONSTANTS = {"pi"}


@dataclass(frozen=True)
class Num:
    value: Fraction


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Ref:
    """An indexed quantity such as ``z[l,j]`` or a size such as ``n[l]``."""

    name: str
    indices: tuple


@dataclass(frozen=True)
class Apply:
    """A per-layer function applied to an argument, such as ``h[l](z[l,k])``."""

    name: str
    indices: tuple
    arg: object


@dataclass(frozen=True)
class Kronecker:
    p: object
    q: object


@dataclass(frozen=True)
class Sum:
    body: object
    var: str
    lo: object
    hi: object


@dataclass(frozen=True)
class BinOp:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Neg:
    operand: object


@dataclass(frozen=True)
class Compare:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class BoolOp:
    """``a and b``, ``a or b`` (``op`` is "and" or "or"); a chained comparison reads as "and"."""

    op: str
    values: tuple


@dataclass(frozen=True)
class Not:
    operand: object


@dataclass(frozen=True)
class Cond:
    test: object
    then: object
    orelse: object


@dataclass(frozen=True)
class Deriv:
    """``d(of)/d(wrt)``: the derivative of one quantity with respect to another."""

    of: object
    wrt: object


@dataclass(frozen=True)
class Fn:
    """A function of values such as ``exp(u)`` or ``max(u, v)`` (the names of :data:`FUNCTIONS`)."""

    name: str
    args: tuple


@dataclass(frozen=True)
class Call:
    """A built-in function of several arguments: T(A), ones(r, c), samplesum(body, (i, lo, hi))."""

    name: str
    args: tuple


@dataclass(frozen=True)
class Equation:
    lhs: Ref
    rhs: object
    text: str



def rewrite(node, f):
    """``node`` rebuilt bottom-up with ``f`` applied to every sub-tree; ``f`` returns a replacement or None.

    >>> from symbp.lang.parse import parse_expr
    >>> rewrite(parse_expr("x[k] + 1"), lambda n: Num(Fraction(2)) if n == Num(Fraction(1)) else None)
    BinOp(op='+', left=Ref(name='x', indices=(Name(name='k'),)), right=Num(value=Fraction(2, 1)))
    """
    if isinstance(node, tuple):
        return tuple(rewrite(n, f) for n in node)
    if hasattr(node, "__dataclass_fields__"):
        node = type(node)(**{k: rewrite(getattr(node, k), f) if not isinstance(getattr(node, k), (str, Fraction))
                             else getattr(node, k) for k in node.__dataclass_fields__})
        new = f(node)
        return node if new is None else new
    return node


def walk(node):
    """Every node of a tree, the tree itself first."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, tuple):
            stack.extend(n)
        elif hasattr(n, "__dataclass_fields__"):
            stack.extend(getattr(n, f) for f in n.__dataclass_fields__)


def names_in(node) -> set[str]:
    """Every indexed or applied name that occurs in a tree."""
    return {n.name for n in walk(node) if isinstance(n, (Ref, Apply))}
