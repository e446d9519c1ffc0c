"""Direct derivatives: the composed loss differentiated as an expression, with no chain-rule bookkeeping.

This is the independent reference every closed-form claim is compared against. The loss (or a
node) is differentiated generically over its expression DAG (:func:`dag.reverse`: every parameter,
or every node, in one pass; :func:`dag.forward` along one variable): nothing here knows deltas or
the recursion being checked. A node of the network is a sub-expression of the loss, marked
(:func:`dag.mark`) so that SymEngine cannot merge it into the sum that reads it; the derivative by
the node is the adjoint of its mark.
"""
from __future__ import annotations

import weakref

import symengine as se

from ..model.activations import h, h_prime
from ..model.network import Network
from .dag import forward, mark, rebuild, reverse, substitute, transform, unmark

#: dJ/dp for every parameter of a network, from one reverse pass over J, kept while the network lives
_GRADIENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: dJ_i/d name[l,j] for every node of a network, by (sample, name), from one reverse pass each
_BY_NODES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def normalize(expr, cache=None, net: Network | None = None):
    """Write SymEngine's derivatives of the generic ``h`` as ``hprime(arg)``, the closed forms' spelling.

    With ``net`` given, networks without the generic activation skip the walk (nothing to rewrite).

    >>> u = se.Symbol("u")
    >>> normalize(h(2 * u).diff(u))
    2*hprime(2*u)
    """
    if net is not None and not net.has_generic:
        return expr
    return transform(expr, lambda e: e, _normalize_node, cache)


def _normalize_node(e, args):
    kind = type(e).__name__
    if kind == "Subs":  # Subs(Derivative(h(xi), xi), xi, arg)
        deriv, var, value = args
        if _is_h_prime_of(deriv, var):
            return h_prime(value)
    elif kind == "Derivative" and _is_h_prime_of(e, e.args[1]) and len(e.args) == 2:
        return h_prime(e.args[1])
    return rebuild(e, args)


def _is_h_prime_of(deriv, var) -> bool:
    return (
        type(deriv).__name__ == "Derivative"
        and len(deriv.args) == 2
        and deriv.args[0] == h(var)
        and deriv.args[1] == var
    )


ZERO = se.Integer(0)


def loss_gradient(net: Network, params=None) -> dict:
    """dJ/dp for each parameter p (all by default), J the loss averaged over the samples.

    One reverse pass over J gives every parameter's derivative; it is kept for later calls.

    >>> net = Network([1, 1], activation="identity", output="identity", loss="half-squared-error")
    >>> W, b = net.params
    >>> loss_gradient(net)[W] == net.x(0)[0] * (net.z(0, 1, 1) - net.y(0)[0])
    True
    """
    grads = _GRADIENTS.get(net)
    if grads is None:
        grads = _GRADIENTS[net] = reverse(net.J, net.params)
    wanted = net.params if params is None else list(params)
    missing = [p for p in wanted if p not in grads]
    if missing:  # a symbol that is not a parameter of the network, such as an input
        grads.update(reverse(net.J, missing))
    return {p: grads[p] for p in wanted}


def d_loss_d_nodes(net: Network, i: int, name: str, l: int) -> list:
    """dJ_i/d name[l,j] for every non-bias node j of layer l; J_i the loss of sample i alone.

    The first call for a sample and a name differentiates by every such node of every layer at once.

    >>> net = Network([1, 1, 1], activation="identity", output="identity", loss="half-squared-error")
    >>> d_loss_d_nodes(net, 0, "z", 2) == [net.z(0, 2, 1) - net.y(0)[0]]
    True
    """
    table = _BY_NODES.setdefault(net, {})
    if (i, name) not in table:
        table[(i, name)] = _by_every_node(net, i, name)
    return [table[(i, name)].get((l, j), ZERO) for j in range(1, net.width(l) + 1)]


def _by_every_node(net: Network, i: int, name: str) -> dict:
    """{(l, j): dJ_i/d name[l,j]} from one reverse pass over J_i with every such node marked."""
    # Layer by layer from the input, each node is evaluated with the nodes of the layers below it
    # already marked, so a node that reads another node of its own layer reads it unmarked: as when
    # the whole layer is cut, the derivative by a node holds the rest of its layer fixed.
    marks: dict = {}
    for l in range(net.first, net.L + 1):
        layer = {}
        for j in range(1, net.width(l) + 1):
            if net.rule_for(name, (l, j)) is not None:
                layer[(name, (l, j))] = mark(net.node(i, name, (l, j), marks or None), len(marks) + len(layer))
        marks.update(layer)
    if not marks:
        return {}
    adjoints = reverse(net.sample_loss(i, overrides=marks), list(marks.values()))
    cache: dict = {}
    return {idx: unmark(adjoints[m], cache) for (_, idx), m in marks.items()}


def derivative(net: Network, i: int, of: tuple, wrt: tuple):
    """d of / d wrt for sample i; each a (name, indices) pair naming a node or a parameter.

    >>> net = Network([1, 1], activation="identity", output="identity", loss="half-squared-error")
    >>> derivative(net, 0, ("z", (1, 1)), ("W", (1, 1, 1)))
    x[1]
    """
    name, idx = wrt[0], tuple(wrt[1])
    if (name, idx) in net.symbols:
        return forward(net.node(i, *of), {net.symbols[(name, idx)]: 1})
    s = se.Symbol(f"_cut_{name}[{','.join(map(str, idx))}]")
    value = net.node(i, *of, overrides={(name, idx): s})
    return substitute(forward(value, {s: 1}), {s: net.node(i, name, idx)})


def directional_derivative(net: Network, direction: dict):
    """d/dt J(theta + t r) at t = 0: the loss differentiated once along a direction r.

    One comparison checks every gradient component at once: for random r it equals
    sum_p r_p dJ/dp exactly when each component does (PyTorch's fast gradcheck uses the same
    projection). By the chain rule it is that sum over the reverse pass's derivatives, so checking
    every parameter group along its own direction costs one pass over J in all.

    >>> net = Network([1, 1], activation="identity", output="identity", loss="half-squared-error")
    >>> W, b = net.params
    >>> d = directional_derivative(net, {W: 2, b: 3})
    >>> se.expand(d - (2 * loss_gradient(net)[W] + 3 * loss_gradient(net)[b]))
    0
    """
    grads = loss_gradient(net, list(direction))
    return se.Add(*[r * grads[p] for p, r in direction.items()])


__all__ = ["d_loss_d_nodes", "derivative", "directional_derivative", "loss_gradient", "normalize"]
