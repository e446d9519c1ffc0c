"""Evaluating a derivation's own statements (index form and matrix form) on a concrete network.

A statement is a parsed tree of :mod:`symbp.indexlang`; this module gives its names their
meaning: network quantities (``z``, ``a``, ``x``, ``y``, ``W``, ``b``, ``theta``, ``C``), the loss
(``J`` averaged over samples, ``e`` of one sample), per-layer functions (``h``/``g``/``sigma`` and
``Psi``/``gprime``), the file's own definitions (``delta``, ``Delta``, ...), derivatives
``d(A)/d(B)`` taken directly, and sums over samples. Every derivative here is SymEngine's.
"""
from __future__ import annotations

import symengine as se

from .. import lang as il
from ..calculus.direct import normalize
from ..errors import ClaimError, IndexRangeError, ParseError, ShapeError
from ..exact import number
from ..lang.scope import ACTIVATION_NAMES, DERIVATIVE_NAMES, Definition, Scope
from ..model.functions import SymEngineValues
from ..model.network import Network

_BATCH = {"A": "a", "Z": "z"}  # batch matrices (samples in rows) of per-sample quantities


class _Indices(il.Evaluator):
    """Indices and sizes of a claim: whole numbers, with the widths, L and m."""

    def __init__(self, net: Network, scope: Scope):
        self.net, self.scope = net, scope

    def constant(self, name):
        if name == "L":
            return self.net.L
        if name in ("m", "N"):
            return self.net.samples
        raise ClaimError(f"unknown index or constant {name!r}")

    def ref(self, name, idx):
        size = self.net.size(self.scope.aliases.get(name, name), idx)
        if size is None:
            raise ClaimError(f"{name}[...] is not a size; only {self.net.form.size}[l] may appear in an index")
        return size

    def apply(self, node, env):
        raise ClaimError(f"{node.name}[...](...) cannot appear in an index")

    def unknown(self, node, *args):
        raise ClaimError(f"{il.to_text(node)} cannot be an index")


class Evaluator(SymEngineValues, il.Visitor):
    """Evaluates statements for one sample of one network; ``overrides`` cut nodes for derivatives."""

    what = "it has no value in a claim"

    def __init__(self, net: Network, scope: Scope, sample: int = 0, overrides=None, memo=None):
        self.net, self.scope, self.i = net, scope, sample
        self.overrides = dict(overrides or {})
        self.memo = {} if memo is None else memo  # shared by evaluators of one (sample, overrides)
        self.ints = _Indices(net, scope)

    def index(self, node, env) -> int:
        try:
            return self.ints.index(node, env)
        except ParseError as exc:
            raise ClaimError(str(exc)) from None

    # --- values ------------------------------------------------------------------------------
    def eval(self, node, env, matrix=False):
        return self.visit(node, env, matrix)

    def visit_Num(self, node, env, matrix):
        return number(node.value)

    def visit_Name(self, node, env, matrix):
        return self._name(node.name, env, matrix)

    def visit_Ref(self, node, env, matrix):
        return self._ref(node, env, matrix)

    def visit_BinOp(self, node, env, matrix):
        return _binop(node.op, self.eval(node.left, env, matrix), self.eval(node.right, env, matrix))

    def visit_Neg(self, node, env, matrix):
        return -self.eval(node.operand, env, matrix)

    def visit_Kronecker(self, node, env, matrix):
        return se.Integer(int(self.index(node.p, env) == self.index(node.q, env)))

    def visit_Cond(self, node, env, matrix):
        test = self._test(node.test, env)
        if isinstance(test, bool):
            return self.eval(node.then if test else node.orelse, env, matrix)
        if matrix:
            raise ClaimError("a condition on values is not defined in a matrix-form claim")
        return self.piecewise(test, self.eval(node.then, env, matrix), self.eval(node.orelse, env, matrix))

    def visit_Fn(self, node, env, matrix):
        args = [self.eval(a, env, matrix) for a in node.args]
        if any(isinstance(a, se.DenseMatrix) for a in args):
            if len(args) != 1:
                raise ClaimError(f"{node.name} of a matrix: only functions of one argument act element-wise")
            return args[0].applyfunc(lambda u: self.function(node.name, [u]))
        return self.function(node.name, args)

    def visit_Sum(self, node, env, matrix):
        lo, hi = self.index(node.lo, env), self.index(node.hi, env)
        if hi < lo:
            raise ClaimError(f"the sum over {node.var} has an empty range {lo}..{hi}")
        return _total([self.eval(node.body, {**env, node.var: k}, matrix) for k in range(lo, hi + 1)])

    def visit_Apply(self, node, env, matrix):
        return self._apply(node, env, matrix)

    def visit_Deriv(self, node, env, matrix):
        return self._deriv(node, env, matrix)

    def visit_Call(self, node, env, matrix):
        return self._call(node, env, matrix)

    def visit_Compare(self, node, env, matrix):
        raise ClaimError("a comparison can only be the condition of 'x if cond else y'")

    def visit_BoolOp(self, node, env, matrix):
        raise ClaimError(f"'{node.op}' can only combine the conditions of 'x if cond else y'")

    def visit_Not(self, node, env, matrix):
        raise ClaimError("'not' can only negate the condition of 'x if cond else y'")

    def unknown(self, node, *args):
        raise ClaimError(f"cannot evaluate {node!r}")

    def _test(self, node, env):
        """A condition: True or False where it compares indices or numbers, else a relation of values."""
        if isinstance(node, il.BoolOp):
            values = [self._test(v, env) for v in node.values]
            if all(isinstance(v, bool) for v in values):
                return all(values) if node.op == "and" else any(values)
            return self.logic(node.op, values)
        if isinstance(node, il.Not):
            value = self._test(node.operand, env)
            return (not value) if isinstance(value, bool) else self.logic("not", [value])
        if not isinstance(node, il.Compare):
            raise ClaimError("the condition of 'x if cond else y' must be a comparison, such as k == 0 or u > 0")
        a, b = self.eval(node.left, env), self.eval(node.right, env)
        if isinstance(a, se.DenseMatrix) or isinstance(b, se.DenseMatrix):
            raise ClaimError("a condition compares numbers, not matrices")
        ea, eb = self.exact(a), self.exact(b)
        if ea is not None and eb is not None:
            return il.Evaluator().visit_Compare(il.Compare(node.op, il.Num(ea), il.Num(eb)), {})
        return self.relation(node.op, a, b)

    def _name(self, name, env, matrix):
        name = self.scope.aliases.get(name, name)
        if name in env:
            return se.Integer(env[name])
        if name in self.scope.constants:
            return self.scope.constants[name]
        if self.named_constant(name) is not None:
            return self.named_constant(name)
        if name == "J":
            if self.overrides:  # only this sample depends on a cut node
                return self.net.sample_loss(self.i, self.overrides) / self.net.samples
            return self.net.J
        if name == "e":
            return self.net.sample_loss(self.i, self.overrides or None)
        if name in ("L", "m", "N"):
            return se.Integer(self.ints.constant(name))
        if matrix and name in ("y", "x", "Y", "X0"):
            return self._vector_or_batch(name)
        if name in self.scope.definitions:
            return self._definition(name, ())
        raise ClaimError(f"unknown name {name!r}")

    def _vector_or_batch(self, name):
        net = self.net
        if name == "y":
            return se.DenseMatrix([[v] for v in net.y(self.i)])
        if name == "x":
            return se.DenseMatrix([[v] for v in net.x(self.i)])
        if name == "Y":
            return se.DenseMatrix([net.y(i) for i in range(net.samples)])
        return se.DenseMatrix([net.x(i) for i in range(net.samples)])

    def _ref(self, node, env, matrix):
        name = self.scope.aliases.get(node.name, node.name)
        idx = tuple(self.index(i, env) for i in node.indices)
        if name in self.scope.definitions:
            return self._definition(name, idx)
        if matrix:
            return self.matrix_ref(name, idx)
        size = self.net.size(name, idx)
        if size is not None:
            return se.Integer(size)
        try:
            return self.net.node(self.i, name, idx, self.overrides or None)
        except IndexRangeError as exc:
            raise ClaimError(str(exc)) from None

    def _definition(self, name, idx):
        key = (name, idx)
        if key in self.memo:
            if self.memo[key] is None:
                raise ClaimError(f"{name}[{','.join(map(str, idx))}] is defined in terms of itself")
            return self.memo[key]
        d = self.scope.definitions[name]
        if len(idx) != len(d.indices):
            raise ClaimError(f"{name} takes {len(d.indices)} indices, got {len(idx)}")
        env = dict(zip(d.indices, idx))
        self.memo[key] = None
        for cond, value in d.cases:
            if cond is None or self._test(cond, env):
                self.memo[key] = self.eval(value, env, d.matrix)
                return self.memo[key]
        del self.memo[key]
        raise ClaimError(f"no case of {name} applies at {name}[{','.join(map(str, idx))}]")

    # --- per-layer functions -----------------------------------------------------------------
    def _apply(self, node, env, matrix):
        alias = self.scope.aliases.get(node.name)
        name = alias if alias in ACTIVATION_NAMES | DERIVATIVE_NAMES else node.name
        if name not in ACTIVATION_NAMES | DERIVATIVE_NAMES:
            raise ClaimError(f"unknown function {node.name!r}; known: {', '.join(sorted(ACTIVATION_NAMES | DERIVATIVE_NAMES))}")
        if len(node.indices) != 1:
            raise ClaimError(f"{node.name} takes the layer as its one index, as in {node.name}[l](z)")
        l = self.index(node.indices[0], env)
        act = self.net.activation_for(l)
        if act.elementwise:
            f = act.value if name in ACTIVATION_NAMES else act.derivative
            u = self.eval(node.arg, env, matrix)
            return u.applyfunc(f) if isinstance(u, se.DenseMatrix) else f(u)
        if name in DERIVATIVE_NAMES:
            raise ClaimError(f"{act.name} is vector-valued: it has a Jacobian, not an element-wise derivative")
        if not (isinstance(node.arg, il.Ref) and len(node.arg.indices) == 2):
            raise ClaimError(f"{act.name} is vector-valued: write {node.name}[l](z[l,j])")
        arg_name = self.scope.aliases.get(node.arg.name, node.arg.name)
        l2, j = (self.index(i, env) for i in node.arg.indices)
        zs = [self.net.node(self.i, arg_name, (l2, k), self.overrides or None) for k in range(1, self.net.width(l2) + 1)]
        return act.vector(zs)[j - 1] if 1 <= j <= len(zs) else se.Integer(0)

    # --- derivatives, taken directly ------------------------------------------------------------
    def _deriv(self, node, env, matrix):
        wrt = node.wrt
        if not isinstance(wrt, il.Ref):
            raise ClaimError("differentiate with respect to an indexed quantity, as in d(J)/d(W[l,j,k])")
        name = self.scope.aliases.get(wrt.name, wrt.name)
        idx = tuple(self.index(i, env) for i in wrt.indices)
        if matrix:
            return self._matrix_deriv(node.of, name, idx, env)
        return self._scalar_deriv(node.of, name, idx, env)

    def _scalar_deriv(self, of, name, idx, env):
        net = self.net
        if (name, idx) in net.symbols:
            return normalize(self.eval(of, env).diff(net.symbols[(name, idx)]), net=net)
        if net.rule_for(name, idx) is None:
            raise ClaimError(f"{name}[{','.join(map(str, idx))}] is not a variable of this network")
        if name in ("W", "b", "theta"):
            raise ClaimError(f"{name}[{','.join(map(str, idx))}] is a constant, not a parameter: it cannot be varied")
        cut = se.Symbol(f"_cut_{name}[{','.join(map(str, idx))}]")
        sub = Evaluator(net, self.scope, self.i, {**self.overrides, (name, idx): cut})
        value = normalize(sub.eval(of, env).diff(cut), net=net)
        return value.subs({cut: net.node(self.i, name, idx, self.overrides or None)})

    # --- built-ins ---------------------------------------------------------------------------
    def _call(self, node, env, matrix):
        if node.name == "samplesum":
            body, (var, lo, hi) = node.args[0], node.args[1]
            lo, hi = self.index(lo, env), self.index(hi, env)
            terms = []
            for k in range(lo, hi + 1):
                if not 1 <= k <= self.net.samples:
                    raise ClaimError(f"sample {var.name} = {k} does not exist: samples run from 1 to m = {self.net.samples}")
                sub = Evaluator(self.net, self.scope, k - 1, self.overrides if k - 1 == self.i else None)
                terms.append(sub.eval(body, {**env, var.name: k}, matrix))
            if not terms:
                raise ClaimError(f"the sum over samples has an empty range {lo}..{hi}")
            return _total(terms)
        if node.name == "T":
            value = self.eval(node.args[0], env, matrix)
            if not isinstance(value, se.DenseMatrix):
                raise ClaimError("T(...) transposes a matrix; use it in a matrix-form claim")
            return value.T
        if node.name == "rows":
            value = self.eval(node.args[0], env, matrix)
            first, last = (self.index(a, env) for a in node.args[1:])
            if not isinstance(value, se.DenseMatrix) or not 1 <= first <= last <= value.rows:
                raise ShapeError(f"rows({first}, {last}) of a {getattr(value, 'rows', 1)}-row value")
            return value[first - 1:last, :]
        if node.name == "ones":
            r, c = (self.index(a, env) for a in node.args)
            return se.DenseMatrix(r, c, [1] * (r * c))
        raise ClaimError(f"unknown function {node.name}")

    # --- matrices ----------------------------------------------------------------------------
    def matrix_ref(self, name, idx):
        net = self.net
        if name in _BATCH or (name in ("a", "z") and len(idx) == 1):
            (l,) = idx
            q = _BATCH.get(name, name)
            nodes = range(1, net.width(l) + 1)
            if name in _BATCH:
                return se.DenseMatrix([[net.node(i, q, (l, j)) for j in nodes] for i in range(net.samples)])
            return se.DenseMatrix([[net.node(self.i, q, (l, j), self.overrides or None)] for j in nodes])
        rows = self._param_matrix(name, idx)
        if rows is None:
            raise ClaimError(f"unknown matrix {name}[{','.join(map(str, idx))}]")
        return se.DenseMatrix(rows)

    def _param_matrix(self, name, idx):
        """A parameter as a matrix over its trailing indices, in the formulation's own layout."""
        for ref, ranges in self.net.param_ranges:
            if ref.name != name or len(idx) != 1 or len(ref.indices) < 2:
                continue
            env = {ranges[0][0]: idx[0]}
            if not self.net.in_ranges(ranges[:1], env):
                raise ClaimError(f"{name}[{idx[0]}] does not exist in this network")
            axes = [(var, range(self.index(lo, env), self.index(hi, env) + 1)) for var, lo, hi in ranges[1:]]
            return self._grid(name, env, ref, axes)
        return None

    def _grid(self, name, env, ref, axes):
        def entry(values):
            e = {**env, **values}
            return self.net.param(name, tuple(self.index(i, e) for i in ref.indices))

        if len(axes) == 1:
            (v, rng), = axes
            return [[entry({v: k})] for k in rng]
        (v1, r1), (v2, r2) = axes
        return [[entry({v1: p, v2: q}) for q in r2] for p in r1]

    def _matrix_deriv(self, of, name, idx, env):
        if name in ("z", "a") and len(idx) == 1:  # by a layer's nodes: a column of derivatives
            (l,) = idx
            return se.DenseMatrix([[self._scalar_deriv(of, name, (l, j), env)] for j in range(1, self.net.width(l) + 1)])
        shape = self.matrix_ref(name, idx)
        out = []
        for r in range(shape.rows):
            row = []
            for c in range(shape.cols):
                s = shape[r, c]
                if not s.is_Symbol:
                    raise ClaimError(f"{name}[{idx[0]}] holds constants; differentiate by its parameters only")
                row.append(normalize(self.eval(of, env, False).diff(s), net=self.net))
            out.append(row)
        return se.DenseMatrix(out)


def _binop(op, a, b):
    ma, mb = isinstance(a, se.DenseMatrix), isinstance(b, se.DenseMatrix)
    if op == "@":
        if not (ma and mb):
            raise ClaimError("@ is the matrix product; both sides must be matrices")
        if a.shape[1] != b.shape[0]:
            raise ShapeError(f"matrix product of a {a.shape[0]}x{a.shape[1]} and a {b.shape[0]}x{b.shape[1]} matrix")
        return a * b
    if ma and mb:
        if a.shape != b.shape:
            raise ShapeError(f"'{op}' of a {a.shape[0]}x{a.shape[1]} and a {b.shape[0]}x{b.shape[1]} matrix")
        if op == "*":
            return a.multiply_elementwise(b)
        if op in "+-":
            return a + b if op == "+" else a - b
        raise ClaimError(f"'{op}' is not defined between two matrices")
    if ma or mb:
        if op == "*":
            return a * b
        if op == "/" and ma:
            return a * (1 / b)
        raise ClaimError(f"'{op}' between a matrix and a scalar is not defined; use * or /")
    if op == "**":
        return a**b
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b}[op]()


def _total(terms):
    if isinstance(terms[0], se.DenseMatrix):
        out = terms[0]
        for t in terms[1:]:
            out = _binop("+", out, t)
        return out
    return se.Add(*terms)


__all__ = ["Definition", "Evaluator", "Scope"]
