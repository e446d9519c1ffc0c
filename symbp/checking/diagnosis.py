"""Diagnoses of a failing claim: what separates its two sides, and candidate fixes in the file's notation.

A :class:`Candidate` is a corrected claim (its trees, and where needed a declared shape or an assumption)
with a sentence saying what changed. They come from two places:

- the residual (:func:`from_residual`): with the direct derivative in hand, the ratio of the two sides
  of the failing element may be a constant (a factor such as ``n[0]`` or ``m``, a sign) or a known
  quantity times a constant (a missing ``gprime[l](z[l, j])``), and their difference a multiple of a
  quantity the claim names (a missing ``+ lam * W[k, i, j]``, a ``2 * lam`` for ``lam``);
- the usual slips of hand derivations (:func:`slips`): an index pair transposed, an index renamed, a
  layer shifted (``delta[l + 1]`` for ``delta[l]``), a derivative factor dropped, a sum's bound shifted,
  a transpose added or dropped, a matrix product's operands in the wrong order, a declared shape
  transposed, an assumption the claim needs.

Nothing here decides whether a candidate is right: :meth:`symbp.checking.check.Checker.explain` states
a fix only after the claim with it applied holds at every architecture the claim was asked at.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from fractions import Fraction
from itertools import chain, permutations
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

    kind: str  # factor, sign, term, index, layer, bound, transpose, order, shape, assumption
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
    """How the file writes what a fix may name: the width, node and derivative names, its constants."""

    size: str = "n"  # the widths n[l] (or S[l], ...)
    z: str = "z"  # the weighted input of a layer
    a: str = "a"
    derivatives: tuple = ("gprime",)  # the activation derivative's names, the file's first
    constants: tuple = ()  # the file's named constants (lam, beta, ...)
    indices: tuple = ()  # the claim's free indices
    assumed: tuple = ()  # the assumptions the claim's network already makes
    widths: dict = None  # a width's value at the failing architecture -> its names there (n[0], n[l], ...)


@dataclass
class Element:
    """The failing element: both sides' values at the engine's random points, and a way to value other trees
    at the same element (None where a tree has no value there)."""

    left: tuple
    right: tuple
    value: Callable


def candidates(claim, names: set, notation: Notation, element: Element | None = None):
    """Every candidate fix of ``claim``: from the residual where the failing element is known, then the slips;
    never one that makes the two sides the same text (a claim that says nothing)."""
    found = from_residual(claim, element, notation) if element is not None else ()
    for candidate in chain(found, slips(claim, names, notation)):
        if candidate.lhs != candidate.rhs:
            yield candidate


# --- the residual ------------------------------------------------------------------------------------------
def from_residual(claim, element: Element, notation: Notation):
    """Fixes read off the failing element: a constant or known factor, a sign, a missing or wrong term."""
    lhs, rhs = claim.lhs, claim.rhs
    ratio = _constant([_div(l, r) for l, r in zip(element.left, element.right)])
    if ratio is not None and ratio != 1:
        yield from _factor_fixes(lhs, rhs, ratio, notation)
    difference = [l - r for l, r in zip(element.left, element.right)]
    if all(d is not None for d in difference):
        yield from _term_fixes(lhs, rhs, difference, element, notation)
    if ratio is None:
        for factor in _known_factors(claim, notation):
            values = element.value(factor)
            if values is None:
                continue
            c = _constant([_div(_div(l, r), q) for l, r, q in zip(element.left, element.right, values)])
            inverse = factor.right if isinstance(factor, il.BinOp) and factor.left == _ONE else None
            dropped = None if inverse is None or c != 1 else _without_factor(rhs, inverse)
            if dropped is not None:
                yield Candidate("factor", f"the factor {il.to_text(inverse)} does not belong: drop it", lhs, dropped)
            elif c is not None and c != 0:
                tree = factor if c == 1 else il.BinOp("*", il.Num(c), factor)
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
    """The difference (left - right) as c * T for a quantity T the claim names, times one of the file's constants."""
    text = il.to_text
    # never a whole side: "the right side should be the left side" says nothing
    quantities = [r for r in _unique(n for n in il.walk((lhs, rhs)) if isinstance(n, il.Ref)) if r not in (lhs, rhs)]
    scales = [None] + [il.Name(c) for c in notation.constants]
    terms = _additive_terms(rhs)
    for q in quantities:
        for scale in scales:
            tree = q if scale is None else il.BinOp("*", scale, q)
            values = element.value(tree)
            if values is None:
                continue
            c = _constant([_div(d, v) for d, v in zip(difference, values)])
            if c is None or c == 0:
                continue
            # a term of the right side that is already a multiple of T: its coefficient is what is wrong
            for k, (sign, term) in enumerate(terms):
                tv = element.value(term)
                e = None if tv is None else _constant([_div(sign * t, v) for t, v in zip(tv, values)])
                if e is None:
                    continue
                new = _scaled(e + c, tree)
                rest = terms[:k] + ([(1, new)] if new is not None else []) + terms[k + 1:]
                fixed = _rebuild(rest)
                if new is None:
                    change = f"the right side has a term {text(term)} too many"
                else:
                    change = f"the term {text(term)} of the right side should be {text(new)}"
                yield Candidate("term", change, lhs, fixed)
                break
            else:
                added = _scaled(abs(c), tree)
                op = "+" if c > 0 else "-"
                yield Candidate("term", f"the right side lacks {op} {text(added)}", lhs, il.BinOp(op, rhs, added))


def _known_factors(claim, notation: Notation):
    """Quantities a right side may lack as a factor: the activation derivative at a node the claim reads, the
    node's value, and their inverses."""
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
    return out + [il.BinOp("/", _ONE, q) for q in out]


# --- the slips ---------------------------------------------------------------------------------------------
def slips(claim, shiftable: set, notation: Notation):
    """Every single local correction of the usual slips, on either side, then those of the whole claim."""
    lhs, rhs = claim.lhs, claim.rhs
    for side, tree in (("right", rhs), ("left", lhs)):
        for kind, change, new in _rewrites(tree, shiftable, notation):
            yield Candidate(kind, change, lhs if side == "right" else new, new if side == "right" else rhs)
    if claim.shape is not None and len(claim.shape) == 2:
        shape = tuple(reversed(claim.shape))
        yield Candidate("shape", f"the shape is {il.to_text(shape[0])} x {il.to_text(shape[1])}", lhs, rhs, shape=shape)
    for name, meaning in ASSUMPTIONS.items():
        if name not in notation.assumed:
            yield Candidate("assumption", f"the claim needs the assumption {name} ({meaning}): add assume = "
                            f"[\"{name}\"] to its network", lhs, rhs, assume=(name,))
    for p, q in permutations(notation.indices, 2):
        if p < q:
            factor = il.Kronecker(il.Name(p), il.Name(q))
            yield Candidate("factor", f"the right side lacks the factor {il.to_text(factor)}: it is 0 unless {p} = {q}",
                            lhs, il.BinOp("*", factor, rhs))


def _rewrites(node, shiftable, notation):
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
    if isinstance(node, il.Ref) and node.name in shiftable and node.indices:
        for d in (-1, 1):
            new = replace(node, indices=(_shift(node.indices[0], d), *node.indices[1:]))
            yield "layer", f"{text(new)} in place of {text(node)} (another layer)", new
    if isinstance(node, il.BinOp) and node.op == "*":
        for keep, drop in ((node.left, node.right), (node.right, node.left)):
            if isinstance(drop, il.Apply) and drop.name in DERIVATIVE_NAMES | set(notation.derivatives):
                yield "factor", f"the factor {text(drop)} does not belong: drop it", keep
    if isinstance(node, il.BinOp) and node.op in "+-":
        flipped = replace(node, op="-" if node.op == "+" else "+")
        yield "sign", f"{text(flipped)} in place of {text(node)}", flipped
    if isinstance(node, il.BinOp) and node.op == "@":
        a, b = node.left, node.right
        for new in (il.BinOp("@", b, a), il.BinOp("@", _toggle(b), _toggle(a)), il.BinOp("@", _toggle(a), b),
                    il.BinOp("@", a, _toggle(b))):
            yield "order", f"{text(new)} in place of {text(node)}", new
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
    yield from _children(node, shiftable, notation)


def _children(node, shiftable, notation):
    if isinstance(node, tuple):
        for k, child in enumerate(node):
            for kind, change, new in _rewrites(child, shiftable, notation):
                yield kind, change, node[:k] + (new,) + node[k + 1:]
        return
    if hasattr(node, "__dataclass_fields__"):
        for f in fields(node):
            child = getattr(node, f.name)
            if isinstance(child, (str, Fraction)):
                continue
            for kind, change, new in _rewrites(child, shiftable, notation):
                yield kind, change, replace(node, **{f.name: new})


# --- helpers -----------------------------------------------------------------------------------------------
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


def _exact(value) -> Fraction | None:
    try:
        return Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None


def _div(a, b):
    """a / b for values at one point (exact fractions, or the engine's numbers), None where b is 0."""
    if a is None or b is None:
        return None
    fa, fb = (a, b) if isinstance(a, Fraction) and isinstance(b, Fraction) else (_exact(a), _exact(b))
    if fa is None or fb is None or fb == 0:
        return None
    return fa / fb


def _constant(values) -> Fraction | None:
    """The one small fraction all ``values`` equal (to the engine's precision), or None."""
    values = [v if isinstance(v, Fraction) or v is None else _exact(v) for v in values]
    if not values or any(v is None for v in values):
        return None
    first = values[0]
    scale = max(Fraction(1), abs(first))
    if any(abs(v - first) > _SAME * scale for v in values):
        return None
    c = first.limit_denominator(_DENOMINATOR)
    return c if abs(c - first) <= _SAME * scale else None


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


__all__ = ["Candidate", "Element", "Notation", "candidates", "from_residual", "slips"]
