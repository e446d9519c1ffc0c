"""Proofs for every width and depth: a formulation's derived (or mutated) recursion, from its equations.

Indices, widths and the depth are SymPy integers (the layer ``l`` is an index like any other, ``L`` is at
least one above the input layer, a width ``n[l]`` is a positive integer for each layer expression), and every
indexed quantity a SymPy ``Indexed``, so that differentiating ``W[l',k,j]`` by ``W[l,p,q]`` gives Kronecker
deltas. The algebra is SymPy's, independent of the derivation that produced the recursion:

- base case: ``de/dz[L,p]``, by differentiating the loss through the last layer's equations, equals
  ``delta[L,p]`` (and the simplified base case a derivation writes, under the assumption it needs);
- induction step, for each case of the recursion below the last layer: with ``de/dz[l',k] = delta[l',k]``
  for every layer ``l' > l`` (the hypothesis), the chain rule through every ``z`` above ``l`` that reads
  ``z[l,p]`` (through the nodes between, expanded by their equations) equals the recursion's value;
- gradients: the chain rule through every ``z`` that reads a parameter equals the recursion's gradient, and
  ``J`` is the mean over the samples.

Each step is an equation whose difference must reduce to 0 (:func:`symbp.calculus.reduce.reduce`, conditions
on indices decided by the one decider); a step that does not reduce is refused, never assumed. An
activation's closed-form derivative is a step of its own; the induction holds for every differentiable one.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import symengine as se
import sympy as sp

from .. import lang as il
from ..errors import NotProvable, UsageError
from ..model.activations import Activation, get_activation
from ..model.formulations import Formulation, get_formulation
from ..model.functions import FUNCTIONS, OPAQUE
from ..model.losses import PAIRINGS, Loss, get_loss
from ..verdicts import Counterexample, Verdict
from .decide import decide
from .derive import DELTA, UNDEFINED, Equations, Recursion
from .indices import Indices, NotAnIndex
from .simplify import subst
from .recursions import MUTATIONS, recursion
from .reduce import reduce

POS = {"positive": True, "integer": True}
RESIDUAL_LIMIT = 400  # tree nodes: a larger residual is not handed to SymPy (it stays refused, with its size)
SIMPLIFY_LIMIT = 200  # SymPy operations: larger closed forms are not simplified (they stay refused)


@dataclass
class Proof:
    """A proof's steps, each a :class:`Verdict` (holds: proved; fails: refused), and its cross-check."""

    activation: str
    output: str
    loss: str
    form: str
    assumptions: list
    steps: list = field(default_factory=list)
    cross_check: list = field(default_factory=list)
    seconds: float = 0.0
    mutation: str = ""

    @property
    def ok(self) -> bool:
        return all(s.verdict == "holds" for s in self.steps) and all(c["agrees"] for c in self.cross_check)

    def to_dict(self) -> dict:
        return {"activation": self.activation, "output": self.output, "loss": self.loss, "form": self.form,
                "mutation": self.mutation or None, "assumptions": self.assumptions,
                "steps": [s.to_dict() for s in self.steps], "cross_check": self.cross_check,
                "seconds": self.seconds, "ok": self.ok}


# --- the language in SymPy, with symbolic indices --------------------------------------------------------
class Algebra(il.Visitor):
    """Trees of the language as SymPy expressions: indices, widths and depth symbolic."""

    what = "it has no meaning for every width and depth"

    def __init__(self, form: Formulation, output: Activation, hidden: Activation):
        self.form, self.output, self.hidden = form, output, hidden
        equal = il.parse_ranges(form.equal_widths, form.name) if form.equal_widths else []
        self.ix = Indices(form.size, form.first_layer, equal=tuple(equal[0][1:]) if equal else None)
        self.L = self.ix.symbol("L")
        self._widths: dict = {}
        self._count = itertools.count()
        self.primes: dict = {}  # per-layer function -> its derivative function

    def unknown(self, node, *args):
        raise NotProvable(f"{type(node).__name__} has no meaning for every width and depth")

    def fresh(self, name: str) -> sp.Symbol:
        return sp.Symbol(f"{name}_{next(self._count)}", integer=True)

    # --- indices ----------------------------------------------------------------------------------
    def index(self, node, env, ctx):
        t = type(node)
        if t is il.Num:
            if node.value.denominator != 1:
                raise NotProvable(f"the index {node.value} is a fraction")
            return sp.Integer(int(node.value))
        if t is il.Name:
            return env[node.name] if node.name in env else self.ix.symbol(node.name)
        if t is il.Ref and node.name == self.form.size and len(node.indices) == 1:
            return self.width(self.index(node.indices[0], env, ctx), ctx)
        if t is il.BinOp and node.op in "+-*":
            a, b = self.index(node.left, env, ctx), self.index(node.right, env, ctx)
            return a + b if node.op == "+" else a - b if node.op == "-" else a * b
        if t is il.Neg:
            return -self.index(node.operand, env, ctx)
        raise NotProvable(f"{il.to_text(node)} is not an index")

    def width(self, layer, ctx):
        """The width of a layer given as a SymPy expression: one positive symbol per layer expression."""
        if self.ix.equal is not None:
            lo, hi = (self.index(b, {}, ctx) for b in self.ix.equal)
            if decide(sp.And(sp.Le(lo, layer), sp.Le(layer, hi)), ctx) is True:
                layer = lo  # one width stands for every layer of the range
        text = il.to_text(self.ix.to_tree(layer))
        if text not in self._widths:
            self._widths[text] = sp.Symbol(f"{self.form.size}[{text}]", **POS)
        return self._widths[text]

    def condition(self, node, env, ctx):
        """A condition on indices as a SymPy boolean; NotAnIndex where it compares values."""
        if isinstance(node, il.Compare):
            a, b = self.index(node.left, env, ctx), self.index(node.right, env, ctx)
            return {"==": sp.Eq, "!=": sp.Ne, "<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge}[node.op](a, b)
        if isinstance(node, il.BoolOp):
            parts = [self.condition(v, env, ctx) for v in node.values]
            return sp.And(*parts) if node.op == "and" else sp.Or(*parts)
        if isinstance(node, il.Not):
            return sp.Not(self.condition(node.operand, env, ctx))
        raise NotAnIndex("a condition on values")

    # --- values -------------------------------------------------------------------------------------
    def eval(self, node, env, ctx):
        return self.visit(node, env, ctx)

    def visit_Num(self, node, env, ctx):
        return sp.Rational(node.value.numerator, node.value.denominator)

    def visit_Name(self, node, env, ctx):
        if node.name == "pi":
            return sp.pi
        return self.index(node, env, ctx)

    def visit_Ref(self, node, env, ctx):
        if node.name == self.form.size and len(node.indices) == 1:
            return self.index(node, env, ctx)
        return sp.IndexedBase(node.name)[tuple(self.index(i, env, ctx) for i in node.indices)]

    def visit_BinOp(self, node, env, ctx):
        if node.op == "@":
            raise NotProvable("a matrix product has no index-level meaning")
        a, b = self.eval(node.left, env, ctx), self.eval(node.right, env, ctx)
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "**": a**b}[node.op]

    def visit_Neg(self, node, env, ctx):
        return -self.eval(node.operand, env, ctx)

    def visit_Kronecker(self, node, env, ctx):
        return sp.KroneckerDelta(self.index(node.p, env, ctx), self.index(node.q, env, ctx))

    def visit_Cond(self, node, env, ctx):
        try:
            test = self.condition(node.test, env, ctx)
        except (NotAnIndex, NotProvable):
            test = self.relation(node.test, env, ctx)
        verdict = decide(test, ctx)
        if verdict is not None:
            return self.eval(node.then if verdict else node.orelse, env, ctx)
        return sp.Piecewise((self.eval(node.then, env, ctx), test), (self.eval(node.orelse, env, ctx), True))

    def relation(self, node, env, ctx):
        if not isinstance(node, il.Compare):
            raise NotProvable("a condition on values is one comparison")
        a, b = self.eval(node.left, env, ctx), self.eval(node.right, env, ctx)
        return {"==": sp.Eq, "!=": sp.Ne, "<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge}[node.op](a, b)

    def visit_Sum(self, node, env, ctx):
        lo, hi = self.index(node.lo, env, ctx), self.index(node.hi, env, ctx)
        k = self.fresh(node.var)
        inner = {**ctx, k: (lo, hi)}
        return sp.Sum(self.eval(node.body, {**env, node.var: k}, inner), (k, lo, hi))

    def visit_Fn(self, node, env, ctx):
        args = [self.eval(a, env, ctx) for a in node.args]
        us = [se.Symbol(f"_u{k}") for k in range(len(args))]
        value = FUNCTIONS[node.name].value(*us)._sympy_()
        return value.subs({sp.Symbol(f"_u{k}"): a for k, a in enumerate(args)}, simultaneous=True)

    def visit_Apply(self, node, env, ctx):
        layer = self.index(node.indices[0], env, ctx) if node.indices else None
        derivative = node.name == self.form.derivative
        if node.name not in (self.form.activation, self.form.derivative):
            if node.name in OPAQUE and not node.indices:
                return sp.Function(node.name)(self.eval(node.arg, env, ctx))
            raise NotProvable(f"unknown function {node.name}")
        at_output = layer is not None and decide(sp.Eq(layer, self.L), ctx) is True
        act = self.output if at_output else None
        if act is not None and not act.generic:
            if not act.elementwise:
                if derivative:
                    raise NotProvable(f"{act.name} is vector-valued: it has no element-wise derivative")
                return self.vector(act, node.arg, env, ctx)
            formula = act.trees["derivative" if derivative else "value"]
            u = self.eval(node.arg, env, ctx)
            return Formula(self, {"u": u}).eval(formula, {}, ctx)
        # any differentiable activation: an opaque function per layer, its derivative the other name
        text = il.to_text(self.ix.to_tree(layer)) if layer is not None else ""
        g = sp.Function(f"{self.form.activation}[{text}]")
        gp = sp.Function(f"{self.form.derivative}[{text}]")
        self.primes[g] = gp
        return (gp if derivative else g)(self.eval(node.arg, env, ctx))

    def vector(self, act, arg, env, ctx):
        """A vector-valued activation of ``z[L, j]`` from its catalog formula over the layer."""
        if not (isinstance(arg, il.Ref) and len(arg.indices) >= 2):
            raise NotProvable(f"{act.name} is vector-valued: write it of z[l,j]")
        *layer, j = arg.indices
        lead = [self.index(i, env, ctx) for i in layer]
        base = sp.IndexedBase(arg.name)
        refs = lambda name, idx: base[(*lead, idx[0])]  # noqa: E731
        return Formula(self, {"j": self.index(j, env, ctx), "K": self.width(lead[0], ctx)}, refs).eval(
            act.trees["value"], {}, ctx)

    def normalize(self, expr):
        """SymPy's derivatives of an opaque activation written as its derivative function."""
        primes = dict(self.primes)
        primes.update({sp.Function(n): sp.Function(n + "prime") for n in ("h",)})

        def is_prime(e):
            return (isinstance(e, sp.Derivative) and e.expr.func in primes and len(e.variables) == 1
                    and e.expr.args[0] == e.variables[0])
        expr = expr.replace(lambda e: isinstance(e, sp.Subs) and is_prime(e.expr),
                            lambda e: primes[e.expr.expr.func](e.point[0]))
        return expr.replace(is_prime, lambda e: primes[e.expr.func](e.variables[0]))


class Formula(Algebra):
    """A catalog formula (in ``u``, ``u[k]``, ``K``, ``yhat``) inside the algebra, its names bound to SymPy values."""

    def __init__(self, algebra: Algebra, names: dict, refs=None):
        self.__dict__.update(algebra.__dict__)
        self.names, self.refs = names, refs

    def visit_Name(self, node, env, ctx):
        if node.name in env:
            return env[node.name]
        if node.name in self.names:
            return self.names[node.name]
        return super().visit_Name(node, env, ctx)

    def index(self, node, env, ctx):
        if isinstance(node, il.Name) and node.name in self.names and node.name not in env:
            return self.names[node.name]
        return super().index(node, env, ctx)

    def visit_Ref(self, node, env, ctx):
        if self.refs is not None:
            return self.refs(node.name, [self.index(i, env, ctx) for i in node.indices])
        return super().visit_Ref(node, env, ctx)

    def visit_Apply(self, node, env, ctx):
        if node.name in OPAQUE and not node.indices:
            return sp.Function(node.name)(self.eval(node.arg, env, ctx))
        return super().visit_Apply(node, env, ctx)


# --- the prover ------------------------------------------------------------------------------------------
class Prover:
    """Builds and checks the steps of one proof: obligations on trees, closed by the simplifier and SymPy."""

    def __init__(self, form: Formulation, hidden: Activation, output: Activation, loss: Loss, rec: Recursion,
                 mean: bool = True, assumptions=()):
        self.form, self.hidden, self.output, self.loss, self.rec, self.mean = form, hidden, output, loss, rec, mean
        self.eq = Equations(form, output, loss)
        self.s = self.eq.s
        self.alg = Algebra(form, output, hidden)
        self.assumptions = frozenset(assumptions)
        self.steps: list = []
        self.family = rec.family
        self.names, self.ranges = self.eq.family_ranges(self.family)

    # --- one obligation --------------------------------------------------------------------------
    def check(self, part, statement, rule, lhs, rhs, ctx, cases="") -> bool:
        """lhs = rhs for every value of the indices in ``ctx``: the difference simplified on the tree, then
        what is left (value algebra, sum_k y_k = 1) by SymPy; refused unless it is 0."""
        start = time.perf_counter()
        try:
            both = self.at_output(self.eq.expand(il.BinOp("-", lhs, rhs), {self.family, DELTA}, ctx), ctx)
            residual = self.s.simp(both, ctx)
            if UNDEFINED in il.walk(residual):
                raise NotProvable("a node lies outside the range of every equation for some widths or depths")
            if not (isinstance(residual, il.Num) and residual.value == 0):
                residual = self.closed(residual, ctx)
        except NotProvable as exc:
            residual = exc
        if isinstance(residual, il.Num) and residual.value == 0 or residual == 0:
            self.steps.append(Verdict(part, statement, "holds", "proof", time.perf_counter() - start,
                                      note=f"by: {rule}" + (f"; {cases}" if cases else "")))
            return True
        text = str(residual) if isinstance(residual, NotProvable) else (
            il.to_text(residual) if hasattr(residual, "__dataclass_fields__") else sp.sstr(residual))
        self.steps.append(Verdict(part, statement, "fails", "proof", time.perf_counter() - start,
                                  Counterexample("every width and depth", cases or "as stated",
                                                 f"does not reduce to 0: {text[:300]}", "0", None, {},
                                                 "lhs - rhs", "wanted"), note=f"by: {rule}"))
        return False

    def closed(self, residual, ctx):
        """What the tree simplifier leaves, reduced by SymPy: closed forms, and sum_k y_k = 1 where assumed.

        A residual too large for SymPy's expansion in reasonable time is refused as it is, never assumed 0.
        """
        size = sum(1 for _ in il.walk(residual))
        if size > RESIDUAL_LIMIT:
            raise NotProvable(f"what remains ({size} nodes) is too large to reduce further; it may still be 0")
        box = {}
        for var, (lo, hi) in ctx.items():
            box[self.alg.ix.symbol(var)] = (self.alg.index(lo, {}, box), self.alg.index(hi, {}, box))
        expr = self.alg.normalize(self.alg.eval(residual, {}, box))
        ones = (sp.IndexedBase("y"), self.alg.width(self.alg.L, box)) if "sum-y-is-1" in self.assumptions else None
        expr = reduce(expr, box, ones)
        if expr != 0 and sp.count_ops(expr) <= SIMPLIFY_LIMIT:
            expr = reduce(sp.simplify(expr), box, ones, closed=True)
        if expr != 0 and not expr.has(sp.Sum, sp.Piecewise) and sp.count_ops(expr) <= SIMPLIFY_LIMIT:
            expr = sp.simplify(expr.rewrite(sp.exp))
        return expr

    def at_output(self, tree, ctx):
        """The per-layer functions of the last layer replaced by the output activation's formulas."""
        act = self.output
        if act.generic or not act.elementwise:
            return tree

        def replace(node):
            if isinstance(node, il.Apply) and node.indices and node.name in (self.form.activation, self.form.derivative):
                if self.eq.ix.decide(il.Compare("==", node.indices[0], il.Name("L")), ctx):
                    formula = act.trees["derivative" if node.name == self.form.derivative else "value"]
                    return subst(formula, {"u": node.arg}, self.eq.fresh)
            return None
        return il.rewrite(tree, replace)

    def target(self, layer, ctx):
        """(the delta family's node at ``layer`` with a fresh trailing index, that index's name)."""
        env = {self.names[0]: layer}
        trailing = []
        for n in self.names[1:]:
            fresh = self.eq.fresh(n)
            lo, hi = self.ranges[n]
            ctx[fresh] = (subst(lo, env, self.eq.fresh), subst(hi, env, self.eq.fresh))
            env[n] = il.Name(fresh)
            trailing.append(fresh)
        return il.Ref(self.family, (layer, *(il.Name(t) for t in trailing))), trailing

    def loss_tree(self, ctx):
        return self.eq.expand(self.eq.e, {self.family}, ctx)

    # --- the parts ---------------------------------------------------------------------------------
    def activations(self):
        for act in sorted({self.hidden, self.output}, key=lambda a: a.name):
            if act.generic or not act.elementwise or isinstance(act.trees["derivative"], il.Num):
                continue
            u = sp.Symbol("u", real=True)
            value = Formula(self.alg, {"u": u}).eval(act.trees["value"], {}, {})
            closed = Formula(self.alg, {"u": u}).eval(act.trees["derivative"], {}, {})
            start = time.perf_counter()
            diff = sp.simplify(sp.diff(value, u) - closed)
            if diff != 0:
                diff = sp.simplify(diff.rewrite(sp.exp))
            holds = diff == 0 or all(sp.simplify(b.rewrite(sp.exp)) == 0 for b in _branches(diff))
            self.steps.append(Verdict("activation", f"d/du {act.formula} = {act.derivative_formula}",
                                      "holds" if holds else "fails", "proof", time.perf_counter() - start,
                                      None if holds else Counterexample("every u", "u", sp.sstr(diff)[:300], "0"),
                                      note=f"by: differentiate {act.name} directly"))

    def base_case(self):
        L = il.Name("L")
        ctx: dict = {}
        node, (p,) = self.target(L, ctx)
        e = self.at_output(self.loss_tree(ctx), ctx)
        direct = self.eq.partial(e, self.family, node.indices)
        lvar, jvar = self.rec.delta.indices
        cond, value = self.rec.delta.cases[0]
        claimed = self.at_output(subst(value, {lvar: L, jvar: il.Name(p)}, self.eq.fresh), ctx)
        ok = self.check("base case", f"d(e)/d({self.family}[L, {jvar}]) = {il.to_text(value)}",
                        f"differentiate the loss through the last layer's equations by {self.family}[L, {jvar}]",
                        direct, claimed, ctx)
        pairing = PAIRINGS.get((self.output.name, self.loss.name))
        if pairing is not None:  # the simplified base case, on the outputs the loss reads (1..size[L])
            ctx[p] = (il.Num(1), il.Ref(self.form.size, (L,)))
            stated = il.parse_expr(pairing.delta.replace("yhat[j]", f"{self.form.output}[L, j]"))
            stated = self.at_output(self.eq.expand(subst(stated, {"j": il.Name(p)}, self.eq.fresh), {self.family}, ctx), ctx)
            needs = sorted(pairing.assumptions)
            missing = set(needs) - self.assumptions
            rule = "the same derivative" + (f", with {', '.join(needs)}" if needs else "") + (
                f" (not assumed: {', '.join(sorted(missing))})" if missing else "")
            ok &= self.check("base case", pairing.statement, rule, direct, stated, ctx)
        return ok

    def induction(self):
        """Each case of the recursion below the last layer, from the hypothesis on every layer above."""
        lvar, jvar = self.rec.delta.indices
        lowest = self.ranges[self.names[0]][0]
        split = sum(1 for c, _ in self.rec.delta.cases[1:] if c is not None)
        ok = True
        for cond, value in self.rec.delta.cases[1:]:
            ctx: dict = {}
            if cond is not None:  # a split-off layer near the top: l == L - c, at the depths where it exists
                layer = cond.right
                if self.eq.ix.decide(il.Compare(">=", layer, lowest), {}) is False:
                    continue
                ctx[self.eq.fresh("depth")] = (lowest, layer)  # a range that is not empty: lowest <= L - c
                where = f"at {lvar} = {il.to_text(layer)}"
            else:
                fresh = self.eq.fresh(lvar)
                top = self.eq.ix.norm(il.BinOp("-", il.Name("L"), il.Num(1 + split)))
                ctx[fresh] = (lowest, top)
                layer = il.Name(fresh)
                where = f"for {lvar} in {il.to_text(lowest)}..{il.to_text(top)}"
            node, (p,) = self.target(layer, ctx)
            claimed = subst(value, {lvar: layer, jvar: il.Name(p)}, self.eq.fresh)
            chain = self.chain(node, ctx)
            ok &= self.check("induction step", f"{DELTA}[{lvar}, {jvar}] = {il.to_text(value)}",
                             f"chain rule through every {self.family} above {lvar} that reads {self.family}[{lvar}, "
                             f"{jvar}], with d(e)/d({self.family}[l', k]) = {DELTA}[l', k] for l' > {lvar} (hypothesis)",
                             chain, claimed, ctx, where)
        return ok

    def chain(self, target, ctx):
        """d e / d target: through each delta-family node above it (the hypothesis), and through the loss."""
        above = self.eq.fresh("l")
        inner = {**ctx, above: (il.BinOp("+", target.indices[0], il.Num(1)), il.Name("L"))}
        node, ks = self.target(il.Name(above), inner)
        reads = self.eq.expand(self.eq.definition(node, inner), {self.family}, inner)
        body = il.BinOp("*", self.eq.partial(reads, self.family, target.indices), il.Ref(DELTA, node.indices))
        for k in reversed(ks):
            body = il.Sum(body, k, *inner[k])
        through = il.Sum(body, above, *inner[above])
        return il.BinOp("+", through, self.eq.partial(self.loss_tree(ctx), self.family, target.indices))

    def gradients(self):
        ok = True
        for ref, ranges in self.eq.params:
            ctx, mapping = {}, {}
            for var, lo, hi in ranges:
                fresh = self.eq.fresh(var)
                ctx[fresh] = (subst(lo, mapping, self.eq.fresh), subst(hi, mapping, self.eq.fresh))
                mapping[var] = il.Name(fresh)
            target = subst(ref, mapping, self.eq.fresh)
            g = self.rec.gradients[ref.name]
            claimed = subst(g.value, {n.name: mapping[n.name] for n in g.ref.indices}, self.eq.fresh)
            ok &= self.check("gradient", g.statement, f"chain rule through every {self.family} that reads "
                             f"{ref.name}, with d(e)/d({self.family}[l', k]) = {DELTA}[l', k]",
                             self.param_chain(target, ctx), claimed, ctx)
        i, m = "i", il.Name("m")
        samples = il.Sum(il.Ref("g", (il.Name(i),)), i, il.Num(1), m)
        mean = il.BinOp("/", samples, m)
        claimed = mean if self.mean else samples
        ok &= self.check("gradient", f"d(J)/d(P) = {'1/m * ' if self.mean else ''}samplesum(d(e)/d(P), (i, 1, m))",
                         "J = 1/m sum_i e_i", mean, claimed, {})
        return ok

    def param_chain(self, target, ctx):
        lo, hi = self.ranges[self.names[0]]
        layer = self.eq.fresh("l")
        inner = {**ctx, layer: (lo, hi)}
        node, ks = self.target(il.Name(layer), inner)
        reads = self.eq.expand(self.eq.definition(node, inner), {self.family}, inner)
        body = il.BinOp("*", self.eq.partial(reads, target.name, target.indices), il.Ref(DELTA, node.indices))
        for k in reversed(ks):
            body = il.Sum(body, k, *inner[k])
        through = il.Sum(body, layer, lo, hi)
        return il.BinOp("+", through, self.eq.partial(self.loss_tree(ctx), target.name, target.indices))


def _branches(expr):
    return [v for v, _ in expr.args] if isinstance(expr, sp.Piecewise) else [expr]


def prove(activation="generic", output="generic", loss="half-squared-error", form="explicit-bias",
          mutation: str | None = None, formulation: Formulation | None = None, assumptions=None) -> Proof:
    """Prove the derived recursion for every width and depth (or refuse the step where a mutation goes wrong).

    >>> proof = prove("generic", "sigmoid", "bce")
    >>> proof.ok, [s.id for s in proof.steps][:2]
    (True, ['activation', 'base case'])
    """
    start = time.perf_counter()
    form = formulation or get_formulation(form)
    hidden, out, lss = get_activation(activation), get_activation(output, "output activation"), get_loss(loss)
    if not hidden.hidden_ok:
        raise UsageError(f"{activation} is only allowed on the output layer")
    if lss.outputs is not None and output not in lss.outputs:
        raise UsageError(f"loss {loss!r} does not fit output activation {output!r}")
    rec = recursion(form, out, lss)
    mean = True
    if mutation is not None:
        m = MUTATIONS[mutation]
        rec, mean = m.apply(rec, form), m.mean
    pairing = PAIRINGS.get((output, loss))
    assumed = set(pairing.assumptions) if pairing and assumptions is None else set(assumptions or ())
    proof = Proof(activation, output, loss, form.name, sorted(assumed), mutation=mutation or "")
    prover = Prover(form, hidden, out, lss, rec, mean, assumed)
    try:
        prover.activations()
        prover.base_case()
        prover.induction()
        prover.gradients()
    except NotProvable as exc:
        prover.steps.append(Verdict("proof", "the recursion for every width and depth", "fails", "proof",
                                    note=f"not provable: {exc}"))
    proof.steps = prover.steps
    proof.seconds = time.perf_counter() - start
    return proof


def to_text(proof: Proof) -> str:
    lines = [f"Proof for every width and depth: hidden {proof.activation}, output {proof.output}, loss {proof.loss}, "
             f"form {proof.form}" + (f", mutation {proof.mutation}" if proof.mutation else "")]
    if proof.assumptions:
        lines.append(f"assuming: {', '.join(proof.assumptions)}")
    part = None
    for s in proof.steps:
        if s.id != part:
            part = s.id
            lines.append(f"\n{part}:")
        lines.append(f"  [{'proved' if s.verdict == 'holds' else 'refused'}] {s.statement}")
        lines.append(f"      {s.note}")
        if s.counterexample:
            lines.append(f"      {s.counterexample.element}: {s.counterexample.left}")
    for c in proof.cross_check:
        lines.append(f"\ncross-check at {c['architecture']}: the symbolic core says {'holds' if c['holds'] else 'fails'}"
                     f" ({'agrees' if c['agrees'] else 'DISAGREES'})")
    lines.append(f"\n{'proved' if proof.ok else 'not proved'} in {proof.seconds:.2f} s")
    return "\n".join(lines)


__all__ = ["Proof", "Prover", "prove", "to_text"]
