"""The closed-form backpropagation recursions: index form, and matrix form over a batch.

Both formulation families share one recursion; a family says only where its weights live
(``W^l_{j,k}``, ``W^l_{k,j}`` or ``theta^(l-1)_{j,k}``), what feeds a layer (``a^{l-1}_k``, or
``h^(l-1)(z_k) C_{1,k}`` with the bias node at k = 0), and which layers carry a delta.
A :class:`Variant` mutates the recursion the way hand derivations go wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import symengine as se

from ..errors import ShapeError
from ..model.losses import PAIRINGS, loss_grad
from ..model.network import Network


@dataclass(frozen=True)
class Variant:
    """Knobs on the standard recursion; the defaults are the correct one."""

    transpose: bool = True  # delta^l = (W^{l+1})^T delta^{l+1} ...; False: W^{l+1} not transposed
    gprime: bool = True  # ... (Hadamard) g'(z^l); False: the activation derivative dropped
    mean: bool = True  # gradients carry 1/m; False: the 1/m dropped
    swap_gradient: bool = False  # dJ/dW_{j,k} = delta_k a_j: indices swapped
    delta_shift: int = 0  # the gradient of W^l uses delta^(l+shift) where that layer exists


MUTATIONS: dict[str, Variant] = {
    "indices-swapped": Variant(swap_gradient=True),
    "gprime-dropped": Variant(gprime=False),
    "mean-dropped": Variant(mean=False),
    "not-transposed": Variant(transpose=False),
    "wrong-delta-layer": Variant(delta_shift=1),
}


@dataclass(frozen=True)
class Family:
    """Where one formulation family keeps its weights and what feeds each layer."""

    weight: Callable  # (dest_layer, to, frm) -> (name, indices)
    source: Callable  # (net, i, src_layer, frm) -> value fed from node frm
    source_nodes: Callable  # (net, src_layer) -> node indices that feed the next layer
    bias: Callable | None  # (dest_layer, to) -> (name, indices), or None when the bias is a weight
    first_delta_layer: int  # the lowest layer that carries a delta
    names: dict  # notation used in statements


def _explicit_source(net, i, l, k):
    return net.a(i, l, k)


def _bias_node_source(net, i, l, k):
    # h^(l)(z^l_q) C^(l)_{1,q} as in eq (44); C_{1,q} = C_{p,q} by eq (33a)
    return net.activation_for(l).value(net.z(i, l, k)) * net.param("C", (l, 1, k))


FAMILIES = {
    ("explicit-bias", "output-by-input"): Family(
        weight=lambda l, to, frm: ("W", (l, to, frm)),
        source=_explicit_source,
        source_nodes=lambda net, l: range(1, net.width(l) + 1),
        bias=lambda l, to: ("b", (l, to)),
        first_delta_layer=1,
        names={
            "delta": "delta^l_j = g'(z^l_j) sum_k W^(l+1)_{k,j} delta^(l+1)_k",
            "Wgrad": "dJ/dW^l_{j,k} = 1/m sum_i delta^l_j a^(l-1)_k",
        },
    ),
    ("bias-node", "output-by-input"): Family(
        weight=lambda l, to, frm: ("theta", (l - 1, to, frm)),
        source=_bias_node_source,
        source_nodes=lambda net, l: range(0, net.width(l) + 1),
        bias=None,
        first_delta_layer=2,
        names={
            "delta": "delta^l_p = sum_k delta^(l+1)_k theta^(l)_{k,p} Psi^l(z^l_p) (1 - I(p,0)) (43)",
            "Wgrad": "dJ/dtheta^(l)_{p,q} = 1/m sum_i delta^(l+1)_p C^(l)_{1,q} h^(l)(z^l_q) (44)",
        },
    ),
}


FAMILIES[("explicit-bias", "input-by-output")] = replace(
    FAMILIES[("explicit-bias", "output-by-input")],
    weight=lambda l, to, frm: ("W", (l, frm, to)),
    names={
        "delta": "delta^l_j = g'(z^l_j) sum_k w^(l+1)_{j,k} delta^(l+1)_k",
        "Wgrad": "dJ/dw^l_{i,j} = 1/m sum_i a^(l-1)_i delta^l_j",
    },
)


def family(net: Network) -> Family:
    layout = net.layout if net.form.family == "explicit-bias" else "output-by-input"
    return FAMILIES[(net.form.family, layout)]


def base_case(net: Network, i: int) -> tuple[list, str, frozenset]:
    """delta^L_j for sample i: the pairing's simplified form where one exists, else the chain rule.

    Returns the deltas (j = 1..n_L), the statement, and the assumptions the form needs.
    """
    a, y = net.outputs(i), net.y(i)
    pairing = PAIRINGS.get((net.output.name, net.loss.name))
    if pairing is not None:
        return [pairing.base_case(ak, yk) for ak, yk in zip(a, y)], pairing.statement, pairing.assumptions
    grad = [loss_grad(net.loss, ak, yk) for ak, yk in zip(a, y)]
    zs = [net.z(i, net.L, j) for j in range(1, net.width(net.L) + 1)]
    if net.output.elementwise:
        return [g * net.output.derivative(z) for g, z in zip(grad, zs)], "delta^L = grad_a J (Hadamard) g'(z^L)", frozenset()
    jac = net.output.jacobian(zs)
    deltas = [se.Add(*[grad[k] * jac[k][j] for k in range(len(zs))]) for j in range(len(zs))]
    return deltas, "delta^L_j = sum_k dJ/da_k a_k (I(j,k) - a_j)", frozenset()


def hidden_layers(net: Network) -> list[int]:
    """The layers below L that carry a delta, from the top down."""
    return list(range(net.L - 1, family(net).first_delta_layer - 1, -1))


def deltas(net: Network, i: int, variant: Variant = Variant()) -> dict[int, list]:
    """delta^l_j (j = 1..n_l) for sample i on every layer that carries one, by the recursion."""
    fam = family(net)
    out = {net.L: base_case(net, i)[0]}
    for l in hidden_layers(net):
        upper = out[l + 1]
        act = net.activation_for(l)
        row = []
        for j in range(1, net.width(l) + 1):
            total = se.Add(*[
                net.param(*(fam.weight(l + 1, k, j) if variant.transpose else fam.weight(l + 1, j, k))) * upper[k - 1]
                for k in range(1, net.width(l + 1) + 1)
            ])
            row.append(total * act.derivative(net.z(i, l, j)) if variant.gprime else total)
        out[l] = row
    return out


def gradient(net: Network, variant: Variant = Variant()) -> dict:
    """dJ/dp for every parameter p, from the deltas: 1/m sum_i delta^l_to * source_from."""
    fam = family(net)
    per_sample = [deltas(net, i, variant) for i in range(net.samples)]
    scale = se.Rational(1, net.samples) if variant.mean else se.Integer(1)
    out = {}
    for dest in range(fam.first_delta_layer, net.L + 1):
        d = dest + variant.delta_shift if dest + variant.delta_shift <= net.L else dest
        for to in range(1, net.width(dest) + 1):
            for frm in fam.source_nodes(net, dest - 1):
                t, f = (frm, to) if variant.swap_gradient else (to, frm)
                terms = [_at(ds, d, t) * fam.source(net, i, dest - 1, f) for i, ds in enumerate(per_sample)]
                out[_symbol(net, fam.weight(dest, to, frm))] = scale * se.Add(*terms)
            if fam.bias is not None:
                terms = [_at(ds, d, to) for ds in per_sample]
                out[_symbol(net, fam.bias(dest, to))] = scale * se.Add(*terms)
    return out


def _at(ds, layer, j):
    if not 1 <= j <= len(ds[layer]):
        raise ShapeError(f"delta^{layer}_{j} does not exist: layer {layer} has {len(ds[layer])} nodes")
    return ds[layer][j - 1]


def _symbol(net, key):
    return net.symbols[(key[0], tuple(key[1]))]


# --- matrix form ------------------------------------------------------------------------------
def hadamard(A, B):
    """Element-wise product of two matrices of the same shape."""
    if A.shape != B.shape:
        raise ShapeError(f"Hadamard product of a {A.shape[0]}x{A.shape[1]} and a {B.shape[0]}x{B.shape[1]} matrix")
    return A.multiply_elementwise(B)


def weight_matrix(net: Network, dest: int):
    """The weights into layer ``dest`` as a to-by-from matrix (bias column first in the bias-node form)."""
    fam = family(net)
    frms = list(fam.source_nodes(net, dest - 1))
    return se.DenseMatrix(
        [[net.param(*fam.weight(dest, to, frm)) for frm in frms] for to in range(1, net.width(dest) + 1)]
    )


def matrix_deltas(net: Network) -> dict[int, se.DenseMatrix]:
    """Delta^l as an m x n_l matrix (samples in rows): Delta^l = (Delta^{l+1} W^{l+1}) (Hadamard) g'(Z^l)."""
    fam = family(net)
    out = {net.L: se.DenseMatrix([base_case(net, i)[0] for i in range(net.samples)])}
    for l in hidden_layers(net):
        back = _matmul(out[l + 1], weight_matrix(net, l + 1))
        if fam.bias is None:  # drop the bias node's column: delta_0 = 0 (eq 20, 43)
            back = back[:, 1:]
        act = net.activation_for(l)
        G = se.DenseMatrix(
            [[act.derivative(net.z(i, l, j)) for j in range(1, net.width(l) + 1)] for i in range(net.samples)]
        )
        out[l] = hadamard(back, G)
    return out


def matrix_gradient(net: Network) -> dict:
    """dJ/dW^l = 1/m Delta^l^T A^{l-1} and dJ/db^l = 1/m 1^T Delta^l, element by element."""
    fam = family(net)
    D = matrix_deltas(net)
    m = net.samples
    out = {}
    for dest in range(fam.first_delta_layer, net.L + 1):
        frms = list(fam.source_nodes(net, dest - 1))
        A = se.DenseMatrix([[fam.source(net, i, dest - 1, f) for f in frms] for i in range(m)])
        G = _matmul(D[dest].T, A) * se.Rational(1, m)
        for r, to in enumerate(range(1, net.width(dest) + 1)):
            for c, frm in enumerate(frms):
                out[_symbol(net, fam.weight(dest, to, frm))] = G[r, c]
        if fam.bias is not None:
            ones = se.DenseMatrix([[1] * m])
            B = _matmul(ones, D[dest]) * se.Rational(1, m)
            for c, to in enumerate(range(1, net.width(dest) + 1)):
                out[_symbol(net, fam.bias(dest, to))] = B[0, c]
    return out


def _matmul(A, B):
    if A.shape[1] != B.shape[0]:
        raise ShapeError(f"matrix product of a {A.shape[0]}x{A.shape[1]} and a {B.shape[0]}x{B.shape[1]} matrix")
    return A * B


__all__ = ["MUTATIONS", "Variant", "base_case", "deltas", "gradient", "matrix_deltas", "matrix_gradient"]
