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


def _everywhere(rel, f, ranges, depth=0) -> bool:
    """Whether the linear relation ``rel`` (in ``f``'s indices) holds at every corner of their box."""
    if depth > 8:  # bounds that refer to each other in a circle: not decided
        return False
    if rel is sp.true:
        return True
    if rel is sp.false:
        return False
    names = [s for s in f.free_symbols if s in ranges]
    if not names:
        if isinstance(rel, bool):
            return rel
        if _nonempty_implies(rel, list(ranges.values())):  # every range in scope has a value: else nothing to decide
            return True
        linear = _linear_everywhere(rel)
        return linear if linear is not None else bool(rel.simplify() is sp.true)
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
        if _nonempty_implies(value, list(ranges.values())):
            continue
        # a corner given by another index: its own corners decide
        if not _everywhere(value, sp.expand(value.lhs - value.rhs), ranges, depth + 1):
            return False
    return True


def _lowest(s):
    """The least value a symbol can take by its assumptions (a width >= 1, a count >= 0), or None."""
    if s.is_integer and s.is_positive:
        return 1
    if s.is_integer and s.is_nonnegative:
        return 0
    return None


def _linear_everywhere(rel):
    """Whether a relation linear in symbols bounded only below holds for all their values; None if not linear.

    f >= 0 holds everywhere exactly when no coefficient is negative and f at the lowest values is >= 0 (f grows
    with every symbol); this is complete for such relations, unlike SymPy's assumptions on sums.
    """
    if not isinstance(rel, (sp.GreaterThan, sp.StrictGreaterThan, sp.LessThan, sp.StrictLessThan)):
        return None
    f = sp.expand(rel.lhs - rel.rhs)
    if isinstance(rel, (sp.LessThan, sp.StrictLessThan)):
        f = -f
    if isinstance(rel, (sp.StrictGreaterThan, sp.StrictLessThan)):
        f -= 1  # integers
    symbols = f.free_symbols
    if not symbols:
        return bool(f >= 0)
    try:
        poly = sp.Poly(f, *symbols)
    except sp.PolynomialError:
        return None
    if poly.total_degree() > 1:
        return None
    lows = {s: _lowest(s) for s in symbols}
    if any(v is None for v in lows.values()):
        return None
    if any(poly.coeff_monomial(s) < 0 for s in symbols):
        return False  # f falls without bound along that symbol: not everywhere
    return bool(f.subs(lows) >= 0)


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
