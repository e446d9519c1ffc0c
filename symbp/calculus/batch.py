"""The batch form of a network and its derived recursion: whole arrays over named axes, samples in rows.

Every index-level tree (a forward equation, the loss, the derived delta, a gradient) is lowered at each
concrete layer to an expression over named axes: an indexed quantity becomes an array (with the sample axis
``i`` where it is a per-sample quantity), a sum over an index a reduction over that axis, element-wise
functions maps, and conditions on indices masks. A family whose entries come from several places (Brawer's
``theta`` with its constant row 0, ``x`` with the bias node ``x[0] = 1``) is assembled from its pieces. The
result, a :class:`Program`, is target-neutral: :meth:`Program.evaluate` computes it element by element with
SymEngine (so the batch form is checked against direct differentiation) and the kernel printers print it.
Nothing here knows a formulation by name.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction

import symengine as se

from .. import lang as il
from ..errors import NotProvable
from ..exact import number
from ..model.functions import FUNCTIONS
from ..model.network import Network
from .derive import DELTA, Recursion
from .recursions import recursion_of
from .simplify import Fresh, free_names, subst

SAMPLE = "#sample"  # the key of the sample axis among bound indices: no index of the language is named so
SAMPLE_AXIS = "i"  # the sample axis's own name (its size is the batch's, N)


# --- the expressions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Axis:
    """A named axis over the index values lo..hi (the sample axis ``i`` runs over the batch)."""

    name: str
    lo: int
    hi: int

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1


@dataclass(frozen=True)
class Window:
    """An index that moves with several axes at once: offset + sum of coefficient * axis (a convolution's j+k-1)."""

    terms: tuple  # ((Axis, coefficient), ...)
    offset: int


@dataclass(frozen=True)
class Leaf:
    """A stored array read along ``picks``: per stored axis an (Axis, offset) (the axis's index plus a
    constant) or a fixed index value (an int). ``lows`` are the stored axes' lowest index values."""

    name: str
    picks: tuple
    lows: tuple

    @property
    def axes(self) -> tuple:
        out = []
        for p in self.picks:
            for a in ([t[0] for t in p.terms] if isinstance(p, Window) else [] if isinstance(p, int) else [p[0]]):
                if a not in out:
                    out.append(a)
        return tuple(out)


@dataclass(frozen=True)
class Scalar:
    """A number known only when kernels run: ``s`` (the backward pass's scale) or ``N`` (the batch size)."""

    name: str
    axes: tuple = ()


@dataclass(frozen=True)
class Const:
    """A number, the same at every point of ``axes``."""

    value: Fraction
    axes: tuple = ()


@dataclass(frozen=True)
class Map:
    """An element-wise operation ('+', '-', '*', '/', '**', 'neg'), broadcast by axis."""

    op: str
    args: tuple
    axes: tuple


@dataclass(frozen=True)
class Call:
    """A function of the language applied element-wise (exp, log, max, ...)."""

    name: str
    args: tuple
    axes: tuple


@dataclass(frozen=True)
class Act:
    """Layer ``layer``'s element-wise activation, or its derivative, applied to ``arg``."""

    layer: int
    derivative: bool
    arg: object
    axes: tuple


@dataclass(frozen=True)
class Reduce:
    """The sum of ``arg`` over one of its axes."""

    arg: object
    axis: Axis
    axes: tuple


@dataclass(frozen=True)
class Mask:
    """1 where a condition on the axes' index values holds, else 0 (``env``: fixed index values it reads)."""

    test: object
    env: tuple
    axes: tuple


@dataclass(frozen=True)
class Where:
    """``then`` where ``left op right`` holds (a condition on values), else ``orelse``."""

    op: str
    left: object
    right: object
    then: object
    orelse: object
    axes: tuple


@dataclass(frozen=True)
class Concat:
    """Pieces side by side along axis number ``at``; each piece is (expression, its axes in ``axes``' order, with
    its own part of axis ``at`` in that place)."""

    pieces: tuple
    at: int
    axes: tuple


@dataclass
class Program:
    """The batch form of one network: forward arrays, the summed loss, the deltas and the gradients."""

    widths: list
    samples: int
    storage: dict = field(default_factory=dict)  # array name -> its axes (the arrays every Leaf reads)
    stored: dict = field(default_factory=dict)  # array name -> ("param", family, lead) or ("input", family)
    constants: dict = field(default_factory=dict)  # array name -> expression over constants only
    forward: list = field(default_factory=list)  # [(array name, expression)]
    backward: list = field(default_factory=list)  # [(array name, expression)]: deltas, then gradients
    loss: object = None  # the loss summed over the samples
    gradients: dict = field(default_factory=dict)  # (family, lead) -> array name (summed over samples)

    def evaluate(self, net: Network, scalars: dict | None = None) -> dict:
        """Every array, element by element with SymEngine, for ``net``'s symbols: {name: {index values: value}}.

        ``scalars`` gives the run-time numbers (``s``, ``N``); by default the mean's 1/m and m.
        """
        arrays = {name: self.stored_values(net, name) for name in self.stored}
        ev = _Evaluator(net, arrays, scalars or {"s": se.Rational(1, net.samples), "N": se.Integer(net.samples)})
        for name, expr in [*self.constants.items(), *self.forward, *self.backward]:
            arrays[name] = ev.values(expr, self.storage[name])
        arrays["loss"] = ev.values(self.loss, ())
        return arrays

    def stored_values(self, net: Network, name: str) -> dict:
        """The values of a parameter piece or an input array: its symbols by index values."""
        kind, family, lead = self.stored[name]
        axes = self.storage[name]
        out = {}
        for point in itertools.product(*[range(a.lo, a.hi + 1) for a in axes]):
            if kind == "param":
                out[point] = net.symbols[(family, (*lead, *point))]
            else:  # an input of sample i: x[k] or y[k]
                i, rest = point[0], point[1:]
                out[point] = net.input_symbol(family, rest, i - 1)
        return out


def axes_of(e) -> tuple:
    return e.axes


def _union(*exprs) -> tuple:
    out = []
    for e in exprs:
        for a in e.axes:
            if a not in out:
                out.append(a)
    return tuple(out)


def broadcast(expr, axes):
    """``expr`` over ``axes``: multiplied by 1 over the axes it lacks (a value the same along them)."""
    missing = tuple(a for a in axes if a not in expr.axes)
    extra = [a for a in expr.axes if a not in axes]
    if extra:
        raise NotProvable(f"the index {extra[0].name} is left over in a batch expression")
    return Map("*", (Const(Fraction(1), missing), expr), (*missing, *expr.axes)) if missing else expr


# --- lowering ------------------------------------------------------------------------------------
class Lowering(il.Visitor):
    """Lowers trees of the language to array expressions at the concrete layers of one network."""

    what = "it has no batch form"

    def __init__(self, net: Network, definitions: dict, definition_ranges: dict):
        self.net, self.definitions, self.definition_ranges = net, definitions, definition_ranges
        self.program = Program(list(net.widths), net.samples)
        self.fresh = Fresh()
        self._count = itertools.count()
        self.params = {ref.name: (ref, ranges) for ref, ranges in net.param_ranges}
        self.nodes = _node_families(net)
        self._building: set = set()
        self.sample = Axis(SAMPLE_AXIS, 1, net.samples)
        self.guarded = 0  # inside the branch of a condition on indices: a read there may be masked away

    def axis(self, name: str, lo: int, hi: int) -> Axis:
        return Axis(f"{name}_{next(self._count)}", lo, hi)

    def per_sample(self, name: str) -> bool:
        return name in self.nodes or name in ("x", "y") or name in self.definitions

    def layered(self, name: str) -> bool:
        """Whether the family's first index is the layer: its range reaches L (mu[l] too), or it is a fixed
        layer of a family with more indices (a[0, k])."""
        if name in self.definitions:
            return True
        patterns = [(r.lhs, r.ranges) for r in self.net.rules.get(name, ())]
        if name in self.params:
            patterns.append(self.params[name])
        for ref, ranges in patterns:
            first = ref.indices[0] if ref.indices else None
            bounds = {v: (lo, hi) for v, lo, hi in ranges}
            if isinstance(first, il.Name) and first.name in bounds:
                if "L" in free_names(bounds[first.name]):
                    return True
            elif first is not None and len(ref.indices) >= 2:
                return True
        return False

    # --- where a family's entries come from -----------------------------------------------------------
    def sources(self, name: str, lead: tuple) -> list:
        """[(kind, box, payload)]: each equation, parameter block or input that defines entries at ``lead``."""
        out = []
        for rule in self.net.rules.get(name, ()):
            found = self.pattern_box(rule.lhs, rule.ranges, lead)
            if found is not None:
                out.append(("rule", *found, rule))
        if name in self.params:
            ref, ranges = self.params[name]
            found = self.pattern_box(ref, ranges, lead)
            if found is not None:
                box, env = found
                box = self._minus_rules(name, lead, box)
                if box is not None:  # () is a parameter with no index past the layer (c[l])
                    out.append(("param", box, env, None))
        if name in ("x", "y") and not lead:
            width = self.net.width(self.net.first if name == "x" else self.net.L)
            rule_boxes = [b for _, b, _, _ in out]
            box = ((1, width),)
            if box not in rule_boxes:
                out.append(("input", box, {}, None))
        if name in self.definitions:
            var, lo, hi = self.definition_ranges[name][len(lead)]
            env = dict(zip(self.definitions[name].indices, lead))
            out.append(("definition", ((self.net.integer(lo, env), self.net.integer(hi, env)),), env, None))
        return out

    def _minus_rules(self, name, lead, box):
        """A parameter block without the entries an equation defines (theta[l,0,k] = I(k,0) is a constant)."""
        for rule in self.net.rules.get(name, ()):
            found = self.pattern_box(rule.lhs, rule.ranges, lead)
            if found is None:
                continue
            rule_box = found[0]
            differs = [k for k, (a, b) in enumerate(zip(box, rule_box)) if a != b]
            if len(differs) != 1:
                continue
            k = differs[0]
            (lo, hi), (rlo, rhi) = box[k], rule_box[k]
            if rlo <= lo <= rhi < hi:
                box = box[:k] + ((rhi + 1, hi),) + box[k + 1:]
            elif lo < rlo <= hi <= rhi:
                box = box[:k] + ((lo, rlo - 1),) + box[k + 1:]
        return box

    def pattern_box(self, ref: il.Ref, ranges, lead: tuple):
        """(box of trailing index values, bindings) where ``ref`` with ``ranges`` names entries at ``lead``."""
        env: dict = {}
        bounds = {v: (lo, hi) for v, lo, hi in ranges}
        for pattern, value in zip(ref.indices, lead):
            if isinstance(pattern, il.Name) and pattern.name in bounds:
                lo, hi = bounds[pattern.name]
                if not self.net.integer(lo, env) <= value <= self.net.integer(hi, env):
                    return None
                env[pattern.name] = value
            elif self.net.integer(pattern, env) != value:
                return None
        box = []
        for pattern in ref.indices[len(lead):]:
            if isinstance(pattern, il.Name) and pattern.name in bounds:
                lo, hi = bounds[pattern.name]
                box.append((self.net.integer(lo, env), self.net.integer(hi, env)))
            else:
                v = self.net.integer(pattern, env)
                box.append((v, v))
        if any(lo > hi for lo, hi in box):
            return None
        return tuple(box), env

    # --- arrays -------------------------------------------------------------------------------------
    def array(self, name: str, lead: tuple) -> str:
        """The name of the array of ``name`` at ``lead`` (its layer), built on first use."""
        label = f"{name}{''.join(map(str, lead))}"
        if label in self.program.storage:
            return label
        if label in self._building:
            raise NotProvable(f"{name}[{', '.join(map(str, lead))}, ...] is defined in terms of itself on one layer")
        self._building.add(label)
        pieces = self.sources(name, lead)
        if not pieces:
            raise NotProvable(f"{name}[{', '.join(map(str, lead))}, ...] is not defined")
        at = _tiling_axis([p[1] for p in pieces], label)
        box = tuple((min(p[1][k][0] for p in pieces), max(p[1][k][1] for p in pieces)) for k in range(len(pieces[0][1])))
        head = (self.sample,) if self.per_sample(name) else ()
        axes = head + tuple(self.axis(f"{name}{k}", lo, hi) for k, (lo, hi) in enumerate(box))
        self.program.storage[label] = axes
        exprs = []
        for kind, piece_box, env, rule in sorted(pieces, key=lambda p: p[1][at][0] if at is not None else 0):
            sub = head + tuple(a if (lo, hi) == (a.lo, a.hi) else self.axis(a.name, lo, hi)
                               for a, (lo, hi) in zip(axes[len(head):], piece_box))
            if kind in ("param", "input"):
                stored = label if len(pieces) == 1 else f"{label}_{kind}"
                self.program.storage[stored] = sub
                self.program.stored[stored] = (kind, name, lead)
                if len(pieces) == 1:
                    self._building.discard(label)
                    return label
                exprs.append((Leaf(stored, tuple((a, 0) for a in sub), tuple(a.lo for a in sub)), sub))
                continue
            bound = dict(env)
            names = [i.name for i in (rule.lhs.indices if rule else ()) if isinstance(i, il.Name)]
            trailing = names[len(names) - (len(sub) - len(head)):] if rule else list(self.definitions[name].indices[len(lead):])
            for var, a in zip(trailing, sub[len(head):]):
                bound[var] = a
            if head:
                bound[SAMPLE] = self.sample
            tree = rule.rhs if rule else self.definition_case(name, env)
            exprs.append((broadcast(self.visit(tree, bound), sub), sub))
        expr = exprs[0][0] if len(exprs) == 1 else Concat(tuple(exprs), at + len(head), axes)
        self._place(label, name, expr)
        self._building.discard(label)
        return label

    def definition_case(self, name, env):
        for cond, value in self.definitions[name].cases:
            if cond is None or self.net.holds(cond, env):
                return value
        raise NotProvable(f"no case of {name} applies at {env}")

    def _place(self, label, name, expr):
        if name in self.definitions:
            self.program.backward.append((label, expr))
        elif self.per_sample(name) or self._reads_variables(expr):
            self.program.forward.append((label, expr))  # recomputed from the parameters at every call
        else:
            self.program.constants[label] = expr

    def _reads_variables(self, expr) -> bool:
        """Whether an expression reads a parameter or a computed array (theta assembled from its blocks)."""
        if isinstance(expr, Leaf):
            forward = {n for n, _ in self.program.forward}
            return expr.name in self.program.stored or expr.name in forward
        parts = [getattr(expr, f) for f in ("args", "pieces", "arg", "left", "right", "then", "orelse")
                 if hasattr(expr, f)]
        flat = []
        for p in parts:
            if isinstance(p, tuple):
                flat += [x[0] if isinstance(x, tuple) else x for x in p]
            else:
                flat.append(p)
        return any(self._reads_variables(p) for p in flat if p is not None)

    # --- index values -------------------------------------------------------------------------------
    def index(self, node, env):
        """An index: an int, or (Axis, offset) where it moves with one axis."""
        ints = {k: v for k, v in env.items() if isinstance(v, int)}
        moving = [n for n in free_names(node) if isinstance(env.get(n), Axis)]
        if not moving:
            return self.net.integer(node, ints)
        at = lambda values: self.net.integer(node, {**ints, **values})  # noqa: E731
        offset = at({a: 0 for a in moving})
        coeffs = {a: at({**{b: 0 for b in moving}, a: 1}) - offset for a in moving}
        probe = {a: 2 + k for k, a in enumerate(moving)}
        if at(probe) != offset + sum(coeffs[a] * probe[a] for a in moving):
            raise NotProvable(f"the index {il.to_text(node)} is not affine in {', '.join(moving)}")
        if len(moving) == 1 and coeffs[moving[0]] == 1:
            return env[moving[0]], offset
        return Window(tuple((env[a], c) for a, c in sorted(coeffs.items()) if c), offset)

    # --- nodes ----------------------------------------------------------------------------------------
    def unknown(self, node, *args):
        raise NotProvable(f"{type(node).__name__} has no batch form")

    def visit_Num(self, node, env):
        return Const(node.value)

    def visit_Name(self, node, env):
        value = env.get(node.name)
        if isinstance(value, Axis):
            raise NotProvable(f"the index {node.name} used as a value has no batch form")
        if node.name == "pi":
            raise NotProvable("pi has no exact batch value; write it inside a function")
        return Const(Fraction(value if isinstance(value, int) else self.net.integer(node, {})))

    def visit_Ref(self, node, env):
        name = node.name
        if not free_names(node) & _moving(env) and name == self.net.form.size and len(node.indices) == 1:
            return Const(Fraction(self.net.integer(node, {k: v for k, v in env.items() if isinstance(v, int)})))
        picks = [self.index(i, env) for i in node.indices]
        n_lead = 1 if self.layered(name) else 0
        if any(not isinstance(p, int) for p in picks[:n_lead]):
            raise NotProvable(f"{il.to_text(node)}: the layer must be fixed")
        lead = tuple(picks[:n_lead])
        label = self.array(name, lead)
        axes = self.program.storage[label]
        head = (SAMPLE_PICK,) if self.per_sample(name) else ()
        out = []
        for p, a in zip(head + tuple(picks[n_lead:]), axes):
            if p is SAMPLE_PICK:
                out.append((env.get(SAMPLE, self.sample), 0))
            elif isinstance(p, int):
                if not a.lo <= p <= a.hi:
                    raise NotProvable(f"{il.to_text(node)} reads {p}, outside {a.lo}..{a.hi}")
                out.append(p)
            elif isinstance(p, Window):
                values = [p.offset + sum(c * (ax.lo if c > 0 else ax.hi) for ax, c in p.terms),
                          p.offset + sum(c * (ax.hi if c > 0 else ax.lo) for ax, c in p.terms)]
                if (values[0] < a.lo or values[1] > a.hi) and not self.guarded:
                    raise NotProvable(f"{il.to_text(node)} reads {values[0]}..{values[1]}, outside {a.lo}..{a.hi}")
                out.append(p)  # outside its range only under a condition that masks it
            else:
                axis, offset = p
                if axis.lo + offset < a.lo or axis.hi + offset > a.hi:
                    raise NotProvable(f"{il.to_text(node)} reads {axis.lo + offset}..{axis.hi + offset}, outside "
                                      f"{a.lo}..{a.hi}")
                out.append((axis, offset))
        return Leaf(label, tuple(out), tuple(a.lo for a in axes))

    def visit_BinOp(self, node, env):
        if node.op == "@":
            raise NotProvable("a matrix product has no index-level batch form")
        a, b = self.visit(node.left, env), self.visit(node.right, env)
        return Map(node.op, (a, b), _union(a, b))

    def visit_Neg(self, node, env):
        a = self.visit(node.operand, env)
        return Map("neg", (a,), a.axes)

    def visit_Fn(self, node, env):
        args = tuple(self.visit(a, env) for a in node.args)
        return Call(node.name, args, _union(*args))

    def visit_Apply(self, node, env):
        layer = self.index(node.indices[0], env)
        if not isinstance(layer, int):
            raise NotProvable(f"{il.to_text(node)}: the layer must be fixed")
        act = self.net.activation_for(layer)
        derivative = node.name == self.net.form.derivative
        if not act.elementwise:
            if derivative:
                raise NotProvable(f"{act.name} is vector-valued: it has a Jacobian, not an element-wise derivative")
            return self.visit(self.vector(act, node.arg), env)
        arg = self.visit(node.arg, env)
        return Act(layer, derivative, arg, arg.axes)

    def vector(self, act, arg):
        """A vector-valued activation of ``z[l, j]`` written out from its catalog formula over ``z[l, .]``."""
        if not (isinstance(arg, il.Ref) and len(arg.indices) >= 2):
            raise NotProvable(f"{act.name} is vector-valued: write it of z[l,j]")
        *layer, j = arg.indices
        bound = {n.var for n in il.walk(act.trees["value"]) if isinstance(n, il.Sum)}
        formula = act.trees["value"]
        for v in sorted(bound):
            new = self.fresh(v)
            formula = il.rewrite(formula, lambda n, v=v, new=new: il.Sum(subst(n.body, {v: il.Name(new)}, self.fresh), new,
                                                                          n.lo, n.hi) if isinstance(n, il.Sum) and n.var == v else None)
        expanded = il.rewrite(formula, lambda n: il.Ref(arg.name, (*layer, n.indices[0]))
                              if isinstance(n, il.Ref) and n.name == "u" else None)
        return subst(expanded, {"j": j, "K": il.Ref(self.net.form.size, (layer[0],))}, self.fresh)

    def visit_Sum(self, node, env):
        ints = {k: v for k, v in env.items() if isinstance(v, int)}
        lo, hi = self.net.integer(node.lo, ints), self.net.integer(node.hi, ints)
        if hi < lo:
            return Const(Fraction(0))
        axis = self.axis(node.var, lo, hi)
        body = self.visit(node.body, {**env, node.var: axis})
        if axis not in body.axes:
            return Map("*", (Const(Fraction(hi - lo + 1)), body), body.axes)
        return Reduce(body, axis, tuple(a for a in body.axes if a != axis))

    def visit_Kronecker(self, node, env):
        return self.mask(il.Compare("==", node.p, node.q), env)

    def interval(self, test, env):
        """(index, lo, hi) where ``test`` holds exactly for one moving index in lo..hi, else None."""
        moving = free_names(test) & _moving(env)
        if len(moving) != 1:
            return None
        (var,) = moving
        axis = env[var]
        ints = {k: v for k, v in env.items() if isinstance(v, int)}
        inside = [v for v in range(axis.lo, axis.hi + 1) if self.net.holds(test, {**ints, var: v})]
        if inside and inside != list(range(inside[0], inside[-1] + 1)):
            return None
        return (var, inside[0], inside[-1]) if inside else (var, axis.hi + 1, axis.hi)

    def split(self, node, env, var, lo, hi):
        """``then`` on the index values lo..hi of ``var``, ``orelse`` on the rest, side by side."""
        axis = env[var]
        spans = [(axis.lo, min(lo, axis.hi + 1) - 1, node.orelse), (max(lo, axis.lo), min(hi, axis.hi), node.then),
                 (max(hi + 1, axis.lo), axis.hi, node.orelse)]
        exprs = []
        for a, b, branch in spans:
            if a > b:
                continue
            sub = axis if (a, b) == (axis.lo, axis.hi) else self.axis(var, a, b)
            exprs.append((sub, self.visit(branch, {**env, var: sub})))
        if len(exprs) == 1 and exprs[0][0] is axis:
            return exprs[0][1]
        others = tuple(dict.fromkeys(a for sub, e in exprs for a in e.axes if a is not sub))
        return Concat(tuple((broadcast(e, (sub, *others)), (sub, *others)) for sub, e in exprs), 0, (axis, *others))

    def mask(self, test, env):
        ints = {k: v for k, v in env.items() if isinstance(v, int)}
        names = free_names(test) & _moving(env)
        if not names:
            return Const(Fraction(int(self.net.holds(test, ints))))
        axes = tuple(env[n] for n in sorted(names))
        renamed = subst(test, {n: il.Name(env[n].name) for n in names}, self.fresh)
        return Mask(renamed, tuple(sorted(ints.items())), axes)

    def visit_Cond(self, node, env):
        if _index_condition(node.test, self.net):
            split = self.interval(node.test, env)
            if split is not None:
                return self.split(node, env, *split)
            mask = self.mask(node.test, env)
            if isinstance(mask, Const):
                return self.visit(node.then if mask.value else node.orelse, env)
            self.guarded += 1
            try:
                then, orelse = self.visit(node.then, env), self.visit(node.orelse, env)
            finally:
                self.guarded -= 1
            one = Const(Fraction(1))
            return Map("+", (Map("*", (mask, then), _union(mask, then)),
                             Map("*", (Map("-", (one, mask), mask.axes), orelse), _union(mask, orelse))),
                       _union(mask, then, orelse))
        test = node.test
        if not isinstance(test, il.Compare):
            raise NotProvable("a condition on values is one comparison in the batch form")
        left, right = self.visit(test.left, env), self.visit(test.right, env)
        then, orelse = self.visit(node.then, env), self.visit(node.orelse, env)
        return Where(test.op, left, right, then, orelse, _union(left, right, then, orelse))


SAMPLE_PICK = object()


def _moving(env) -> set:
    return {k for k, v in env.items() if isinstance(v, Axis)}


def _index_condition(test, net) -> bool:
    """Whether a condition compares indices only (a mask), not values."""
    for n in il.walk(test):
        if isinstance(n, (il.Apply, il.Fn)):
            return False
        if isinstance(n, il.Ref) and not (n.name == net.form.size and len(n.indices) == 1):
            return False
    return True


def _tiling_axis(boxes, label):
    """The one axis along which a family's pieces lie side by side (None for a single piece)."""
    if len(boxes) == 1:
        return None
    differ = {k for k in range(len(boxes[0])) if len({b[k] for b in boxes}) > 1}
    if len(differ) != 1:
        raise NotProvable(f"the pieces of {label} do not lie side by side along one index")
    (k,) = differ
    spans = sorted(b[k] for b in boxes)
    if any(b[0] != a[1] + 1 for a, b in zip(spans, spans[1:])):
        raise NotProvable(f"the pieces of {label} leave a gap or overlap")
    return k


def _node_families(net: Network) -> set:
    """The families computed from the inputs or the parameters (constants such as C are not)."""
    reads = {name: set().union(*(il.names_in(r.rhs) for r in rules)) for name, rules in net.rules.items()}
    params = {ref.name for ref, _ in net.param_ranges}
    nodes, changed = set(), True
    while changed:
        changed = False
        for name, names in reads.items():
            if name not in nodes and name not in params and name != "x" and names & ({"x"} | params | nodes):
                nodes.add(name)
                changed = True
    return nodes


# --- evaluation with SymEngine, element by element -----------------------------------------------
class _Evaluator:
    """Evaluates array expressions to {tuple of index values over the expression's axes: SymEngine value}."""

    def __init__(self, net: Network, arrays: dict, scalars: dict | None = None):
        self.net, self.arrays, self.scalars = net, arrays, scalars or {}

    def values(self, expr, axes) -> dict:
        """``expr`` evaluated over ``axes`` (its own axes in this order)."""
        own, vals = self.eval(expr)
        if tuple(own) == tuple(axes):
            return vals
        order = [own.index(a) for a in axes]
        return {tuple(p[k] for k in order): v for p, v in vals.items()}

    def eval(self, expr):
        return getattr(self, "_" + type(expr).__name__)(expr)

    @staticmethod
    def _points(axes):
        return itertools.product(*[range(a.lo, a.hi + 1) for a in axes])

    def _Scalar(self, e):
        return (), {(): self.scalars[e.name]}

    def _Const(self, e):
        value = number(e.value)
        return e.axes, {p: value for p in self._points(e.axes)}

    def _Leaf(self, e):
        stored = self.arrays[e.name]
        axes = e.axes
        out = {}
        for point in self._points(axes):
            at = dict(zip(axes, point))
            key = tuple(p if isinstance(p, int) else p.offset + sum(c * at[a] for a, c in p.terms)
                        if isinstance(p, Window) else at[p[0]] + p[1] for p in e.picks)
            out[point] = stored.get(key, se.Integer(0))  # only a masked window reads outside its array
        return axes, out

    def _parts(self, args, axes):
        parts = [self.eval(a) for a in args]
        for point in self._points(axes):
            at = dict(zip(axes, point))
            yield point, [vals[tuple(at[a] for a in ax)] for ax, vals in parts]

    def _Map(self, e):
        f = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
             "**": lambda a, b: a**b, "neg": lambda a: -a}[e.op]
        return e.axes, {p: f(*vs) for p, vs in self._parts(e.args, e.axes)}

    def _Call(self, e):
        f = FUNCTIONS[e.name].value
        return e.axes, {p: f(*vs) for p, vs in self._parts(e.args, e.axes)}

    def _Act(self, e):
        act = self.net.activation_for(e.layer)
        f = act.derivative if e.derivative else act.value
        return e.axes, {p: f(v) for p, (v,) in self._parts((e.arg,), e.axes)}

    def _Reduce(self, e):
        axes, vals = self.eval(e.arg)
        k = axes.index(e.axis)
        out: dict = {}
        for p, v in vals.items():
            out.setdefault(p[:k] + p[k + 1:], []).append(v)
        rest = tuple(a for a in axes if a != e.axis)
        return rest, {p: se.Add(*vs) for p, vs in out.items()}

    def _Mask(self, e):
        env = dict(e.env)
        return e.axes, {p: se.Integer(int(self.net.holds(e.test, {**env, **{a.name: v for a, v in zip(e.axes, p)}})))
                        for p in self._points(e.axes)}

    def _Where(self, e):
        rel = {"==": se.Eq, "!=": se.Ne, "<": se.Lt, "<=": se.Le, ">": se.Gt, ">=": se.Ge}[e.op]
        return e.axes, {p: se.Piecewise((t, rel(a, b)), (o, True))
                        for p, (a, b, t, o) in self._parts((e.left, e.right, e.then, e.orelse), e.axes)}

    def _Concat(self, e):
        out = {}
        for piece, axes in e.pieces:
            out.update(self.values(piece, axes))  # index values: a piece's own part of axis ``at`` places it
        return e.axes, out


# --- the program of a network ---------------------------------------------------------------------
def lower(net: Network, rec: Recursion, only=None) -> Program:
    """The batch form of ``net``: every node array, the summed loss, every delta and every gradient.

    >>> from symbp.calculus.recursions import recursion
    >>> net = Network([2, 3, 1], activation="tanh", output="identity", loss="half-squared-error")
    >>> p = lower(net, recursion(net.form, net.output, net.loss))
    >>> [name for name, _ in p.forward], sorted(p.gradients.values())
    (['a0', 'z1', 'a1', 'z2', 'a2'], ['dW1', 'dW2', 'db1', 'db2'])
    """
    low = Lowering(net, {DELTA: rec.delta}, {DELTA: rec.ranges})
    program = low.program
    i = low.sample
    # arrays built layer by layer, the forward pass upward and the deltas downward, so that building one reads
    # only arrays already built: a deep network's lowering stays shallow
    for l in range(net.first, net.L + 1):
        for name in sorted(low.nodes):
            if low.layered(name) and low.sources(name, (l,)):
                low.array(name, (l,))
    lo = net.integer(rec.ranges[0][1], {})
    for l in range(net.L, lo - 1, -1):
        if only is None:  # every delta (kernels); a check of some blocks builds only the deltas they read
            low.array(DELTA, (l,))
    e = net.loss.tree(net.form.output, net.form.size)
    program.loss = Reduce(broadcast(low.visit(e, {SAMPLE: i}), (i,)), i, ())
    for name, (ref, ranges) in low.params.items():
        g = rec.gradients[name]
        names = [n.name for n in g.ref.indices]
        for lead in _param_leads(net, name):
            if only is not None and (name, lead) not in only:
                continue
            low.array(name, lead)  # the parameter's stored blocks
            for kind, box, env, _ in low.sources(name, lead):
                if kind != "param":
                    continue
                axes = tuple(low.axis(f"d{name}{k}", lo, hi) for k, (lo, hi) in enumerate(box))
                bound = {**env, SAMPLE: i, **dict(zip(names[len(lead):], axes))}
                expr = broadcast(low.visit(g.value, bound), (i, *axes))
                label = f"d{name}{''.join(map(str, lead))}"
                program.storage[label] = axes
                program.backward.append((label, Reduce(expr, i, tuple(a for a in expr.axes if a != i))))
                program.gradients[(name, lead)] = label
    return program


def _param_leads(net: Network, name: str) -> list:
    """The layers at which a parameter family has entries, from its ranges (no symbol is enumerated)."""
    ref, ranges = next((r, rg) for r, rg in net.param_ranges if r.name == name)
    var, lo, hi = ranges[0]
    return [(l,) for l in range(net.integer(lo, {}), net.integer(hi, {}) + 1)]


def matrix_gradient(net: Network, mutation: str | None = None, params=None) -> dict:
    """dJ/dp for every parameter p (or those in ``params``) from the batch form, element by element (1/m of the
    summed gradients); only the blocks of ``params`` are lowered, so one block's error is its own."""
    rec, mean = recursion_of(net, mutation)
    only = None if params is None else {(name, idx[:1]) for (name, idx), s in net.symbols.items() if s in set(params)}
    program = lower(net, rec, only)
    arrays = program.evaluate(net)
    scale = se.Rational(1, net.samples) if mean else se.Integer(1)
    out = {}
    for (name, lead), label in program.gradients.items():
        for point, value in arrays[label].items():
            out[net.symbols[(name, (*lead, *point))]] = scale * value
    return out


__all__ = ["Act", "Axis", "Call", "Concat", "Const", "Leaf", "Window", "Lowering", "Map", "Mask", "Program", "Reduce",
           "SAMPLE", "SAMPLE_AXIS", "Scalar", "Where", "broadcast", "lower", "matrix_gradient"]
