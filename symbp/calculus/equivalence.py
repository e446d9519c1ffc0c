"""Deciding whether two expressions are equal, and saying how it was decided.

Exact: where the difference is a rational function of symbols and applications of the generic
``h``/``hprime`` (no exp, log or piecewise), its numerator must expand to 0; that is a proof.
Otherwise, randomized identity testing: both sides are evaluated at several independent random
points with 200-bit (about 60-digit) arithmetic, so a float rounding error can neither pass nor
fail a claim. The generic ``h`` is replaced at each point by a random function (a polynomial plus
an exponential term) and ``hprime`` by its derivative.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import symengine as se

from .dag import transform

BITS = 200  # working precision of the numeric test (about 60 significant digits)
TOLERANCE_BITS = 150  # a relative residual below 2^-150 (about 1e-45) counts as zero
EXACT_LIMIT = 4000  # DAG nodes beyond which expansion is not attempted
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
            self._points.append((values, c, {}, random.Random(rng.random())))

    def compare(self, lhs, rhs) -> Evidence:
        lhs, rhs = se.sympify(lhs), se.sympify(rhs)
        if self.exact:
            verdict = self._exact(lhs - rhs)
            if verdict:
                return Evidence(True, "exact")
        return self._numeric(lhs, rhs)

    # --- exact -----------------------------------------------------------------------------
    def _exact(self, diff) -> bool:
        if self.substitutions:
            diff = diff.subs(self.substitutions)
        if diff == 0:
            return True
        if not _polynomial_kind(diff, EXACT_LIMIT):
            return False
        numer, _ = diff.as_numer_denom()
        return se.expand(numer) == 0

    # --- numeric ---------------------------------------------------------------------------
    def value(self, expr, k: int):
        """The value of ``expr`` at point ``k``."""
        values, c, cache, extra = self._points[k]

        def leaf(e):
            if e in values:
                return values[e]
            if e.is_Number:
                return e
            if e.is_Symbol:  # a symbol outside the sample (a claim's own variable): draw it too
                values[e] = se.RealMPFR(str(extra.uniform(-1, 1)), BITS)
                return values[e]
            if e in (se.true, se.false):
                return e
            return e.evalf(BITS, real=True)  # constants such as E

        return transform(expr, leaf, lambda e, args: _eval_node(e, args, c), cache)

    def _numeric(self, lhs, rhs) -> Evidence:
        worst = Evidence(True, "numeric")
        for k in range(len(self._points)):
            lv, rv = self.value(lhs, k), self.value(rhs, k)
            scale = max(1.0, abs(float(lv)), abs(float(rv)))
            residual = abs(float(lv - rv)) / scale
            if residual > 2.0**-TOLERANCE_BITS or not (_finite(lv) and _finite(rv)):
                point = {str(s): _short(v) for s, v in self._points[k][0].items()}
                return Evidence(False, "numeric", residual, _short(lv), _short(rv), point)
            worst.residual = max(worst.residual, residual)
        return worst


def _polynomial_kind(expr, limit: int) -> bool:
    """Whether ``expr`` is small (at most ``limit`` distinct nodes) and built of +, *, integer powers,
    symbols, rationals and the generic h/hprime only; stops at the first node that is not."""
    seen, stack = set(), [expr]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        if len(seen) > limit:
            return False
        kind = type(e).__name__
        if e.is_Number:
            if not e.is_Rational:
                return False
            continue
        if kind not in _POLY_NODES:
            return False
        if kind == "FunctionSymbol" and e.get_name() not in ("h", "hprime"):
            return False
        if kind == "Pow" and not e.args[1].is_Integer:
            return False
        stack.extend(e.args)
    return True


_RELATIONS = {"LessThan": se.Le, "StrictLessThan": se.Lt, "Equality": se.Eq, "Unequality": se.Ne}


def _eval_node(e, args, c):
    kind = type(e).__name__
    if kind == "FunctionSymbol":
        name = e.get_name()
        (u,) = args
        if name == "h":  # a random smooth function and its derivative
            return c[0] + c[1] * u + c[2] * u**2 + c[3] * se.exp(c[4] * u)
        if name == "hprime":
            return c[1] + 2 * c[2] * u + c[3] * c[4] * se.exp(c[4] * u)
    if kind in _RELATIONS:
        return _RELATIONS[kind](*args)
    if kind == "Piecewise":
        for value, cond in zip(args[0::2], args[1::2]):
            if cond == se.true:
                return value
        raise ValueError(f"no branch of {e} applies at the random point")
    return e.func(*args)


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
    except (TypeError, ValueError):
        return s


__all__ = ["Engine", "Evidence"]
