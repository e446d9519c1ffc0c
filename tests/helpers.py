"""Numeric helpers for tests: evaluate expressions at a point and take finite differences."""
import random

import symengine as se

from symbp.calculus.equivalence import Engine


def point_engine(net, seed=0, assumptions=frozenset()):
    return Engine(lambda rng: net.sample_point(rng, assumptions), points=1, seed=seed)


def central_difference(expr, symbol, engine, step=se.Rational(1, 10**25)):
    """(f(p + h) - f(p - h)) / 2h at the engine's point, in 200-bit arithmetic (error ~ h^2)."""
    values = engine._points[0][0]
    base = values[symbol]
    out = []
    for sign in (1, -1):
        shifted = {**values, symbol: base + sign * step.evalf(200, real=True)}
        eng = Engine(lambda rng: shifted, points=1)
        out.append(eng.value(expr, 0))
    return (out[0] - out[1]) / (2 * step.evalf(200, real=True))


def rng():
    return random.Random(7)


def tangle(base, depth):
    """A DAG whose tree doubles with each level (every level reads both nodes below): 2^depth paths."""
    a, b = base, base + 1
    for _ in range(depth):
        a, b = se.sin(a) + se.cos(b), se.cos(a) * se.sin(b)
    return a
