"""Deciding whether two expressions are equal, and saying how it was decided.

Exact: where the difference is a rational function of symbols and applications of the generic
``h``/``hprime`` (no exp, log or piecewise), its numerator must expand to 0; that is a proof. The
exact test writes the expressions out as trees, so it is tried only where that stays small: both
sides at most ``EXACT_LIMIT`` nodes as trees and the expanded numerator at most ``EXACT_LIMIT`` terms
(bounds computed over the DAG in one pass); beyond that, and wherever it does not prove equality,
randomized identity testing decides.

Randomized identity testing: both sides are evaluated at several independent random points with
200-bit (about 60-digit) arithmetic, so a float rounding error can neither pass nor fail a claim.
Every number is carried at 200 bits: the random point, and exact constants such as sqrt(2), pi,
E, erf(1/2) or 2^(2/3), which are evaluated at 200 bits where they occur. The generic ``h`` is
replaced at each point by a random function (a polynomial plus an exponential term) and ``hprime``
by its derivative. Each distinct sub-expression is evaluated once per point, and the values are
kept for every later comparison at that point (expressions over one network share most nodes).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import symengine as se

from .dag import RELATIONS, key, rebuild, substitute, transform

BITS = 200  # working precision of the numeric test (about 60 significant digits)
TOLERANCE_BITS = 150  # a relative residual below 2^-150 (about 1e-45) counts as zero
EXACT_LIMIT = 20000  # tree nodes of both sides, and terms of the expanded numerator, for the exact test
_POLY_NODES = {"Add", "Mul", "Pow", "Symbol", "Dummy", "FunctionSymbol"}


@dataclass
class Evidence:
    """The outcome of one comparison."""

    equal: bool
    method: str  # "exact" | "numeric"
    residual: float = 0.0
    lhs: str = ""
    rhs: str = ""
    point: dict = field(default_factory=dict)


class Engine:
    """Compares expressions over one network's symbols, reusing evaluations across comparisons.

    ``sample(rng)`` gives one random point as {symbol: exact number}. ``substitutions`` are
    applied to both sides before the exact test (for example an assumption y_K = 1 - sum y_k).

    >>> x, y = se.symbols("x y")
    >>> eng = Engine(lambda rng: {x: se.Rational(rng.randint(1, 99), 100), y: se.Integer(2)})
    >>> eng.compare((x + 1) ** 2, x**2 + 2 * x + 1).method
    'exact'
    >>> eng.compare(se.sin(x) ** 2 + se.cos(x) ** 2, 1).method
    'numeric'
    >>> eng.compare(x * y, x + y).equal
    False
    """

    def __init__(self, sample, points=3, seed=0, substitutions=None, exact=True):
        self.exact = exact
        self.substitutions = substitutions or {}
        rng = random.Random(seed)
        self._points = []
        for _ in range(points):
            values = {s: v.evalf(BITS, real=True) if hasattr(v, "evalf") else v for s, v in sample(rng).items()}
            c = [se.RealMPFR(str(rng.uniform(-1, 1)), BITS) for _ in range(5)]
            self._points.append((values, c, random.Random(rng.random())))
        # key -> (value at each point, size as a tree (capped), bounds on the expanded numerator and
        # denominator or None): one visit of each distinct node serves every point and both tests
        self._nodes: dict = {}
        self._written: dict = {}

    def compare(self, lhs, rhs) -> Evidence:
        lhs, rhs = se.sympify(lhs), se.sympify(rhs)
        if self.exact and self._exact(lhs, rhs):
            return Evidence(True, "exact")
        return self._numeric(lhs, rhs)

    # --- exact -----------------------------------------------------------------------------
    def _exact(self, lhs, rhs) -> bool:
        if key(lhs) == key(rhs):  # the same expression, however it was built
            return True
        (_, left_tree, left_terms), (_, right_tree, right_terms) = self._node(lhs), self._node(rhs)
        if left_terms is None or right_terms is None or left_tree + right_tree > EXACT_LIMIT:
            return False  # not a rational function of the kind, or too large to write out
        diff = lhs - rhs
        if self.substitutions:
            diff = substitute(diff, self.substitutions)
        if diff == 0:
            return True
        terms = self._node(diff)[2]
        if terms is None or terms[0] > EXACT_LIMIT:
            return False
        numer, _ = diff.as_numer_denom()
        return se.expand(numer) == 0

    # --- numeric ---------------------------------------------------------------------------
    def value(self, expr, k: int):
        """The value of ``expr`` at point ``k``, every number in it at 200 bits."""
        return self._node(expr)[0][k]

    def values(self, expr) -> tuple:
        """The values of ``expr`` at every point, every number in it at 200 bits."""
        return self._node(se.sympify(expr))[0]

    def _node(self, expr):
        return transform(expr, self._leaf, self._inner, self._nodes)

    def _leaf(self, e):
        return tuple(_leaf_value(e, values, extra) for values, _, extra in self._points), 1, _terms_leaf(e)

    def _inner(self, e, args):
        values = tuple(_eval_node(e, [a[0][k] for a in args], c) for k, (_, c, _) in enumerate(self._points))
        tree = min(EXACT_LIMIT + 1, 1 + sum(a[1] for a in args))
        return values, tree, _terms_node(e, [a[2] for a in args])

    def _point(self, k: int) -> dict:
        """Point ``k`` as text, written once however many comparisons fail there (thousands of symbols)."""
        if k not in self._written:
            self._written[k] = {str(s): _short(v) for s, v in self._points[k][0].items()}
        return dict(self._written[k])

    def _numeric(self, lhs, rhs) -> Evidence:
        worst = Evidence(True, "numeric")
        left, right = self._node(lhs)[0], self._node(rhs)[0]
        for k, (lv, rv) in enumerate(zip(left, right)):
            if _finite(lv) and _finite(rv):
                residual = abs(float(lv - rv)) / max(1.0, abs(float(lv)), abs(float(rv)))
            else:  # not a real number at this point: nothing to be equal to
                residual = float("inf")
            if residual > 2.0**-TOLERANCE_BITS:
                return Evidence(False, "numeric", residual, _short(lv), _short(rv), self._point(k))
            worst.residual = max(worst.residual, residual)
        return worst


def _leaf_value(e, values, extra):
    if e in values:
        return values[e]
    if e.is_Number:
        return e
    if e.is_Symbol:  # a symbol outside the sample (a claim's own variable): draw it too
        values[e] = se.RealMPFR(str(extra.uniform(-1, 1)), BITS)
        return values[e]
    if e in (se.true, se.false):
        return e
    return _real(e)  # constants such as E and pi


# --- the exact test's bounds ----------------------------------------------------------------------
def _terms_leaf(e):
    """(numerator terms, denominator terms) of an atom, or None outside rational functions."""
    if e.is_Number:
        return (1, 1) if e.is_Rational else None
    return (1, 1) if type(e).__name__ in _POLY_NODES else None


def _terms_node(e, args):
    """Bounds on the terms of the expanded numerator and denominator (``as_numer_denom`` then ``expand``)."""
    kind = type(e).__name__
    if kind == "FunctionSymbol":  # h(u) and hprime(u) are atoms of the polynomial
        return (1, 1) if e.get_name() in ("h", "hprime") and all(a is not None for a in args) else None
    if kind not in _POLY_NODES or any(a is None for a in args):
        return None
    cap = EXACT_LIMIT + 1
    if kind == "Add":
        denominator = _capped_product([d for _, d in args], cap)
        numerator = sum(_capped_product([n] + [d for j, (_, d) in enumerate(args) if j != i], cap)
                        for i, (n, _) in enumerate(args))
        return min(cap, numerator), denominator
    if kind == "Mul":
        return _capped_product([n for n, _ in args], cap), _capped_product([d for _, d in args], cap)
    exponent = e.args[1]  # Pow
    if not exponent.is_Integer:
        return None
    (n, d), p = args[0], int(exponent)
    n, d = (n, d) if p >= 0 else (d, n)
    return _capped_power(n, abs(p), cap), _capped_power(d, abs(p), cap)


def _capped_product(values, cap):
    out = 1
    for v in values:
        out = min(cap, out * v)
    return out


def _capped_power(base, exponent, cap):
    return 1 if base == 1 else min(cap, base ** min(exponent, cap.bit_length()))


def _eval_node(e, args, c):
    kind = type(e).__name__
    if kind == "FunctionSymbol" and e.get_name() in ("h", "hprime"):
        (u,) = args  # a random smooth function and its derivative
        if e.get_name() == "h":
            return c[0] + c[1] * u + c[2] * u**2 + c[3] * se.exp(c[4] * u)
        return c[1] + 2 * c[2] * u + c[3] * c[4] * se.exp(c[4] * u)
    if kind in RELATIONS:
        return RELATIONS[kind](*args)
    if kind == "Piecewise":
        for value, cond in zip(args[0::2], args[1::2]):
            if cond == se.true:
                return value
        raise ValueError(f"no branch of {e} applies at the random point")
    v = rebuild(e, args)
    if v.is_Number or v in (se.true, se.false):
        return v
    # an operation on exact numbers can stay exact and symbolic (sqrt(2), erf(1/2), 2^(2/3)): its
    # value is taken at 200 bits here, or a later float conversion would round it to 53 bits
    return _real(v)


def _real(v):
    """``v`` at 200 bits; unchanged where it has no real value (log(-2), i, an unknown function),
    which then counts as not finite, so equal to nothing."""
    try:
        return v.evalf(BITS, real=True)
    except RuntimeError:
        return v


def _finite(v) -> bool:
    try:
        f = float(v)
    except (TypeError, ValueError, RuntimeError):
        return False
    return f == f and abs(f) != float("inf")


def _short(v) -> str:
    s = str(v)
    if not v.is_Number:
        return s
    try:
        return f"{float(v):.15g}" if v.is_Integer is False else s
    except (TypeError, ValueError, RuntimeError):  # a complex number
        return s


__all__ = ["Engine", "Evidence"]
