"""A symbolic network built by evaluating a formulation's index-level forward equations."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import symengine as se

from .. import lang as il
from ..errors import IndexRangeError, ParseError, UsageError
from ..exact import number
from .activations import ACTIVATIONS, Activation, get_activation
from .formulations import Formulation, get_formulation
from .functions import SymEngineValues
from .losses import ASSUMPTIONS, Loss, get_loss



@dataclass(frozen=True)
class Rule:
    lhs: il.Ref
    rhs: object
    ranges: list
    text: str


class Network:
    """A network of any depth and widths, m samples, loss averaged over the samples.

    >>> net = Network([2, 3, 1], activation="sigmoid", loss="bce")
    >>> len(net.params), net.L
    (13, 2)
    >>> net.z(0, 1, 1)
    b[1,1] + x[1]*W[1,1,1] + x[2]*W[1,1,2]
    """

    def __init__(
        self,
        layers,
        activation="sigmoid",
        output=None,
        loss="bce",
        form="explicit-bias",
        layout="output-by-input",
        samples=1,
        formulation: Formulation | None = None,
    ):
        self.widths = check_layers(layers)
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            raise UsageError(f"samples must be a whole number >= 1, got {samples!r}")
        self.samples = samples
        self.loss: Loss = get_loss(loss)
        self.hidden: Activation = get_activation(activation, "activation")
        output = self.loss.default_output if output is None else output
        self.output: Activation = get_activation(output, "output activation")
        if not self.hidden.hidden_ok:
            raise UsageError(
                f"--activation {activation} is only allowed on the output layer; "
                f"use one of: {', '.join(n for n, a in ACTIVATIONS.items() if a.hidden_ok)}"
            )
        if self.loss.outputs is not None and self.output.name not in self.loss.outputs:
            raise UsageError(
                f"loss {self.loss.name!r} does not fit output activation {self.output.name!r}; "
                f"use --output {' or '.join(self.loss.outputs)}"
            )
        self.form = formulation or get_formulation(form, layout)
        self.layout = layout
        self.first = self.form.first_layer
        self.L = self.first + len(self.widths) - 1
        self.rules = self._read_rules()
        self.param_ranges = [
            (il.parse_expr(ref, f"parameter {ref}"), il.parse_ranges(rng, f"parameter {ref}"))
            for ref, rng in self.form.parameters
        ]
        self._ev = _Sizes(self)
        if self.form.equal_widths:
            self._check_equal_widths()
        self._symbols: dict | None = None  # enumerated on first use: a large network's kernels need none
        self._contexts: dict = {}

    # --- description ----------------------------------------------------------------------
    def __repr__(self):
        return (
            f"Network({','.join(map(str, self.widths))}, activation={self.hidden.name}, "
            f"output={self.output.name}, loss={self.loss.name}, form={self.form.name}, samples={self.samples})"
        )

    @property
    def has_generic(self) -> bool:
        """Whether an activation is the generic h, whose derivatives need rewriting as hprime."""
        return self.hidden.generic or self.output.generic

    @property
    def architecture(self) -> str:
        return "-".join(map(str, self.widths))

    def width(self, l: int) -> int:
        """Number of nodes on layer ``l`` (without a bias node)."""
        if not self.first <= l <= self.L:
            raise IndexRangeError(f"layer {l} does not exist; layers run from {self.first} to {self.L}")
        return self.widths[l - self.first]

    def nodes(self, l: int) -> range:
        """The node indices of layer ``l`` (from 0 where node 0 is a bias node)."""
        return range(self.form.node_low, self.width(l) + 1)

    def activation_for(self, l: int) -> Activation:
        """The activation of layer ``l``; an IndexRangeError for a layer the network does not have."""
        if not self.first <= l <= self.L:
            raise IndexRangeError(f"layer {l} does not exist; layers run from {self.first} to {self.L}")
        if l == self.L:
            return self.output
        if l == self.first:
            return ACTIVATIONS["identity"]
        return self.hidden

    def groups(self) -> dict[str, list]:
        """Parameters by group (``W[2]``, ``b[1]``, ``theta[1]``): label -> [(name, indices, symbol)]."""
        out: dict[str, list] = {}
        for (name, idx), s in self.symbols.items():
            out.setdefault(f"{name}[{idx[0]}]", []).append((name, idx, s))
        return out

    def param(self, name: str, idx: tuple):
        """The value of an indexed parameter or constant, such as ``W[2,1,3]`` or ``theta[1,0,2]``."""
        return self._context(0, None).resolve(name, tuple(idx))

    # --- per-sample quantities --------------------------------------------------------------
    def x(self, i: int) -> list:
        return [self.input_symbol("x", (k,), i) for k in range(1, self.width(self.first) + 1)]

    def y(self, i: int) -> list:
        return [self.input_symbol("y", (k,), i) for k in range(1, self.width(self.L) + 1)]

    def z(self, i: int, l: int, j: int):
        return self.node(i, "z", (l, j))

    def a(self, i: int, l: int, j: int):
        return self.node(i, "a", (l, j))

    def node(self, i: int, name: str, idx: tuple, overrides=None):
        """Any quantity of sample ``i`` by name and indices; ``overrides`` replace some quantities."""
        return self._context(i, overrides).resolve(name, tuple(idx))

    def evaluate(self, i: int, tree, env: dict, overrides=None):
        """Evaluate a parsed index-level expression for sample ``i`` with indices bound in ``env``."""
        return self._context(i, overrides).ev.eval(tree, env)

    def evaluator(self, i: int, definitions: dict, ranges: dict | None = None):
        """An evaluator of trees over sample ``i``'s quantities and named definitions (memoised per evaluator).

        >>> from symbp.lang.scope import Definition
        >>> net = Network([1, 1], activation="identity", output="identity", loss="half-squared-error")
        >>> twice = Definition("twice", ("j",), [(None, il.parse_expr("2 * z[1,j]"))])
        >>> net.evaluator(0, {"twice": twice}).eval(il.parse_expr("twice[1] - b[1,1]"), {})
        -b[1,1] + 2*(b[1,1] + x[1]*W[1,1,1])
        """
        return _Defined(self._context(i, None), definitions, ranges or {})

    def outputs(self, i: int, overrides=None) -> list:
        return [self.node(i, self.form.output, (self.L, k), overrides) for k in range(1, self.width(self.L) + 1)]

    def sample_loss(self, i: int, overrides=None):
        """The loss of sample ``i`` alone (not divided by m)."""
        return self.loss.value(self.outputs(i, overrides), self.y(i))

    @property
    def J(self):
        """The loss averaged over the m samples."""
        if not hasattr(self, "_J"):
            self._J = se.Add(*[self.sample_loss(i) for i in range(self.samples)]) / self.samples
        return self._J

    # --- random points --------------------------------------------------------------------
    def sample_point(self, rng, assumptions=frozenset()) -> dict:
        """Exact random values for every symbol: parameters and inputs in (-1, 1), targets as the loss needs."""
        point = {s: _rational(rng, -1, 1) for s in self.params}
        for i in range(self.samples):
            point.update({s: _rational(rng, -1, 1) for s in self.x(i)})
            ys = self.y(i)
            if self.loss.target == "real":
                point.update({s: _rational(rng, -1, 1) for s in ys})
            else:
                vals = [_rational(rng, 0, 1) for _ in ys]
                if "sum-y-is-1" in assumptions:
                    total = sum(vals)
                    vals = [v / total for v in vals]
                point.update(zip(ys, vals))
        return {s: number(v) for s, v in point.items()}

    def assumption_substitutions(self, assumptions) -> dict:
        """Substitutions that make an assumption hold exactly: y_K = 1 - sum_{k<K} y_k."""
        unknown = set(assumptions) - set(ASSUMPTIONS)
        if unknown:
            raise UsageError(f"unknown assumption {sorted(unknown)[0]!r}; expected one of: {', '.join(ASSUMPTIONS)}")
        subs = {}
        if "sum-y-is-1" in assumptions:
            for i in range(self.samples):
                ys = self.y(i)
                subs[ys[-1]] = 1 - se.Add(*ys[:-1])
        return subs

    # --- building ---------------------------------------------------------------------------
    def _read_rules(self) -> dict[str, list[Rule]]:
        rules: dict[str, list[Rule]] = {}
        for text, ranges in self.form.equations:
            where = f"formulation {self.form.name}: {text}"
            eq = il.parse_equation(text, where)
            rules.setdefault(eq.lhs.name, []).append(Rule(eq.lhs, eq.rhs, il.parse_ranges(ranges, where), text))
        return rules

    def constant(self, name):
        if name == "L":
            return self.L
        if name == "m":
            return self.samples
        raise ParseError(f"unknown name {name!r}")

    def size(self, name, idx):
        if name == self.form.size and len(idx) == 1:
            return self.width(idx[0])
        return None

    def in_ranges(self, ranges, env) -> bool:
        for var, lo, hi in ranges:
            if var not in env:
                continue
            if not self._ev.index(lo, env) <= env[var] <= self._ev.index(hi, env):
                return False
        return True

    def _match(self, ref: il.Ref, idx: tuple, ranges):
        """Bind the free indices of ``ref`` to ``idx``; None if literal indices or ranges disagree."""
        if len(ref.indices) != len(idx):
            return None
        env: dict = {}
        try:
            for pattern, value in zip(ref.indices, idx):
                if isinstance(pattern, il.Name) and pattern.name not in ("L", "m"):
                    if env.setdefault(pattern.name, value) != value:
                        return None
                elif self._ev.index(pattern, env) != value:
                    return None
            return env if self.in_ranges(ranges, env) else None
        except (IndexRangeError, KeyError):
            return None

    @property
    def symbols(self) -> dict:
        """(name, indices) -> the symbol of every parameter (constants such as theta[l,0,k] excluded)."""
        if self._symbols is None:
            self._symbols = self._enumerate_params()
        return self._symbols

    @property
    def params(self) -> list:
        return list(self.symbols.values())

    @property
    def param_names(self) -> dict:
        return {s: key for key, s in self.symbols.items()}

    def integer(self, tree, env: dict) -> int:
        """An index expression's value with the indices in ``env`` (widths, L and m known)."""
        return self._ev.index(tree, env)

    def holds(self, test, env: dict) -> bool:
        """Whether a condition on indices holds with the indices in ``env``."""
        return bool(self._ev.visit(test, env))

    def _check_equal_widths(self):
        where = f"formulation {self.form.name}"
        (var, lo, hi), = il.parse_ranges(self.form.equal_widths, where)
        layers = range(self.integer(lo, {}), self.integer(hi, {}) + 1)
        widths = {self.width(l) for l in layers}
        if len(widths) > 1:
            raise UsageError(f"the {self.form.name} form needs layers {layers.start}..{layers.stop - 1} of one width, "
                             f"got {self.architecture}")

    def _enumerate_params(self) -> dict:
        symbols: dict = {}
        for ref, ranges in self.param_ranges:
            for env in self.bindings(ranges, {}):
                idx = tuple(self._ev.index(i, env) for i in ref.indices)
                if self.rule_for(ref.name, idx) is None:  # a constant such as theta[l,0,k] is not a parameter
                    symbols[(ref.name, idx)] = se.Symbol(f"{ref.name}[{','.join(map(str, idx))}]")
        return symbols

    def bindings(self, ranges, env):
        """Every binding of the indices in ``ranges`` (in order, each range may use the indices before it)."""
        if not ranges:
            yield dict(env)
            return
        (var, lo, hi), rest = ranges[0], ranges[1:]
        try:
            lo_v, hi_v = self._ev.index(lo, env), self._ev.index(hi, env)
        except IndexRangeError:
            return
        for v in range(lo_v, hi_v + 1):
            yield from self.bindings(rest, {**env, var: v})

    def layer_nodes(self, l: int) -> list:
        """(name, indices) of every quantity an equation defines on layer ``l`` (with more than the layer index)."""
        if not hasattr(self, "_layer_nodes"):
            self._layer_nodes: dict = {}
            for name, rules in self.rules.items():
                for rule in rules:
                    if len(rule.lhs.indices) < 2:
                        continue
                    for env in self.bindings(rule.ranges, {}):
                        try:
                            idx = tuple(self._ev.index(i, env) for i in rule.lhs.indices)
                        except (IndexRangeError, ParseError, KeyError):
                            continue
                        self._layer_nodes.setdefault(idx[0], []).append((name, idx))
        return self._layer_nodes.get(l, [])

    def rule_for(self, name, idx):
        for rule in self.rules.get(name, ()):
            env = self._match(rule.lhs, idx, rule.ranges)
            if env is not None:
                return rule, env
        return None

    def is_param(self, name, idx) -> bool:
        return (name, idx) in self.symbols

    def input_symbol(self, name, idx, i):
        label = f"{name}[{','.join(map(str, idx))}]"
        return se.Symbol(label if self.samples == 1 else f"{label}@{i + 1}")

    def _context(self, i, overrides):
        key = (i, None if overrides is None else frozenset(overrides.items()))
        ctx = self._contexts.get(key)
        if ctx is None:
            if not 0 <= i < self.samples:
                raise IndexRangeError(f"sample {i + 1} does not exist; the network has {self.samples}")
            ctx = self._contexts[key] = _Context(self, i, dict(overrides or {}))
        return ctx


class _Sizes(SymEngineValues, il.Evaluator):
    """Evaluates ranges and indices: only the widths have a value."""

    def __init__(self, net: Network):
        self.net = net

    def constant(self, name):
        return self.net.constant(name)

    def ref(self, name, idx):
        size = self.net.size(name, idx)
        if size is None:
            raise ParseError(f"only the widths {self.net.form.size}[l] may appear in a range, got {name}")
        return size

    def apply(self, node, env):
        raise ParseError(f"{node.name}[...] may not appear in a range")


class _Context(SymEngineValues, il.Evaluator):
    """Evaluation of the forward equations for one sample, memoised, with optional overrides."""

    def __init__(self, net: Network, i: int, overrides: dict):
        self.net, self.i, self.overrides, self.memo = net, i, overrides, {}
        self.ev = self
        self.warm = net.first - 1  # every node of the layers up to this one is in the memo

    def warm_up(self, layer: int):
        """Every node below ``layer``, layer by layer from the input: a deep network's recursion stays shallow."""
        for l in range(self.warm + 1, layer):
            for name, idx in self.net.layer_nodes(l):
                if (name, idx) not in self.memo:
                    try:
                        self.resolve(name, idx)
                    except (IndexRangeError, ParseError):
                        pass  # a node the equations do not define here: resolved (and reported) where it is read
            self.warm = l

    def constant(self, name):
        value = self.named_constant(name)
        return self.net.constant(name) if value is None else value

    def ref(self, name, idx):
        return self.resolve(name, idx)

    def resolve(self, name, idx):
        key = (name, idx)
        if key in self.overrides:
            return self.overrides[key]
        if key in self.memo:
            return self.memo[key]
        net = self.net
        size = net.size(name, idx)
        if size is not None:
            return size
        found = net.rule_for(name, idx)
        if found is not None:
            if idx and isinstance(idx[0], int) and idx[0] - 1 > self.warm and name in net.rules:
                self.warm_up(idx[0])
            rule, env = found
            self.memo[key] = None  # marks a cycle
            try:
                value = self.ev.eval(rule.rhs, env)
            except BaseException:
                del self.memo[key]  # a failed evaluation leaves no cycle marker behind
                raise
        elif key in net.symbols:
            value = net.symbols[key]
        elif name in ("x", "y") and len(idx) == 1 and 1 <= idx[0] <= net.width(net.first if name == "x" else net.L):
            value = net.input_symbol(name, idx, self.i)
        else:
            raise IndexRangeError(f"{name}[{','.join(map(str, idx))}] is not defined by {net.form.name} for {net.architecture}")
        if value is None:
            raise ParseError(f"{name}[{','.join(map(str, idx))}] is defined in terms of itself")
        self.memo[key] = value
        return value

    def apply(self, node, env):
        return apply_activation(self, self.net, node, env)


def apply_activation(ev, net: Network, node, env):
    """A per-layer function ``g[l](u)`` or its derivative, with ``u`` evaluated by ``ev``."""
    name, arg = node.name, node.arg
    idx = tuple(ev.index(i, env) for i in node.indices)
    if len(idx) != 1 or name not in (net.form.activation, net.form.derivative):
        raise ParseError(
            f"unknown function {name}[{','.join(map(str, idx))}]; {net.form.name} knows "
            f"{net.form.activation}[l](.) and {net.form.derivative}[l](.)"
        )
    act = net.activation_for(idx[0])
    if act.elementwise:
        u = ev.eval(arg, env)
        return act.value(u) if name == net.form.activation else act.derivative(u)
    # A vector-valued activation needs the whole layer: its argument must be z[l,j].
    if not (isinstance(arg, il.Ref) and name == net.form.activation and len(arg.indices) == 2):
        raise ParseError(f"{act.name} is vector-valued: write {name}[l](z[l,j]), not {name}[l] of an expression")
    l, j = (ev.index(i, env) for i in arg.indices)
    zs = [ev.ref(arg.name, (l, k)) for k in range(1, net.width(l) + 1)]
    if not 1 <= j <= len(zs):
        return se.Integer(0)  # no bias node on the output of a vector activation
    return act.vector(zs)[j - 1]


class _Defined(SymEngineValues, il.Evaluator):
    """Trees over one sample's quantities and named definitions, such as a derived recursion's delta."""

    def __init__(self, context: _Context, definitions: dict, ranges: dict):
        self.context, self.definitions, self.memo = context, definitions, {}
        self.ranges = ranges  # name -> ranges of a layered definition's indices: evaluated layer by layer
        self.done: dict = {}  # name -> the lowest layer evaluated whole, from the top

    def warm_up(self, name: str, layer: int):
        """Every entry of a recursive definition above ``layer``, from the top down: the recursion stays shallow."""
        (var, lo, hi), *rest = self.ranges[name]
        top = self.context.net.integer(hi, {})
        for l in range(min(self.done.get(name, top + 1) - 1, top), layer, -1):
            self.done[name] = l
            for env in self.context.net.bindings(rest, {var: l}):
                try:
                    self.ref(name, (l, *(env[v] for v, _, _ in rest)))
                except IndexRangeError:
                    pass  # reported where it is read

    def constant(self, name):
        return self.context.constant(name)

    def apply(self, node, env):
        return apply_activation(self, self.context.net, node, env)

    def ref(self, name, idx):
        definition = self.definitions.get(name)
        if definition is None:
            return self.context.resolve(name, idx)
        key = (name, idx)
        if key in self.memo:
            return self.memo[key]
        if name in self.ranges and idx and idx[0] + 1 < self.done.get(name, idx[0] + 2):
            self.warm_up(name, idx[0])
        label = f"{name}[{','.join(map(str, idx))}]"
        if len(idx) != len(definition.indices):
            raise ParseError(f"{name} takes {len(definition.indices)} indices, got {label}")
        env = dict(zip(definition.indices, idx))
        for cond, value in definition.cases:
            if cond is None or self.visit(cond, env) is True:
                self.memo[key] = result = self.eval(value, env)
                return result
        raise IndexRangeError(f"no case of {name} applies at {label}")


def check_layers(layers) -> list[int]:
    if isinstance(layers, str):
        try:
            layers = [int(w) for w in layers.split(",")]
        except ValueError:
            raise UsageError(f"--layers must be comma-separated whole numbers such as 3,4,2, got {layers!r}") from None
    widths = list(layers)
    if len(widths) < 2:
        raise UsageError(f"--layers needs at least an input and an output width, such as 3,2; got {widths}")
    for w in widths:
        if not isinstance(w, int) or isinstance(w, bool) or w < 1:
            raise UsageError(f"every layer width must be a whole number >= 1, got {w!r} in {widths}")
    return widths


def _rational(rng, lo, hi) -> Fraction:
    """A random rational in (lo, hi) with a denominator of 10^6, never exactly 0."""
    while True:
        v = Fraction(rng.randrange(int(lo * 10**6) + 1, int(hi * 10**6)), 10**6)
        if v != 0:
            return v
