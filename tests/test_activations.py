import symengine as se
import pytest

from symbp.model.activations import ACTIVATIONS, get_activation
from symbp.errors import UnknownNameError
from symbp.calculus.equivalence import Engine

u = se.Symbol("u")


@pytest.mark.parametrize("name", [n for n, a in ACTIVATIONS.items() if a.elementwise and n != "generic"])
@pytest.mark.parametrize("at", ["0.7", "-0.4", "1.9"])
def test_closed_form_derivative_matches_finite_difference(name, at):
    act = ACTIVATIONS[name]
    x = float(at)
    step = 1e-6
    f = lambda v: float(act.value(se.Float(v)).evalf())
    fd = (f(x + step) - f(x - step)) / (2 * step)
    assert float(act.derivative(se.Float(x)).evalf()) == pytest.approx(fd, rel=1e-7, abs=1e-9)


def test_hand_values():
    sig, tanh, relu = ACTIVATIONS["sigmoid"], ACTIVATIONS["tanh"], ACTIVATIONS["relu"]
    assert float(sig.value(se.Integer(0))) == 0.5
    assert float(sig.derivative(se.Integer(0))) == 0.25
    assert float(tanh.derivative(se.Integer(0))) == 1.0
    # seed 000 eq (23): derivative 0 for z <= 0 (including 0 itself), 1 for z > 0
    assert relu.derivative(se.Integer(0)) == 0
    assert relu.derivative(se.Rational(-1, 2)) == 0
    assert relu.derivative(se.Rational(1, 2)) == 1


def test_softmax_jacobian_matches_direct_differentiation():
    zs = [se.Symbol(f"z{k}") for k in range(3)]
    sm = ACTIVATIONS["softmax"]
    eng = Engine(lambda rng: {z: se.Rational(rng.randint(-9, 9), 7) for z in zs})
    jac = sm.jacobian(zs)
    for k in range(3):
        for j in range(3):
            assert eng.compare(jac[k][j], sm.vector(zs)[k].diff(zs[j])).equal
    # and a wrong Jacobian (the diagonal term dropped) is rejected
    assert not eng.compare(-sm.vector(zs)[0] * sm.vector(zs)[0], sm.vector(zs)[0].diff(zs[0])).equal


def test_softmax_sums_to_one():
    zs = [se.Rational(1, 3), se.Rational(-2, 5), se.Integer(2)]
    assert float(se.Add(*ACTIVATIONS["softmax"].vector(zs))) == pytest.approx(1.0, abs=1e-15)


def test_unknown_activation_names_the_option_and_the_choices():
    with pytest.raises(UnknownNameError, match="unknown output activation 'swash'; expected one of: sigmoid"):
        get_activation("swash", "output activation")
