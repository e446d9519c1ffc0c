"""Losses as table entries: the loss of one sample written in the language.

A loss is a formula in the network's outputs ``yhat[k]``, the targets ``y[k]`` and the output width ``K``;
the network averages it over its m samples (seeds 000, 002, 004). Its derivative is never written here:
symbp derives it. A :class:`Pairing` of an output activation with a loss states the simplified base case
a derivation writes (``delta^L_j = yhat_j - y_j``), the assumptions that simplification needs, and the
numerically stable form of the loss in the output layer's pre-activations ``u[k]`` that kernels compute;
both are checked before use. Adding a loss is adding one entry here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import symengine as se

from .. import lang as il
from ..errors import UnknownNameError
from .functions import Formula, formula

#: Assumptions a claim may be checked under; the key is the command-line spelling.
ASSUMPTIONS = {"sum-y-is-1": "sum_k y_k = 1 (targets are a probability distribution)"}


@dataclass(frozen=True)
class Loss:
    """One loss: ``formula`` is the loss of one sample in ``yhat[k]``, ``y[k]`` and ``K``."""

    name: str
    formula: str
    outputs: tuple[str, ...] | None = None  # output activations it fits; None: any
    target: str = "real"  # how targets are drawn: real, unit (0..1), distribution
    default_output: str = "identity"  # the output activation when none is given
    task: str = "regression"  # or classification: what training reports (accuracy or mean squared error)
    trees: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self.trees["value"] = formula(self.formula, f"loss {self.name}")

    def tree(self, output: str, size: str):
        """The loss of one sample in a network's own terms: ``yhat[k]`` is ``output[L, k]``, ``K`` is ``size[L]``.

        >>> from symbp import lang as il
        >>> il.to_text(LOSSES["mse"].tree("a", "n"))
        'sum((a[L, k] - y[k])**2, (k, 1, n[L]))'
        """
        last = il.Name("L")

        def f(node):
            if isinstance(node, il.Ref) and node.name == "yhat":
                return il.Ref(output, (last, *node.indices))
            if isinstance(node, il.Name) and node.name == "K":
                return il.Ref(size, (last,))
            return None
        return il.rewrite(self.trees["value"], f)

    def value(self, a, y):
        """The loss of one sample with outputs ``a`` and targets ``y`` (lists of SymEngine values)."""
        return Formula({"K": len(a)}, lambda name, idx: _output(name, idx, a, y)).eval(self.trees["value"], {})


def _output(name, idx, a, y):
    values = {"yhat": a, "y": y}.get(name)
    if values is None or len(idx) != 1 or not 1 <= idx[0] <= len(values):
        raise UnknownNameError(f"{name}[{', '.join(map(str, idx))}] is not an output or a target")
    return values[idx[0] - 1]


LOSSES: dict[str, Loss] = {l.name: l for l in [
    Loss("bce", "-sum(y[k] * log(yhat[k]) + (1 - y[k]) * log(1 - yhat[k]), (k, 1, K))",
         outputs=("sigmoid", "generic"), target="unit", default_output="sigmoid", task="classification"),
    Loss("cross-entropy", "-sum(y[k] * log(yhat[k]), (k, 1, K))", outputs=("softmax",), target="distribution",
         default_output="softmax", task="classification"),
    Loss("half-squared-error", "sum((yhat[k] - y[k])**2, (k, 1, K)) / 2"),
    Loss("mse", "sum((yhat[k] - y[k])**2, (k, 1, K))"),
    # delta = 1: quadratic within 1 of the target, linear beyond
    Loss("huber", "sum((yhat[k] - y[k])**2 / 2 if abs(yhat[k] - y[k]) <= 1 else abs(yhat[k] - y[k]) - 1/2, (k, 1, K))"),
]}


@dataclass(frozen=True)
class Pairing:
    """An output activation with a loss: the simplified base case and the stable loss, both checked."""

    output: str
    loss: str
    delta: str  # delta^L_j in yhat[j], y[j]
    stable: str  # the loss of one sample in the output pre-activations u[k], y[k], K, without overflow
    assumptions: frozenset = frozenset()
    trees: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        where = f"pairing {self.output}/{self.loss}"
        self.trees.update(delta=formula(self.delta, where), stable=formula(self.stable, where))

    @property
    def statement(self) -> str:
        return f"delta[L,j] = {self.delta.replace('yhat[j]', 'a[L,j]')}"

    def base_case(self, a_j, y_j):
        """delta^L_j from the output a_j and the target y_j."""
        return Formula({}, lambda name, idx: {"yhat": a_j, "y": y_j}[name]).eval(self.trees["delta"], {"j": 1})

    def stable_value(self, u, y):
        """The stable loss of one sample from the pre-activations ``u`` and targets ``y``."""
        refs = lambda name, idx: _output({"u": "yhat"}.get(name, name), idx, u, y)  # noqa: E731
        return Formula({"K": len(u)}, refs).eval(self.trees["stable"], {})


PAIRINGS: dict[tuple[str, str], Pairing] = {(p.output, p.loss): p for p in [
    # -y log s(u) - (1 - y) log(1 - s(u)) = softplus(u) - y u
    Pairing("sigmoid", "bce", "yhat[j] - y[j]", "sum(softplus(u[k]) - y[k] * u[k], (k, 1, K))"),
    # -sum_k y_k log softmax(u)_k = sum_k y_k (logsumexp(u) - u_k); a kernel prints log(sum(exp(.))) stably
    Pairing("softmax", "cross-entropy", "yhat[j] - y[j]",
            "sum(y[k] * (log(sum(exp(u[i]), (i, 1, K))) - u[k]), (k, 1, K))", frozenset({"sum-y-is-1"})),
]}


def get_loss(name: str) -> Loss:
    """The loss called ``name``; an error listing the accepted names otherwise."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise UnknownNameError(f"unknown loss {name!r}; expected one of: {', '.join(LOSSES)}") from None


def loss_grad(loss: Loss, a_k, y_k):
    """d loss / d a_k for one output of a loss that is a sum over outputs, by direct differentiation."""
    A = se.Symbol("_yhat")
    return loss.value([A], [y_k]).diff(A).subs({A: a_k})


__all__ = ["ASSUMPTIONS", "LOSSES", "PAIRINGS", "Loss", "Pairing", "get_loss", "loss_grad"]
