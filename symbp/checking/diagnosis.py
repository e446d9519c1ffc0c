"""Likely fixes for a failing claim: the usual slips of hand derivations, undone one at a time.

Each candidate is a rewritten claim and a sentence saying what was changed; the checker keeps the
first candidate that holds. The slips: an index pair transposed, the activation derivative added
or dropped, 1/m added or dropped, delta^l read for delta^(l+1), a sum's bound shifted, a sign
swapped, and in matrix claims a transpose added or dropped.
"""
from __future__ import annotations

from dataclasses import fields, replace
from fractions import Fraction

from .. import lang as il
from ..lang.scope import DERIVATIVE_NAMES

_ONE = il.Num(Fraction(1))


def candidates(lhs, rhs, shiftable: set):
    """Yield (description, lhs, rhs) for every single correction of the claim ``lhs = rhs``."""
    for side, tree in (("right", rhs), ("left", lhs)):
        for description, new in _rewrites(tree, shiftable):
            yield description, (lhs if side == "right" else new), (new if side == "right" else rhs)
    text = il.to_text
    yield f"the right side is negated: {text(il.Neg(rhs))}", lhs, il.Neg(rhs)
    m = il.Name("m")
    yield "the right side is divided by m", lhs, il.BinOp("/", rhs, m)
    yield "the right side is multiplied by m", lhs, il.BinOp("*", rhs, m)
    target = lhs.wrt if isinstance(lhs, il.Deriv) else lhs
    if isinstance(target, il.Ref) and len(target.indices) >= 2:
        l, j = target.indices[0], target.indices[-1]
        for name in ("gprime", "Psi"):
            factor = il.Apply(name, (l,), il.Ref("z", (l, j)))
            yield f"the right side is multiplied by {text(factor)}", lhs, il.BinOp("*", rhs, factor)


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


def _rewrites(node, shiftable):
    """Every single local correction inside ``node``, with a description."""
    text = il.to_text
    if isinstance(node, il.Ref) and len(node.indices) >= 2:
        idx = list(node.indices)
        for a in range(len(idx) - 1):
            for b in range(a + 1, len(idx)):
                swapped = idx[:]
                swapped[a], swapped[b] = swapped[b], swapped[a]
                new = replace(node, indices=tuple(swapped))
                if new != node:
                    yield f"{text(node)} is read as {text(new)}", new
    if isinstance(node, il.Ref) and node.name in shiftable and node.indices:
        for d in (1, -1):
            new = replace(node, indices=(_shift(node.indices[0], d), *node.indices[1:]))
            yield f"{text(node)} is read as {text(new)}", new
    if isinstance(node, il.BinOp) and node.op == "*":
        for keep, drop in ((node.left, node.right), (node.right, node.left)):
            if isinstance(drop, il.Apply) and drop.name in DERIVATIVE_NAMES:
                yield f"the factor {text(drop)} is dropped", keep
    if isinstance(node, il.BinOp) and node.op in "+-":
        flipped = replace(node, op="-" if node.op == "+" else "+")
        yield f"{text(node)} is read as {text(flipped)}", flipped
    if isinstance(node, il.Sum):
        for bound in ("lo", "hi"):
            for d in (-1, 1):
                shifted = _shift(getattr(node, bound), d)
                new = replace(node, **{bound: shifted})
                yield f"the sum over {node.var} runs {'from' if bound == 'lo' else 'to'} {text(shifted)}", new
    if isinstance(node, il.Ref) and len(node.indices) == 1:  # a matrix that may need a transpose
        yield f"{text(node)} is read as T({text(node)})", il.Call("T", (node,))
    if isinstance(node, il.Call) and node.name == "T":
        yield f"{text(node)} is read without the transpose", node.args[0]
    if isinstance(node, il.Call) and node.name == "samplesum":
        var, lo, hi = node.args[1]
        for d in (-1, 1):
            for pos, bound in ((1, lo), (2, hi)):
                shifted = _shift(bound, d)
                rng = (var, shifted, hi) if pos == 1 else (var, lo, shifted)
                yield f"the sum over samples runs {'from' if pos == 1 else 'to'} {text(shifted)}", replace(node, args=(node.args[0], rng))
    # recurse into children
    if isinstance(node, tuple):
        for k, child in enumerate(node):
            for description, new in _rewrites(child, shiftable):
                yield description, node[:k] + (new,) + node[k + 1:]
        return
    if hasattr(node, "__dataclass_fields__"):
        for f in fields(node):
            child = getattr(node, f.name)
            if isinstance(child, (str, Fraction)):
                continue
            for description, new in _rewrites(child, shiftable):
                yield description, replace(node, **{f.name: new})
