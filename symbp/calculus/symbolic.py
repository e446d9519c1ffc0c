"""Evaluating the language with symbolic widths: a derivation's statements on a :class:`WidthNetwork`.

A node defined by a sum (``z``) stays an opaque indexed symbol ``z^l[j]``, so expressions stay small;
an identity that holds with the nodes as free symbols holds whatever values they take. Derivatives
are taken by differentiating the defining equations (``d(W^l[k,i])/d(W^l[p,q]) = I(k,p) I(i,q)``,
seed 002 eq (10)), never written in.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import symengine as se
import sympy as sp

from .. import lang as il
from ..errors import NotProvable
from ..lang.scope import ACTIVATION_NAMES, DERIVATIVE_NAMES, Scope
from ..model.activations import get_activation
from ..model.widthnet import WidthNetwork
from .decide import decide

_t = sp.Symbol("_t")  # the direction parameter of a derivative: d expr(target + t) / dt at t = 0


@dataclass
class Ctx:
    """What one evaluation knows: the ranges of its indices, the current sample, cut nodes."""

    ranges: dict = field(default_factory=dict)  # index symbol -> (lo, hi)
    sample: object = None
    cuts: frozenset = frozenset()  # (name, layer) kept opaque and independent (derivative targets)


class Evaluator(il.Visitor):
    """Evaluates a derivation's statements on a :class:`WidthNetwork` as SymPy expressions."""

    what = "it has no meaning for every width"

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
    def eval(self, node, env, ctx: Ctx):
        return self.visit(node, env, ctx)

    def unknown(self, node, *args):
        raise NotProvable(f"{il.to_text(node) if hasattr(node, '__dataclass_fields__') else node!r} has no meaning "
                          "for every width")

    def visit_Num(self, node, env, ctx):
        return sp.Rational(node.value.numerator, node.value.denominator)

    def visit_Name(self, node, env, ctx):
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

    def visit_Ref(self, node, env, ctx):
        name = self.scope.aliases.get(node.name, node.name)
        idx = tuple(self.index(i, env, ctx) for i in node.indices)
        if name in self.scope.definitions:
            return self.definition(name, idx, ctx)
        if name == self.wn.form.size and len(idx) == 1:
            return self.width(idx[0])
        return self.resolve(name, idx, ctx)

    def visit_BinOp(self, node, env, ctx):
        if node.op == "@":
            raise NotProvable("matrix products are checked at the listed sizes only; write the claim in index form")
        a, b = self.eval(node.left, env, ctx), self.eval(node.right, env, ctx)
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "**": a**b}[node.op]

    def visit_Neg(self, node, env, ctx):
        return -self.eval(node.operand, env, ctx)

    def visit_Kronecker(self, node, env, ctx):
        return sp.KroneckerDelta(self.index(node.p, env, ctx), self.index(node.q, env, ctx))

    def visit_Cond(self, node, env, ctx):
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

    def visit_Sum(self, node, env, ctx):
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

    def visit_Apply(self, node, env, ctx):
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

    def visit_Call(self, node, env, ctx):
        if node.name != "samplesum":
            raise NotProvable(f"{node.name}(...) is a matrix operation; write the claim in index form")
        body, (var, lo, hi) = node.args[0], node.args[1]
        lo, hi = self.index(lo, env, ctx), self.index(hi, env, ctx)
        if decide(sp.And(sp.Ge(lo, 1), sp.Le(hi, self.wn.m)), ctx.ranges) is not True:
            raise NotProvable(f"the sum over samples runs from {lo} to {hi}; samples run from 1 to m")
        if self.wn.m == 1:
            return self.eval(body, {**env, var.name: sp.Integer(1)}, with_(ctx, sample=None))
        s = self.fresh(var.name, ctx, lo, hi)
        return sp.Sum(self.eval(body, {**env, var.name: s}, with_(ctx, sample=s)), (s, lo, hi))

    def visit_Deriv(self, node, env, ctx):
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
        cut = with_(ctx, cuts=ctx.cuts | {(name, l)})
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
        sub = with_(ctx, sample=sample)
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
            return (sp.Integer(l),) + tuple(indices[1:]), with_(ctx, sample=indices[0])
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


def with_(ctx: Ctx, **changes) -> Ctx:
    return Ctx(ctx.ranges, changes.get("sample", ctx.sample), changes.get("cuts", ctx.cuts))


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
