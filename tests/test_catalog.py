"""Every catalog entry in every stage: each activation, loss and formulation verifies, proves, compiles to kernels
that match finite differences and stay finite at |z| = 1e4, and trains."""
import numpy as np
import pytest

from symbp import Network, verify
from symbp.calculus.prove import prove
from symbp.kernels.codegen import generate, load_module
from symbp.model.activations import ACTIVATIONS
from symbp.model.formulations import FORMS
from symbp.model.losses import LOSSES

HIDDEN = sorted(n for n, a in ACTIVATIONS.items() if a.hidden_ok and not a.generic)
OUTPUTS = sorted(n for n, a in ACTIVATIONS.items() if not a.generic)


def fits(output, loss):
    allowed = LOSSES[loss].outputs
    return allowed is None or output in allowed


@pytest.mark.parametrize("activation", HIDDEN)
def test_every_activation_verifies_and_proves(activation):
    report = verify(Network([2, 3, 2], activation, "identity", "half-squared-error", samples=2))
    assert report.ok, [(v.id, v.verdict) for v in report.verdicts if v.verdict != "holds"]
    assert any(v.id == f"{activation}'" for v in report.verdicts) or activation == "identity"
    assert prove(activation, "identity", "half-squared-error").ok


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_loss_verifies_and_proves_with_its_default_output(loss):
    output = LOSSES[loss].default_output
    report = verify(Network([2, 3, 2], "tanh", output, loss, samples=2), {"sum-y-is-1"})
    assert report.ok, [(v.id, v.verdict) for v in report.verdicts if v.verdict != "holds"]
    assert prove("tanh", output, loss).ok


@pytest.mark.parametrize("output", OUTPUTS)
def test_every_output_activation_with_the_squared_error(output):
    if not fits(output, "half-squared-error"):
        pytest.skip(f"{output} is not an output for this loss")
    assert verify(Network([2, 2, 3], "sigmoid", output, "half-squared-error")).ok


def finite_differences(m, params, X, Y, h=1e-6):
    out = {}
    for key, value in params.items():
        grad = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            up, down = ({k: v.copy() for k, v in params.items()} for _ in range(2))
            up[key][idx] += h
            down[key][idx] -= h
            grad[idx] = (m.loss(up, X, Y) - m.loss(down, X, Y)) / (2 * h)
        out[key] = grad
    return out


CASES = [(a, "identity", "mse") for a in HIDDEN] + [
    ("tanh", LOSSES[loss].default_output, loss) for loss in sorted(LOSSES)] + [
    ("tanh", "identity", "half-squared-error", form) for form in sorted(FORMS)]


@pytest.mark.parametrize("case", CASES, ids=["-".join(c) for c in CASES])
def test_every_entry_compiles_to_kernels_that_match_finite_differences(case):
    activation, output, loss, *form = case
    form = form[0] if form else "explicit-bias"
    layers = [3, 4, 4, 4, 3] if form == "residual" else [3, 4, 3]
    m = load_module(generate(layers, activation, output, loss, form=form))
    rng = np.random.default_rng(11)
    params = {k: v + rng.uniform(-0.2, 0.2, v.shape) for k, v in m.init_params(2).items()}
    X = rng.standard_normal((6, 3))
    Y = np.eye(3)[rng.integers(0, 3, 6)] if output == "softmax" else rng.uniform(0.1, 0.9, (6, 3))
    grads, fd = m.gradients(params, X, Y), finite_differences(m, params, X, Y)
    for key in params:
        np.testing.assert_allclose(grads[key], fd[key], rtol=1e-5, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("activation", HIDDEN)
def test_every_activation_kernel_stays_finite_far_out(activation):
    """The printed forms never overflow where the function is finite: |z| = 1e4."""
    m = load_module(generate([2, 3, 2], activation, "identity", "mse"))
    params = m.init_params(0)
    params["W1"] = np.array([[1e4, 0.0], [-1e4, 0.0], [0.0, 1e4]])
    X, Y = np.array([[1.0, 0.0], [-1.0, 0.0]]), np.zeros((2, 2))
    with np.errstate(invalid="raise", divide="raise"):  # an overflow to the right limit is fine; nan is not
        out = m.forward(params, X)
        grads = m.gradients(params, X, Y)
    assert np.all(np.isfinite(out)) and all(np.all(np.isfinite(g)) for g in grads.values())


@pytest.mark.parametrize("pairing", [("sigmoid", "sigmoid", "bce"), ("sigmoid", "softmax", "cross-entropy")])
def test_stable_losses_stay_finite_far_out(pairing):
    m = load_module(generate([2, 3], *pairing))
    params = m.init_params(0)
    params["W1"] = np.array([[1e4, -1e4], [-1e4, 1e4], [1e4, 1e4]])
    X, Y = np.array([[1.0, -1.0], [-1.0, 1.0]]), np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert np.isfinite(m.loss(params, X, Y))
    assert all(np.all(np.isfinite(g)) for g in m.gradients(params, X, Y).values())


@pytest.mark.parametrize("activation", HIDDEN)
def test_every_activation_trains(activation):
    """A few full-batch steps on a separable problem lower the loss (each entry's kernels are usable)."""
    m = load_module(generate([2, 6, 2], activation, "softmax", "cross-entropy"))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    Y = np.eye(2)[(X[:, 0] + X[:, 1] > 0).astype(int)]
    params = m.init_params(1)
    first = m.loss(params, X, Y)
    for _ in range(60):
        params = m.step(params, X, Y, 0.5)
    assert m.loss(params, X, Y) < first
