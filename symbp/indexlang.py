"""Index-level equations as data: a whitelisting parser and an evaluator.

Equations are written the way derivations write them, in a small language::

    z[l,j] = b[l,j] + sum(W[l,j,k] * a[l-1,k], (k, 1, n[l-1]))
    C[l,j,k] = 1/h[l](1) if k == 0 else 1

The text is read with :func:`ast.parse` (which never runs code) and every node is checked
against a whitelist before it is turned into the small tree below; names, calls and
attributes outside the language are rejected with an error that says where.
"""
from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from .errors import ParseError


# --- the tree -------------------------------------------------------------------------------
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
class Call:
    """A built-in function of several arguments: T(A), ones(r, c), samplesum(body, (i, lo, hi))."""

    name: str
    args: tuple


@dataclass(frozen=True)
class Equation:
    lhs: Ref
    rhs: object
    text: str


_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
#: built-in functions of several arguments, with their arity
BUILTINS = {"T": 1, "ones": 2, "samplesum": 2, "rows": 3}
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_']*$")


# --- parsing --------------------------------------------------------------------------------
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
    except SyntaxError as exc:
        raise ParseError(f"cannot read {text.strip()!r}: {exc.msg} at column {exc.offset}", where) from None
    return _Reader(where).read(tree.body)


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

    def __init__(self, where):
        self.where = where

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
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.fail(node, f"only numbers are allowed as constants, got {v!r}")
        return Num(Fraction(str(v)) if isinstance(v, float) else Fraction(v))

    def name(self, node, name):
        if not _NAME.match(name):
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
        self.fail(node, "only unary minus and plus are allowed")

    def _Compare(self, node):
        if len(node.ops) != 1:
            self.fail(node, "write one comparison at a time")
        op = _CMPOPS.get(type(node.ops[0]))
        if op is None:
            self.fail(node, "only == != < <= > >= comparisons are allowed")
        return Compare(op, self.read(node.left), self.read(node.comparators[0]))

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
        if len(args) == 1:  # h(z) without a layer: the same function on every layer
            return Apply(name, (), args[0])
        self.fail(node, f"unknown function {name!r}; known: sum, I, and per-layer functions like h[l](z)")


# --- evaluation -----------------------------------------------------------------------------
_ARITH: dict[str, Callable] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
}
_CMP: dict[str, Callable] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class Evaluator:
    """Evaluates a tree with indices bound to integers.

    ``resolve(name, indices)`` gives the value of an indexed name, ``apply(name, indices,
    arg_tree, env)`` that of a per-layer function, ``constant(name)`` that of a bare name that
    is not a bound index (such as ``L``). ``number`` turns a Fraction into the value type.
    """

    def __init__(self, resolve, apply, constant, number=lambda f: f):
        self.resolve, self.apply, self.constant, self.number = resolve, apply, constant, number

    def index(self, node, env) -> int:
        """Evaluate an index expression to an int."""
        v = self.eval(node, env, as_index=True)
        if isinstance(v, Fraction):
            if v.denominator != 1:
                raise ParseError(f"index evaluates to the fraction {v}")
            return int(v)
        if not isinstance(v, int):
            raise ParseError(f"index expression does not evaluate to an integer: {v}")
        return v

    def eval(self, node, env, as_index=False):
        t = type(node)
        if t is Num:
            return node.value if as_index else self.number(node.value)
        if t is Name:
            return env[node.name] if node.name in env else self.constant(node.name)
        if t is Ref:
            return self.resolve(node.name, tuple(self.index(i, env) for i in node.indices))
        if t is BinOp:
            return _ARITH[node.op](self.eval(node.left, env, as_index), self.eval(node.right, env, as_index))
        if t is Neg:
            return -self.eval(node.operand, env, as_index)
        if t is Kronecker:
            return self.number(Fraction(int(self.index(node.p, env) == self.index(node.q, env))))
        if t is Compare:
            return _CMP[node.op](self.index(node.left, env), self.index(node.right, env))
        if t is Cond:
            return self.eval(node.then if self.eval(node.test, env) else node.orelse, env, as_index)
        if t is Apply:
            return self.apply(node.name, tuple(self.index(i, env) for i in node.indices), node.arg, env)
        if t is Sum:
            lo, hi = self.index(node.lo, env), self.index(node.hi, env)
            terms = [self.eval(node.body, {**env, node.var: k}) for k in range(lo, hi + 1)]
            return _add(terms, self.number(Fraction(0)))
        raise ParseError(f"cannot evaluate {node!r}")


def _add(terms, zero):
    if not terms:
        return zero
    if all(isinstance(t, (int, Fraction)) for t in terms):
        return sum(terms[1:], terms[0])
    import symengine as se

    return se.Add(*terms)  # one flat sum, not a chain of binary additions


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


# --- printing ---------------------------------------------------------------------------------
class Printer:
    """Prints a tree back in the language's own notation; one ``_print_X`` method per node type."""

    _PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "**": 3}

    def doprint(self, node) -> str:
        return getattr(self, "_print_" + type(node).__name__)(node)

    def _print_tuple(self, node):
        return "(" + ", ".join(map(self.doprint, node)) + ")"

    def _print_Num(self, node):
        return str(node.value)

    def _print_Name(self, node):
        return node.name

    def _print_Ref(self, node):
        return f"{node.name}[{', '.join(map(self.doprint, node.indices))}]"

    def _print_Apply(self, node):
        layer = f"[{', '.join(map(self.doprint, node.indices))}]" if node.indices else ""
        return f"{node.name}{layer}({self.doprint(node.arg)})"

    def _print_Kronecker(self, node):
        return f"I({self.doprint(node.p)}, {self.doprint(node.q)})"

    def _print_Sum(self, node):
        return f"sum({self.doprint(node.body)}, ({node.var}, {self.doprint(node.lo)}, {self.doprint(node.hi)}))"

    def _print_BinOp(self, node):
        prec = self._PREC[node.op]
        left, right = self._wrap(node.left, prec, False), self._wrap(node.right, prec, node.op in "-/@**")
        sep = "" if node.op == "**" else " "
        return f"{left}{sep}{node.op}{sep}{right}"

    def _wrap(self, node, prec, strict):
        text = self.doprint(node)
        inner = self._PREC.get(node.op, 9) if isinstance(node, BinOp) else 9
        return f"({text})" if inner < prec or (strict and inner == prec) else text

    def _print_Neg(self, node):
        return f"-{self._wrap(node.operand, 3, False)}"

    def _print_Compare(self, node):
        return f"{self.doprint(node.left)} {node.op} {self.doprint(node.right)}"

    def _print_Cond(self, node):
        return f"({self.doprint(node.then)} if {self.doprint(node.test)} else {self.doprint(node.orelse)})"

    def _print_Deriv(self, node):
        return f"d({self.doprint(node.of)})/d({self.doprint(node.wrt)})"

    def _print_Call(self, node):
        return f"{node.name}({', '.join(map(self.doprint, node.args))})"


def to_text(node) -> str:
    """The tree in the equation language.

    >>> to_text(parse_expr("sum(theta[l,k,p]*delta[l+1,k], (k,1,S[l+1])) * (1 - I(p,0))"))
    'sum(theta[l, k, p] * delta[l + 1, k], (k, 1, S[l + 1])) * (1 - I(p, 0))'
    """
    return Printer().doprint(node)
