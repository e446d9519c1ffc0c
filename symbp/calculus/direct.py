"""Direct derivatives: SymEngine differentiates the composed expressions, with no chain-rule bookkeeping.

This is the independent reference every closed-form claim is compared against.
"""
from __future__ import annotations

import symengine as se

from ..model.activations import h, h_prime
from .dag import transform
from ..model.network import Network


def normalize(expr, cache=None, net: Network | None = None):
    """Write SymEngine's derivatives of the generic ``h`` as ``hprime(arg)``, the closed forms' spelling.

    With ``net`` given, networks without the generic activation skip the walk (nothing to rewrite).
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
    return e if list(e.args) == args else e.func(*args)


def _is_h_prime_of(deriv, var) -> bool:
    return (
        type(deriv).__name__ == "Derivative"
        and len(deriv.args) == 2
        and deriv.args[0] == h(var)
        and deriv.args[1] == var
    )


def loss_gradient(net: Network, params=None) -> dict:
    """dJ/dp for each parameter p (all by default), J the loss averaged over the samples.

    >>> net = Network([1, 1], activation="identity", output="identity", loss="half-squared-error")
    >>> W, b = net.params
    >>> loss_gradient(net)[W] == net.x(0)[0] * (net.z(0, 1, 1) - net.y(0)[0])
    True
    """
    J = net.J
    cache: dict = {}
    return {p: normalize(J.diff(p), cache, net) for p in (net.params if params is None else params)}


def d_loss_d_nodes(net: Network, i: int, name: str, l: int) -> list:
    """dJ_i/d name[l,j] for every non-bias node j of layer l; J_i the loss of sample i alone."""
    js = range(1, net.width(l) + 1)
    cut = {(name, (l, j)): se.Symbol(f"_cut_{name}[{l},{j}]") for j in js}
    J_i = net.sample_loss(i, overrides=cut)
    back = {s: net.node(i, name, key[1]) for key, s in cut.items()}
    cache: dict = {}
    return [normalize(J_i.diff(s), cache, net).subs(back) for s in cut.values()]


def derivative(net: Network, i: int, of: tuple, wrt: tuple):
    """d of / d wrt for sample i; each a (name, indices) pair naming a node or a parameter.

    >>> net = Network([1, 1], activation="identity", output="identity", loss="half-squared-error")
    >>> derivative(net, 0, ("z", (1, 1)), ("W", (1, 1, 1)))
    x[1]
    """
    name, idx = wrt
    if (name, tuple(idx)) in net.symbols:
        return normalize(net.node(i, *of).diff(net.symbols[(name, tuple(idx))]), net=net)
    s = se.Symbol(f"_cut_{name}[{','.join(map(str, idx))}]")
    value = net.node(i, *of, overrides={(name, tuple(idx)): s})
    return normalize(value.diff(s), net=net).subs({s: net.node(i, name, idx)})


def directional_derivative(net: Network, direction: dict):
    """d/dt J(theta + t r) at t = 0: the loss differentiated once along a direction r.

    One differentiation of the composed loss checks every gradient component at once: for random
    r it equals sum_p r_p dJ/dp exactly when each component does (PyTorch's fast gradcheck uses
    the same projection).

    >>> net = Network([1, 1], activation="identity", output="identity", loss="half-squared-error")
    >>> W, b = net.params
    >>> d = directional_derivative(net, {W: 2, b: 3})
    >>> se.expand(d - (2 * loss_gradient(net)[W] + 3 * loss_gradient(net)[b]))
    0
    """
    t = se.Symbol("_t")
    shifted = net.J.xreplace({p: p + t * r for p, r in direction.items()})
    return normalize(shifted.diff(t), net=net).xreplace({t: se.Integer(0)})
