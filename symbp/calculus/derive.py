"""The backpropagation recursion derived from a formulation's forward equations, at the index level.

The derivative of the loss ``e`` of one sample by a node ``q[l,j]`` is the sum, over the equations that
read ``q``, of their local partial derivative by ``q[l,j]`` times the derivative of ``e`` by what they
define (and the loss's own partial where it reads ``q``). Each equation's partial is taken on the tree;
the sums over the equation's indices collapse on the Kronecker deltas that differentiation leaves, and the
conditions that the index ranges settle are decided. Every node family but the one the recursion is stated
for (``z``) is then eliminated, so that the result reads like the seeds::

    delta[l,j] = gprime[l](z[l,j]) * sum(W[l + 1, k, j] * delta[l + 1, k], (k, 1, n[l + 1]))   (l < L)

with the base case at ``l = L``, and each parameter's gradient ``d(e)/d(W[l,j,k]) = delta[l,j] * a[l-1,k]``.
Nothing here is written per formulation: a new layer is a new set of equations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from .. import lang as il
from ..errors import NotProvable, ParseError
from ..lang.scope import Definition
from ..model.activations import Activation
from ..model.formulations import Formulation
from ..model.functions import FUNCTIONS
from ..model.losses import Loss
from .indices import Indices
from .simplify import ONE, ZERO, Fresh, Simplifier, free_names, nice_names, subst

ADJOINT = "d_"
UNDEFINED = il.Ref("undefined", ())  # a node outside every equation's range  # internal names of the derivative of e by a node family: d_z[l,j], d_a[l,j]
DELTA = "delta"


@dataclass(frozen=True)
class Rule:
    """One forward equation: ``lhs = rhs`` for the indices in ``ranges``."""

    lhs: il.Ref
    rhs: object
    ranges: tuple  # ((var, lo, hi), ...)


@dataclass
class Gradient:
    """``d(e)/d(P[...]) = value`` for every parameter ``P[...]`` in ``ranges``."""

    ref: il.Ref
    ranges: list
    value: object

    @property
    def statement(self) -> str:
        return f"d(e)/d({il.to_text(self.ref)}) = {il.to_text(self.value)}"


@dataclass
class Recursion:
    """The derived recursion of one formulation with one output activation and loss."""

    family: str  # the node family delta is the derivative by (z)
    delta: Definition  # delta[l, j] by cases: the base case first, the general layer last
    ranges: list  # the ranges of delta's indices
    gradients: dict = field(default_factory=dict)  # parameter family -> Gradient

    @property
    def statements(self) -> list[str]:
        """The recursion as derivations write it: delta by cases, then each gradient."""
        idx = ", ".join(self.delta.indices)
        out = []
        for cond, value in self.delta.cases:
            where = f"  if {il.to_text(cond)}" if cond is not None else ("  otherwise" if len(self.delta.cases) > 1 else "")
            out.append(f"{DELTA}[{idx}] = {il.to_text(value)}{where}")
        return out + [g.statement for g in self.gradients.values()]


class Equations:
    """A formulation's equations as the calculus reads them, with one output activation and one loss:
    the rules (a vector-valued output written out on the last layer), the node families, the loss ``e`` in the
    network's quantities, partial derivatives on trees and nodes expanded by their equations."""

    def __init__(self, form: Formulation, output: Activation, loss: Loss):
        self.form, self.output, self.loss = form, output, loss
        equal = il.parse_ranges(form.equal_widths, f"formulation {form.name}") if form.equal_widths else []
        self.ix = Indices(form.size, form.first_layer, equal=tuple(equal[0][1:]) if equal else None)
        self.fresh = Fresh()
        self.s = Simplifier(self.ix, self.fresh)
        where = f"formulation {form.name}"
        self.rules = []
        for text, ranges in form.equations:
            eq = il.parse_equation(text, where)
            self.rules.append(Rule(eq.lhs, eq.rhs, tuple(il.parse_ranges(ranges, where))))
        self.params = [(il.parse_expr(ref, where), il.parse_ranges(rng, where)) for ref, rng in form.parameters]
        self.param_names = {ref.name for ref, _ in self.params}
        self.rules = self.instantiate_output(self.rules)
        self.nodes = self.node_families()
        self.e = self.loss_tree()

    # --- the equations as the derivation reads them ----------------------------------------------------
    def instantiate_output(self, rules):
        """A vector-valued output activation (softmax) written out where its layer index is L, from its catalog
        formula: an equation whose ``g[E]`` can reach the last layer is split at the layer where E = L."""
        if self.output.elementwise:
            return rules
        out = []
        for rule in rules:
            layer_var = _layer_var(rule)
            at = set()
            for node in il.walk(rule.rhs):
                if isinstance(node, il.Apply) and node.name == self.form.activation and node.indices:
                    if layer_var is None:
                        continue
                    value = self.ix.solve(node.indices[0], il.Name("L"), layer_var)
                    if value is None:
                        raise NotProvable(f"cannot tell where {il.to_text(node)} is on the last layer")
                    var, lo, hi = next(r for r in rule.ranges if r[0] == layer_var)
                    inside = self.ix.decide(il.BoolOp("and", (il.Compare("<=", lo, value), il.Compare("<=", value, hi))), {})
                    if inside is None:
                        raise NotProvable(f"cannot tell whether {il.to_text(node)} reaches the last layer")
                    if inside:
                        at.add(value)
            if not at:
                out.append(rule)
                continue
            if len(at) > 1:
                raise NotProvable(f"{il.to_text(rule.lhs)} reaches the last layer at several layers")
            (value,) = at
            var, lo, hi = next(r for r in rule.ranges if r[0] == layer_var)
            if self.ix.decide(il.Compare("==", value, hi), {}) is not True:
                raise NotProvable(f"{il.to_text(rule.lhs)} reaches the last layer below its top")
            below = tuple((v, l, il.BinOp("-", h, ONE)) if v == layer_var else (v, l, h) for v, l, h in rule.ranges)
            out.append(Rule(rule.lhs, rule.rhs, below))
            last = {layer_var: value}
            lhs = subst(rule.lhs, last, self.fresh)
            rhs = self.expand_vector(subst(rule.rhs, last, self.fresh))
            ranges = tuple((v, subst(l, last, self.fresh), subst(h, last, self.fresh)) for v, l, h in rule.ranges
                           if v != layer_var)
            out.append(Rule(lhs, rhs, ranges))
        return out

    def expand_vector(self, rhs):
        """``g[L](z[L,j])`` replaced by the vector-valued activation's formula over the layer ``z[L, .]``."""
        def replace(node):
            if (isinstance(node, il.Apply) and node.name == self.form.activation and node.indices
                    and self.ix.decide(il.Compare("==", node.indices[0], il.Name("L")), {}) is True):
                arg = node.arg
                if not (isinstance(arg, il.Ref) and len(arg.indices) >= 2):
                    raise NotProvable(f"{self.output.name} is vector-valued: write {node.name}[l](z[l,j])")
                layer = arg.indices[:-1]
                u = lambda k: il.Ref(arg.name, (*layer, k))  # noqa: E731
                width = il.Ref(self.form.size, (layer[0],))
                return _expand(self.output.trees["value"], u, {"j": arg.indices[-1], "K": width}, self.fresh)
            return _map_children(node, replace)
        return replace(rhs)

    def node_families(self) -> set:
        """The quantities computed from the inputs or the parameters (constants such as C are not)."""
        reads = {}
        for rule in self.rules:
            reads.setdefault(rule.lhs.name, set()).update(il.names_in(rule.rhs))
        nodes, changed = set(), True
        sources = {"x"} | self.param_names
        while changed:
            changed = False
            for name, names in reads.items():
                if name not in nodes and name not in self.param_names and names & (sources | nodes):
                    nodes.add(name)
                    changed = True
        return nodes

    def loss_tree(self):
        """The loss of one sample in the network's own quantities: ``yhat[k]`` is the output node on layer L."""
        out = lambda k: il.Ref(self.form.output, (il.Name("L"), k))  # noqa: E731
        return _expand(self.loss.trees["value"], out, {"K": il.Ref(self.form.size, (il.Name("L"),))}, self.fresh,
                       name="yhat")

    # --- index ranges of every family ---------------------------------------------------------------
    def family_ranges(self, name) -> tuple:
        """(index names, {name: (lo, hi)}) of a node family, from its general rule and every rule's layers."""
        rules = [r for r in self.rules if r.lhs.name == name]
        general = max(rules, key=lambda r: sum(isinstance(i, il.Name) and i.name in _vars(r) for i in r.lhs.indices))
        names = tuple(i.name if isinstance(i, il.Name) else f"i{k}" for k, i in enumerate(general.lhs.indices))
        ranges = {}
        for var, lo, hi in general.ranges:
            if var in names:
                ranges[var] = (lo, hi)
        layer = names[0]
        lows, highs = [], []
        for r in rules:
            first = r.lhs.indices[0]
            if isinstance(first, il.Name) and first.name in _vars(r):
                bounds = next((lo, hi) for v, lo, hi in r.ranges if v == first.name)
                lows.append(bounds[0])
                highs.append(bounds[1])
            else:
                lows.append(first)
                highs.append(first)
        ranges[layer] = (self.least(lows), self.greatest(highs))
        return names, ranges

    def least(self, values):
        return self.extreme(values, "<=", "lowest")

    def greatest(self, values):
        return self.extreme(values, ">=", "highest")

    def extreme(self, values, op, what):
        """The value that is op every other for every depth (the hull of the rules' layers)."""
        for v in values:
            if all(self.ix.decide(il.Compare(op, v, w), {}) is True for w in values):
                return v
        raise NotProvable(f"cannot tell the {what} layer of {', '.join(map(il.to_text, values))} for every depth")

    # --- partial derivatives on the tree --------------------------------------------------------------
    def partial(self, node, family: str, target: tuple):
        """d node / d family[target], the other quantities held fixed."""
        t = type(node)
        if t in (il.Num, il.Name, il.Kronecker):
            return ZERO
        if t is il.Ref:
            if node.name != family:
                return ZERO
            out = ONE
            for a, b in zip(node.indices, target):
                out = il.BinOp("*", out, il.Kronecker(a, b))
            return out
        if t is il.Neg:
            return il.Neg(self.partial(node.operand, family, target))
        if t is il.BinOp:
            a, b = node.left, node.right
            da, db = self.partial(a, family, target), self.partial(b, family, target)
            if node.op in "+-":
                return il.BinOp(node.op, da, db)
            if node.op == "*":
                return il.BinOp("+", il.BinOp("*", da, b), il.BinOp("*", a, db))
            if node.op == "/":
                return il.BinOp("-", il.BinOp("/", da, b), il.BinOp("/", il.BinOp("*", a, db), il.BinOp("**", b, il.Num(Fraction(2)))))
            if node.op == "**":
                if family not in il.names_in(b):
                    return il.BinOp("*", il.BinOp("*", b, il.BinOp("**", a, il.BinOp("-", b, ONE))), da)
                log_a = il.Fn("log", (a,))
                return il.BinOp("*", node, il.BinOp("+", il.BinOp("*", db, log_a), il.BinOp("/", il.BinOp("*", b, da), a)))
            raise NotProvable(f"'{node.op}' has no derivative in an index-level equation")
        if t is il.Sum:
            return il.Sum(self.partial(node.body, family, target), node.var, node.lo, node.hi)
        if t is il.Cond:
            return il.Cond(node.test, self.partial(node.then, family, target), self.partial(node.orelse, family, target))
        if t is il.Apply:
            return il.BinOp("*", il.Apply(self.derivative_of(node.name), node.indices, node.arg),
                            self.partial(node.arg, family, target))
        if t is il.Fn:
            entry = FUNCTIONS[node.name]
            out = ZERO
            for k, (text, arg) in enumerate(zip(entry.partials, node.args)):
                d_arg = self.partial(arg, family, target)
                local = subst(il.parse_expr(text), dict(zip("uv", node.args)), self.fresh)
                out = il.BinOp("+", out, il.BinOp("*", local, d_arg))
            return out
        raise NotProvable(f"{type(node).__name__} cannot be differentiated in a forward equation")

    def derivative_of(self, name: str) -> str:
        if name == self.form.activation:
            return self.form.derivative
        raise NotProvable(f"{name}[l](...) is not the formulation's activation {self.form.activation}[l]")

    # --- nodes expanded by their equations --------------------------------------------------------------
    def definition(self, ref: il.Ref, ctx: dict):
        """The tree that defines a node ``ref`` (its indices symbolic): the first equation that applies."""
        chain = []
        for rule in self.rules:
            if rule.lhs.name != ref.name or len(rule.lhs.indices) != len(ref.indices):
                continue
            mapping, conds = {}, []
            for pattern, value in zip(rule.lhs.indices, ref.indices):
                if isinstance(pattern, il.Name) and pattern.name in _vars(rule) and pattern.name not in mapping:
                    mapping[pattern.name] = value
                else:
                    conds.append(il.Compare("==", subst(pattern, mapping, self.fresh), value))
            for var, lo, hi in rule.ranges:
                if var in mapping:
                    conds += [il.Compare("<=", subst(lo, mapping, self.fresh), mapping[var]),
                              il.Compare("<=", mapping[var], subst(hi, mapping, self.fresh))]
            test = conds[0] if len(conds) == 1 else il.BoolOp("and", tuple(conds)) if conds else None
            verdict = True if test is None else self.s.condition(test, ctx)
            if verdict is False:
                continue
            value = subst(_fresh_bound(rule.rhs, self.fresh), mapping, self.fresh)
            chain.append((verdict, value))
            if verdict is True:
                break
        if not chain:
            raise NotProvable(f"no equation defines {il.to_text(ref)}")
        # where no equation is sure to apply, the conditions stay: the ranges around the node settle them later,
        # or the node is "undefined" and nothing is proved with it
        out = chain[-1][1] if chain[-1][0] is True else il.Cond(chain[-1][0], chain[-1][1], UNDEFINED)
        for test, value in reversed(chain[:-1]):
            out = il.Cond(test, value, out)
        return out

    def expand(self, tree, stop: set, ctx: dict, depth: int = 0):
        """Every node of a family not in ``stop`` replaced by its defining tree (under the ranges of the sums
        around it), until only ``stop`` nodes are left."""
        if depth > 32:
            raise NotProvable(f"the nodes do not expand to {', '.join(sorted(stop))}: a node defined by itself")
        if isinstance(tree, il.Sum):
            inner = {**ctx, tree.var: (tree.lo, tree.hi)}
            return il.Sum(self.expand(tree.body, stop, inner, depth), tree.var, tree.lo, tree.hi)
        if isinstance(tree, il.Ref) and tree.name in self.nodes and tree.name not in stop:
            return self.expand(self.definition(tree, ctx), stop, ctx, depth + 1)
        return _map_children(tree, lambda c: self.expand(c, stop, ctx, depth))


class Derivation(Equations):
    """Derives :class:`Recursion` for one formulation, output activation and loss."""

    # --- the adjoint equations --------------------------------------------------------------------------
    def adjoint(self, family: str, names: tuple, ranges: dict):
        """d e / d family[names]: every equation that reads the family, and the loss."""
        target = tuple(il.Name(n) for n in names)
        terms = []
        for rule in self.rules:
            if family not in il.names_in(rule.rhs):
                continue
            renamed = {v: il.Name(self.fresh(v)) for v, _, _ in rule.ranges}
            rhs = subst(_fresh_bound(rule.rhs, self.fresh), renamed, self.fresh)
            lhs = subst(rule.lhs, renamed, self.fresh)
            local = self.partial(rhs, family, target)
            term = il.BinOp("*", local, il.Ref(ADJOINT + lhs.name, lhs.indices))
            for v, lo, hi in reversed(rule.ranges):
                term = il.Sum(term, renamed[v].name, subst(lo, renamed, self.fresh), subst(hi, renamed, self.fresh))
            terms.append(term)
        if family in il.names_in(self.e):
            terms.append(self.partial(_fresh_bound(self.e, self.fresh), family, target))
        total = ZERO
        for t in terms:
            total = il.BinOp("+", total, t)
        return self.s.simp(total, ranges)

    def derive(self) -> Recursion:
        family = self.form.delta
        if family not in self.nodes:
            raise NotProvable(f"the formulation {self.form.name} defines no node family {family!r} to state delta for")
        adjoints, domains = {}, {}
        for name in sorted(self.nodes):
            names, ranges = self.family_ranges(name)
            domains[name] = (names, ranges)
            adjoints[name] = self.adjoint(name, names, ranges)
        eliminated = self.eliminate(adjoints, domains, family)
        names, ranges = domains[family]
        value = self.rename_delta(eliminated[family], family)
        cases = self.cases(value, names[0], ranges)
        delta = Definition(DELTA, names, cases)
        gradients = {}
        for ref, rng in self.params:
            pnames = tuple(i.name for i in ref.indices)
            pranges = {v: (lo, hi) for v, lo, hi in rng}
            g = self.adjoint(ref.name, pnames, pranges)
            g = self.rename_delta(self.substitute(g, eliminated, domains, family, pranges), family)
            gradients[ref.name] = Gradient(ref, list(rng), nice_names(self.s.simp(g, pranges), frozenset(pnames)))
        return Recursion(family, delta, [(v, *ranges[v]) for v in names], gradients)

    def eliminate(self, adjoints, domains, family):
        """Every adjoint but the delta family's written in the delta family's alone."""
        done = dict(adjoints)
        for _ in range(len(adjoints) + 1):
            changed = False
            for name, value in done.items():
                new = self.substitute(value, done, domains, family, domains[name][1])
                if new != value:
                    done[name], changed = new, True
            if not changed:
                return done
        left = sorted({n.name[len(ADJOINT):] for v in done.values() for n in il.walk(v)
                       if isinstance(n, il.Ref) and n.name.startswith(ADJOINT)} - {family})
        raise NotProvable(f"the recursion does not close over {family}: {', '.join(left)} depend on each other "
                          "on one layer")

    def substitute(self, value, adjoints, domains, family, ranges):
        """Each adjoint reference of a family other than ``family`` replaced by that family's adjoint."""
        def replace(node):
            if isinstance(node, il.Ref) and node.name.startswith(ADJOINT) and node.name[len(ADJOINT):] != family:
                name = node.name[len(ADJOINT):]
                names = domains[name][0]
                if name not in adjoints:
                    return ZERO  # a family the loss does not depend on
                return subst(adjoints[name], dict(zip(names, node.indices)), self.fresh)
            return _map_children(node, replace)
        new = replace(value)
        return value if new == value else self.s.simp(new, ranges)

    def rename_delta(self, value, family):
        def replace(node):
            if isinstance(node, il.Ref) and node.name == ADJOINT + family:
                return il.Ref(DELTA, node.indices)
            return _map_children(node, replace)
        return replace(value)

    def cases(self, value, layer: str, ranges: dict):
        """The value split on the layer: the top layers where a condition on it is undecided, then the rest."""
        out = []
        ctx = dict(ranges)
        for _ in range(4):
            if not self.undecided_on(value, layer):
                break
            lo, hi = ctx[layer]
            top = {layer: hi}
            at = {v: (subst(a, top, self.fresh), subst(b, top, self.fresh)) for v, (a, b) in ctx.items()}
            at_top = self.s.simp(subst(value, top, self.fresh), {**at, layer: (hi, hi)})
            out.append((il.Compare("==", il.Name(layer), hi), nice_names(at_top, frozenset(ranges))))
            ctx[layer] = (lo, self.ix.norm(il.BinOp("-", hi, ONE)))
            value = self.s.simp(value, ctx)
        out.append((None, nice_names(value, frozenset(ranges))))
        return out

    def undecided_on(self, value, layer) -> bool:
        for n in il.walk(value):
            if isinstance(n, il.Cond) and layer in free_names(n.test):
                return True
            if isinstance(n, il.Kronecker) and layer in free_names((n.p, n.q)):
                return True
        return False


def _vars(rule: Rule) -> set:
    return {v for v, _, _ in rule.ranges}


def _layer_var(rule: Rule):
    first = rule.lhs.indices[0] if rule.lhs.indices else None
    return first.name if isinstance(first, il.Name) else None


def _map_children(node, f):
    if isinstance(node, tuple):
        return tuple(f(n) for n in node)
    if hasattr(node, "__dataclass_fields__"):
        return type(node)(**{k: f(getattr(node, k)) if not isinstance(getattr(node, k), (str, Fraction))
                             else getattr(node, k) for k in node.__dataclass_fields__})
    return node


def _expand(formula, ref, names: dict, fresh: Fresh, name="u"):
    """A catalog formula with ``name[k]`` replaced by ``ref(k)`` and its bare names bound to trees."""
    def replace(node):
        if isinstance(node, il.Ref) and node.name == name and len(node.indices) == 1:
            return ref(replace(node.indices[0]))
        return _map_children(node, replace)
    renamed = {v: il.Name(fresh(v)) for v in _bound(formula)}
    body = formula
    for v, new in renamed.items():
        body = _rebind(body, v, new.name)
    return subst(replace(body), names, fresh)


def _fresh_bound(node, fresh: Fresh):
    """Every sum's own index renamed to a fresh name, so that no target index is captured."""
    for v in sorted(_bound(node)):
        node = _rebind(node, v, fresh(v))
    return node


def _bound(node) -> set:
    return {n.var for n in il.walk(node) if isinstance(n, il.Sum)}


def _rebind(node, var, new):
    if isinstance(node, il.Sum) and node.var == var:
        return il.Sum(subst(node.body, {var: il.Name(new)}, Fresh()), new, node.lo, node.hi)
    return _map_children(node, lambda n: _rebind(n, var, new))


def derive(form: Formulation, output: Activation, loss: Loss) -> Recursion:
    """The recursion of ``form`` with this output activation and loss, derived from its equations.

    >>> from symbp.model.formulations import get_formulation
    >>> from symbp.model.activations import get_activation
    >>> from symbp.model.losses import get_loss
    >>> r = derive(get_formulation("explicit-bias"), get_activation("identity"), get_loss("half-squared-error"))
    >>> print("\\n".join(r.statements))
    delta[l, j] = gprime[L](z[L, j]) * (a[L, j] - y[j])  if l == L
    delta[l, j] = gprime[l](z[l, j]) * sum(delta[l + 1, k] * W[l + 1, k, j], (k, 1, n[l + 1]))  otherwise
    d(e)/d(W[l, j, k]) = delta[l, j] * a[l - 1, k]
    d(e)/d(b[l, j]) = delta[l, j]
    """
    try:
        return Derivation(form, output, loss).derive()
    except ParseError as exc:
        raise NotProvable(f"cannot derive the recursion of {form.name}: {exc}") from None


__all__ = ["Derivation", "Gradient", "Recursion", "derive"]
