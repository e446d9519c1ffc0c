"""Concrete evaluation of the language: indices bound to whole numbers, values through hooks.

The forward equations of a network, a derivation's claims and a derived recursion are evaluated by
subclasses of :class:`Evaluator`; each supplies what the names mean (``ref``, ``name``, ``apply``)
and the type of the values (``number``).
"""
from __future__ import annotations

import operator
from fractions import Fraction

from ..errors import ParseError
from .visitor import Visitor

ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow}
COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
           ">=": operator.ge}


class Evaluator(Visitor):
    """Evaluates a tree with its indices bound to whole numbers in ``env``.

    Subclasses give names their meaning: ``ref(name, indices)`` the value of an indexed name,
    ``constant(name)`` that of a bare name that is not a bound index (such as ``L``), ``apply(node,
    env)`` a per-layer function; ``number`` turns a Fraction into the value type and ``add`` sums terms.

    >>> class Squares(Evaluator):
    ...     def ref(self, name, idx):
    ...         return Fraction(idx[0] ** 2)
    >>> from symbp.lang.parse import parse_expr
    >>> Squares().eval(parse_expr("sum(x[k], (k, 1, 3)) + I(1, 1)"), {})
    Fraction(15, 1)
    """

    what = "it is not part of the equation language"

    def number(self, value: Fraction):
        return value

    def add(self, terms):
        return sum(terms[1:], terms[0]) if terms else self.number(Fraction(0))

    def ref(self, name, idx):
        raise ParseError(f"{name}[...] has no value here")

    def constant(self, name):
        raise ParseError(f"unknown name {name!r}")

    def apply(self, node, env):
        raise ParseError(f"{node.name}[...](...) has no value here")

    def function(self, name, args):
        raise ParseError(f"{name}(...) has no value here")

    # --- conditions on values: subclasses with symbolic values build piecewise expressions ------------
    def exact(self, value) -> Fraction | None:
        """A value as an exact number, or None when it is symbolic."""
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, Fraction)):
            return Fraction(value)
        return None

    def relation(self, op, a, b):
        raise ParseError("a comparison of values that are not numbers has no value here")

    def logic(self, op, values):
        raise ParseError(f"'{op}' of conditions on values has no value here")

    def piecewise(self, test, then, orelse):
        raise ParseError("a condition on values has no value here")

    # --- indices ----------------------------------------------------------------------------------
    def index(self, node, env) -> int:
        """Evaluate an index expression to an int."""
        v = self.visit(node, env, True)
        if isinstance(v, Fraction):
            if v.denominator != 1:
                raise ParseError(f"index evaluates to the fraction {v}")
            return int(v)
        if not isinstance(v, int) or isinstance(v, bool):
            raise ParseError(f"index expression does not evaluate to a whole number: {v}")
        return v

    def eval(self, node, env):
        return self.visit(node, env, False)

    # --- nodes ------------------------------------------------------------------------------------
    def visit_Num(self, node, env, as_index=False):
        return node.value if as_index else self.number(node.value)

    def visit_Name(self, node, env, as_index=False):
        return env[node.name] if node.name in env else self.constant(node.name)

    def visit_Ref(self, node, env, as_index=False):
        return self.ref(node.name, tuple(self.index(i, env) for i in node.indices))

    def visit_BinOp(self, node, env, as_index=False):
        if node.op not in ARITH:
            raise ParseError(f"'{node.op}' is not defined here")
        return ARITH[node.op](self.visit(node.left, env, as_index), self.visit(node.right, env, as_index))

    def visit_Neg(self, node, env, as_index=False):
        return -self.visit(node.operand, env, as_index)

    def visit_Kronecker(self, node, env, as_index=False):
        return self.number(Fraction(int(self.index(node.p, env) == self.index(node.q, env))))

    def visit_Compare(self, node, env, as_index=False):
        """True or False where both sides are numbers (indices always are), else a relation of values."""
        a, b = self.visit(node.left, env), self.visit(node.right, env)
        ea, eb = self.exact(a), self.exact(b)
        if ea is not None and eb is not None:
            return COMPARE[node.op](ea, eb)
        return self.relation(node.op, a, b)

    def visit_BoolOp(self, node, env, as_index=False):
        values = [self.visit(v, env) for v in node.values]
        if all(isinstance(v, bool) for v in values):
            return all(values) if node.op == "and" else any(values)
        return self.logic(node.op, values)

    def visit_Not(self, node, env, as_index=False):
        value = self.visit(node.operand, env)
        return (not value) if isinstance(value, bool) else self.logic("not", [value])

    def visit_Cond(self, node, env, as_index=False):
        test = self.visit(node.test, env)
        if isinstance(test, bool):
            return self.visit(node.then if test else node.orelse, env, as_index)
        return self.piecewise(test, self.visit(node.then, env), self.visit(node.orelse, env))

    def visit_Fn(self, node, env, as_index=False):
        return self.function(node.name, [self.visit(a, env) for a in node.args])

    def visit_Apply(self, node, env, as_index=False):
        return self.apply(node, env)

    def visit_Sum(self, node, env, as_index=False):
        lo, hi = self.index(node.lo, env), self.index(node.hi, env)
        return self.add([self.visit(node.body, {**env, node.var: k}) for k in range(lo, hi + 1)])
