"""Diagnoses of a failing claim: what separates its two sides, and candidate fixes in the file's notation.

A :class:`Candidate` is a corrected claim (its trees, and where needed a declared shape or an assumption)
with a sentence saying what changed. They come from two places:

- the residual (:func:`from_residual`): with the direct derivative in hand, the ratio of the two sides
  of the failing element may be a constant (a factor such as ``n[0]`` or ``m``, a sign) or a known
  quantity times a constant (a missing ``gprime[l](z[l, j])``), and their difference a multiple of a
  quantity the claim names (a missing ``+ lam * W[k, i, j]``, a ``2 * lam`` for ``lam``);
- the usual slips of hand derivations (:func:`slips`): an index pair transposed or renamed, a quantity of
  another layer (``delta[l + 1]`` for ``delta[l]``, ``W[l]`` for ``W[l + 1]``), one quantity for another
  (``z`` for ``a``), a factor or a term that does not belong, a factor forgotten inside a product, a sum's
  bound shifted, an exponent off by one, a transpose added or dropped, a matrix product's operands in the
  wrong order, ``1`` for ``I(i, j)``, a declared shape transposed, an assumption the claim needs.

Corrections of the right side come first; those that change what the claim is about (its left side)
last. Nothing here decides whether a candidate is right: :meth:`symbp.checking.check.Checker.explain`
states a fix only after the claim with it applied holds at every architecture it was asked at.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from itertools import chain, combinations
from typing import Callable

from .. import lang as il
from ..lang.scope import DERIVATIVE_NAMES
from ..model.losses import ASSUMPTIONS

_ONE = il.Num(Fraction(1))
#: ratios and coefficients are named as fractions with at most this denominator
_DENOMINATOR = 1000
#: two values are one constant where they agree to this relative precision (the engine works at 200 bits)
_SAME = Fraction(1, 10**30)


@dataclass(frozen=True)
class Candidate:
    """A corrected claim: ``change`` says in words what differs from the claim as written."""

    kind: str  # factor, sign, term, index, layer, quantity, power, bound, transpose, order, shape, assumption
    change: str
    lhs: object
    rhs: object
    shape: tuple | None = None  # a corrected declared shape
    assume: tuple = ()  # assumptions added to the claim's network
    named: bool = False  # a factor named after a width: must hold at other widths too, or it is a coincidence

    def statement(self) -> str:
        """The corrected claim as text."""
        return f"{il.to_text(self.lhs)} = {il.to_text(self.rhs)}"


@dataclass
class Notation:
    """How the file writes what a fix may name: widths, nodes, derivatives, its quantities and constants."""

    size: str = "n"  # the widths n[l] (or S[l], ...)
    z: str = "z"  # the weighted input of a layer
    a: str = "a"
    derivatives: tuple = ("gprime",)  # the activation derivative's names, the file's first
    constants: tuple = ()  # the file's named constants (lam, beta, ...)
    indices: tuple = ()  # the claim's free indices
    layers: tuple = ()  # those that number layers
    assumed: tuple = ()  # the assumptions the claim's network already makes
    quantities: dict = field(default_factory=dict)  # name -> number of indices: nodes, parameters, definitions
    nodes: tuple = ()  # the names of per-node quantities a slip may exchange (z, a, ...), as the file writes them
    layered: tuple = ()  # the names whose first index is a layer: nodes, parameters, the file's definitions
    widths: dict | None = None  # a width's value at the failing architecture -> its names there (n[0], n[l], ...)


@dataclass
class Element:
    """The failing element: both sides' values at the engine's random points, and a way to value other trees
    at the same element (None where a tree has no value there)."""

    left: tuple
    right: tuple
    value: Callable


def candidates(claim, notation: Notation, element: Element | None = None):
    """Every candidate fix of ``claim``: from the residual where the failing element is known, then the slips;
    never one that makes the two sides the same text (a claim that says nothing)."""
    found = from_residual(claim, element, notation) if element is not None else ()
    for candidate in chain(found, slips(claim, notation)):
        if candidate.lhs != candidate.rhs or claim.lhs == claim.rhs:  # W[L] = W[L] with a shape says something
            yield candidate


# --- the residual ------------------------------------------------------------------------------------------
def from_residual(claim, element: Element, notation: Notation):
    """Fixes read off the failing element: a constant or known factor, a sign, a missing or wrong term."""
    lhs, rhs = claim.lhs, claim.rhs
    left, right = _fractions(element.left), _fractions(element.right)
    if left is None or right is None:
        return
    ratio = _ratio(left, right)
    if ratio is not None and ratio != 1:
        yield from _factor_fixes(lhs, rhs, ratio, notation)
    difference = [a - b for a, b in zip(left, right)]
    yield from _term_fixes(lhs, rhs, difference, element, notation)
    if ratio is None:
        for factor in _known_factors(claim, notation):
            q = _fractions(element.value(factor))
            c = None if q is None else _ratio(left, [r * v for r, v in zip(right, q)])
            if c is None or c == 0:
                continue
            inverse = factor.right if isinstance(factor, il.BinOp) and factor.left == _ONE else None
            dropped = None if inverse is None or c != 1 else _without_factor(rhs, inverse)
            if dropped is not None:
                yield Candidate("factor", f"the factor {il.to_text(inverse)} does not belong: drop it", lhs, dropped)
                continue
            tree = _scaled(c, factor)
            yield Candidate("factor", f"the right side lacks the factor {il.to_text(tree)}", lhs,
                            il.BinOp("*", tree, rhs))


def _factor_fixes(lhs, rhs, ratio: Fraction, notation: Notation):
    text = il.to_text
    if ratio == -1:
        yield Candidate("sign", f"the right side has the wrong sign: {text(il.Neg(rhs))}", lhs, il.Neg(rhs))
        return
    if ratio == 0:
        return
    for value, inverse in ((ratio, False), (1 / ratio, True)):
        for name in (notation.widths or {}).get(value, ()):
            extra = name if inverse else il.BinOp("/", _ONE, name)  # the factor the right side has too many
            dropped = _without_factor(rhs, extra)
            if dropped is None and not inverse:
                dropped = _without_divisor(rhs, name)
            if dropped is not None:
                yield Candidate("factor", f"the factor {text(extra)} does not belong: drop it", lhs, dropped, named=True)
            elif inverse:
                yield Candidate("factor", f"the right side is off by a factor {text(name)}: divide it by "
                                f"{text(name)}", lhs, il.BinOp("/", rhs, name), named=True)
            else:
                yield Candidate("factor", f"the right side is off by a factor {text(name)}: multiply it by "
                                f"{text(name)}", lhs, il.BinOp("*", name, rhs), named=True)
    yield Candidate("factor", f"the right side is off by a factor {ratio}: multiply it by {ratio}", lhs,
                    il.BinOp("*", il.Num(ratio), rhs))


def _term_fixes(lhs, rhs, difference, element: Element, notation: Notation):
    """The difference (left - right) as c * T for a quantity T the claim names (times one of the file's
    constants, or a Kronecker delta of two of its indices)."""
    text = il.to_text
    # never a whole side: "the right side should be the left side" says nothing
    refs = [r for r in _unique(n for n in il.walk((lhs, rhs)) if isinstance(n, il.Ref)) if r not in (lhs, rhs)]
    scales = [None] + [il.Name(c) for c in notation.constants] + [
        il.Kronecker(il.Name(p), il.Name(q)) for p, q in combinations(notation.indices, 2)]
    terms = _additive_terms(rhs)
    term_values = [_fractions(element.value(t)) for _, t in terms]
    for q in refs:
        for scale in scales:
            tree = q if scale is None else il.BinOp("*", scale, q)
            values = _fractions(element.value(tree))
            c = None if values is None else _ratio(difference, values)
            if c is None or c == 0:
                continue
            # a term of the right side that is already a multiple of T: its coefficient is what is wrong
            for k, (sign, term) in enumerate(terms):
                tv = term_values[k]
                e = None if tv is None else _ratio([sign * t for t in tv], values)
                if e is None:
                    continue
                new = _scaled(e + c, tree)
                rest = terms[:k] + ([(1, new)] if new is not None else []) + terms[k + 1:]
                if new is None:
                    change = f"the term {text(term)} does not belong: drop it"
                else:
                    change = f"the term {text(term)} of the right side should be {text(new)}"
                yield Candidate("term", change, lhs, _rebuild(rest))
                break
            else:
                added = _scaled(abs(c), tree)
                op = "+" if c > 0 else "-"
                yield Candidate("term", f"the right side lacks {op} {text(added)}", lhs, il.BinOp(op, rhs, added))


def _known_factors(claim, notation: Notation):
    """Quantities a right side may lack as a factor, and their inverses (a factor it has too many)."""
    out = _factors(claim, notation)
    return out + [il.BinOp("/", _ONE, q) for q in out]


def _factors(claim, notation: Notation):
    """Quantities a right side may lack as a factor: the activation derivative at a node the claim reads, the
    node's value, a quantity with the indices of what is differentiated by."""
    layers, units = [], []
    for ref in il.walk((claim.lhs, claim.rhs)):
        if isinstance(ref, il.Ref) and len(ref.indices) >= 2:
            layers.append(ref.indices[0])
            units.extend(ref.indices[1:])
        if isinstance(ref, il.Apply) and ref.indices:
            layers.append(ref.indices[0])
    out = []
    for layer in _unique(layers):
        for unit in _unique(units):
            z = il.Ref(notation.z, (layer, unit))
            out += [il.Apply(d, (layer,), z) for d in notation.derivatives[:1]]
            out.append(il.Ref(notation.a, (layer, unit)))
    return _unique(out + _like_target(claim, notation))


def _like_target(claim, notation: Notation):
    """The file's quantities with the indices of what the claim differentiates by: C[l, p, q] for theta[l, p, q]."""
    target = claim.lhs.wrt if isinstance(claim.lhs, il.Deriv) else None
    if not isinstance(target, il.Ref):
        return []
    return [il.Ref(name, target.indices) for name, arity in notation.quantities.items()
            if arity == len(target.indices) and name != target.name]


# --- the slips ---------------------------------------------------------------------------------------------
def slips(claim, notation: Notation):
    """Every single local correction of the usual slips: the right side's, the whole claim's, then the left's."""
    lhs, rhs = claim.lhs, claim.rhs
    for kind, change, new in _rewrites(rhs, notation):
        yield Candidate(kind, change, lhs, new)
    for kind, change, new in _right_side(claim, notation):
        yield Candidate(kind, change, lhs, new)
    if claim.shape is not None and len(claim.shape) == 2:
        shape = tuple(reversed(claim.shape))
        yield Candidate("shape", f"the shape is {il.to_text(shape[0])} x {il.to_text(shape[1])}", lhs, rhs, shape=shape)
    for name, meaning in ASSUMPTIONS.items():
        if name not in notation.assumed:
            yield Candidate("assumption", f"the claim needs the assumption {name} ({meaning}): add assume = "
                            f"[\"{name}\"] to its network", lhs, rhs, assume=(name,))
    for kind, change, new in _rewrites(lhs, notation):
        yield Candidate(kind, change, new, rhs)


def _right_side(claim, notation: Notation):
    """Corrections of the right side as a whole: two indices exchanged throughout, a factor forgotten inside a
    product, a term that does not belong, a Kronecker factor."""
    text = il.to_text
    rhs = claim.rhs
    for p, q in combinations(notation.indices, 2):
        new = il.rewrite(rhs, lambda n: il.Name(q) if n == il.Name(p) else il.Name(p) if n == il.Name(q) else None)
        if new != rhs:
            yield "index", f"{p} and {q} exchanged throughout the right side: {text(new)}", new
    terms = _additive_terms(rhs)
    if len(terms) > 1:
        for k, (_, term) in enumerate(terms):
            yield "term", f"the term {text(term)} does not belong: drop it", _rebuild(terms[:k] + terms[k + 1:])
    for factor in _unique(_factors(claim, notation) + _matrix_factors(claim, notation)):
        for place, new in _inside(rhs, factor):
            yield "factor", f"{text(place)} lacks the factor {text(factor)}", new
    for p, q in combinations(notation.indices, 2):
        factor = il.Kronecker(il.Name(p), il.Name(q))
        yield "factor", f"the right side lacks the factor {text(factor)}: it is 0 unless {p} = {q}", il.BinOp("*", factor, rhs)


def _matrix_factors(claim, notation: Notation):
    """In a matrix claim: the activation derivative of a layer the claim names, at that layer's z (a column, or
    the batch's rows)."""
    if not any(isinstance(n, il.Call) and n.name in ("T", "samplesum") or isinstance(n, il.BinOp) and n.op == "@"
               for n in il.walk(claim.rhs)):
        return []
    out = []
    for n in il.walk((claim.lhs, claim.rhs)):
        if isinstance(n, il.Ref) and len(n.indices) == 1:
            layer = n.indices[0]
            for z in (notation.z, notation.z.upper()):
                out += [il.Apply(d, (layer,), il.Ref(z, (layer,))) for d in notation.derivatives[:1]]
    return _unique(out)


def _inside(node, factor):
    """``node`` with ``factor`` multiplied onto one operand of a product or the body of a sum: (operand, new)."""
    if isinstance(node, il.BinOp) and node.op in ("*", "@"):
        for side in ("left", "right"):
            operand = getattr(node, side)
            if not isinstance(operand, il.Num):
                yield operand, replace(node, **{side: il.BinOp("*", operand, factor)})
    if isinstance(node, il.Sum):
        yield node.body, replace(node, body=il.BinOp("*", node.body, factor))
    if isinstance(node, il.Call) and node.name == "samplesum":
        yield node.args[0], replace(node, args=(il.BinOp("*", node.args[0], factor), node.args[1]))
    for name in _child_fields(node):
        for place, new in _inside(getattr(node, name), factor):
            yield place, replace(node, **{name: new})
    if isinstance(node, tuple):
        for k, child in enumerate(node):
            for place, new in _inside(child, factor):
                yield place, node[:k] + (new,) + node[k + 1:]


def _rewrites(node, notation: Notation):
    """Every single local correction inside ``node``: (kind, change, corrected node)."""
    text = il.to_text
    if isinstance(node, il.Ref) and len(node.indices) >= 2:
        idx = list(node.indices)
        for a in range(len(idx) - 1):
            for b in range(a + 1, len(idx)):
                swapped = idx[:]
                swapped[a], swapped[b] = swapped[b], swapped[a]
                new = replace(node, indices=tuple(swapped))
                if new != node:
                    yield "index", f"{text(new)} in place of {text(node)}", new
    if isinstance(node, (il.Ref, il.Apply)):
        for k, index in enumerate(node.indices):
            if isinstance(index, il.Name) and index.name in notation.indices:
                for other in notation.indices:
                    if other != index.name:
                        new = replace(node, indices=node.indices[:k] + (il.Name(other),) + node.indices[k + 1:])
                        yield "index", f"{text(new)} in place of {text(node)}", new
        if node.indices and (_is_layer(node.indices[0], notation) or isinstance(node, il.Apply)
                             or node.name in notation.layered):
            for d in (-1, 1):
                new = replace(node, indices=(_shift(node.indices[0], d), *node.indices[1:]))
                yield "layer", f"{text(new)} in place of {text(node)} (another layer)", new
    if isinstance(node, il.Ref) and node.name in notation.nodes:
        for other in notation.nodes:
            if other != node.name and notation.quantities.get(other) == notation.quantities.get(node.name):
                new = replace(node, name=other)
                yield "quantity", f"{text(new)} in place of {text(node)}", new
    if isinstance(node, il.Ref) and node.name in notation.quantities:
        yield "power", f"{text(node)}**2 in place of {text(node)}", il.BinOp("**", node, il.Num(Fraction(2)))
    power = _number(node.right) if isinstance(node, il.BinOp) and node.op == "**" else None
    if power is not None:
        for exponent in (power - 1, power + 1, -power):
            if exponent not in (0, power):
                new = node.left if exponent == 1 else replace(node, right=il.Num(exponent))
                yield "power", f"{text(new)} in place of {text(node)}", new
    if isinstance(node, il.BinOp) and node.op == "*":
        for keep, drop in ((node.left, node.right), (node.right, node.left)):
            yield "factor", f"the factor {text(drop)} does not belong: drop it", keep
    if isinstance(node, il.BinOp) and node.op in "+-":
        flipped = replace(node, op="-" if node.op == "+" else "+")
        yield "sign", f"{text(flipped)} in place of {text(node)}", flipped
    if isinstance(node, il.BinOp) and node.op == "@":
        a, b = node.left, node.right
        for kind, new in (("order", il.BinOp("@", b, a)), ("order", il.BinOp("@", _toggle(b), _toggle(a))),
                          ("transpose", il.BinOp("@", _toggle(a), b)), ("transpose", il.BinOp("@", a, _toggle(b)))):
            yield kind, f"{text(new)} in place of {text(node)}", new
    if node == _ONE:
        for p, q in combinations(notation.indices, 2):
            new = il.Kronecker(il.Name(p), il.Name(q))
            yield "index", f"{text(new)} in place of 1", new
    if isinstance(node, il.Sum):
        for bound in ("lo", "hi"):
            for d in (-1, 1):
                shifted = _shift(getattr(node, bound), d)
                new = replace(node, **{bound: shifted})
                yield "bound", f"the sum over {node.var} runs {'from' if bound == 'lo' else 'to'} {text(shifted)}", new
    if isinstance(node, il.Ref) and len(node.indices) == 1:  # a matrix that may need a transpose
        yield "transpose", f"T({text(node)}) in place of {text(node)}", il.Call("T", (node,))
    if isinstance(node, il.Call) and node.name == "T":
        yield "transpose", f"{text(node.args[0])} in place of {text(node)} (no transpose)", node.args[0]
    if isinstance(node, il.Call) and node.name == "samplesum":
        var, lo, hi = node.args[1]
        for d in (-1, 1):
            for pos, bound in ((1, lo), (2, hi)):
                shifted = _shift(bound, d)
                rng = (var, shifted, hi) if pos == 1 else (var, lo, shifted)
                yield ("bound", f"the sum over samples runs {'from' if pos == 1 else 'to'} {text(shifted)}",
                       replace(node, args=(node.args[0], rng)))
    yield from _children(node, notation)


def _children(node, notation):
    if isinstance(node, tuple):
        for k, child in enumerate(node):
            for kind, change, new in _rewrites(child, notation):
                yield kind, change, node[:k] + (new,) + node[k + 1:]
        return
    for name in _child_fields(node):
        for kind, change, new in _rewrites(getattr(node, name), notation):
            yield kind, change, replace(node, **{name: new})


def _child_fields(node):
    if not hasattr(node, "__dataclass_fields__"):
        return []
    return [f.name for f in fields(node) if not isinstance(getattr(node, f.name), (str, Fraction))]


# --- helpers -----------------------------------------------------------------------------------------------
def _is_layer(index, notation: Notation) -> bool:
    """Whether an index numbers a layer: it reads one of the claim's layer indices or L."""
    return any(isinstance(n, il.Name) and (n.name in notation.layers or n.name == "L") for n in il.walk(index))


def _number(node) -> Fraction | None:
    """The value of a tree of numbers (-1/2 is Neg(1) / 2), or None where it names anything else."""
    if isinstance(node, il.Num):
        return node.value
    if isinstance(node, il.Neg):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, il.BinOp) and node.op in "+-*/":
        a, b = _number(node.left), _number(node.right)
        if a is None or b is None or (node.op == "/" and b == 0):
            return None
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[node.op]
    return None


def _toggle(node):
    return node.args[0] if isinstance(node, il.Call) and node.name == "T" else il.Call("T", (node,))


def _shift(index, d: int):
    """``index + d`` with constants folded: l + 1 shifted by -1 is l, 2 shifted by -1 is 1."""
    if isinstance(index, il.Num):
        return il.Num(index.value + d)
    if isinstance(index, il.BinOp) and index.op in "+-" and isinstance(index.right, il.Num):
        total = index.right.value * (1 if index.op == "+" else -1) + d
        if total == 0:
            return index.left
        return il.BinOp("+" if total > 0 else "-", index.left, il.Num(abs(total)))
    return il.BinOp("+" if d > 0 else "-", index, il.Num(Fraction(abs(d))))


def _unique(items):
    return list(dict.fromkeys(items))


def _fractions(values):
    """Values at the engine's points as exact fractions (their 200-bit decimal expansions), or None."""
    if values is None:
        return None
    try:
        return [Fraction(str(v)) for v in values]
    except (ValueError, ZeroDivisionError):
        return None


def close(a: list, b: list) -> bool:
    """Whether two lists of values agree to the engine's precision.

    >>> close([Fraction(1, 3)], [Fraction(1, 3) + Fraction(1, 10**40)]), close([Fraction(1)], [Fraction(2)])
    (True, False)
    """
    return len(a) == len(b) and all(abs(x - y) <= _SAME * max(Fraction(1), abs(x), abs(y)) for x, y in zip(a, b))


def _ratio(numerators, denominators) -> Fraction | None:
    """The one small fraction every numerator / denominator equals (0/0 says nothing), or None."""
    ratios = []
    for n, d in zip(numerators, denominators):
        if d == 0:
            if n != 0:
                return None
            continue
        ratios.append(n / d)
    if not ratios or not close(ratios, [ratios[0]] * len(ratios)):
        return None
    c = ratios[0].limit_denominator(_DENOMINATOR)
    return c if close([c], [ratios[0]]) else None


def _without_factor(node, factor):
    """``node`` with one factor ``factor`` of its product (at the top, or inside a leading minus) removed, or None."""
    if isinstance(node, il.Neg):
        inner = _without_factor(node.operand, factor)
        return None if inner is None else il.Neg(inner)
    if isinstance(node, il.BinOp) and node.op in "*/":
        if node.left == factor and node.op == "*":
            return node.right
        if node.right == factor and node.op == "*":
            return node.left
        left = _without_factor(node.left, factor)
        if left is not None:
            return replace(node, left=left)
        right = _without_factor(node.right, factor) if node.op == "*" else None
        return None if right is None else replace(node, right=right)
    return None


def _without_divisor(node, divisor):
    """``node`` with one division by ``divisor`` removed (x / m is x), or None."""
    if isinstance(node, il.Neg):
        inner = _without_divisor(node.operand, divisor)
        return None if inner is None else il.Neg(inner)
    if isinstance(node, il.BinOp) and node.op == "/" and node.right == divisor:
        return node.left
    if isinstance(node, il.BinOp) and node.op in "*/":
        left = _without_divisor(node.left, divisor)
        if left is not None:
            return replace(node, left=left)
        right = _without_divisor(node.right, divisor) if node.op == "*" else None
        return None if right is None else replace(node, right=right)
    return None


def _additive_terms(node, sign=1):
    """The right side as signed terms: a - b + c is [(1, a), (-1, b), (1, c)]."""
    if isinstance(node, il.BinOp) and node.op in "+-":
        return _additive_terms(node.left, sign) + _additive_terms(node.right, sign if node.op == "+" else -sign)
    if isinstance(node, il.Neg):
        return _additive_terms(node.operand, -sign)
    return [(sign, node)]


def _rebuild(terms):
    if not terms:
        return il.Num(Fraction(0))
    sign, first = terms[0]
    out = first if sign > 0 else il.Neg(first)
    for sign, term in terms[1:]:
        out = il.BinOp("+" if sign > 0 else "-", out, term)
    return out


def _scaled(c: Fraction, tree):
    """c * tree, written plainly (None for c = 0)."""
    if c == 0:
        return None
    if c == 1:
        return tree
    if c == -1:
        return il.Neg(tree)
    return il.BinOp("*", il.Num(c), tree)


__all__ = ["Candidate", "Element", "Notation", "candidates", "close", "from_residual", "slips"]
