"""Index arithmetic of the language in SymPy: normal forms, solving for an index, deciding conditions.

Index expressions are integer-linear in the indices, the last layer ``L`` and the widths (``n[l]`` is an
opaque positive integer for each distinct layer expression). A condition is decided by
:func:`symbp.calculus.decide.decide`, soundly or not at all.
"""
from __future__ import annotations

import sympy as sp

from .. import lang as il
from .decide import decide

POSITIVE = {"integer": True, "positive": True}


class NotAnIndex(Exception):
    """An expression that is not integer arithmetic of indices (it involves a value)."""


class Indices:
    """Converts index trees to SymPy and back for one formulation's size name (``n`` or ``S``).

    >>> ix = Indices("n")
    >>> il.to_text(ix.norm(il.parse_expr("(l + 1) - 1 + 2 * k - k")))
    'k + l'
    >>> il.to_text(ix.solve(il.parse_expr("l2 - 1"), il.parse_expr("l"), "l2"))
    'l + 1'
    >>> ix.decide(il.parse_expr("j <= n[l]"), {"j": (il.parse_expr("1"), il.parse_expr("n[l]"))})
    True
    """

    def __init__(self, size: str, first_layer: int = 0, positive=("m", "N"), equal=None):
        self.size, self.positive = size, set(positive) | {"L"}
        self.equal = equal  # (low, high): the layers in this range all have one width
        self._box = None  # while deciding: the ranges, to tell whether a width is one of the equal ones
        self._sizes: dict = {}  # symbol -> the width's tree
        # a network has at least one layer above its input: L = first + 1 + depth_extra, depth_extra >= 0
        self.first = first_layer
        self._extra = sp.Symbol("L_extra", integer=True, nonnegative=True)
        self._L = sp.Symbol("L", **POSITIVE)

    # --- to SymPy and back ------------------------------------------------------------------------
    def symbol(self, name: str):
        if name == "L":
            return self._extra + self.first + 1
        return sp.Symbol(name, **POSITIVE) if name in self.positive else sp.Symbol(name, integer=True)

    def to_sympy(self, node):
        t = type(node)
        if t is il.Num:
            if node.value.denominator != 1:
                raise NotAnIndex(f"the index {node.value} is a fraction")
            return sp.Integer(int(node.value))
        if t is il.Name:
            return self.symbol(node.name)
        if t is il.Ref and node.name == self.size and len(node.indices) == 1:
            inner = self.norm(node.indices[0])
            if self.equal is not None and self._box is not None:
                lo, hi = (self.to_sympy(b) for b in self.equal)
                layer = self.to_sympy(inner)
                if decide(sp.And(sp.Le(lo, layer), sp.Le(layer, hi)), self._box) is True:
                    inner = self.equal[0]  # one width stands for all of them
            s = sp.Symbol(f"{self.size}[{il.to_text(inner)}]", **POSITIVE)
            self._sizes[s] = il.Ref(self.size, (inner,))
            return s
        if t is il.BinOp and node.op in "+-*":
            a, b = self.to_sympy(node.left), self.to_sympy(node.right)
            return a + b if node.op == "+" else a - b if node.op == "-" else a * b
        if t is il.Neg:
            return -self.to_sympy(node.operand)
        raise NotAnIndex(f"{type(node).__name__} is not index arithmetic")

    def to_tree(self, expr):
        expr = sp.expand(sp.sympify(expr).subs(self._extra, self._L - self.first - 1))
        if expr.is_Integer:
            return il.Num(int(expr))
        if expr.is_Symbol:
            return self._sizes.get(expr) or il.Name(expr.name)
        if expr.is_Add:
            terms = sorted(expr.args, key=lambda t: (t.is_Number, _order(t)))
            out = self.to_tree(terms[0])
            for t in terms[1:]:
                if _negative(t):
                    out = il.BinOp("-", out, self.to_tree(-t))
                else:
                    out = il.BinOp("+", out, self.to_tree(t))
            return out
        if expr.is_Mul:
            coeff, rest = expr.as_coeff_Mul()
            if coeff == -1:
                return il.Neg(self.to_tree(rest))
            factors = sorted(sp.Mul.make_args(rest), key=_order)
            out = self.to_tree(factors[0])
            for f in factors[1:]:
                out = il.BinOp("*", out, self.to_tree(f))
            return out if coeff == 1 else il.BinOp("*", il.Num(int(coeff)), out)
        raise NotAnIndex(f"{expr} is not index arithmetic")

    def norm(self, node):
        """The normal form of an index expression; anything else unchanged."""
        try:
            return self.to_tree(self.to_sympy(node))
        except NotAnIndex:
            return node

    # --- conditions -----------------------------------------------------------------------------------
    def condition(self, node):
        """A condition on indices as a SymPy boolean; NotAnIndex where it compares values."""
        if isinstance(node, il.Compare):
            a, b = self.to_sympy(node.left), self.to_sympy(node.right)
            return {"==": sp.Eq, "!=": sp.Ne, "<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge}[node.op](a, b)
        if isinstance(node, il.BoolOp):
            parts = [self.condition(v) for v in node.values]
            return sp.And(*parts) if node.op == "and" else sp.Or(*parts)
        if isinstance(node, il.Not):
            return sp.Not(self.condition(node.operand))
        raise NotAnIndex(f"{type(node).__name__} is not a condition on indices")

    def decide(self, node, ranges: dict):
        """True or False when the ranges of the indices settle the condition, else None (also for values)."""
        try:
            box = {self.symbol(v): (self.to_sympy(lo), self.to_sympy(hi)) for v, (lo, hi) in ranges.items() if v != "L"}
            self._box = box
            try:
                cond = self.condition(node)
                box = {self.symbol(v): (self.to_sympy(lo), self.to_sympy(hi)) for v, (lo, hi) in ranges.items()
                       if v != "L"}
            finally:
                self._box = None
        except NotAnIndex:
            return None
        return decide(cond, box)

    def isolate(self, op: str, a, b):
        """``a op b`` rewritten with one index alone on the left (``l + 1 <= L`` as ``l <= L - 1``), or None."""
        try:
            f = sp.expand(self.to_sympy(a) - self.to_sympy(b))
        except NotAnIndex:
            return None
        names = sorted((s for s in f.free_symbols if s.name not in self.positive and s != self._extra
                        and "[" not in s.name), key=lambda s: s.name)
        for v in names:
            coeff = f.coeff(v)
            if coeff in (1, -1) and v not in (f - coeff * v).free_symbols:
                op = op if coeff == 1 else {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
                return op, il.Name(v.name), self.to_tree(-(f - coeff * v) / coeff)
        return None

    def solve(self, a, b, var: str):
        """The index ``var`` from ``a == b`` where it occurs with coefficient +1 or -1 (no division), else None."""
        try:
            f = sp.expand(self.to_sympy(a) - self.to_sympy(b))
        except NotAnIndex:
            return None
        v = self.symbol(var)
        if not v.is_Symbol:
            return None
        coeff = f.coeff(v)
        if coeff not in (1, -1) or v in (f - coeff * v).free_symbols:
            return None
        return self.to_tree(-(f - coeff * v) / coeff)


def _order(term):
    return sp.default_sort_key(term)


def _negative(term) -> bool:
    return term.could_extract_minus_sign()


__all__ = ["Indices", "NotAnIndex"]
