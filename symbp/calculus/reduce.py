"""Deciding that an expression of sums, Kronecker deltas and range conditions is 0, for every width."""
from __future__ import annotations

import itertools

import sympy as sp

from .decide import decide

LIMITS = (sp.Sum, sp.Product)  # what binds an index (SymPy writes exp of a sum as a product)


def reduce(expr, ranges, ones=None, rounds=6, closed=False):
    """Sums of Kronecker deltas collapsed, range conditions settled, sums merged by their limits.

    ``ones`` = (y, K) applies the assumption sum_k y_k = 1 to sums of y over 1..K; ``closed``
    simplifies the terms outside sums (closed forms of activations) instead of collapsing deltas.
    """
    for _ in range(rounds):
        before = expr
        expr = settle(expr if closed else expr.doit(), ranges)
        expr = _merge(expr, ranges, 0, ones, closed)
        if expr == before or expr == 0:
            break
    return expr


def settle(expr, ranges):
    """Each Piecewise and Kronecker delta that the index ranges decide, replaced by its value."""
    if isinstance(expr, LIMITS):
        inner = dict(ranges)
        for v, lo, hi in expr.limits:
            inner[v] = (lo, hi)
        return expr.func(settle(expr.function, inner), *expr.limits)
    if not expr.args or isinstance(expr, (sp.Indexed, sp.Symbol)):
        return expr
    args = [settle(a, ranges) if isinstance(a, sp.Basic) and not isinstance(a, sp.Tuple) else a for a in expr.args]
    if isinstance(expr, sp.Piecewise):
        kept = []
        for value, cond in expr.args:
            verdict = decide(cond, ranges)
            if verdict is False:
                continue
            value = settle(value, ranges)
            if verdict is True:
                return value if not kept else sp.Piecewise(*kept, (value, True))
            kept.append((value, cond))
        return sp.Piecewise(*kept) if kept else sp.nan
    if isinstance(expr, sp.KroneckerDelta):
        verdict = decide(sp.Eq(*expr.args[:2]), ranges)
        if verdict is not None:
            return sp.Integer(int(verdict))
    return expr.func(*args) if args != list(expr.args) else expr


_fresh = itertools.count()


def _merge(expr, ranges, depth, ones=None, simplify=False):
    """expand; every term's sums nested into one, then terms summed over the same range merged."""
    expr = sp.expand(_canon(expr)[0] if depth == 0 else expr)
    plain, grouped = [], {}
    for term in sp.Add.make_args(expr):
        sums, rest = [], []
        for f in sp.Mul.make_args(term):
            base, exp = f.as_base_exp()
            if isinstance(base, sp.Sum) and exp.is_Integer and exp > 0:
                sums += [base] * int(exp)
            else:
                rest.append(f)
        if not sums:
            plain.append(term)
            continue
        # every sum of the term as one nest, in a fixed order, so that sums written in another order meet
        limits, body = [], sp.Mul(*rest)
        for o in sums:
            o = _rename(o)
            limits += o.limits
            body *= o.function
        order = _order(limits)
        (v, lo, hi), inner = order[0], order[1:]
        s = sp.Symbol(f"_s{depth}", integer=True)
        body = _rebind(sp.Sum(body, *reversed(inner)) if inner else body, v, s)
        grouped.setdefault((lo, hi), []).append(body)
    out = []
    for (lo, hi), bodies in grouped.items():
        s = sp.Symbol(f"_s{depth}", integer=True)
        inner = {**ranges, s: (lo, hi)}
        body = _merge(settle(sp.Add(*bodies), inner), inner, depth + 1, ones, simplify)
        kept = []
        for term in sp.Add.make_args(body):
            if s not in term.free_symbols:  # a term that does not depend on the index: times the count
                plain.append(term * (hi - lo + 1))
            elif ones is not None and (lo, hi) == (1, ones[1]) and _times_y(term, s, ones[0]) is not None:
                plain.append(_times_y(term, s, ones[0]))  # c sum_k y_k = c
            else:
                kept.append(term)
        if kept:
            out.append(sp.Sum(sp.Add(*kept), (s, lo, hi)))
    total = sp.expand(sp.Add(*plain))
    if simplify and total != 0 and not total.has(sp.Sum) and sp.count_ops(total) <= _SIMPLIFY_OPS:
        total = sp.simplify(total)
    return sp.Add(total, *out)


EXPAND_OPS = 300  # a larger residual is not expanded further: it stays unproved
_SIMPLIFY_OPS = 120  # larger closed forms are left as they are (unproved) rather than simplified for minutes


def _times_y(term, s, y):
    """c where term = c * y[..., s] and c does not depend on s; None otherwise."""
    for f in sp.Mul.make_args(term):
        if isinstance(f, sp.Indexed) and f.base == y and f.indices[-1] == s:
            c = term / f
            return c if s not in c.free_symbols else None
    return None


def _order(limits):
    """Outermost first: a sum whose bounds use another's index inside it, else by the text of the bounds."""
    left, out = list(limits), []
    while left:
        free = [lim for lim in left
                if not any(other[0] in (lim[1].free_symbols | lim[2].free_symbols) for other in left if other is not lim)]
        pick = min(free or left, key=lambda lim: sp.sstr((lim[1], lim[2])))
        out.append(pick)
        left.remove(pick)
    return out


def _rename(s: sp.Sum) -> sp.Sum:
    """A sum with fresh bound variables, safe to move under another sum."""
    limits, body = [], s.function
    for v, lo, hi in s.limits:
        w = sp.Symbol(f"_r{next(_fresh)}", integer=True)
        body = _rebind(body, v, w)
        limits.append((w, lo, hi))
    return sp.Sum(body, *limits)


def _rebind(expr, v, w):
    """``v`` replaced by ``w`` where it is free: a sum that binds ``v`` itself is left alone."""
    if expr == v:
        return w
    if not isinstance(expr, sp.Basic) or not expr.args or v not in expr.free_symbols:
        return expr
    if isinstance(expr, LIMITS):
        bound = [var for var, _, _ in expr.limits]  # innermost first
        p = bound.index(v) if v in bound else len(bound)
        function = expr.function if p < len(bound) else _rebind(expr.function, v, w)
        # a limit's bounds see the variables of the limits outside it, and v is bound from limit p inwards
        return expr.func(function, *[(var, lo, hi) if k < p else (var, _rebind(lo, v, w), _rebind(hi, v, w))
                                  for k, (var, lo, hi) in enumerate(expr.limits)])
    return expr.func(*[_rebind(a, v, w) for a in expr.args])


def _canon(expr):
    """(expr, height) with each sum's index named by the height of its nest, so equal sums print equal."""
    if not isinstance(expr, sp.Basic) or not expr.args or isinstance(expr, sp.Indexed) and not expr.has(sp.Sum):
        return expr, 0
    if isinstance(expr, LIMITS):
        body, h = _canon(expr.function)
        limits = []
        for var, lo, hi in expr.limits:
            h += 1
            w = sp.Symbol(f"_h{h}", integer=True)
            body = _rebind(body, var, w)
            limits.append((w, _canon(lo)[0], _canon(hi)[0]))
        return expr.func(body, *limits), h
    parts = [_canon(a) for a in expr.args]
    return expr.func(*[p[0] for p in parts]), max(p[1] for p in parts)
