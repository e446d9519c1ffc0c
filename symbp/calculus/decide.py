"""Deciding index conditions soundly: True or False only where the ranges settle them, else None.

This is the one condition decider of symbp: the symbolic-width evaluator, the reducer and the
prover all settle a range condition through :func:`decide`.
"""
from __future__ import annotations

import itertools

import sympy as sp


def decide(cond, ranges) -> bool | None:
    """True or False when the index ranges settle ``cond`` for every value in them, else None.

    Each comparison is linear in the indices, so its sign over a box of indices is settled at the
    box's corners; ``==`` is false only when one side is strictly above (or below) the other.
    """
    if cond is sp.true or cond is True:
        return True
    if cond is sp.false or cond is False:
        return False
    if isinstance(cond, sp.And):
        vals = [decide(c, ranges) for c in cond.args]
        return False if False in vals else (True if all(vals) else None)
    if isinstance(cond, sp.Or):
        vals = [decide(c, ranges) for c in cond.args]
        return True if True in vals else (False if all(v is False for v in vals) else None)
    if isinstance(cond, sp.Not):
        v = decide(cond.args[0], ranges)
        return None if v is None else not v
    if isinstance(cond, sp.Eq):
        f = sp.expand(cond.lhs - cond.rhs)
        if f == 0:
            return True
        if _everywhere(f > 0, f, ranges) or _everywhere(f < 0, f, ranges):
            return False
        return None
    if isinstance(cond, sp.Ne):
        v = decide(sp.Eq(*cond.args), ranges)
        return None if v is None else not v
    if isinstance(cond, (sp.StrictLessThan, sp.LessThan, sp.StrictGreaterThan, sp.GreaterThan)):
        f = sp.expand(cond.lhs - cond.rhs)
        if _everywhere(cond, f, ranges):
            return True
        if _everywhere(cond.negated, f, ranges):
            return False
    return None


def _everywhere(rel, f, ranges) -> bool:
    """Whether the linear relation ``rel`` (in ``f``'s indices) holds at every corner of their box."""
    if rel is sp.true:
        return True
    if rel is sp.false:
        return False
    names = [s for s in f.free_symbols if s in ranges]
    if not names:
        return bool(rel.simplify() is sp.true) if not isinstance(rel, bool) else rel
    try:
        if sp.Poly(f, *names).total_degree() > 1:
            return False
    except sp.PolynomialError:
        return False
    for corner in itertools.product(*[ranges[s] for s in names]):
        value = rel.subs(dict(zip(names, corner)))
        if value is sp.true:
            continue
        if value is sp.false or not isinstance(value, sp.Rel):
            return False
        if _nonempty_implies(value, [ranges[s] for s in names]):
            continue
        # a corner given by another index: its own corners decide
        if not _everywhere(value, sp.expand(value.lhs - value.rhs), ranges):
            return False
    return True


def _nonempty_implies(rel, ranges) -> bool:
    """Whether ``rel`` follows from one of ``ranges`` being non-empty.

    Only the ranges of the indices being decided are given: where one is empty there is no value
    to decide for, so any verdict holds.
    """
    if isinstance(rel, (sp.GreaterThan, sp.StrictGreaterThan)):
        f = rel.lhs - rel.rhs
    elif isinstance(rel, (sp.LessThan, sp.StrictLessThan)):
        f = rel.rhs - rel.lhs
    else:
        return False
    if isinstance(rel, (sp.StrictGreaterThan, sp.StrictLessThan)):
        f -= 1  # integers
    for lo, hi in ranges:
        c = sp.expand(f - (hi - lo))
        if c.is_Integer and c >= 0:
            return True
    return False
