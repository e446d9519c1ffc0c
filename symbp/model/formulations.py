"""The built-in forward equations, written in index form as data.

A formulation is nothing but text: the defining equations of the forward pass (each with the
ranges of its free indices), the parameters, and the vocabulary it uses. The network builder
reads any formulation the same way, so a new one (a residual connection, tied weights) is a
new entry here, not new code.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import UnknownNameError


@dataclass(frozen=True)
class Formulation:
    """One forward pass in index form."""

    name: str
    description: str
    first_layer: int  # the input layer's number
    node_low: int  # the lowest node index on a layer (0 where node 0 is a bias node)
    size: str  # the name of the layer widths: n[l] or S[l]
    activation: str  # the per-layer activation's name: g[l] or h[l]
    derivative: str  # its derivative's name: gprime[l] or Psi[l]
    equations: tuple  # (equation, ranges of its free indices)
    parameters: tuple  # (indexed parameter, ranges)
    output: str = "a"  # the quantity the loss reads on the last layer, nodes 1..size[L]
    delta: str = "z"  # the node family the recursion is stated for: delta[l,j] = d(e)/d(z[l,j])
    equal_widths: str = ""  # ranges of layers that must all have one width, such as "(l, 1, L - 1)"
    consequences: tuple = ()  # (statement, ranges, label): facts that must follow from the equations


EXPLICIT_BIAS = Formulation(
    name="explicit-bias",
    description="z^l_j = b^l_j + sum_k W^l_{j,k} a^{l-1}_k, a^l = g^l(z^l); W^l is n_l x n_{l-1} (output-by-input)",
    first_layer=0,
    node_low=1,
    size="n",
    activation="g",
    derivative="gprime",
    equations=(
        ("a[0,k] = x[k]", "(k, 1, n[0])"),
        ("z[l,j] = b[l,j] + sum(W[l,j,k] * a[l-1,k], (k, 1, n[l-1]))", "(l, 1, L), (j, 1, n[l])"),
        ("a[l,j] = g[l](z[l,j])", "(l, 1, L), (j, 1, n[l])"),
    ),
    parameters=(
        ("W[l,j,k]", "(l, 1, L), (j, 1, n[l]), (k, 1, n[l-1])"),
        ("b[l,j]", "(l, 1, L), (j, 1, n[l])"),
    ),
)

EXPLICIT_BIAS_INPUT_BY_OUTPUT = replace(
    EXPLICIT_BIAS,
    description="z^l_j = b^l_j + sum_i w^l_{i,j} a^{l-1}_i, a^l = g^l(z^l); W^l is n_{l-1} x n_l (input-by-output, seed 000)",
    equations=(
        EXPLICIT_BIAS.equations[0],
        ("z[l,j] = b[l,j] + sum(W[l,k,j] * a[l-1,k], (k, 1, n[l-1]))", "(l, 1, L), (j, 1, n[l])"),
        EXPLICIT_BIAS.equations[2],
    ),
    parameters=(("W[l,k,j]", "(l, 1, L), (k, 1, n[l-1]), (j, 1, n[l])"), EXPLICIT_BIAS.parameters[1]),
)

BIAS_NODE = Formulation(
    name="bias-node",
    description=(
        "Brawer eq (5): z^l_j = sum_{k=0}^{S_{l-1}} theta^(l-1)_{j,k} h^(l-1)(z^(l-1)_k) C^(l-1)_{j,k}, "
        "node 0 a bias node, theta_{0,k} = I(k,0) (6), C_{j,k} = 1/h^l(1) for k = 0 else 1 (7), h^1 the identity"
    ),
    first_layer=1,
    node_low=0,
    size="S",
    activation="h",
    derivative="Psi",
    equations=(
        ("x[0] = 1", ""),
        ("z[1,k] = x[k]", "(k, 0, S[1])"),
        ("z[l,j] = sum(theta[l-1,j,k] * h[l-1](z[l-1,k]) * C[l-1,j,k], (k, 0, S[l-1]))", "(l, 2, L), (j, 0, S[l])"),
        ("theta[l,0,k] = I(k, 0)", "(l, 1, L-1), (k, 0, S[l])"),
        ("C[l,j,k] = 1/h[l](1) if k == 0 else 1", "(l, 1, L-1), (j, 0, S[l+1]), (k, 0, S[l])"),
        ("a[l,j] = h[l](z[l,j])", "(l, 1, L), (j, 0, S[l])"),
    ),
    parameters=(("theta[l,j,k]", "(l, 1, L-1), (j, 1, S[l+1]), (k, 0, S[l])"),),
    consequences=(("z[l,0] = 1", "(l, 1, L)", "z[l,0] = 1 (8)"),),
)

RESIDUAL = replace(
    EXPLICIT_BIAS,
    name="residual",
    description="z^l_j = b^l_j + sum_k W^l_{j,k} a^{l-1}_k + a^{l-2}_j on the hidden layers l = 3..L-1, "
                "a^l = g^l(z^l); every hidden layer has the same width",
    equations=(
        EXPLICIT_BIAS.equations[0],
        ("z[l,j] = b[l,j] + sum(W[l,j,k] * a[l-1,k], (k, 1, n[l-1])) + (a[l-2,j] if 3 <= l <= L - 1 else 0)",
         "(l, 1, L), (j, 1, n[l])"),
        EXPLICIT_BIAS.equations[2],
    ),
    equal_widths="(l, 1, L - 1)",
)

FORMS = {"explicit-bias": EXPLICIT_BIAS, "bias-node": BIAS_NODE, "residual": RESIDUAL}
LAYOUTS = {"output-by-input": EXPLICIT_BIAS, "input-by-output": EXPLICIT_BIAS_INPUT_BY_OUTPUT}


def get_formulation(form: str, layout: str = "output-by-input") -> Formulation:
    """The built-in formulation ``form`` (with weight ``layout`` for the explicit-bias form)."""
    if form not in FORMS:
        raise UnknownNameError(f"unknown form {form!r}; expected one of: {', '.join(FORMS)}")
    if layout not in LAYOUTS:
        raise UnknownNameError(f"unknown layout {layout!r}; expected one of: {', '.join(LAYOUTS)}")
    if form == "explicit-bias":
        return LAYOUTS[layout]
    return FORMS[form]
