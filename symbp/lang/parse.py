"""Reading the language: a whitelisting parser over Python's own tokenizer and grammar.

Equations are written the way derivations write them::

    z[l,j] = b[l,j] + sum(W[l,j,k] * a[l-1,k], (k, 1, n[l-1]))
    C[l,j,k] = 1/h[l](1) if k == 0 else 1

The text is read with :func:`ast.parse` (which never runs code) and every node is checked
against a whitelist before it is turned into the tree of :mod:`symbp.lang.tree`; names, calls and
attributes outside the language are rejected with an error that says where.
"""
from __future__ import annotations

import ast
import re
import warnings
from fractions import Fraction

from ..errors import ParseError
from .tree import (BUILTINS, FUNCTIONS, NAME, Apply, BinOp, BoolOp, Call, Compare, Cond, Deriv, Equation, Fn,
                   Kronecker, Name, Neg, Not, Num, Ref, Sum)

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
_DECIMAL = re.compile(r"(?P<mantissa>\d*\.?\d*)(?:[eE](?P<exponent>[+-]?\d+))?")
_LITERAL_DIGITS = 1000  # a literal with more digits than this is a typo or an attack, not a derivation
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def parse_expr(text: str, where: str | None = None):
    """Parse an index-level expression; raise :class:`ParseError` naming ``where`` on bad input.

    >>> parse_expr("I(p, q) * x[q]")
    BinOp(op='*', left=Kronecker(p=Name(name='p'), q=Name(name='q')), right=Ref(name='x', indices=(Name(name='q'),)))
    """
    if not isinstance(text, str):
        raise ParseError(f"expected an expression as text, got {type(text).__name__}", where)
    if len(text) > 10_000:
        raise ParseError("expression longer than 10000 characters", where)
    try:
        with warnings.catch_warnings():  # escape sequences in the text are its author's business, not a warning
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:  # ValueError: a NUL character
        shown = text.strip() if len(text.strip()) <= 80 else text.strip()[:77] + "..."
        why = f"{exc.msg[:100]} at column {exc.offset}" if isinstance(exc, SyntaxError) else "nested too deeply or not text"
        raise ParseError(f"cannot read {shown!r}: {why}", where) from None
    try:
        return _Reader(where, text.strip()).read(tree.body)
    except RecursionError:  # a deep expression in a process with a small stack; symbp check reads it in a worker
        raise ParseError("the expression is nested too deeply to read here", where) from None


def parse_equation(text: str, where: str | None = None) -> Equation:
    """Parse ``LHS = RHS`` where LHS is an indexed quantity such as ``z[l,j]``."""
    parts = re.split(r"(?<![=<>!])=(?!=)", text)
    if len(parts) != 2:
        raise ParseError(f"expected one '=' in an equation, got {text.strip()!r}", where)
    lhs = parse_expr(parts[0], where)
    if not isinstance(lhs, Ref):
        raise ParseError(f"the left side must be an indexed name such as z[l,j], got {parts[0].strip()!r}", where)
    return Equation(lhs, parse_expr(parts[1], where), text.strip())


def parse_ranges(text: str, where: str | None = None) -> list[tuple[str, object, object]]:
    """Parse ranges written as ``(l, 1, L), (j, 1, n[l])`` into (name, lo, hi) triples."""
    node = parse_expr(f"({text},)" if text.strip() else "()", where)
    if not isinstance(node, tuple):
        raise ParseError(f"expected ranges like (j, 1, n[l]), got {text!r}", where)
    return [_range(item, where) for item in node]


def _range(node, where):
    if not (isinstance(node, tuple) and len(node) == 3 and isinstance(node[0], Name)):
        raise ParseError("a range is written (index, low, high), for example (k, 1, n[l-1])", where)
    return node[0].name, node[1], node[2]


def _is_d(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "d" and len(node.args) == 1


class _Reader:
    """Turns a whitelisted Python AST into the tree above."""

    def __init__(self, where, source=""):
        self.where, self.source = where, source

    def fail(self, node, message):
        col = getattr(node, "col_offset", None)
        at = f" (column {col + 1})" if col is not None else ""
        raise ParseError(message + at, self.where)

    def read(self, node):
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            self.fail(node, f"{type(node).__name__} is not part of the equation language")
        return method(node)

    def _d_arg(self, node):
        if node.keywords:
            self.fail(node, "keyword arguments are not part of the equation language")
        return self.read(node.args[0])

    def _Constant(self, node):
        """A number exactly as written: ``0.1`` is 1/10 and ``1e-400`` is 10^-400, never a double in between."""
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.fail(node, f"only numbers are allowed as constants, got {v!r}")
        if isinstance(v, int):
            if len(str(abs(v))) > _LITERAL_DIGITS:
                self.fail(node, f"the number is out of range: at most {_LITERAL_DIGITS} digits")
            return Num(Fraction(v))
        text = ast.get_source_segment(self.source, node) or ""
        digits = _DECIMAL.fullmatch(text.replace("_", ""))
        if digits is None:
            self.fail(node, f"cannot read the number {text!r}")
        if len(digits["mantissa"]) + abs(int(digits["exponent"] or 0)) > _LITERAL_DIGITS:
            self.fail(node, f"the number {text[:40]!r} is out of range: at most {_LITERAL_DIGITS} digits either side of the point")
        return Num(Fraction(text.replace("_", "")))

    def name(self, node, name):
        if not NAME.match(name):
            self.fail(node, f"{name!r} is not a valid name (letters, digits, _ and ', starting with a letter)")
        return name

    def _Name(self, node):
        return Name(self.name(node, node.id))

    def _Tuple(self, node):
        return tuple(self.read(e) for e in node.elts)

    def _BinOp(self, node):
        if isinstance(node.op, ast.Div) and _is_d(node.right):
            # x * d(A)/d(B) parses as (x * d(A)) / d(B): reattach the derivative to its numerator
            if _is_d(node.left):
                return Deriv(self._d_arg(node.left), self._d_arg(node.right))
            left = node.left
            if isinstance(left, ast.BinOp) and isinstance(left.op, (ast.Mult, ast.MatMult)) and _is_d(left.right):
                inner = ast.BinOp(left.right, ast.Div(), node.right)
                return BinOp(_BINOPS[type(left.op)], self.read(left.left), self.read(inner))
        op = _BINOPS.get(type(node.op))
        if op is None:
            self.fail(node, f"operator {type(node.op).__name__} is not allowed (use + - * / ** and @)")
        return BinOp(op, self.read(node.left), self.read(node.right))

    def _UnaryOp(self, node):
        if isinstance(node.op, ast.USub):
            return Neg(self.read(node.operand))
        if isinstance(node.op, ast.UAdd):
            return self.read(node.operand)
        if isinstance(node.op, ast.Not):
            return Not(self.read(node.operand))
        self.fail(node, "only unary minus, plus and 'not' are allowed")

    def _BoolOp(self, node):
        return BoolOp("and" if isinstance(node.op, ast.And) else "or", tuple(self.read(v) for v in node.values))

    def _Compare(self, node):
        sides = [self.read(node.left), *(self.read(c) for c in node.comparators)]
        parts = []
        for k, op_node in enumerate(node.ops):
            op = _CMPOPS.get(type(op_node))
            if op is None:
                self.fail(node, "only == != < <= > >= comparisons are allowed")
            parts.append(Compare(op, sides[k], sides[k + 1]))
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))  # 1 <= j <= n[l]

    def _IfExp(self, node):
        return Cond(self.read(node.test), self.read(node.body), self.read(node.orelse))

    def _Subscript(self, node):
        if not isinstance(node.value, ast.Name):
            self.fail(node, "only a plain name can be indexed, as in z[l,j]")
        sl = node.slice
        items = sl.elts if isinstance(sl, ast.Tuple) else [sl]
        return Ref(self.name(node, node.value.id), tuple(self.read(i) for i in items))

    def _Call(self, node):
        if node.keywords:
            self.fail(node, "keyword arguments are not part of the equation language")
        if isinstance(node.func, ast.Subscript):
            fn = self._Subscript(node.func)
            if len(node.args) != 1:
                self.fail(node, f"{fn.name}[...] takes one argument")
            return Apply(fn.name, fn.indices, self.read(node.args[0]))
        if not isinstance(node.func, ast.Name):
            self.fail(node, "only sum(...), I(p,q) and per-layer functions like h[l](z) can be called")
        name, args = self.name(node, node.func.id), [self.read(a) for a in node.args]
        if name == "sum":
            if len(args) != 2 or not isinstance(args[1], tuple):
                self.fail(node, "write a sum as sum(body, (k, low, high))")
            var, lo, hi = _range(args[1], self.where)
            return Sum(args[0], var, lo, hi)
        if name == "d":
            self.fail(node, "write a derivative as d(J)/d(W[l,j,k])")
        if name in BUILTINS:
            if len(args) != BUILTINS[name]:
                self.fail(node, f"{name} takes {BUILTINS[name]} argument(s)")
            if name == "samplesum":
                if not isinstance(args[1], tuple):
                    self.fail(node, "write a sum over samples as samplesum(body, (i, 1, m))")
                _range(args[1], self.where)
            return Call(name, tuple(args))
        if name == "I":
            if len(args) != 2:
                self.fail(node, "the Kronecker delta takes two indices: I(p, q)")
            return Kronecker(*args)
        if name in FUNCTIONS:
            if len(args) != FUNCTIONS[name] or any(isinstance(a, tuple) for a in args):
                self.fail(node, f"{name} takes {FUNCTIONS[name]} argument(s)")
            return Fn(name, tuple(args))
        if len(args) == 1:  # h(z) without a layer: the same function on every layer
            return Apply(name, (), args[0])
        self.fail(node, f"unknown function {name!r}; known: sum, I, {', '.join(FUNCTIONS)}, and per-layer functions "
                        "like h[l](z)")
