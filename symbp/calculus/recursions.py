"""A network's backpropagation recursion: derived from its formulation, evaluated on it, and mutated the
way hand derivations go wrong.

The recursion itself comes from :func:`symbp.calculus.derive.derive` (never from a table per form); this
module evaluates its index-level trees on a concrete :class:`Network` and rewrites them into the usual
slips (a transpose lost, g' dropped, 1/m dropped, indices swapped, another layer's delta), so that every
checker can be shown to reject them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable

import symengine as se

from .. import lang as il
from ..lang.scope import Definition
from ..model.activations import Activation
from ..model.formulations import Formulation
from ..model.losses import Loss
from ..model.network import Network
from .derive import DELTA, Gradient, Recursion, derive
from .simplify import Fresh, subst


@lru_cache(maxsize=128)
def recursion(form: Formulation, output: Activation, loss: Loss) -> Recursion:
    """The derived recursion of a formulation with an output activation and a loss (computed once)."""
    return derive(form, output, loss)


# --- mutations: the slips of hand derivations, as rewrites of the derived trees -------------------------
@dataclass(frozen=True)
class Mutation:
    """A deliberately wrong recursion: ``rewrite`` changes the derived trees; ``mean`` keeps 1/m or not."""

    name: str
    description: str
    rewrite: Callable
    mean: bool = True

    def apply(self, rec: Recursion, form: Formulation) -> Recursion:
        return self.rewrite(rec, form)

    def gradients_only(self) -> "Mutation":
        """This mutation with the recursion for delta left correct: what its gradient formulas do on their own."""
        return Mutation(self.name, f"{self.description} (with delta correct)",
                        lambda rec, form: replace(self.apply(rec, form), delta=rec.delta), self.mean)


def _general(rec: Recursion, f) -> Recursion:
    """The recursion with every case below the last layer (all but the base case) rewritten by ``f``."""
    cases = [rec.delta.cases[0]] + [(cond, f(value)) for cond, value in rec.delta.cases[1:]]
    return replace(rec, delta=Definition(rec.delta.name, rec.delta.indices, cases))


def _gradients(rec: Recursion, f) -> Recursion:
    return replace(rec, gradients={k: replace(g, value=f(g)) for k, g in rec.gradients.items()})


def _rewrite(node, f):
    """``node`` with ``f`` applied bottom-up to every sub-tree (``f`` returns None to keep one)."""
    if isinstance(node, tuple):
        return tuple(_rewrite(n, f) for n in node)
    if hasattr(node, "__dataclass_fields__"):
        node = type(node)(**{k: _rewrite(getattr(node, k), f) if not isinstance(getattr(node, k), str) else
                             getattr(node, k) for k in node.__dataclass_fields__})
        new = f(node)
        return node if new is None else new
    return node


def _drop_derivative(form):
    def f(node):
        if isinstance(node, il.BinOp) and node.op == "*":
            for keep, drop in ((node.left, node.right), (node.right, node.left)):
                if isinstance(drop, il.Apply) and drop.name == form.derivative:
                    return keep
        return None
    return f


def _untranspose(params):
    def f(node):
        if isinstance(node, il.Ref) and node.name in params and len(node.indices) >= 3:
            *head, a, b = node.indices
            return il.Ref(node.name, (*head, b, a))
        return None
    return f


def _swap_indices(g: Gradient):
    names = [i.name for i in g.ref.indices if isinstance(i, il.Name)]
    if len(names) < 3:
        return g.value
    a, b = names[-2], names[-1]
    return subst(g.value, {a: il.Name(b), b: il.Name(a)}, Fresh())


def _shift_delta(node):
    if isinstance(node, il.Ref) and node.name == DELTA:
        return il.Ref(DELTA, (il.BinOp("+", node.indices[0], il.Num(1)), *node.indices[1:]))
    return None


def _param_names(form: Formulation) -> set:
    return {ref.split("[")[0].strip() for ref, _ in form.parameters}


MUTATIONS: dict[str, Mutation] = {m.name: m for m in [
    Mutation("indices-swapped", "the gradient of a weight with its two node indices swapped",
             lambda rec, form: _gradients(rec, _swap_indices)),
    Mutation("gprime-dropped", "the activation derivative dropped from the recursion",
             lambda rec, form: _general(rec, lambda v: _rewrite(v, _drop_derivative(form)))),
    Mutation("mean-dropped", "the 1/m of the mean over samples dropped from the gradients",
             lambda rec, form: rec, mean=False),
    Mutation("not-transposed", "the next layer's weights not transposed in the recursion",
             lambda rec, form: _general(rec, lambda v: _rewrite(v, _untranspose(_param_names(form))))),
    Mutation("wrong-delta-layer", "the gradients written with the next layer's delta",
             lambda rec, form: _gradients(rec, lambda g: _rewrite(g.value, _shift_delta))),
]}


def recursion_of(net: Network, mutation=None) -> tuple[Recursion, bool]:
    """(recursion, whether gradients keep 1/m) for ``net``, mutated by a :class:`Mutation` or its name."""
    rec = recursion(net.form, net.output, net.loss)
    if mutation is None:
        return rec, True
    m = mutation if isinstance(mutation, Mutation) else MUTATIONS[mutation]
    return m.apply(rec, net.form), m.mean


# --- evaluation on a concrete network ------------------------------------------------------------------
def deltas(net: Network, i: int, mutation: str | None = None) -> dict[int, list]:
    """delta[l, j] of sample i by the recursion, for every layer that has nodes: layer -> [j = 1..n_l]."""
    rec, _ = recursion_of(net, mutation)
    ev = net.evaluator(i, {DELTA: rec.delta}, {DELTA: rec.ranges})
    layer, lo, hi = rec.ranges[0]
    first, last = (net.evaluate(i, b, {}) for b in (lo, hi))
    return {l: [ev.ref(DELTA, (l, j)) for j in range(1, net.width(l) + 1)] for l in range(int(last), int(first) - 1, -1)}


def gradient(net: Network, mutation=None, params=None) -> dict:
    """dJ/dp for every parameter p (or those in ``params``), from the recursion: 1/m sum_i of its derived gradient.

    >>> net = Network([2, 2], activation="identity", output="identity", loss="half-squared-error")
    >>> g = gradient(net)
    >>> g[net.symbols[("b", (1, 2))]] == net.z(0, 1, 2) - net.y(0)[1]
    True
    """
    rec, mean = recursion_of(net, mutation)
    evs = [net.evaluator(i, {DELTA: rec.delta}, {DELTA: rec.ranges}) for i in range(net.samples)]
    scale = se.Rational(1, net.samples) if mean else se.Integer(1)
    out = {}
    wanted = None if params is None else set(params)
    for (name, idx), symbol in net.symbols.items():
        if wanted is not None and symbol not in wanted:
            continue
        g = rec.gradients[name]
        env = dict(zip((i.name for i in g.ref.indices), idx))
        out[symbol] = scale * se.Add(*[ev.eval(g.value, env) for ev in evs])
    return out


__all__ = ["MUTATIONS", "Mutation", "deltas", "gradient", "recursion", "recursion_of"]
