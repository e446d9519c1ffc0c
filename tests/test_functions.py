"""The function table: every function's value, partial derivatives and kernel code agree."""
import math
from fractions import Fraction

import numpy as np
import pytest
import symengine as se

from symbp import lang as il
from symbp.model.functions import FUNCTIONS, NUMPY_HELPERS, Formula, SymEngineValues

POINTS = [Fraction(7, 10), Fraction(-4, 10), Fraction(19, 10)]


def test_the_table_and_the_language_name_the_same_functions():
    assert set(FUNCTIONS) == set(il.FUNCTIONS)
    assert all(FUNCTIONS[n].arity == il.FUNCTIONS[n] for n in FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("at", POINTS)
def test_each_partial_is_the_derivative_of_the_value(name, at):
    """The partials, written in the language, against SymEngine's differentiation of the value."""
    f = FUNCTIONS[name]
    u, v = se.Symbol("u"), se.Symbol("v")
    args = [u, v][: f.arity]
    at = abs(at) if name in ("log", "sqrt") else at  # inside their domains
    point = {u: se.Rational(at.numerator, at.denominator), v: se.Rational(1, 3)}
    for k, partial in enumerate(f.partials):
        closed = Formula({"u": u, "v": v}).eval(il.parse_expr(partial), {})
        direct = f.value(*args).diff(args[k])
        assert float(closed.subs(point)) == pytest.approx(float(direct.subs(point)), rel=1e-14, abs=1e-14)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_numpy_code_computes_the_value(name):
    f = FUNCTIONS[name]
    namespace = {"np": np}
    for helper in (f.helpers or {}).values():
        exec(helper, namespace)  # the table's own helper source, as a generated module would hold it
    xs = np.array([-3.1, -0.4, 0.2, 0.7, 1.9, 2.6])
    if name in ("log", "sqrt"):
        xs = np.abs(xs)
    code = f.code["numpy"].format("X", "Y")
    got = eval(code, {**namespace, "X": xs, "Y": np.full_like(xs, 0.5)})
    u, v = se.Symbol("u"), se.Symbol("v")
    want = [float(f.value(*[u, v][: f.arity]).subs({u: x, v: 0.5})) for x in xs]
    assert np.allclose(got, want, rtol=1e-14, atol=1e-15)


def test_erf_helper_is_accurate_to_double_precision_and_finite_far_out():
    namespace = {"np": np}
    exec(NUMPY_HELPERS["erf"], namespace)
    xs = np.concatenate([np.linspace(-7, 7, 4001), [0.0, 1e-8, -1e-300, 1e4, -1e4]])
    got = namespace["_erf"](xs)
    want = np.array([math.erf(x) for x in xs])
    assert np.all(np.abs(got - want) <= 2e-15 * np.maximum(np.abs(want), 1e-300))


def test_stable_helpers_stay_finite_at_large_arguments():
    namespace = {"np": np}
    exec(NUMPY_HELPERS["sigmoid"], namespace)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the right value
        assert namespace["_sigmoid"](np.array([-1e4, 1e4])).tolist() == [0.0, 1.0]
        assert np.logaddexp(0, np.array([-1e4, 1e4])).tolist() == [0.0, 1e4]


def test_conditions_on_values_become_piecewise_expressions():
    x = se.Symbol("x")
    huber = Formula({"u": x}).eval(il.parse_expr("u**2 / 2 if abs(u) <= 1 else abs(u) - 1/2"), {})
    assert float(huber.subs({x: se.Rational(1, 2)})) == 0.125
    assert float(huber.subs({x: se.Integer(-3)})) == 2.5
    assert float(huber.diff(x).subs({x: se.Integer(-3)})) == -1.0  # differentiable through the branches
    assert SymEngineValues().exact(se.Rational(-1, 2)) == Fraction(-1, 2)
    assert SymEngineValues().exact(x) is None
