"""Simplifying trees of the language with symbolic indices: sums over Kronecker deltas collapsed,
conditions on indices decided from the ranges, numbers folded, like terms collected.

Every rewrite is an identity for every value of the indices in their ranges (conditions that the
ranges do not settle stay as conditions), so a simplified tree means what the original meant.
"""
from __future__ import annotations

import itertools
from fractions import Fraction

from .. import lang as il
from .indices import Indices

ZERO, ONE = il.Num(Fraction(0)), il.Num(Fraction(1))
#: bound variables get the first free name of these, as derivations write them
NICE = ("k", "i", "q", "r", "s", "t", "u", "v", "w")


def is_zero(node) -> bool:
    return isinstance(node, il.Num) and node.value == 0


def is_one(node) -> bool:
    return isinstance(node, il.Num) and node.value == 1


def free_names(node, bound=frozenset()) -> set:
    """Bare names not bound by a sum."""
    if isinstance(node, il.Name):
        return set() if node.name in bound else {node.name}
    if isinstance(node, il.Sum):
        return free_names(node.lo, bound) | free_names(node.hi, bound) | free_names(node.body, bound | {node.var})
    if isinstance(node, tuple):
        return set().union(*(free_names(n, bound) for n in node)) if node else set()
    if hasattr(node, "__dataclass_fields__"):
        return set().union(*(free_names(getattr(node, f), bound) for f in node.__dataclass_fields__))
    return set()


class Fresh:
    """Fresh index names that clash with nothing a user writes (they carry an underscore)."""

    def __init__(self):
        self._count = itertools.count(1)

    def __call__(self, base: str) -> str:
        return f"{base.split('_')[0]}_{next(self._count)}"


def subst(node, mapping: dict, fresh: Fresh):
    """``node`` with free names replaced by trees; a sum's own index is renamed where it would capture."""
    if not mapping:
        return node
    if isinstance(node, il.Name):
        return mapping.get(node.name, node)
    if isinstance(node, il.Sum):
        lo, hi = subst(node.lo, mapping, fresh), subst(node.hi, mapping, fresh)
        inner = {k: v for k, v in mapping.items() if k != node.var}
        var, body = node.var, node.body
        if any(var in free_names(v) for v in inner.values()):
            new = fresh(var)
            body, var = subst(body, {var: il.Name(new)}, fresh), new
        return il.Sum(subst(body, inner, fresh), var, lo, hi)
    if isinstance(node, tuple):
        return tuple(subst(n, mapping, fresh) for n in node)
    if hasattr(node, "__dataclass_fields__"):
        changes = {f: subst(getattr(node, f), mapping, fresh) for f in node.__dataclass_fields__
                   if not isinstance(getattr(node, f), (str, Fraction))}
        return type(node)(**{f: changes.get(f, getattr(node, f)) for f in node.__dataclass_fields__})
    return node


# --- products and sums as lists -------------------------------------------------------------------------
def _rank(f) -> int:
    """Where a factor goes in a product: functions of nodes (g'(z)) first, then quantities, then sums."""
    if isinstance(f, (il.Apply, il.Fn)):
        return 0
    if isinstance(f, il.Ref):
        return 1 if f.name == "delta" else 2
    return 3 if isinstance(f, il.Sum) else 2


def product(coeff: Fraction, factors: list, guards=()):
    """coeff * f1 * f2 ... (a reciprocal factor as a division), under the guards."""
    factors = sorted(factors, key=_rank)
    numer = [f for f in factors if not _reciprocal(f)]
    denom = [f.right for f in factors if _reciprocal(f)]
    out = None
    for f in numer:
        out = f if out is None else il.BinOp("*", out, f)
    if coeff.numerator != 1 or out is None:
        c = il.Num(Fraction(abs(coeff.numerator)))
        out = c if out is None else (il.BinOp("*", c, out) if abs(coeff.numerator) != 1 else out)
    for d in denom:
        out = il.BinOp("/", out, d)
    if coeff.denominator != 1:
        out = il.BinOp("/", out, il.Num(Fraction(coeff.denominator)))
    if coeff < 0:
        out = il.Neg(out)
    return guard(guards, out)


def guard(conditions, node):
    """``node if c1 and c2 ... else 0``."""
    conditions = list(conditions)
    if not conditions or is_zero(node):
        return node
    test = conditions[0] if len(conditions) == 1 else il.BoolOp("and", tuple(conditions))
    return il.Cond(test, node, ZERO)


def total(terms: list):
    """t1 + t2 ... with negative terms subtracted (the positive ones first: 1 - y, not -y + 1)."""
    out = None
    for t in sorted(terms, key=lambda t: isinstance(t, il.Neg)):
        if out is None:
            out = t
        elif isinstance(t, il.Neg):
            out = il.BinOp("-", out, t.operand)
        else:
            out = il.BinOp("+", out, t)
    return ZERO if out is None else out


def _reciprocal(f) -> bool:
    return isinstance(f, il.BinOp) and f.op == "/" and is_one(f.left)


def _is_guard(node) -> bool:
    return isinstance(node, il.Cond) and is_zero(node.orelse)


def _atoms(test) -> list:
    return list(test.values) if isinstance(test, il.BoolOp) and test.op == "and" else [test]


class Simplifier(il.Visitor):
    """Simplifies a tree under the ranges of its free indices (``ctx``: name -> (low, high) trees).

    >>> s = Simplifier(Indices("n"))
    >>> tree = il.parse_expr("sum(sum(W[l2, j2, k] * I(l2 - 1, l) * I(k, j) * D[l2, j2], (k, 1, n[l2 - 1])), (l2, 1, L))")
    >>> il.to_text(s.simp(tree, {"l": (il.parse_expr("0"), il.Name("L")), "j": (ONE, il.parse_expr("n[l]"))}))
    '(W[l + 1, j2, j] * D[l + 1, j2] if l <= L - 1 else 0)'
    """

    what = "it cannot be simplified with symbolic indices"

    def __init__(self, indices: Indices, fresh: Fresh | None = None):
        self.ix = indices
        self.fresh = fresh or Fresh()

    def simp(self, node, ctx: dict):
        return self.visit(node, ctx)

    def decide(self, test, ctx):
        return self.ix.decide(test, ctx)

    # --- leaves ---------------------------------------------------------------------------------
    def visit_Num(self, node, ctx):
        return node

    def visit_Name(self, node, ctx):
        return node

    def visit_Ref(self, node, ctx):
        return il.Ref(node.name, tuple(self.ix.norm(i) for i in node.indices))

    def visit_Kronecker(self, node, ctx):
        p, q = self.ix.norm(node.p), self.ix.norm(node.q)
        verdict = self.decide(il.Compare("==", p, q), ctx)
        return il.Kronecker(p, q) if verdict is None else (ONE if verdict else ZERO)

    def visit_Apply(self, node, ctx):
        return il.Apply(node.name, tuple(self.ix.norm(i) for i in node.indices), self.simp(node.arg, ctx))

    def visit_Fn(self, node, ctx):
        return il.Fn(node.name, tuple(self.simp(a, ctx) for a in node.args))

    # --- conditions -------------------------------------------------------------------------------
    def visit_Compare(self, node, ctx):
        isolated = self.ix.isolate(node.op, node.left, node.right)
        if isolated is not None:
            return il.Compare(*isolated)
        return il.Compare(node.op, self.side(node.left, ctx), self.side(node.right, ctx))

    def side(self, node, ctx):
        normal = self.ix.norm(node)
        return normal if normal is not node else self.simp(node, ctx)

    def visit_BoolOp(self, node, ctx):
        return il.BoolOp(node.op, tuple(self.simp(v, ctx) for v in node.values))

    def visit_Not(self, node, ctx):
        return il.Not(self.simp(node.operand, ctx))

    def condition(self, test, ctx):
        """A condition simplified to its undecided parts: True, False, or a tree.

        The parts of an "and" are decided in turn, each under the ones before it (equalities first).
        """
        test = self.simp(test, ctx)
        verdict = self.decide(test, ctx)
        if verdict is not None:
            return verdict
        if not (isinstance(test, il.BoolOp) and test.op == "and"):
            return test
        parts = sorted(test.values, key=lambda p: not (isinstance(p, il.Compare) and p.op == "=="))
        kept, inner = [], dict(ctx)
        for part in parts:
            v = self.decide(part, inner)
            if v is False:
                return False
            if v is None:
                kept.append(part)
                inner = self.refine(part, inner)[1]
        if not kept:
            return True
        return kept[0] if len(kept) == 1 else il.BoolOp("and", tuple(kept))

    def refine(self, test, ctx):
        """(substitution, ranges) under which ``test`` holds: an equality substitutes, a bound narrows."""
        mapping, ranges = {}, dict(ctx)
        for part in _atoms(test):
            if not isinstance(part, il.Compare):
                continue
            for a, b, op in ((part.left, part.right, part.op), (part.right, part.left, _flip(part.op))):
                if not (isinstance(a, il.Name) and a.name in ranges and a.name not in free_names(b)):
                    continue
                lo, hi = ranges[a.name]
                if op == "==" and a.name not in mapping:
                    mapping[a.name] = b
                    ranges[a.name] = (b, b)
                elif op in ("<=", "<"):
                    bound = b if op == "<=" else self.ix.norm(il.BinOp("-", b, ONE))
                    if self.decide(il.Compare("<=", bound, hi), ranges):
                        ranges[a.name] = (lo, bound)  # a box that still holds every value meeting the test
                elif op in (">=", ">"):
                    bound = b if op == ">=" else self.ix.norm(il.BinOp("+", b, ONE))
                    if self.decide(il.Compare(">=", bound, lo), ranges):
                        ranges[a.name] = (bound, hi)
                break
        if mapping:
            ranges = {v: (self.ix.norm(subst(lo, mapping, self.fresh)), self.ix.norm(subst(hi, mapping, self.fresh)))
                      for v, (lo, hi) in ranges.items()}
        return mapping, ranges

    def visit_Cond(self, node, ctx):
        test = self.condition(node.test, ctx)
        if test is True:
            return self.simp(node.then, ctx)
        if test is False:
            return self.simp(node.orelse, ctx)
        mapping, inner = self.refine(test, ctx)
        then = self.simp(subst(node.then, mapping, self.fresh), inner)
        orelse = self.simp(node.orelse, ctx)
        if then == orelse:
            return then
        if is_zero(then):  # (0 if c else b) is (b if not c else 0): a guard the sums can see through
            return self.simp(il.Cond(_negate(test), node.orelse, ZERO), ctx)
        if not is_zero(orelse) and not is_zero(then):  # factors both branches share leave the condition
            c1, f1, g1 = self.split(then)
            c2, f2, g2 = self.split(orelse)
            common = [f for f in f1 if f in f2 and not (mapping and free_names(f) & set(mapping))]
            shared = [g for g in g1 if g in g2 and not (mapping and free_names(g) & set(mapping))]
            if common or shared:
                rest1, rest2 = list(f1), list(f2)
                for f in common:
                    rest1.remove(f)
                    rest2.remove(f)
                inside = il.Cond(test, product(c1, rest1, [g for g in g1 if g not in shared]),
                                 product(c2, rest2, [g for g in g2 if g not in shared]))
                return self.multiply([*common, guard(shared, ONE), inside], ctx)
        if _is_guard(then) and is_zero(orelse):  # nested guards as one
            return il.Cond(il.BoolOp("and", (*_atoms(test), *_atoms(then.test))), then.then, ZERO)
        return il.Cond(test, then, orelse)

    # --- arithmetic -------------------------------------------------------------------------------
    def visit_Neg(self, node, ctx):
        return self.collect([(Fraction(-1), self.simp(node.operand, ctx))])

    def visit_BinOp(self, node, ctx):
        if node.op in "+-":
            sign = Fraction(1 if node.op == "+" else -1)
            return self.collect([(Fraction(1), self.simp(node.left, ctx)), (sign, self.simp(node.right, ctx))])
        if node.op == "*":
            return self.multiply([self.simp(node.left, ctx), self.simp(node.right, ctx)], ctx)
        if node.op == "/":
            num, den = self.simp(node.left, ctx), self.simp(node.right, ctx)
            if is_zero(num) or is_one(den):
                return num
            if isinstance(den, il.Num) and den.value != 0:
                return self.multiply([il.Num(1 / den.value), num], ctx)
            return self.multiply([num, il.BinOp("/", ONE, den)], ctx)
        if node.op == "**":
            base, exp = self.simp(node.left, ctx), self.simp(node.right, ctx)
            if is_one(exp):
                return base
            if is_zero(exp):
                return ONE
            if isinstance(base, il.Num) and isinstance(exp, il.Num) and exp.value.denominator == 1 and base.value:
                return il.Num(base.value ** int(exp.value))
            return il.BinOp("**", base, exp)
        return il.BinOp(node.op, self.simp(node.left, ctx), self.simp(node.right, ctx))

    def terms(self, node, sign=Fraction(1)):
        """[(coefficient, term)] of a sum."""
        if isinstance(node, il.BinOp) and node.op in "+-":
            return self.terms(node.left, sign) + self.terms(node.right, sign if node.op == "+" else -sign)
        if isinstance(node, il.Neg):
            return self.terms(node.operand, -sign)
        coeff, factors, guards = self.split(node)
        if guards or not factors:
            return [(sign * coeff, product(Fraction(1), factors, guards))] if factors or guards else [(sign * coeff, ONE)]
        return [(sign * coeff, product(Fraction(1), factors))]

    def collect(self, signed):
        """The sum of (sign, simplified term): numbers folded, like terms combined, zeros dropped."""
        combined: dict = {}
        for sign, t in signed:
            for c, term in self.terms(t, sign):
                if is_zero(term) or c == 0:
                    continue
                combined[term] = combined.get(term, Fraction(0)) + c
        number = combined.pop(ONE, Fraction(0))
        out = [self.scaled(c, t) for t, c in combined.items() if c != 0]
        by_guard: dict = {}
        for t in out:  # (a if c else 0) + (b if c else 0) is (a + b if c else 0)
            key = t.test if _is_guard(t) else None
            by_guard.setdefault(key, []).append(t.then if key is not None else t)
        if any(len(ts) > 1 for k, ts in by_guard.items() if k is not None):
            out = [ts_ for k, ts in by_guard.items() if k is None for ts_ in ts]
            out += [il.Cond(k, total(ts), ZERO) for k, ts in by_guard.items() if k is not None]
        if number:
            out.append(il.Num(number) if number > 0 else il.Neg(il.Num(-number)))
        return total(out)

    def scaled(self, c: Fraction, term):
        coeff, factors, guards = self.split(term)
        return product(c * coeff, factors, guards)

    def split(self, node):
        """(coefficient, factors, guards) of a product; guards are the conditions of ``x if c else 0``."""
        if isinstance(node, il.Num):
            return node.value, [], []
        if isinstance(node, il.Neg):
            c, f, g = self.split(node.operand)
            return -c, f, g
        if isinstance(node, il.BinOp) and node.op == "*":
            c1, f1, g1 = self.split(node.left)
            c2, f2, g2 = self.split(node.right)
            return c1 * c2, f1 + f2, g1 + g2
        if isinstance(node, il.BinOp) and node.op == "/" and not is_one(node.left):
            c, f, g = self.split(node.left)
            if isinstance(node.right, il.Num):
                return c / node.right.value, f, g
            return c, f + [il.BinOp("/", ONE, node.right)], g
        if _is_guard(node):
            c, f, g = self.split(node.then)
            return c, f, _atoms(node.test) + g
        if isinstance(node, il.Kronecker):  # I(p, q) as the condition p == q
            return Fraction(1), [], [il.Compare("==", node.p, node.q)]
        return Fraction(1), [node], []

    def multiply(self, factors, ctx):
        coeff, flat, guards = Fraction(1), [], []
        for f in factors:
            c, fs, gs = self.split(f)
            coeff, flat, guards = coeff * c, flat + fs, guards + gs
        if coeff == 0:
            return ZERO
        kept = []
        for g in guards:
            v = self.decide(g, ctx)
            if v is False:
                return ZERO
            if v is None and g not in kept:
                kept.append(g)
        # a sum times anything distributes only where it carries guards (the cases of a recursion)
        for k, f in enumerate(flat):
            if isinstance(f, il.BinOp) and f.op in "+-" and any(_is_guard(t) for _, t in self.terms(f)):
                rest = flat[:k] + flat[k + 1:]
                return self.collect([(c * coeff, guard(kept, self.multiply([t, *rest], ctx))) for c, t in self.terms(f)])
        return product(coeff, flat, kept)

    # --- sums -------------------------------------------------------------------------------------
    def visit_Sum(self, node, ctx):
        lo, hi = self.ix.norm(node.lo), self.ix.norm(node.hi)
        if self.decide(il.Compare("<=", lo, hi), ctx) is False:
            return ZERO
        var, body = node.var, node.body
        if var in ctx:
            new = self.fresh(var)
            body, var = subst(body, {var: il.Name(new)}, self.fresh), new
        inner = {**ctx, var: (lo, hi)}
        body = self.simp(body, inner)
        terms = self.terms(body)
        if len(terms) > 1:  # the sum of a sum of terms: one sum per term
            return self.collect([(c, self.sum_term(t, var, lo, hi, ctx)) for c, t in terms])
        if not terms:
            return ZERO
        c, t = terms[0]
        return self.collect([(c, self.sum_term(t, var, lo, hi, ctx))])

    def sum_term(self, term, var, lo, hi, ctx):
        """sum over var in lo..hi of one product: a Kronecker delta collapses it, constant factors leave it."""
        coeff, factors, guards = self.split(term)
        inner = {**ctx, var: (lo, hi)}
        equalities = [(k, f.p, f.q) for k, f in enumerate(factors) if isinstance(f, il.Kronecker)]
        equalities += [(None, g.left, g.right) for g in guards if isinstance(g, il.Compare) and g.op == "=="]
        for k, a, b in equalities:
            for x, y in ((a, b), (b, a)):
                if var in free_names(x) and var not in free_names(y):
                    value = self.ix.solve(x, y, var)
                    if value is None:
                        continue
                    rest = [f for j, f in enumerate(factors) if j != k] if k is not None else factors
                    kept = [g for g in guards if not (k is None and isinstance(g, il.Compare) and
                                                      (g.left, g.right) in ((a, b), (b, a)))]
                    mapping = {var: value}
                    within = [il.Compare("<=", lo, value), il.Compare("<=", value, hi)]
                    collapsed = product(coeff, [subst(f, mapping, self.fresh) for f in rest],
                                        [subst(g, mapping, self.fresh) for g in kept] + within)
                    return self.simp(collapsed, ctx)
        # a guard that bounds the sum's own index narrows its range: sum over 0..S of (x if k >= 1 else 0)
        for g in list(guards):
            bound = self.ix.isolate(g.op, g.left, g.right) if isinstance(g, il.Compare) else None
            if bound is None or not (isinstance(bound[1], il.Name) and bound[1].name == var) or var in free_names(bound[2]):
                continue
            op, _, value = bound
            if op in (">=", ">"):
                new = value if op == ">=" else self.ix.norm(il.BinOp("+", value, ONE))
                if self.decide(il.Compare(">=", new, lo), ctx):
                    rest = [x for x in guards if x is not g]
                    return self.simp(il.Sum(product(coeff, factors, rest), var, new, hi), ctx)
            elif op in ("<=", "<"):
                new = value if op == "<=" else self.ix.norm(il.BinOp("-", value, ONE))
                if self.decide(il.Compare("<=", new, hi), ctx):
                    rest = [x for x in guards if x is not g]
                    return self.simp(il.Sum(product(coeff, factors, rest), var, lo, new), ctx)
        dep = [f for f in factors if var in free_names(f)]
        indep = [f for f in factors if var not in free_names(f)]
        dep_guards = [g for g in guards if var in free_names(g)]
        indep_guards = [g for g in guards if var not in free_names(g)]
        if not dep and not dep_guards:
            count = self.ix.norm(il.BinOp("+", il.BinOp("-", hi, lo), ONE))
            return self.multiply([il.Num(coeff), count, *indep, guard(indep_guards, ONE)], ctx)
        inside = product(Fraction(1), dep, dep_guards)
        return self.multiply([il.Num(coeff), *indep, guard(indep_guards, ONE), il.Sum(inside, var, lo, hi)], ctx)


def _negate(test):
    """The negation of a condition, without a 'not' where a comparison can be turned around."""
    if isinstance(test, il.Compare):
        return il.Compare({"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}[test.op], test.left, test.right)
    if isinstance(test, il.Not):
        return test.operand
    return il.Not(test)


def _flip(op: str) -> str:
    return {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}[op]


def nice_names(node, taken=frozenset()):
    """Bound indices renamed to the first of k, i, q, ... that is free where they are bound."""
    if isinstance(node, il.Sum):
        lo, hi = nice_names(node.lo, taken), nice_names(node.hi, taken)
        used = free_names(node.body) | set(taken)
        var, body = node.var, node.body
        if "_" in var:
            new = next((n for n in NICE if n not in used and n != var), None)
            if new is not None:
                body, var = subst(body, {var: il.Name(new)}, Fresh()), new
        return il.Sum(nice_names(body, taken | {var}), var, lo, hi)
    if isinstance(node, tuple):
        return tuple(nice_names(n, taken) for n in node)
    if hasattr(node, "__dataclass_fields__"):
        return type(node)(**{f: nice_names(getattr(node, f), taken) if not isinstance(getattr(node, f), (str, Fraction))
                             else getattr(node, f) for f in node.__dataclass_fields__})
    return node


__all__ = ["Fresh", "ONE", "Simplifier", "ZERO", "free_names", "guard", "nice_names", "subst"]

