"""The engine: 200 bits for every number, exact structural identity, and both sides kept as DAGs."""
import mpmath
import pytest
import symengine as se

from symbp.calculus.equivalence import BITS, EXACT_LIMIT, Engine

from helpers import tangle

x, y, z = se.symbols("x y z")


def engine(points=3, **kw):
    return Engine(lambda rng: {x: se.Rational(rng.randint(-999, 999), 1000), y: se.Rational(rng.randint(1, 999), 1000)},
                  points=points, **kw)


def gelu(u):
    return u / 2 * (1 + se.erf(u / se.sqrt(2)))


def test_a_correct_gelu_derivative_holds_at_200_bits():
    # sqrt(2), pi and erf of a rational were once taken in double precision: residual 2.8e-17, "fails"
    closed = (1 + se.erf(x / se.sqrt(2))) / 2 + x * se.exp(-x**2 / 2) / se.sqrt(2 * se.pi)
    evidence = engine().compare(closed, gelu(x).diff(x))
    assert evidence.equal and evidence.residual < 2.0**-150


def test_a_gelu_derivative_off_in_the_40th_digit_fails():
    near = se.Rational(14142135623730950488016887242096980785697, 10**40)  # sqrt(2) to 40 decimals
    wrong = (1 + se.erf(x / near)) / 2 + x * se.exp(-x**2 / 2) / se.sqrt(2 * se.pi)
    evidence = engine().compare(wrong, gelu(x).diff(x))
    assert not evidence.equal and 1e-50 < evidence.residual < 1e-35


@pytest.mark.parametrize("constant, reference", [
    (se.sqrt(2), lambda: mpmath.sqrt(2)),
    (se.pi, lambda: +mpmath.pi),
    (se.E, lambda: +mpmath.e),
    (se.erf(se.Rational(1, 2)), lambda: mpmath.erf(mpmath.mpf(1) / 2)),
    (se.Rational(1, 2) * se.Integer(2) ** se.Rational(2, 3), lambda: mpmath.mpf(2) ** (mpmath.mpf(2) / 3) / 2),
    (se.Rational(3, 7) ** se.Rational(1, 3), lambda: (mpmath.mpf(3) / 7) ** (mpmath.mpf(1) / 3)),
    (se.exp(se.Rational(1, 3)) * se.log(se.Integer(3)), lambda: mpmath.exp(mpmath.mpf(1) / 3) * mpmath.log(3)),
])
def test_exact_constants_are_evaluated_at_200_bits(constant, reference):
    eng = engine(points=1)
    with mpmath.workdps(80):
        for factor in (1, x):  # alone, and multiplied by a 200-bit value of the point
            value = eng.value(constant * factor, 0)
            assert value.is_Number
            exact = reference() * mpmath.mpf(str(eng.value(factor, 0)))
            assert abs(mpmath.mpf(str(value)) - exact) < mpmath.mpf(2) ** -(BITS - 8) * max(1, abs(exact))


def test_a_sum_and_its_double_are_told_apart_though_symengine_hashes_them_alike():
    assert hash(x + y) == hash(2 * x + 2 * y)  # why no cache here is keyed by SymEngine's hash
    eng = engine()
    assert eng.value(x + y, 0) != eng.value(2 * x + 2 * y, 0)
    assert not eng.compare(x + y, 2 * x + 2 * y).equal


def test_equal_dags_built_apart_are_equal_exactly_without_writing_out_their_trees():
    left, right = tangle(x, 60), tangle(z, 60).xreplace({z: x})  # 2^60 paths; SymEngine's == walks them all
    assert engine().compare(left, right).method == "exact"
    changed = engine().compare(left, tangle(x + se.Rational(1, 1000), 60))
    assert not changed.equal and changed.method == "numeric"


def test_evaluations_are_shared_between_equal_dags_built_apart():
    eng = engine(points=1)
    eng.value(tangle(x, 40), 0)
    cache = eng._nodes
    before = len(cache)
    eng.value(tangle(z, 40).xreplace({z: x}), 0)
    assert len(cache) == before


def _identity_network(depth):
    """z^(l+1) = W z^l with two nodes a layer: a polynomial with 2^depth terms once expanded."""
    ws = se.symbols(f"w0:{4 * depth}")
    u, v = x, y
    for l in range(depth):
        u, v = ws[4 * l] * u + ws[4 * l + 1] * v, ws[4 * l + 2] * u + ws[4 * l + 3] * v
    return u, ws


def test_a_polynomial_too_large_to_expand_is_decided_numerically():
    u, ws = _identity_network(40)  # 2^40 terms expanded: the exact test must not try
    eng = Engine(lambda rng: {s: se.Rational(rng.randint(-999, 999), 1000) for s in (x, y, *ws)})
    same = eng.compare(u, _identity_network(40)[0])
    assert same.equal and same.method == "exact"  # one expression, built twice
    other = eng.compare(u, u.xreplace({ws[0]: ws[0] + 1}))
    assert not other.equal and other.method == "numeric"
    small, _ = _identity_network(3)  # 8 terms: expanded, and proved
    assert eng.compare(se.expand(small), small).method == "exact"
    assert not eng.compare(se.expand(small) + ws[0] * ws[4] * x, small).equal
    assert len(se.expand(small).args) < EXACT_LIMIT


def test_a_value_that_is_not_a_real_number_equals_nothing():
    f = se.Function("f")  # no value at any point
    for lhs, rhs in [(f(x), f(x) + 1), (se.log(-1 - y), se.log(1 + y)), (se.sqrt(-2) * x, x)]:
        evidence = engine().compare(lhs, rhs)
        assert not evidence.equal and evidence.residual == float("inf")


def test_a_high_power_is_not_expanded():
    n, u, v = 10**6, 1 + x / 10**6, 1 + y / 10**6  # a million and one terms, expanded
    lhs, rhs = u**n * v**n, (1 + x / 10**6 + y / 10**6 + x * y / 10**12) ** n
    evidence = engine().compare(lhs, rhs)
    assert evidence.equal and evidence.method == "numeric"
    assert not engine().compare(lhs, (1 + x / 10**6 + y / 10**6 + x * y / 10**12) ** (n - 1)).equal


def test_a_counterexample_point_is_written_once_and_handed_out_as_a_copy():
    eng = engine()
    first, second = eng.compare(x, x + 1), eng.compare(y, 2 * y)
    assert first.point == second.point and first.point is not second.point
    first.point.clear()
    assert eng.compare(x, x + 1).point == second.point
