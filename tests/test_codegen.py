import ast
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from symbp.kernels import codegen
from symbp.calculus.batch import Act
from symbp.cli import main
from symbp.kernels.codegen import check_plan, generate
from symbp.train import load_kernels

PAIRINGS = [
    ("sigmoid", "sigmoid", "bce"),
    ("tanh", "softmax", "cross-entropy"),
    ("relu", "identity", "mse"),
    ("sigmoid", "tanh", "half-squared-error"),
    ("identity", "sigmoid", "half-squared-error"),
]


def batch(layers, n=5, seed=0, onehot=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, layers[0]))
    Y = np.eye(layers[-1])[rng.integers(0, layers[-1], n)] if onehot else rng.uniform(0.05, 0.95, (n, layers[-1]))
    return X, Y


def five_point(f, params, key, idx, h=1e-5):
    """A 5-point central difference: error O(h^4); a small h, so that a ReLU kink is rarely inside the stencil."""
    def at(d):
        p = {k: v.copy() for k, v in params.items()}
        p[key][idx] += d
        return f(p)
    return (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)


@settings(max_examples=12, deadline=None)
@given(
    widths=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    pairing=st.sampled_from(PAIRINGS),
    form=st.sampled_from(["explicit-bias", "bias-node"]),
)
def test_generated_gradients_match_finite_differences(widths, pairing, form):
    if pairing[1] == "softmax" and widths[-1] < 2:
        widths = [*widths[:-1], 2]
    m = load_kernels(generate(widths, *pairing, form=form))
    params = m.init_params(3)
    for key in params:
        params[key] = params[key] + np.random.default_rng(4).uniform(-0.5, 0.5, params[key].shape)
    X, Y = batch(widths, onehot=pairing[1] == "softmax")
    grads = m.gradients(params, X, Y)
    assert set(grads) == set(params) and all(grads[key].shape == params[key].shape for key in params)
    for key, value in params.items():
        for idx in np.ndindex(value.shape):
            fd = five_point(lambda p: m.loss(p, X, Y), params, key, idx)
            assert grads[key][idx] == pytest.approx(fd, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("form", ["explicit-bias", "bias-node"])
def test_generated_gradients_match_torch(form):
    torch = pytest.importorskip("torch")
    layers = [3, 5, 4, 3]
    m = load_kernels(generate(layers, "tanh", "softmax", "cross-entropy", form=form))
    params = m.init_params(1)
    X, Y = batch(layers, n=7, onehot=True)
    tp = {key: torch.tensor(v, requires_grad=True) for key, v in params.items()}
    A = torch.tensor(X)
    for l in (1, 2, 3):
        if form == "bias-node":  # column 0 of theta is the bias
            Z = A @ tp[f"theta{l}"][:, 1:].T + tp[f"theta{l}"][:, 0]
        else:
            Z = A @ tp[f"W{l}"].T + tp[f"b{l}"]
        A = torch.tanh(Z) if l < 3 else Z
    loss = -(torch.tensor(Y) * torch.log_softmax(A, dim=1)).sum() / 7
    loss.backward()
    grads = m.gradients(params, X, Y)
    assert m.loss(params, X, Y) == pytest.approx(loss.item(), rel=1e-12)
    for key in params:
        np.testing.assert_allclose(grads[key], tp[key].grad.numpy(), rtol=1e-9, atol=1e-12)


def test_module_imports_numpy_only(tmp_path):
    path = tmp_path / "k.py"
    path.write_text(generate([3, 4, 2], "relu", "softmax", "cross-entropy", form="bias-node"))
    tree = ast.parse(path.read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"numpy"}
    code = ("import runpy, sys, numpy as np; ns = runpy.run_path(sys.argv[1]); p = ns['init_params'](0);"
            "X = np.ones((2, 3)); Y = np.eye(2); print(sorted(p), p['theta1'].shape, ns['loss'](p, X, Y) > 0,"
            "[m for m in ('symbp', 'sympy', 'symengine') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['theta1', 'theta2'] (4, 4) True []"


@pytest.mark.parametrize("pairing", [("sigmoid", "softmax", "cross-entropy"), ("sigmoid", "sigmoid", "bce")])
def test_extreme_logits_stay_finite(pairing):
    m = load_kernels(generate([2, 3], pairing[0], pairing[1], pairing[2]))
    params = m.init_params(0)
    params["W1"] = np.array([[1e4, -1e4], [-1e4, 1e4], [1e4, 1e4]])
    X, Y = np.array([[1.0, -1.0], [-1.0, 1.0]]), np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert np.isfinite(m.loss(params, X, Y))
    assert all(np.all(np.isfinite(g)) for g in m.gradients(params, X, Y).values())


def test_float32_stays_float32():
    m = load_kernels(generate([4, 5, 3], "sigmoid", "softmax", "cross-entropy", dtype="float32"))
    p = m.init_params(0)
    X, Y = (a.astype("float32") for a in batch([4, 5, 3], onehot=True))
    assert {g.dtype for g in m.gradients(p, X, Y).values()} == {np.dtype("float32")}


def _without_the_hidden_derivative(build, hidden="delta1"):
    """A plan whose hidden delta drops g'(z): delta1 = delta2 @ W2 only."""
    def broken(net):
        plan = build(net)
        plan.program.backward = [(n, next(a for a in t.args if not isinstance(a, Act)) if n == hidden else t)
                                 for n, t in plan.program.backward]
        return plan
    return broken


def test_a_wrong_plan_is_refused(monkeypatch):
    monkeypatch.setattr(codegen, "build_plan", _without_the_hidden_derivative(codegen.build_plan))
    verdicts = check_plan("sigmoid", "sigmoid", "bce", "explicit-bias")
    assert [v.id.split(" at ")[0] for v in verdicts if v.verdict == "fails"] == ["gradients", "printed module"] * 2
    with pytest.raises(Exception, match="do not match direct differentiation"):
        generate([2, 3, 2])


def test_codegen_cli(tmp_path, capsys):
    out = tmp_path / "k.py"
    assert main(["codegen", "--layers", "4,6,3", "--output", "softmax", "--loss", "cross-entropy", "-o", str(out)]) == 0
    assert "def step(params, X, Y, lr):" in out.read_text()
    before = out.read_text()
    assert main(["codegen", "--layers", "4,6,3", "-o", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_text() == before
    assert main(["codegen", "--layers", "4,6,3", "-o", str(out), "--force", "--dtype", "float32"]) == 0
    assert "DTYPE = np.float32" in out.read_text()
    with pytest.raises(SystemExit) as exc:  # argparse refuses it: generic has no code
        main(["codegen", "--layers", "4,6,3", "--activation", "generic", "-o", str(tmp_path / "g.py")])
    assert exc.value.code == 2
    assert not (tmp_path / "g.py").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["k.py"]  # no temporary files left behind


def test_codegen_from_a_derivation(tmp_path, capsys):
    out = tmp_path / "k.py"
    assert main(["codegen", "derivations/003_sigmoid_342.toml", "-o", str(out)]) == 0
    text = out.read_text()
    assert "LAYERS = [3, 4, 2]" in text and "claims checked as expected" in text


@pytest.mark.parametrize("form", ["explicit-bias", "bias-node"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_step_is_params_minus_lr_times_gradients(form, dtype):
    """step folds -lr into Delta^L; the result must be the plain update, and must leave params alone."""
    m = load_kernels(generate([3, 4, 2], "sigmoid", "softmax", "cross-entropy", form=form, dtype=dtype))
    params = m.init_params(5)
    before = {key: value.copy() for key, value in params.items()}
    X, Y = batch([3, 4, 2], n=6, onehot=True)
    X, Y = X.astype(dtype), Y.astype(dtype)
    grads = m.gradients(params, X, Y)
    for lr in (0.5, 0.0, -0.25):
        new = m.step(params, X, Y, lr)
        for key in params:
            assert new[key].dtype == np.dtype(dtype) and new[key] is not params[key]
            want = before[key] - lr * grads[key]
            np.testing.assert_allclose(new[key], want, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)
            np.testing.assert_array_equal(params[key], before[key])


SEEDS = __import__("pathlib").Path(__file__).parent.parent / "derivations"


@pytest.mark.parametrize("name, expected", [
    ("002_brawer.toml", ["(19)", "(21)", "(26)", "(27)", "(33)", "(35)", "(44)", "(46)"]),
    ("003_sigmoid_342.toml", ["dC/dW^2", "dC/dW^2 = delta^2 a^1T", "dC/db^2", "dC/dW^1", "dC/dW^1 = delta^1 a^0T",
                              "dC/db^1"]),
])
def test_the_plan_computes_the_files_own_gradient_claims(name, expected):
    from symbp.checking.derivation import load

    d = load(SEEDS / name)
    verdicts = codegen.claims_against_plan(d, min(d.architectures, key=lambda a: (sum(a), len(a))))
    assert [v.id for v in verdicts] == expected
    assert all(v.verdict == "holds" and int(v.note.split()[0]) > 0 for v in verdicts)


def test_a_plan_that_differs_from_the_files_claims_is_caught(monkeypatch, tmp_path, capsys):
    from symbp.checking.derivation import load

    d = load(SEEDS / "003_sigmoid_342.toml")
    monkeypatch.setattr(codegen, "build_plan", _without_the_hidden_derivative(codegen.build_plan))
    verdicts = {v.id: v.verdict for v in codegen.claims_against_plan(d, [3, 4, 2])}
    assert verdicts["dC/dW^2"] == "holds" and verdicts["dC/dW^1"] == "fails" and verdicts["dC/db^1"] == "fails"
    out = tmp_path / "k.py"
    assert main(["codegen", str(SEEDS / "003_sigmoid_342.toml"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("symbp: error: ") and "differ from claim dC/dW^1 at 3-4-2" in err and not out.exists()
