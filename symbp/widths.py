"""A derivation file's own claims proved for every width: the widths become positive integer symbols.

The file's network is rebuilt at the depth of its architectures with widths ``n_0 .. n_L`` (or
``S_1 .. S_L``) and, with several samples, the batch size ``m`` as SymPy symbols, by evaluating the
formulation's own index-form equations. A node defined by a sum (``z``) stays an opaque indexed
symbol ``z^l[j]``, so expressions stay small; an identity that holds with the nodes as free symbols
holds whatever values they take. Derivatives are taken by differentiating the defining equations
(``d(W^l[k,i])/d(W^l[p,q]) = I(k,p) I(i,q)``, seed 002 eq (10)), never written in. A claim is proved
when ``lhs - rhs`` reduces to 0 for a generic value of each free index; where it does not, the
lowest value of an index (the bias node 0) is split off and both parts are tried. Every range
condition is decided soundly or left undecided, so a wrong claim is never proved: it is refused.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import sympy as sp

from . import indexlang as il
from .activations import get_activation
from .claims import ACTIVATION_NAMES, DERIVATIVE_NAMES, Scope
from .errors import NotProvable
from .formulations import Formulation
from .losses import get_loss
from .network import _DEFAULT_OUTPUT

POS = {"integer": True, "positive": True}
_LIMITS = (sp.Sum, sp.Product)  # what binds an index (SymPy writes exp of a sum as a product)
_t = sp.Symbol("_t")  # the direction parameter of a derivative: d expr(target + t) / dt at t = 0


# --- deciding range conditions soundly --------------------------------------------------------
def decide(cond, ranges) -> bool | None:
    """True or False when the index ranges settle ``cond`` for every value in them, else None.

    Each comparison is linear in the indices, so its sign over a box of indices is settled at the
    box's corners; ``==`` is false only when one side is strictly above (or below) the other.
    """
    if cond is sp.true or cond is True:
        return True
    if cond is sp.false or cond is False:
        return False
    if isinstance(cond, sp.And):
        vals = [decide(c, ranges) for c in cond.args]
        return False if False in vals else (True if all(vals) else None)
    if isinstance(cond, sp.Or):
        vals = [decide(c, ranges) for c in cond.args]
        return True if True in vals else (False if all(v is False for v in vals) else None)
    if isinstance(cond, sp.Not):
        v = decide(cond.args[0], ranges)
        return None if v is None else not v
    if isinstance(cond, sp.Eq):
        f = sp.expand(cond.lhs - cond.rhs)
        if f == 0:
            return True
        if _everywhere(f > 0, f, ranges) or _everywhere(f < 0, f, ranges):
            return False
        return None
    if isinstance(cond, sp.Ne):
        v = decide(sp.Eq(*cond.args), ranges)
        return None if v is None else not v
    if isinstance(cond, (sp.StrictLessThan, sp.LessThan, sp.StrictGreaterThan, sp.GreaterThan)):
        f = sp.expand(cond.lhs - cond.rhs)
        if _everywhere(cond, f, ranges):
            return True
        if _everywhere(cond.negated, f, ranges):
            return False
    return None


def _everywhere(rel, f, ranges) -> bool:
    """Whether the linear relation ``rel`` (in ``f``'s indices) holds at every corner of their box."""
    if rel is sp.true:
        return True
    if rel is sp.false:
        return False
    names = [s for s in f.free_symbols if s in ranges]
    if not names:
        return bool(rel.simplify() is sp.true) if not isinstance(rel, bool) else rel
    try:
        if sp.Poly(f, *names).total_degree() > 1:
            return False
    except sp.PolynomialError:
        return False
    for corner in itertools.product(*[ranges[s] for s in names]):
        value = rel.subs(dict(zip(names, corner)))
        if value is sp.true:
            continue
        if value is sp.false or not isinstance(value, sp.Rel):
            return False
        if _nonempty_implies(value, [ranges[s] for s in names]):
            continue
        # a corner given by another index: its own corners decide
        if not _everywhere(value, sp.expand(value.lhs - value.rhs), ranges):
            return False
    return True


def _nonempty_implies(rel, ranges) -> bool:
    """Whether ``rel`` follows from one of ``ranges`` being non-empty.

    Only the ranges of the indices being decided are given: where one is empty there is no value
    to decide for, so any verdict holds.
    """
    if isinstance(rel, (sp.GreaterThan, sp.StrictGreaterThan)):
        f = rel.lhs - rel.rhs
    elif isinstance(rel, (sp.LessThan, sp.StrictLessThan)):
        f = rel.rhs - rel.lhs
    else:
        return False
    if isinstance(rel, (sp.StrictGreaterThan, sp.StrictLessThan)):
        f -= 1  # integers
    for lo, hi in ranges:
        c = sp.expand(f - (hi - lo))
        if c.is_Integer and c >= 0:
            return True
    return False


# --- the network with symbolic widths ---------------------------------------------------------
@dataclass
class _Rule:
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
        self.rules: dict[str, list[_Rule]] = {}
        for text, ranges in formulation.equations:
            eq = il.parse_equation(text, f"formulation {formulation.name}")
            opaque = any(isinstance(n, il.Sum) for n in il.walk(eq.rhs))
            self.rules.setdefault(eq.lhs.name, []).append(
                _Rule(eq.lhs, eq.rhs, il.parse_ranges(ranges, f"formulation {formulation.name}"), opaque))
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


# --- evaluating statements ----------------------------------------------------------------------
@dataclass
class _Ctx:
    """What one evaluation knows: the ranges of its indices, the current sample, cut nodes."""

    ranges: dict = field(default_factory=dict)  # index symbol -> (lo, hi)
    sample: object = None
    cuts: frozenset = frozenset()  # (name, layer) kept opaque and independent (derivative targets)


class Evaluator:
    """Evaluates a derivation's statements on a :class:`WidthNetwork` as SymPy expressions."""

    def __init__(self, wn: WidthNetwork, scope: Scope, counter=None):
        self.wn, self.scope = wn, scope
        self._counter = counter or itertools.count()
        # the formulation's equations are read in their own vocabulary, without the file's aliases
        self.plain = self if not (scope.aliases or scope.definitions) else Evaluator(wn, Scope(), self._counter)

    def fresh(self, name, ctx, lo, hi):
        s = sp.Symbol(f"{name}_{next(self._counter)}", integer=True)
        ctx.ranges[s] = (lo, hi)
        return s

    # --- indices --------------------------------------------------------------------------------
    def index(self, node, env, ctx):
        t = type(node)
        if t is il.Num:
            if node.value.denominator != 1:
                raise NotProvable(f"the index {node.value} is a fraction")
            return sp.Integer(int(node.value))
        if t is il.Name:
            name = self.scope.aliases.get(node.name, node.name)
            if node.name in env:
                return env[node.name]
            if name == "L":
                return sp.Integer(self.wn.L)
            if name in ("m", "N"):
                return self.wn.m
            raise NotProvable(f"unknown index {node.name!r}")
        if t is il.Ref:
            name = self.scope.aliases.get(node.name, node.name)
            if name == self.wn.form.size and len(node.indices) == 1:
                return self.width(self.index(node.indices[0], env, ctx))
            raise NotProvable(f"{node.name}[...] is not a width and cannot be an index")
        if t is il.BinOp and node.op in "+-*":
            a, b = self.index(node.left, env, ctx), self.index(node.right, env, ctx)
            return {"+": a + b, "-": a - b, "*": a * b}[node.op]
        if t is il.Neg:
            return -self.index(node.operand, env, ctx)
        raise NotProvable(f"{il.to_text(node)} cannot be an index")

    def layer(self, value) -> int:
        if not value.is_Integer:
            raise NotProvable(f"the layer index {value} is not a number at a fixed depth")
        return int(value)

    def width(self, l):
        l = self.layer(l)
        if l not in self.wn.sizes:
            raise NotProvable(f"layer {l} does not exist at depth {self.wn.L - self.wn.first}")
        return self.wn.sizes[l]

    # --- values ---------------------------------------------------------------------------------
    def eval(self, node, env, ctx: _Ctx):
        method = getattr(self, "_eval_" + type(node).__name__, None)
        if method is None:
            raise NotProvable(f"{il.to_text(node)} has no meaning for every width")
        return method(node, env, ctx)

    def _eval_Num(self, node, env, ctx):
        return sp.Rational(node.value.numerator, node.value.denominator)

    def _eval_Name(self, node, env, ctx):
        name = self.scope.aliases.get(node.name, node.name)
        if node.name in env:
            return env[node.name]
        if name in self.scope.constants:
            return sp.Symbol(name)
        if name in ("L", "m", "N"):
            return self.index(node, env, ctx)
        if name == "e":
            return self.sample_loss(ctx.sample, ctx)
        if name == "J":
            if self.wn.m == 1:
                return self.sample_loss(ctx.sample, ctx)
            s = self.fresh("i", ctx, 1, self.wn.m)
            return sp.Sum(self.sample_loss(s, ctx), (s, 1, self.wn.m)) / self.wn.m
        if name in self.scope.definitions:
            return self.definition(name, (), ctx)
        raise NotProvable(f"{node.name} is not an indexed quantity (a matrix-form name?)")

    def _eval_Ref(self, node, env, ctx):
        name = self.scope.aliases.get(node.name, node.name)
        idx = tuple(self.index(i, env, ctx) for i in node.indices)
        if name in self.scope.definitions:
            return self.definition(name, idx, ctx)
        if name == self.wn.form.size and len(idx) == 1:
            return self.width(idx[0])
        return self.resolve(name, idx, ctx)

    def _eval_BinOp(self, node, env, ctx):
        if node.op == "@":
            raise NotProvable("matrix products are checked at the listed sizes only; write the claim in index form")
        a, b = self.eval(node.left, env, ctx), self.eval(node.right, env, ctx)
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "**": a**b}[node.op]

    def _eval_Neg(self, node, env, ctx):
        return -self.eval(node.operand, env, ctx)

    def _eval_Kronecker(self, node, env, ctx):
        return sp.KroneckerDelta(self.index(node.p, env, ctx), self.index(node.q, env, ctx))

    def _eval_Cond(self, node, env, ctx):
        test = self.condition(node.test, env, ctx)
        verdict = decide(test, ctx.ranges)
        if verdict is not None:
            return self.eval(node.then if verdict else node.orelse, env, ctx)
        return sp.Piecewise((self.eval(node.then, env, ctx), test), (self.eval(node.orelse, env, ctx), True))

    def condition(self, node, env, ctx):
        if not isinstance(node, il.Compare):
            raise NotProvable("a condition must compare indices")
        a, b = self.index(node.left, env, ctx), self.index(node.right, env, ctx)
        return {"==": sp.Eq, "!=": sp.Ne, "<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge}[node.op](a, b)

    def _eval_Sum(self, node, env, ctx):
        lo, hi = self.index(node.lo, env, ctx), self.index(node.hi, env, ctx)
        return self.sum(lambda k: self.eval(node.body, {**env, node.var: k}, ctx), node.var, lo, hi, ctx)

    def sum(self, body, var, lo, hi, ctx, peel=2):
        """sum over var in lo..hi; the first term is split off while the body depends on it."""
        if (hi - lo).is_Integer:
            if hi < lo:
                raise NotProvable(f"the sum over {var} has an empty range {lo}..{hi}")
            return sp.Add(*[body(sp.Integer(v)) for v in range(int(lo), int(hi) + 1)])
        if decide(sp.Ge(hi - lo + 1, 0), ctx.ranges) is not True:
            raise NotProvable(f"the sum over {var} from {lo} to {hi} can have a negative length for small widths")
        k = self.fresh(var, ctx, lo, hi)
        value = body(k)
        undecided = any(k in p.free_symbols for pw in value.atoms(sp.Piecewise) for _, c in pw.args for p in [c])
        if undecided and peel:
            return body(lo) + self.sum(body, var, lo + 1, hi, ctx, peel - 1)
        return sp.Sum(value, (k, lo, hi))

    def _eval_Apply(self, node, env, ctx):
        alias = self.scope.aliases.get(node.name)
        name = alias if alias in ACTIVATION_NAMES | DERIVATIVE_NAMES else node.name
        if name not in ACTIVATION_NAMES | DERIVATIVE_NAMES or len(node.indices) != 1:
            raise NotProvable(f"unknown function {node.name}")
        return self.apply(name in DERIVATIVE_NAMES, self.layer(self.index(node.indices[0], env, ctx)), node.arg, env, ctx)

    def apply(self, derivative, l, arg, env, ctx):
        act = self.wn.activation_for(l)
        if act.elementwise:
            u = self.eval(arg, env, ctx)
            return _activation(act, u, derivative)
        if derivative or not (isinstance(arg, il.Ref) and len(arg.indices) == 2):
            raise NotProvable(f"{act.name} is vector-valued: only {act.name}(z[l,j]) has a meaning")
        name = self.scope.aliases.get(arg.name, arg.name)
        l2, j = (self.index(i, env, ctx) for i in arg.indices)
        z = lambda k: self.resolve(name, (l2, k), ctx)  # noqa: E731
        k = self.fresh("k", ctx, 1, self.width(l2))
        return sp.exp(z(j)) / sp.Sum(sp.exp(z(k)), (k, 1, self.width(l2)))

    def _eval_Call(self, node, env, ctx):
        if node.name != "samplesum":
            raise NotProvable(f"{node.name}(...) is a matrix operation; write the claim in index form")
        body, (var, lo, hi) = node.args[0], node.args[1]
        lo, hi = self.index(lo, env, ctx), self.index(hi, env, ctx)
        if decide(sp.And(sp.Ge(lo, 1), sp.Le(hi, self.wn.m)), ctx.ranges) is not True:
            raise NotProvable(f"the sum over samples runs from {lo} to {hi}; samples run from 1 to m")
        if self.wn.m == 1:
            return self.eval(body, {**env, var.name: sp.Integer(1)}, _with(ctx, sample=None))
        s = self.fresh(var.name, ctx, lo, hi)
        return sp.Sum(self.eval(body, {**env, var.name: s}, _with(ctx, sample=s)), (s, lo, hi))

    def _eval_Deriv(self, node, env, ctx):
        wrt = node.wrt
        if not isinstance(wrt, il.Ref):
            raise NotProvable("differentiate with respect to an indexed quantity")
        name = self.scope.aliases.get(wrt.name, wrt.name)
        idx = tuple(self.index(i, env, ctx) for i in wrt.indices)
        target = self.base(name, idx, ctx)
        if target is None:
            raise NotProvable(f"{name}[...] is not a variable of the network")
        base, rest = target
        if name not in self.wn.per_sample:
            return self.derivative(self.eval(node.of, env, ctx), base, rest, ctx)
        # a node: every quantity computed from it with the node itself held as a free variable
        l = self.layer(idx[0])
        cut = _with(ctx, cuts=ctx.cuts | {(name, l)})
        value = self.derivative(self.eval(node.of, env, cut), base, rest, cut)
        back = lambda atom: self.resolve(name, *self.node_index(l, atom.indices, ctx))  # noqa: E731 (its own value)
        return value.replace(lambda e: isinstance(e, sp.Indexed) and e.base == base, back)

    # --- the network's quantities -----------------------------------------------------------------
    def base(self, name, idx, ctx):
        """(IndexedBase, indices) of a per-layer quantity: the layer is part of the base's name."""
        if not idx:
            return None
        if name in ("x", "y") and len(idx) == 1:
            return sp.IndexedBase(name), self.per_sample(idx, ctx)
        l = self.layer(idx[0])
        per_sample = name in self.wn.per_sample
        rest = self.per_sample(idx[1:], ctx) if per_sample else tuple(idx[1:])
        return sp.IndexedBase(f"{name}^{l}"), rest

    def per_sample(self, idx, ctx):
        return ((ctx.sample,) if self.wn.m != 1 else ()) + tuple(idx)

    def resolve(self, name, idx, ctx):
        """A network quantity: a cut or opaque node, a rule's value, a parameter, an input or target."""
        wn = self.wn
        if name in wn.per_sample and idx and idx[0].is_Integer and (name, int(idx[0])) in ctx.cuts:
            base, rest = self.base(name, idx, ctx)
            return base[rest]
        pieces = []
        for rule in wn.rules.get(name, ()):
            match = self.match(rule.lhs, rule.ranges, idx, ctx)
            if match is None:
                continue
            cond, renv = match
            verdict = decide(cond, ctx.ranges)
            if verdict is False:
                continue
            if rule.opaque:
                base, rest = self.base(name, idx, ctx)
                value = base[rest]
            else:
                value = self.plain.eval(rule.rhs, renv, ctx)
            if verdict:
                return _piecewise(pieces, value)
            pieces.append((value, cond))
        leaf = self.leaf(name, idx, ctx)
        label = f"{name}[{', '.join(map(str, idx))}]"
        if leaf is None:
            if name in wn.rules:
                raise NotProvable(f"{label} lies outside the range of its indices for some widths")
            raise NotProvable(f"{label} is not a quantity of the {wn.form.name} form")
        value, cond = leaf
        verdict = decide(cond, ctx.ranges)
        if verdict is True:
            return _piecewise(pieces, value)
        if verdict is None and pieces:  # the cases together must cover every index value; split later
            return sp.Piecewise(*pieces, (value, cond))
        raise NotProvable(f"{label} lies outside the range of its indices for some widths")

    def definition_of(self, name, idx, ctx):
        """The defining equation's right-hand side of a sum-defined node (one level)."""
        for rule in self.wn.rules.get(name, ()):
            match = self.match(rule.lhs, rule.ranges, idx, ctx)
            if match is not None and decide(match[0], ctx.ranges) is True:
                return self.plain.eval(rule.rhs, match[1], ctx)
        raise NotProvable(f"no equation defines {name}[{', '.join(map(str, idx))}] for every width")

    def leaf(self, name, idx, ctx):
        """(value, condition) of a parameter, input or target; None when the name is none of these."""
        if name in ("x", "y") and len(idx) == 1:
            layer = self.wn.first if name == "x" else self.wn.L
            base, rest = self.base(name, idx, ctx)
            return base[rest], sp.And(sp.Ge(idx[0], 1), sp.Le(idx[0], self.wn.sizes[layer]))
        for ref, ranges in self.wn.params:
            match = self.match(ref, ranges, idx, ctx) if ref.name == name else None
            if match is not None:
                base, rest = self.base(name, idx, ctx)
                return base[rest], match[0]
        return None

    def match(self, ref, ranges, idx, ctx):
        """(condition, bindings) under which the pattern ``ref`` with ``ranges`` names ``idx``."""
        if len(ref.indices) != len(idx):
            return None
        env, conds = {}, []
        for pattern, value in zip(ref.indices, idx):
            if isinstance(pattern, il.Name) and pattern.name not in ("L", "m"):
                if pattern.name in env:
                    conds.append(sp.Eq(env[pattern.name], value))
                else:
                    env[pattern.name] = value
            else:
                conds.append(sp.Eq(self.plain.index(pattern, env, ctx), value))
        for var, lo, hi in ranges:
            if var in env:
                try:
                    lo_v, hi_v = self.plain.index(lo, env, ctx), self.plain.index(hi, env, ctx)
                except NotProvable:
                    return None  # a layer beyond the network
                conds += [sp.Ge(env[var], lo_v), sp.Le(env[var], hi_v)]
        return sp.And(*conds), env

    def definition(self, name, idx, ctx):
        d = self.scope.definitions[name]
        if d.matrix:
            raise NotProvable(f"{name} is defined as a matrix; only index-form definitions are proved for every width")
        if len(idx) != len(d.indices):
            raise NotProvable(f"{name} takes {len(d.indices)} indices, got {len(idx)}")
        env = dict(zip(d.indices, idx))
        pieces = []
        for cond, value in d.cases:
            test = sp.true if cond is None else self.condition(cond, env, ctx)
            verdict = decide(test, ctx.ranges)
            if verdict is False:
                continue
            if verdict:
                return _piecewise(pieces, self.eval(value, env, ctx))
            pieces.append((self.eval(value, env, ctx), test))
        raise NotProvable(f"no case of {name} is known to apply at {name}[{', '.join(map(str, idx))}]")

    def sample_loss(self, sample, ctx):
        wn = self.wn
        sub = _with(ctx, sample=sample)
        K = wn.sizes[wn.L]
        k = self.fresh("k", sub, 1, K)
        out = self.resolve(wn.form.output, (sp.Integer(wn.L), k), sub)
        y = self.resolve("y", (k,), sub)
        A, Y = sp.Symbol("A"), sp.Symbol("Y")
        term = wn.loss.value([A], [Y])._sympy_()  # every loss is a sum of one term per output
        return sp.Sum(term.subs({A: out, Y: y}), (k, 1, K))

    # --- derivatives --------------------------------------------------------------------------------
    def derivative(self, value, base, rest, ctx):
        """d value / d base[rest], through the defining equations of every opaque node it contains."""
        memo: dict = {}

        def tangent(atom):
            if atom.base == base:
                return sp.Mul(*[sp.KroneckerDelta(a, b) for a, b in zip(atom.indices, rest)])
            node = self.node_of(atom, ctx)
            if node is None:
                return 0
            # one derivative per pattern: fixed indices and the ranges of the others decide which rules apply
            key = (atom.base, tuple(i if i.is_Integer else ctx.ranges.get(i, i) for i in atom.indices))
            if key not in memo:
                memo[key] = None
                generic = tuple(self.fresh("p", ctx, *ctx.ranges.get(i, (i, i))) if not i.is_Integer else i
                                for i in atom.indices)
                name, l = node
                memo[key] = (generic, push(self.definition_of(name, *self.node_index(l, generic, ctx))))
            if memo[key] is None:
                raise NotProvable(f"{atom.base} is defined in terms of itself")
            generic, d = memo[key]
            return d.xreplace({g: i for g, i in zip(generic, atom.indices) if not g.is_Integer})

        def push(expr):
            atoms = [a for a in expr.atoms(sp.Indexed)]
            repl = {a: a + _t * tangent(a) for a in atoms}
            return _normalize(sp.diff(expr.xreplace(repl), _t).subs(_t, 0))

        return push(value)

    def expand_node(self, atom, ctx):
        """An opaque node replaced by its defining equation's right-hand side."""
        name, l = self.node_of(atom, ctx)
        return self.definition_of(name, *self.node_index(l, atom.indices, ctx))

    def node_index(self, l, indices, ctx):
        """(the statement's indices, context) of a node of layer l from its symbol's indices (sample first)."""
        if self.wn.m != 1:
            return (sp.Integer(l),) + tuple(indices[1:]), _with(ctx, sample=indices[0])
        return (sp.Integer(l),) + tuple(indices), ctx

    def node_of(self, atom, ctx):
        """(name, layer) of an opaque node that is not cut, else None."""
        label = str(atom.base)
        if "^" not in label:
            return None
        name, l = label.split("^")
        if name in self.wn.nodes and (name, int(l)) not in ctx.cuts:
            return name, int(l)
        return None


def _with(ctx: _Ctx, **changes) -> _Ctx:
    return _Ctx(ctx.ranges, changes.get("sample", ctx.sample), changes.get("cuts", ctx.cuts))


def _piecewise(pieces, last):
    return sp.Piecewise(*pieces, (last, True)) if pieces else last


def _activation(act, u, derivative):
    """An activation kept opaque, ``sigmoid(u)`` and ``sigmoid'(u)``: its closed form comes in last."""
    if act.name == "identity":
        return sp.Integer(1) if derivative else u
    f = _FUNCTIONS.setdefault(act.name, (sp.Function(act.name if act.name != "generic" else "h"),
                                         sp.Function(act.name + "'" if act.name != "generic" else "hprime"), act))
    return f[1](u) if derivative else f[0](u)


_FUNCTIONS: dict = {}  # activation name -> (value function, derivative function, table entry)


def _normalize(expr):
    """SymPy's derivatives of an opaque activation written as its derivative function of the argument."""
    primes = {f: fp for f, fp, _ in _FUNCTIONS.values()}

    def is_prime(e):
        return (isinstance(e, sp.Derivative) and e.expr.func in primes and len(e.variables) == 1
                and e.expr.args[0] == e.variables[0])

    expr = expr.replace(lambda e: isinstance(e, sp.Subs) and is_prime(e.expr),
                        lambda e: primes[e.expr.expr.func](e.point[0]))
    return expr.replace(is_prime, lambda e: primes[e.expr.func](e.variables[0]))


def closed_forms(expr):
    """Each opaque activation replaced by its closed form from the activation table."""
    import symengine as se

    u = se.Symbol("_u")
    for f, fp, act in _FUNCTIONS.values():
        if act.name == "generic":
            continue
        value, deriv = sp.sympify(act.value(u)._sympy_()), sp.sympify(act.derivative(u)._sympy_())
        if value.has(sp.Piecewise) or deriv.has(sp.Piecewise):
            continue  # conditions on sums of nodes are beyond the range reasoning: such an activation stays opaque
        su = sp.Symbol("_u")
        expr = expr.replace(lambda e: e.func == f, lambda e: value.subs(su, e.args[0]))
        expr = expr.replace(lambda e: e.func == fp, lambda e: deriv.subs(su, e.args[0]))
    return expr


# --- deciding that an expression is 0 -----------------------------------------------------------
def reduce(expr, ranges, ones=None, rounds=6, closed=False):
    """Sums of Kronecker deltas collapsed, range conditions settled, sums merged by their limits.

    ``ones`` = (y, K) applies the assumption sum_k y_k = 1 to sums of y over 1..K; ``closed``
    simplifies the terms outside sums (closed forms of activations) instead of collapsing deltas.
    """
    for _ in range(rounds):
        before = expr
        expr = _settle(expr if closed else expr.doit(), ranges)
        expr = _merge(expr, ranges, 0, ones, closed)
        if expr == before or expr == 0:
            break
    return expr


def _settle(expr, ranges):
    """Each Piecewise and Kronecker delta that the index ranges decide, replaced by its value."""
    if isinstance(expr, _LIMITS):
        inner = dict(ranges)
        for v, lo, hi in expr.limits:
            inner[v] = (lo, hi)
        return expr.func(_settle(expr.function, inner), *expr.limits)
    if not expr.args or isinstance(expr, (sp.Indexed, sp.Symbol)):
        return expr
    args = [_settle(a, ranges) if isinstance(a, sp.Basic) and not isinstance(a, sp.Tuple) else a for a in expr.args]
    if isinstance(expr, sp.Piecewise):
        kept = []
        for value, cond in expr.args:
            verdict = decide(cond, ranges)
            if verdict is False:
                continue
            value = _settle(value, ranges)
            if verdict is True:
                return value if not kept else sp.Piecewise(*kept, (value, True))
            kept.append((value, cond))
        return sp.Piecewise(*kept) if kept else sp.nan
    if isinstance(expr, sp.KroneckerDelta):
        verdict = decide(sp.Eq(*expr.args[:2]), ranges)
        if verdict is not None:
            return sp.Integer(int(verdict))
    return expr.func(*args) if args != list(expr.args) else expr


_fresh = itertools.count()


def _merge(expr, ranges, depth, ones=None, simplify=False):
    """expand; every term's sums nested into one, then terms summed over the same range merged."""
    expr = sp.expand(_canon(expr)[0] if depth == 0 else expr)
    plain, grouped = [], {}
    for term in sp.Add.make_args(expr):
        sums, rest = [], []
        for f in sp.Mul.make_args(term):
            base, exp = f.as_base_exp()
            if isinstance(base, sp.Sum) and exp.is_Integer and exp > 0:
                sums += [base] * int(exp)
            else:
                rest.append(f)
        if not sums:
            plain.append(term)
            continue
        # every sum of the term as one nest, in a fixed order, so that sums written in another order meet
        limits, body = [], sp.Mul(*rest)
        for o in sums:
            o = _rename(o)
            limits += o.limits
            body *= o.function
        order = _order(limits)
        (v, lo, hi), inner = order[0], order[1:]
        s = sp.Symbol(f"_s{depth}", integer=True)
        body = _rebind(sp.Sum(body, *reversed(inner)) if inner else body, v, s)
        grouped.setdefault((lo, hi), []).append(body)
    out = []
    for (lo, hi), bodies in grouped.items():
        s = sp.Symbol(f"_s{depth}", integer=True)
        inner = {**ranges, s: (lo, hi)}
        body = _merge(_settle(sp.Add(*bodies), inner), inner, depth + 1, ones, simplify)
        kept = []
        for term in sp.Add.make_args(body):
            if s not in term.free_symbols:  # a term that does not depend on the index: times the count
                plain.append(term * (hi - lo + 1))
            elif ones is not None and (lo, hi) == (1, ones[1]) and _times_y(term, s, ones[0]) is not None:
                plain.append(_times_y(term, s, ones[0]))  # c sum_k y_k = c
            else:
                kept.append(term)
        if kept:
            out.append(sp.Sum(sp.Add(*kept), (s, lo, hi)))
    total = sp.expand(sp.Add(*plain))
    if simplify and total != 0 and not total.has(sp.Sum) and sp.count_ops(total) <= _SIMPLIFY_OPS:
        total = sp.simplify(total)
    return sp.Add(total, *out)


_EXPAND_OPS = 300  # a larger residual is not expanded further: it stays unproved
_SIMPLIFY_OPS = 120  # larger closed forms are left as they are (unproved) rather than simplified for minutes


def _times_y(term, s, y):
    """c where term = c * y[..., s] and c does not depend on s; None otherwise."""
    for f in sp.Mul.make_args(term):
        if isinstance(f, sp.Indexed) and f.base == y and f.indices[-1] == s:
            c = term / f
            return c if s not in c.free_symbols else None
    return None


def _order(limits):
    """Outermost first: a sum whose bounds use another's index inside it, else by the text of the bounds."""
    left, out = list(limits), []
    while left:
        free = [lim for lim in left
                if not any(other[0] in (lim[1].free_symbols | lim[2].free_symbols) for other in left if other is not lim)]
        pick = min(free or left, key=lambda lim: sp.sstr((lim[1], lim[2])))
        out.append(pick)
        left.remove(pick)
    return out


def _rename(s: sp.Sum) -> sp.Sum:
    """A sum with fresh bound variables, safe to move under another sum."""
    limits, body = [], s.function
    for v, lo, hi in s.limits:
        w = sp.Symbol(f"_r{next(_fresh)}", integer=True)
        body = _rebind(body, v, w)
        limits.append((w, lo, hi))
    return sp.Sum(body, *limits)


def _rebind(expr, v, w):
    """``v`` replaced by ``w`` where it is free: a sum that binds ``v`` itself is left alone."""
    if expr == v:
        return w
    if not isinstance(expr, sp.Basic) or not expr.args or v not in expr.free_symbols:
        return expr
    if isinstance(expr, _LIMITS):
        bound = [var for var, _, _ in expr.limits]  # innermost first
        p = bound.index(v) if v in bound else len(bound)
        function = expr.function if p < len(bound) else _rebind(expr.function, v, w)
        # a limit's bounds see the variables of the limits outside it, and v is bound from limit p inwards
        return expr.func(function, *[(var, lo, hi) if k < p else (var, _rebind(lo, v, w), _rebind(hi, v, w))
                                  for k, (var, lo, hi) in enumerate(expr.limits)])
    return expr.func(*[_rebind(a, v, w) for a in expr.args])


def _canon(expr):
    """(expr, height) with each sum's index named by the height of its nest, so equal sums print equal."""
    if not isinstance(expr, sp.Basic) or not expr.args or isinstance(expr, sp.Indexed) and not expr.has(sp.Sum):
        return expr, 0
    if isinstance(expr, _LIMITS):
        body, h = _canon(expr.function)
        limits = []
        for var, lo, hi in expr.limits:
            h += 1
            w = sp.Symbol(f"_h{h}", integer=True)
            body = _rebind(body, var, w)
            limits.append((w, _canon(lo)[0], _canon(hi)[0]))
        return expr.func(body, *limits), h
    parts = [_canon(a) for a in expr.args]
    return expr.func(*[p[0] for p in parts]), max(p[1] for p in parts)


# --- proving a claim ----------------------------------------------------------------------------
@dataclass
class WidthProof:
    """The outcome of proving one claim for every width: proved, refused (with why) or out of reach."""

    claim: str
    verdict: str  # proved | refused | not provable
    detail: str
    depths: list = field(default_factory=list)


def prove_claim(derivation, claim, architectures=None) -> WidthProof:
    """Prove one claim of a loaded derivation for every width, at each depth of its architectures.

    ``architectures`` (default: the claim's own, else the file's) only say which depths to prove at.

    >>> from symbp.derivation import load
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "d.toml"
    >>> _ = f.write_text('title = "t"\\n[network]\\nactivation = "tanh"\\nloss = "half-squared-error"\\n'
    ...                  'architectures = [[2, 3, 2]]\\n[[claim]]\\nid = "w"\\nall_widths = true\\n'
    ...                  'statement = "d(e)/d(W[2,j,k]) = (a[2,j] - y[j]) * a[1,k]"\\nranges = "(j, 1, n[2]), (k, 1, n[1])"\\n')
    >>> d = load(f)
    >>> prove_claim(d, d.claims[0]).verdict
    'proved'
    """
    try:
        if claim.form != "index":
            raise NotProvable("it is written in matrix form; only index-form claims are proved for every width")
        s = {**derivation.network, **{k: v for k, v in claim.network.items() if k != "architectures"}}
        output = s["output"] or _DEFAULT_OUTPUT.get(s["loss"], "identity")
        archs = architectures or claim.network.get("architectures") or derivation.architectures
        depths = sorted({len(a) for a in archs})
        proof = WidthProof(claim.id, "proved", "")
        for layers in depths:
            wn = WidthNetwork(derivation.formulation, layers, s["activation"], output, s["loss"], s["samples"], s["assume"])
            failure = _prove_at(wn, derivation.scope, claim)
            if failure:
                return WidthProof(claim.id, "refused", f"at {wn.description}: {failure}", proof.depths)
            proof.depths.append(wn.description)
        proof.detail = "; ".join(proof.depths)
        return proof
    except NotProvable as exc:
        return WidthProof(claim.id, "not provable", str(exc))


def _prove_at(wn: WidthNetwork, scope, claim) -> str:
    """'' when the claim holds for every width of ``wn``, else the case and residual that remain."""
    ev = Evaluator(wn, scope)
    base = _Ctx()
    if wn.m != 1:
        base.sample = ev.fresh("i", base, 1, wn.m)
    for env in _free_values(ev, claim.ranges, {}, base):
        failure = _prove_case(ev, claim, env, base)
        if failure:
            return failure
    return ""


def _expand_nodes(ev, expr, ctx):
    """Every opaque node replaced by its defining equation, each under the ranges of the sums around it."""
    if isinstance(expr, sp.Indexed):
        return ev.expand_node(expr, ctx) if ev.node_of(expr, ctx) else expr
    if not isinstance(expr, sp.Basic) or not expr.args:
        return expr
    if isinstance(expr, _LIMITS):
        inner = _Ctx(dict(ctx.ranges), ctx.sample, ctx.cuts)
        for var, lo, hi in expr.limits:
            inner.ranges[var] = (lo, hi)
        return expr.func(_expand_nodes(ev, expr.function, inner), *expr.limits)
    return expr.func(*[_expand_nodes(ev, a, ctx) for a in expr.args])


def _free_values(ev, ranges, env, ctx):
    """Bindings of the claim's free indices: numbers where the range is fixed, symbols where it grows."""
    if not ranges:
        yield dict(env)
        return
    (var, lo, hi), rest = ranges[0], ranges[1:]
    lo, hi = ev.index(lo, env, ctx), ev.index(hi, env, ctx)
    if (hi - lo).is_Integer:
        for v in range(int(lo), int(hi) + 1):
            yield from _free_values(ev, rest, {**env, var: sp.Integer(lo + v - int(lo))}, ctx)
        return
    if decide(sp.Ge(hi - lo + 1, 1), ctx.ranges) is not True:
        raise NotProvable(f"the range of {var}, {lo}..{hi}, can be empty for small widths")
    yield from _free_values(ev, rest, {**env, var: ev.fresh(var, ctx, lo, hi)}, ctx)


def _prove_case(ev, claim, env, base: _Ctx, done=frozenset()) -> str:
    """'' when lhs - rhs reduces to 0 for these index values, else what remains and where."""
    wn = ev.wn
    ones = (sp.IndexedBase("y"), wn.sizes[wn.L]) if "sum-y-is-1" in wn.assume else None
    ctx = _Ctx(dict(base.ranges), base.sample, base.cuts)
    residual = ev.eval(claim.lhs, env, ctx) - ev.eval(claim.rhs, env, ctx)
    for level in range(wn.L - wn.first + 1):
        residual = reduce(residual, ctx.ranges, ones)
        if residual != 0:
            residual = reduce(closed_forms(residual), ctx.ranges, ones, closed=True)
        if residual == 0:
            return ""
        if level == 0:
            # a condition on one index that its range cannot settle (the bias node 0): that index's
            # lowest value and the rest of its range, separately
            for var, value in env.items():
                if value in _undecided(residual, env) and value not in done and value in base.ranges:
                    lo, hi = base.ranges[value]
                    failure = _prove_case(ev, claim, {**env, var: lo}, base, done | {value})
                    if failure:
                        return failure
                    rest = _Ctx({**base.ranges, value: (lo + 1, hi)}, base.sample)
                    return _prove_case(ev, claim, env, rest, done | {value})
        # the nodes that remain, replaced by their defining equations, one layer at a time (while small)
        if not any(ev.node_of(a, ctx) for a in residual.atoms(sp.Indexed)) or sp.count_ops(residual) > _EXPAND_OPS:
            break
        residual = _expand_nodes(ev, residual, ctx)
    where = ", ".join(f"{k} = {v}" for k, v in env.items() if v.is_Integer)
    return f"{'at ' + where + ': ' if where else ''}lhs - rhs reduces to {sp.sstr(residual)[:300]}, not 0"


def _undecided(expr, env) -> set:
    """The free indices that alone make a condition or a Kronecker delta undecided."""
    free = {v for v in env.values() if not v.is_Integer}
    out = set()
    for e in expr.atoms(sp.KroneckerDelta):
        out |= e.free_symbols & free if len(e.free_symbols & free) == 1 else set()
    for pw in expr.atoms(sp.Piecewise):
        for _, cond in pw.args:
            if cond is not sp.true and len(cond.free_symbols & free) == 1:
                out |= cond.free_symbols & free
    return out
