"""The recursion derived from the forward equations: as derivations write it, right for every formulation, and a
simplifier whose every rewrite is an identity (the proofs rest on it)."""
import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from symbp import lang as il
from symbp.calculus.derive import derive
from symbp.calculus.indices import Indices
from symbp.calculus.prove import prove
from symbp.calculus.simplify import Simplifier
from symbp.checking.derivation import load
from symbp.checking.verify import derived
from symbp.cli import main
from symbp.kernels.codegen import generate, load_module
from symbp.model.activations import get_activation
from symbp.model.formulations import get_formulation
from symbp.model.losses import get_loss


def statements(form, output="identity", loss="half-squared-error", layout="output-by-input"):
    return derive(get_formulation(form, layout), get_activation(output), get_loss(loss)).statements


def test_the_explicit_bias_recursion_reads_like_the_seeds():
    assert statements("explicit-bias") == [
        "delta[l, j] = gprime[L](z[L, j]) * (a[L, j] - y[j])  if l == L",
        "delta[l, j] = gprime[l](z[l, j]) * sum(delta[l + 1, k] * W[l + 1, k, j], (k, 1, n[l + 1]))  otherwise",
        "d(e)/d(W[l, j, k]) = delta[l, j] * a[l - 1, k]",
        "d(e)/d(b[l, j]) = delta[l, j]",
    ]


def test_the_layout_moves_the_transpose():
    assert "W[l + 1, j, k]" in statements("explicit-bias", layout="input-by-output")[1]


def test_brawer_bias_node_recursion_and_gradient():
    s = statements("bias-node", "sigmoid", "bce")
    assert s[1] == ("delta[l, j] = Psi[l](z[l, j]) * sum(delta[l + 1, k] * theta[l, k, j] * C[l, k, j], (k, 0, S[l + 1]))"
                    "  otherwise")
    assert s[2] == "d(e)/d(theta[l, j, k]) = h[l](z[l, k]) * delta[l + 1, j] * C[l, j, k]"  # Brawer (44)


def test_the_residual_form_adds_the_delta_two_layers_up():
    s = statements("residual")
    assert s[-3].endswith("+ gprime[l](z[l, j]) * delta[l + 2, j]  otherwise")
    assert [c.split("if ")[-1] for c in s if "  if " in c] == ["l == L", "l == L - 1", "l == L - 2"]


def test_a_value_condition_in_the_loss_stays_a_condition():
    base = statements("explicit-bias", loss="huber")[0]
    assert base == ("delta[l, j] = gprime[L](z[L, j]) * (a[L, j] - y[j] if abs(a[L, j] - y[j]) <= 1 else "
                    "(1 if a[L, j] - y[j] >= 0 else -1))  if l == L")


HEADER = '''title = "{title}"
[network]
activation = "tanh"
output = "identity"
loss = "half-squared-error"
samples = 2
architectures = [{arch}]

[network.formulation]
name = "{title}"
{extra}
equations = [
{equations}
]
parameters = [
{parameters}
]

[[claim]]
id = "e"
statement = "d(e)/d(z[L,j]) = a[L,j] - y[j]"
ranges = "(j, 1, n[L])"
'''

LAYERNORM = HEADER.format(title="layernorm", arch="[3, 3, 2]", extra="", equations='''
  { equation = "a[0,k] = x[k]", ranges = "(k, 1, n[0])" },
  { equation = "z[l,j] = b[l,j] + sum(W[l,j,k] * a[l-1,k], (k, 1, n[l-1]))", ranges = "(l, 1, L), (j, 1, n[l])" },
  { equation = "mu[l] = sum(z[l,k], (k, 1, n[l])) / n[l]", ranges = "(l, 1, L)" },
  { equation = "v[l] = sum((z[l,k] - mu[l])**2, (k, 1, n[l])) / n[l]", ranges = "(l, 1, L)" },
  { equation = "zh[l,j] = (z[l,j] - mu[l]) / sqrt(v[l] + 1/1000)", ranges = "(l, 1, L), (j, 1, n[l])" },
  { equation = "a[l,j] = g[l](gamma[l,j] * zh[l,j] + beta[l,j])", ranges = "(l, 1, L), (j, 1, n[l])" },''',
    parameters='''
  { parameter = "W[l,j,k]", ranges = "(l, 1, L), (j, 1, n[l]), (k, 1, n[l-1])" },
  { parameter = "b[l,j]", ranges = "(l, 1, L), (j, 1, n[l])" },
  { parameter = "gamma[l,j]", ranges = "(l, 1, L), (j, 1, n[l])" },
  { parameter = "beta[l,j]", ranges = "(l, 1, L), (j, 1, n[l])" },''')

CONVOLUTION = HEADER.format(title="conv1d", arch="[6, 5, 4]", extra="", equations='''
  { equation = "a[0,k] = x[k]", ranges = "(k, 1, n[0])" },
  { equation = "z[l,j] = c[l] + sum(K[l,k] * a[l-1,j+k-1], (k, 1, 2))", ranges = "(l, 1, L), (j, 1, n[l])" },
  { equation = "a[l,j] = g[l](z[l,j])", ranges = "(l, 1, L), (j, 1, n[l])" },''',
    parameters='''
  { parameter = "K[l,k]", ranges = "(l, 1, L), (k, 1, 2)" },
  { parameter = "c[l]", ranges = "(l, 1, L)" },''')

RESIDUAL = HEADER.format(title="skip", arch="[2, 3, 3, 3, 2]", extra='equal_widths = "(l, 1, L - 1)"', equations='''
  { equation = "a[0,k] = x[k]", ranges = "(k, 1, n[0])" },
  { equation = "z[l,j] = b[l,j] + sum(W[l,j,k] * a[l-1,k], (k, 1, n[l-1])) + (a[l-2,j] if 3 <= l <= L - 1 else 0)", ranges = "(l, 1, L), (j, 1, n[l])" },
  { equation = "a[l,j] = g[l](z[l,j])", ranges = "(l, 1, L), (j, 1, n[l])" },''',
    parameters='''
  { parameter = "W[l,j,k]", ranges = "(l, 1, L), (j, 1, n[l]), (k, 1, n[l-1])" },
  { parameter = "b[l,j]", ranges = "(l, 1, L), (j, 1, n[l])" },''')


@pytest.mark.parametrize("text, proved", [(RESIDUAL, True), (LAYERNORM, None), (CONVOLUTION, None)],
                         ids=["residual", "layernorm", "conv1d"])
def test_a_files_own_formulation_gets_its_recursion_derived_checked_and_proved(tmp_path, text, proved):
    f = tmp_path / "d.toml"
    f.write_text(text)
    d = load(f)
    s = d.network
    result = derived(d.formulation, s["activation"], s["output"], s["loss"], d.architectures, s["samples"],
                     proof=proved is not None)
    assert not result.error and all(r.ok for r in result.reports), [
        (v.id, v.verdict, v.note) for r in result.reports for v in r.verdicts if v.verdict != "holds"]
    assert any("matrix" in v.id for v in result.reports[0].verdicts)  # the batch form was checked too
    if proved:
        assert result.proof.ok, [s for s in result.proof.steps if s.verdict != "holds"]


def test_the_convolution_recursion_is_the_transposed_convolution(tmp_path):
    f = tmp_path / "d.toml"
    f.write_text(CONVOLUTION)
    d = load(f)
    s = derive(d.formulation, get_activation("identity"), get_loss("half-squared-error")).statements
    assert "delta[l + 1, k] * K[l + 1, j - k + 1] if j >= k and j <= k + 1 else 0" in s[1]
    assert s[2] == "d(e)/d(K[l, k]) = sum(delta[l, i] * a[l - 1, i + k - 1], (i, 1, n[l]))"


@pytest.mark.parametrize("text, layers", [(LAYERNORM, [3, 4, 2]), (CONVOLUTION, [7, 6, 5])], ids=["layernorm", "conv1d"])
def test_kernels_from_a_files_formulation_match_finite_differences(tmp_path, text, layers):
    f = tmp_path / "d.toml"
    f.write_text(text)
    d = load(f)
    m = load_module(generate(layers, "tanh", "identity", "half-squared-error", formulation=d.formulation))
    rng = np.random.default_rng(3)
    params = {k: v + rng.uniform(-0.3, 0.3, np.shape(v)) for k, v in m.init_params(1).items()}
    X, Y = rng.standard_normal((5, layers[0])), rng.standard_normal((5, layers[-1]))
    grads = m.gradients(params, X, Y)
    h = 1e-6
    for key, value in params.items():
        for idx in np.ndindex(np.shape(value)):
            up = {k: np.array(v, copy=True) for k, v in params.items()}
            down = {k: np.array(v, copy=True) for k, v in params.items()}
            up[key][idx] += h
            down[key][idx] -= h
            fd = (m.loss(up, X, Y) - m.loss(down, X, Y)) / (2 * h)
            assert grads[key][idx] == pytest.approx(fd, rel=1e-6, abs=1e-8), (key, idx)


def test_symbp_derive_on_the_command_line(tmp_path, capsys):
    assert main(["derive", "--form", "residual", "--activation", "tanh", "--loss", "huber"]) == 0
    out = capsys.readouterr().out
    assert "delta[l + 2, j]" in out and "21 of 21 hold" in out and "for every width and depth: proved" in out
    f = tmp_path / "d.toml"
    f.write_text(CONVOLUTION)
    assert main(["derive", str(f), "--no-proof", "--format", "json"]) == 0
    assert '"ok": true' in capsys.readouterr().out


def test_a_proof_of_a_layer_norm_says_what_it_could_not_reduce(tmp_path):
    """Layer norm's recursion holds at every size checked; where the algebra does not reduce it is refused,
    never claimed: the proof is either complete or names its step."""
    f = tmp_path / "d.toml"
    f.write_text(LAYERNORM)
    d = load(f)
    proof = prove("tanh", "identity", "half-squared-error", formulation=d.formulation)
    assert proof.ok or all(s.counterexample is not None or "not provable" in s.note for s in proof.steps
                           if s.verdict != "holds")


# --- the simplifier: every rewrite an identity -------------------------------------------------------------
class _Concrete(il.Evaluator):
    """A tree at concrete indices: widths, nodes and parameters are fixed pseudo-random rationals."""

    def __init__(self, widths, L):
        self.widths, self.L = widths, L

    def constant(self, name):
        return {"L": self.L}[name]

    def ref(self, name, idx):
        if name == "n":
            return self.widths.get(idx[0], 1)
        return Fraction((hash((name, idx)) % 97) - 48, 7)


INDEX = st.sampled_from(["l", "j", "l + 1", "l - 1", "j + 1", "L", "1", "2", "n[l]"])


@st.composite
def trees(draw):
    """Sums over Kronecker deltas and guarded terms, the shapes derivations produce."""
    a, b = draw(INDEX), draw(INDEX)
    lo, hi = draw(st.sampled_from([("1", "n[l]"), ("1", "L"), ("l + 1", "L"), ("0", "2")]))
    body = draw(st.sampled_from([
        f"W[k, {a}] * I(k, {b})", f"(x[k] if k <= {a} else 0) * I(k - 1, {b})", f"I({a}, k) * I(k, {b}) * x[k]",
        f"x[k] * (1 if k == {a} else 2)", f"x[{a}] * I({b}, k)",
    ]))
    extra = draw(st.sampled_from(["", f" + (x[{a}] if {b} >= 1 else 0)", f" - I({a}, {b})"]))
    return il.parse_expr(f"sum({body}, (k, {lo}, {hi})){extra}")


@settings(max_examples=150, deadline=None)
@given(tree=trees(), L=st.integers(1, 4), l=st.integers(0, 4), j=st.integers(1, 3), seed=st.integers(0, 50))
def test_simplifying_never_changes_a_value(tree, L, l, j, seed):
    if l > L:
        return
    widths = {k: random.Random(seed + k).randint(1, 3) for k in range(-2, 8)}
    j = min(j, widths[l])
    ctx = {"l": (il.parse_expr("0"), il.Name("L")), "j": (il.parse_expr("1"), il.parse_expr("n[l]"))}
    simple = Simplifier(Indices("n")).simp(tree, ctx)
    ev = _Concrete(widths, L)
    assert ev.eval(simple, {"l": l, "j": j}) == ev.eval(tree, {"l": l, "j": j}), (il.to_text(tree), il.to_text(simple))
