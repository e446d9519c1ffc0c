"""A network with symbolic widths: a formulation at a fixed depth, widths and batch size as SymPy symbols."""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .. import lang as il
from .activations import get_activation
from .formulations import Formulation
from .losses import get_loss

POS = {"integer": True, "positive": True}


@dataclass
class WidthRule:
    lhs: il.Ref
    rhs: object
    ranges: list
    opaque: bool  # defined by a sum: kept as an indexed symbol


class WidthNetwork:
    """A formulation's network at a fixed depth with symbolic widths (and batch size)."""

    def __init__(self, formulation: Formulation, layers: int, activation, output, loss, samples=1, assume=()):
        self.form = formulation
        self.first = formulation.first_layer
        self.L = self.first + layers - 1
        self.sizes = {l: sp.Symbol(f"{formulation.size}_{l}", **POS) for l in range(self.first, self.L + 1)}
        self.m = sp.Symbol("m", **POS) if samples > 1 else sp.Integer(1)
        self.hidden, self.output = get_activation(activation), get_activation(output)
        self.loss, self.assume = get_loss(loss), frozenset(assume)
        self.rules: dict[str, list[WidthRule]] = {}
        for text, ranges in formulation.equations:
            eq = il.parse_equation(text, f"formulation {formulation.name}")
            opaque = any(isinstance(n, il.Sum) for n in il.walk(eq.rhs))
            self.rules.setdefault(eq.lhs.name, []).append(
                WidthRule(eq.lhs, eq.rhs, il.parse_ranges(ranges, f"formulation {formulation.name}"), opaque))
        self.params = [(il.parse_expr(ref), il.parse_ranges(rng)) for ref, rng in formulation.parameters]
        param_names = {ref.name for ref, _ in self.params}
        #: per-sample quantities defined by a sum (z): kept as opaque indexed symbols
        self.nodes = {name for name, rules in self.rules.items() if name not in param_names and any(r.opaque for r in rules)}
        #: quantities that take a sample index with several samples
        self.per_sample = set(self.rules) - param_names

    @property
    def description(self) -> str:
        widths = ", ".join(map(str, self.sizes.values()))
        return f"depth {self.L - self.first} with widths {widths}" + (", batch size m" if self.m != 1 else "")

    def activation_for(self, l):
        if l == self.L:
            return self.output
        if l == self.first:
            return get_activation("identity")
        return self.hidden
