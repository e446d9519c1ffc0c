"""Printing a kernel plan as a standalone module; a target is a dialect (its module and its functions' code).

Every array expression of the plan is printed over its named axes: an array read along axes becomes a name
(with slices where it reads a part), a product summed over an axis a matrix product where it is one (else
``einsum``), element-wise functions their target's code from the function table, conditions on indices
comparisons of ``arange`` grids. :class:`NumPyPrinter` adds the NumPy module's in-place statements (an
activation as ufunc calls into one buffer, a bias added to a fresh product); :class:`JaxPrinter` prints the
same plan functionally with ``jax.numpy``. Element-wise activations come from the catalog's own formulas
through SymPy's printers.
"""
from __future__ import annotations

import itertools
import re

import sympy
import symengine as se
from sympy.printing.numpy import NumPyPrinter as SymPyNumPyPrinter

from .. import lang as il
from ..calculus.batch import SAMPLE_AXIS, Act, Axis, Call, Const, Leaf, Map, Reduce, Scalar, Window
from ..lang.visitor import Visitor
from ..model.activations import ACTIVATIONS, Activation
from ..model.functions import FUNCTIONS, Formula
from .plan import Plan


# --- element-wise formulas through SymPy's printers --------------------------------------------------------
class ElementwisePrinter(SymPyNumPyPrinter):
    """SymPy's NumPy printer with kernel-friendly forms: x**-1 as a division, a two-branch Piecewise as where."""

    module = "np"

    def __init__(self):
        super().__init__({"fully_qualified_modules": False, "allow_unknown_functions": False})
        self.module_imports.clear()

    def _module_format(self, fqn, register=True):
        return fqn.replace("numpy.", f"{self.module}.")

    def _print_Pow(self, expr, rational=False):
        if expr.exp == -1:
            return f"1 / ({self._print(expr.base)})"
        if expr.exp == 2:
            return f"{self.parenthesize(expr.base, 60)}**2"
        return super()._print_Pow(expr, rational=rational)

    def _print_Piecewise(self, expr):
        (value, cond), rest = expr.args[0], expr.args[1:]
        if len(rest) == 1 and rest[0].cond == sympy.true:  # two branches: one where, no default
            return f"{self.module}.where({self._print(cond)}, {self._print(value)}, {self._print(rest[0].expr)})"
        return super()._print_Piecewise(expr)

    def _print_StrictGreaterThan(self, expr):
        return f"({self._print(expr.lhs)} > {self._print(expr.rhs)})"


class _NotAChain(Exception):
    pass


class InplacePrinter(ElementwisePrinter):
    """Prints an element-wise expression as ufunc calls into one buffer.

    Every temporary of a batch-sized array costs an allocation and its page faults, which here cost
    more than the arithmetic (a sigmoid of a 256 x 1024 batch: 3.8 ms with temporaries, 0.5 ms in place).
    Handles chains of +, *, integer powers, exp, tanh and log; anything else is printed as usual.
    """

    _UFUNCS = {sympy.exp: "np.exp", sympy.tanh: "np.tanh", sympy.log: "np.log"}

    def lines(self, expr, out: str) -> list[str] | None:
        try:
            return self._emit(expr, out)
        except _NotAChain:
            return None

    def _emit(self, e, out):
        if isinstance(e, sympy.Function) and e.func in self._UFUNCS and len(e.args) == 1:
            u, (arg,) = self._UFUNCS[e.func], e.args
            if arg.is_Symbol:
                return [f"{out} = {u}({arg})"]
            return self._emit(arg, out) + [f"{u}({out}, out={out})"]
        if e.is_Pow and e.exp.is_Integer and not e.base.is_Number:
            ufunc, extra = {-1: ("np.reciprocal", ""), 2: ("np.square", "")}.get(int(e.exp), ("np.power", f", {e.exp}"))
            if e.base.is_Symbol:  # the ufunc allocates the buffer, in the operand's dtype
                return [f"{out} = {ufunc}({e.base}{extra})"]
            return self._emit(e.base, out) + [f"{ufunc}({out}{extra}, out={out})"]
        if e.is_Add or e.is_Mul:
            const = sum(a for a in e.args if a.is_Number) if e.is_Add else sympy.Mul(*[a for a in e.args if a.is_Number])
            arrays = [a for a in e.args if not a.is_Number]
            if not arrays:
                raise _NotAChain
            chain = next((a for a in arrays if not a.is_Symbol), None)
            if chain is None:  # only symbols: start from the first one
                if e.is_Mul and const == -1:
                    lines, const = [f"{out} = np.negative({arrays[0]})"], sympy.Integer(1)
                else:
                    lines = [f"{out} = {arrays[0]} {'+' if e.is_Add else '*'} {self._print(const)}"]
                    const = sympy.Integer(0 if e.is_Add else 1)
                rest = arrays[1:]
            else:
                lines, rest = self._emit(chain, out), [a for a in arrays if a is not chain]
            op = "+" if e.is_Add else "*"
            for a in rest:
                if e.is_Add and a.is_Mul and a.args[0] == -1:
                    lines.append(f"{out} -= {self.parenthesize(-a, 60)}")
                else:
                    lines.append(f"{out} {op}= {self.parenthesize(a, 60)}")
            if e.is_Add and const != 0:
                lines.append(f"{out} += {self._print(const)}")
            if e.is_Mul and const == -1:
                lines.append(f"np.negative({out}, out={out})")
            elif e.is_Mul and const != 1:
                lines.append(f"{out} *= {self._print(const)}")
            return lines
        raise _NotAChain


def activation_tree(act: Activation | str, derivative: bool, with_a: bool):
    """The catalog's tree for an activation, its derivative, or its derivative written with ``a`` = its value."""
    act = ACTIVATIONS[act] if isinstance(act, str) else act
    if derivative and with_a and "derivative_in_a" in act.trees:
        return act.trees["derivative_in_a"]
    return act.trees["derivative" if derivative else "value"]


#: functions whose SymEngine forms can run as an in-place ufunc chain without losing finite values: an
#: overflow of exp(-z) to inf gives the sigmoid's right limit, 0 (the forward pass ignores that overflow)
CHAINABLE = {"sigmoid", "tanh", "exp"}


def chainable(tree) -> bool:
    return all(n.name in CHAINABLE for n in il.walk(tree) if isinstance(n, il.Fn)) and not any(
        isinstance(n, il.Cond) for n in il.walk(tree))


def activation_expr(act: Activation | str, derivative: bool, z: str, a: str | None):
    """An activation (or its derivative, with ``a`` = its value where the catalog writes it so) in SymPy."""
    act = ACTIVATIONS[act] if isinstance(act, str) else act
    tree = activation_tree(act, derivative, bool(a))
    names = {"u": se.Symbol(z), "a": se.Symbol(a)} if a else {"u": se.Symbol(z)}
    expr = sympy.sympify(Formula(names).eval(tree, {})._sympy_())
    # an irrational constant (sqrt(2), pi) as a float literal: Python's floats keep a float32 array float32
    return expr.replace(lambda e: e.is_number and not e.is_Rational and not e.free_symbols,
                        lambda e: e.evalf(17))


class FormulaPrinter(Visitor):
    """A catalog formula as code for one target: functions through the function table's stable code."""

    prefix = "_print_"

    def __init__(self, names: dict, target: str = "numpy", module: str = "np"):
        self.names, self.target, self.module = names, target, module

    def doprint(self, tree) -> str:
        return self.visit(tree)

    def constant(self, tree):
        """A subtree of numbers only, as a Python float literal (it keeps a float32 array float32)."""
        if any(isinstance(n, il.Name) and n.name != "pi" for n in il.walk(tree)):
            return None
        return repr(float(Formula({}).eval(tree, {})))

    def _print_Num(self, node):
        v = node.value
        return str(v.numerator) if v.denominator == 1 else repr(float(v))

    def _print_Name(self, node):
        return self.names[node.name] if node.name in self.names else repr(float(Formula({}).eval(node, {})))

    def _print_Neg(self, node):
        return f"(-{self.doprint(node.operand)})"

    def _print_BinOp(self, node):
        folded = self.constant(node)
        if folded is not None:
            return folded
        return f"({self.doprint(node.left)} {node.op} {self.doprint(node.right)})"

    def _print_Fn(self, node):
        folded = self.constant(node)
        if folded is not None:
            return folded
        return FUNCTIONS[node.name].code[self.target].format(*(self.doprint(a) for a in node.args))

    def _print_Compare(self, node):
        return f"({self.doprint(node.left)} {node.op} {self.doprint(node.right)})"

    def _print_BoolOp(self, node):
        return "(" + (" & " if node.op == "and" else " | ").join(self.doprint(v) for v in node.values) + ")"

    def _print_Not(self, node):
        return f"~{self.doprint(node.operand)}"

    def _print_Cond(self, node):
        return f"{self.module}.where({self.doprint(node.test)}, {self.doprint(node.then)}, {self.doprint(node.orelse)})"

    def _print_Apply(self, node):
        raise NotImplementedError(f"{node.name}(...) is the generic activation: it has no code")


def activation_code(act, derivative: bool, z: str, a: str | None, target: str = "numpy", module: str = "np") -> str:
    """Code for an activation or its derivative, as one expression, from the catalog's formula."""
    tree = activation_tree(act, derivative, bool(a))
    names = {"u": z, "a": a} if a else {"u": z}
    return FormulaPrinter(names, target, module).doprint(tree)


# --- array expressions ---------------------------------------------------------------------------------
class ArrayPrinter(Visitor):
    """Prints the plan's array expressions for one target; each ``visit_X`` returns (code, axes)."""

    target = "numpy"
    module = "np"
    what = "it has no code in this target"

    def __init__(self, plan: Plan):
        self.plan = plan
        self.net = plan.net
        self.lines: list = []
        self._temps = itertools.count()
        # g'(z^l) can be written with a^l = g(z^l) where the forward pass already has it
        self.values = {}
        for name, expr in plan.program.forward:
            if isinstance(expr, Act) and not expr.derivative and _full(expr.arg, plan.program):
                self.values[expr.arg.name] = name

    # --- helpers ---------------------------------------------------------------------------------------
    def size(self, axis: Axis) -> str:
        return "N" if axis.name == SAMPLE_AXIS else str(axis.size)

    def temp(self, code: str) -> str:
        name = f"_t{next(self._temps)}"
        self.lines.append(f"{name} = {code}")
        return name

    def aligned(self, e, axes) -> str:
        """The code of ``e`` with its axes in the order ``axes`` (broadcast along the ones it lacks)."""
        if isinstance(e, Reduce):  # a product summed: printed in the order wanted, no transpose after
            code, own = self.visit_Reduce(e, [a for a in axes if a in e.axes])
        else:
            code, own = self.visit(e)
        return self.arrange(code, own, axes)

    def arrange(self, code, own, axes) -> str:
        own = list(own)
        missing = [a for a in axes if a not in own]
        order = [a for a in axes if a in own]
        if order != own:
            perm = [own.index(a) for a in order]
            code = f"{self.atom(code)}.T" if len(perm) == 2 else f"{self.atom(code)}.transpose({tuple(perm)})"
        if missing and own:
            # numpy broadcasts from the right: new axes before the first present one need no index
            first = next(k for k, a in enumerate(axes) if a in own)
            index = [":" if a in own else "None" for a in axes[first:]]
            if "None" in index:
                code = f"{self.atom(code)}[{', '.join(index)}]"
        return code  # a number broadcasts by itself

    @staticmethod
    def atom(code: str) -> str:
        """``code`` as an operand: a name, a subscript, a call or a wrapped group stand alone, anything else in ()."""
        if re.fullmatch(r"[\w.]+", code):
            return code
        depth, closes = 0, []
        for k, ch in enumerate(code):
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
                if depth == 0:
                    closes.append(k)
            elif depth == 0 and not (ch.isalnum() or ch in "._"):
                return f"({code})"  # an operator or a space at the top level
        return code

    def unknown(self, node, *args):
        raise NotImplementedError(f"{type(node).__name__} has no code")

    # --- nodes ------------------------------------------------------------------------------------------
    def visit_Const(self, e):
        value = e.value
        text = str(value.numerator) if value.denominator == 1 else f"{value.numerator} / {value.denominator}"
        if not e.axes:
            return text, ()
        return f"{self.module}.full(({', '.join(self.size(a) for a in e.axes)},), {text}, dtype=DTYPE)", e.axes

    def visit_Scalar(self, e):
        return e.name, ()

    def visit_Leaf(self, e):
        if any(isinstance(p, Window) for p in e.picks):
            return self.gather(e)
        index, axes = [], []
        for pick, low in zip(e.picks, e.lows):
            if isinstance(pick, int):
                index.append(str(pick - low))
                continue
            axis, offset = pick
            start = axis.lo + offset - low
            stored = self.plan.program.storage[e.name][len(index)]
            if start == 0 and axis.size == stored.size:
                index.append(":")
            else:
                index.append(f"{start}:{start + axis.size}")
            axes.append(axis)
        while index and index[-1] == ":":
            index.pop()
        return (f"{e.name}[{', '.join(index)}]" if index else e.name), tuple(axes)

    def gather(self, e):
        """A read whose index moves with several axes (a convolution): index grids, clipped into the array (a
        read outside it is masked away by the condition around it)."""
        axes = e.axes
        stored = self.plan.program.storage[e.name]

        def grid(a):
            """Index values of axis ``a`` as positions from its first (the batch's size is known at run time)."""
            shape = ["1"] * len(axes)
            shape[axes.index(a)] = "-1"
            return f"{self.module}.arange({self.size(a)}).reshape({', '.join(shape)})"
        index = []
        for pick, low, s in zip(e.picks, e.lows, stored):
            if isinstance(pick, int):
                index.append(str(pick - low))
            elif isinstance(pick, Window):  # positions: value - low, each axis counted from its own first value
                value = " + ".join(f"{c} * {grid(a)}" for a, c in pick.terms)
                start = pick.offset + sum(c * a.lo for a, c in pick.terms) - low
                index.append(f"{self.module}.clip({value} + {start}, 0, {s.size - 1})")
            else:
                axis, offset = pick
                index.append(f"{grid(axis)} + {axis.lo + offset - low}" if axis.lo + offset - low else grid(axis))
        return f"{e.name}[{', '.join(index)}]", axes

    def visit_Map(self, e):
        softmax = self.softmax(e)
        if softmax is not None:
            return softmax
        if e.op == "neg":
            code = self.aligned(e.args[0], e.axes)
            return f"-{self.atom(code)}", e.axes
        a, b = (self.aligned(x, e.axes) for x in e.args)
        op = "**" if e.op == "**" else f" {e.op} "
        return f"{self.atom(a)}{op}{self.atom(b)}", e.axes

    def visit_Call(self, e):
        args = [self.aligned(a, e.axes) for a in e.args]
        if e.name == "log" and isinstance(e.args[0], Reduce) and _is_call(e.args[0].arg, "exp"):
            return self.logsumexp(e.args[0]), e.axes
        return FUNCTIONS[e.name].code[self.target].format(*args), e.axes

    def softmax(self, e):
        """exp(u_j) / sum_k exp(u_k) of one array's read, with the maximum over k subtracted: it never overflows."""
        if e.op != "/" or not _is_call(e.args[0], "exp") or not isinstance(e.args[1], Reduce):
            return None
        r = e.args[1]
        num, den = e.args[0].args[0], r.arg.args[0] if _is_call(r.arg, "exp") else None
        if not (isinstance(num, Leaf) and isinstance(den, Leaf) and num.name == den.name):
            return None
        code, own = self.visit(den)
        k = list(own).index(r.axis)
        if [a for a in own if a != r.axis] != [a for a in num.axes if a not in own] + [a for a in own if a != r.axis] \
                and len(num.axes) != len(own):
            return None
        renamed = tuple(a if a != r.axis else next(b for b in num.axes if b not in own) for a in own)
        if set(renamed) != set(e.axes) or self.visit(num)[0] != code:
            return None
        u = self.temp(code)
        m = self.temp(f"{self.module}.exp({u} - {u}.max(axis={k}, keepdims=True))")
        return f"{m} / {m}.sum(axis={k}, keepdims=True)", renamed

    def logsumexp(self, r: Reduce) -> str:
        """log(sum(exp(u))) over an axis, with the maximum subtracted first: it never overflows."""
        inner, own = self.visit(r.arg.args[0])
        k = own.index(r.axis)
        u = self.temp(inner)
        m = self.temp(f"{u}.max(axis={k}, keepdims=True)")
        code = f"{self.module}.log({self.module}.exp({u} - {m}).sum(axis={k}, keepdims=True)) + {m}"
        return self.arrange(f"({code}).squeeze({k})", [a for a in own if a != r.axis], r.axes)

    def visit_Act(self, e):
        arg = e.arg
        code, own = self.visit(arg)
        z = code if re.fullmatch(r"[\w]+", code) else self.temp(code)
        a = self.values.get(arg.name) if isinstance(arg, Leaf) and _full(arg, self.plan.program) else None
        act = self.net.activation_for(e.layer)
        return activation_code(act, e.derivative, z, a if e.derivative else None, self.target, self.module), own

    def visit_Reduce(self, e, want=None):
        want = tuple(want) if want is not None else e.axes
        factors = _factors(e.arg)
        arrays = [f for f in factors if not isinstance(f, (Const, Scalar))]
        scalars = [f for f in factors if isinstance(f, (Const, Scalar)) and not f.axes]
        if len(arrays) == 2 and len(arrays) + len(scalars) == len(factors):
            product = self.contract(arrays, e.axis, want)
            if product is not None:
                for s in scalars:
                    product = (f"{self.visit(s)[0]} * {self.atom(product[0])}", product[1])
                return product
        code, own = self.visit(e.arg)
        k = list(own).index(e.axis)
        return f"{self.atom(code)}.sum(axis={k})" if len(own) > 1 else f"{self.atom(code)}.sum()", e.axes

    def contract(self, arrays, axis, out):
        """Two arrays multiplied and summed over ``axis``: a matrix product where it is one, else einsum."""
        (ca, aa), (cb, ab) = (self.visit(x) for x in arrays)
        if axis not in aa or axis not in ab:
            return None
        if len(aa) <= 2 and len(ab) <= 2 and not (set(aa) & set(ab)) - {axis}:
            ra = [a for a in aa if a != axis]
            rb = [a for a in ab if a != axis]
            if ra + rb != list(out):
                (ca, aa, ra), (cb, ab, rb) = (cb, ab, rb), (ca, aa, ra)
            if ra + rb == list(out):
                left = ca if list(aa) == ra + [axis] else f"{self.atom(ca)}.T"
                right = cb if list(ab) == [axis] + rb else f"{self.atom(cb)}.T"
                return f"{self.atom(left)} @ {self.atom(right)}", tuple(out)
        letters = {}
        for a in (*aa, *ab, *out):
            letters.setdefault(a, "abcdefghijklmnopqrstuvwxyz"[len(letters)])
        spec = f"{''.join(letters[a] for a in aa)},{''.join(letters[a] for a in ab)}->{''.join(letters[a] for a in out)}"
        return f"{self.module}.einsum('{spec}', {ca}, {cb}, optimize=True)", tuple(out)

    def visit_Mask(self, e):
        grids = {}
        for k, a in enumerate(e.axes):
            shape = ["1"] * len(e.axes)
            shape[k] = "-1"
            grids[a.name] = f"{self.module}.arange({a.lo}, {a.hi + 1}).reshape({', '.join(shape)},)"
        test = _ConditionPrinter(self, grids, dict(e.env)).visit(e.test)
        return f"({test}).astype(DTYPE)", e.axes

    def visit_Where(self, e):
        left, right, then, orelse = (self.aligned(x, e.axes) for x in (e.left, e.right, e.then, e.orelse))
        return f"{self.module}.where({self.atom(left)} {e.op} {self.atom(right)}, {then}, {orelse})", e.axes

    def visit_Concat(self, e):
        pieces = [self.aligned(piece, axes) for piece, axes in e.pieces]
        return f"{self.module}.concatenate([{', '.join(pieces)}], axis={e.at})", e.axes

    # --- statements ---------------------------------------------------------------------------------------
    def statement(self, name: str, expr, axes) -> list[str]:
        """Lines computing ``expr`` into ``name`` with its axes in the order ``axes``."""
        self.lines = []
        code = self.aligned(expr, axes)
        if not expr.axes and axes:  # a number filling an array
            code = f"{self.module}.full(({', '.join(self.size(a) for a in axes)},), {code}, dtype=DTYPE)"
        return [*self.lines, f"{name} = {code}"]


class _ConditionPrinter(Visitor):
    """A condition on indices over arange grids."""

    def __init__(self, printer: ArrayPrinter, grids: dict, env: dict):
        self.p, self.grids, self.env = printer, grids, env

    def visit_Compare(self, node):
        return f"({self.visit(node.left)} {node.op} {self.visit(node.right)})"

    def visit_BoolOp(self, node):
        joiner = " & " if node.op == "and" else " | "
        return "(" + joiner.join(self.visit(v) for v in node.values) + ")"

    def visit_Not(self, node):
        return f"~{self.visit(node.operand)}"

    def visit_Name(self, node):
        if node.name in self.grids:
            return self.grids[node.name]
        if node.name in self.env:
            return str(self.env[node.name])
        return str(self.p.net.integer(node, {}))

    def visit_Num(self, node):
        return str(node.value)

    def visit_BinOp(self, node):
        return f"({self.visit(node.left)} {node.op} {self.visit(node.right)})"

    def visit_Neg(self, node):
        return f"(-{self.visit(node.operand)})"

    def visit_Ref(self, node):
        return str(self.p.net.integer(node, self.env))


def _full(leaf, program) -> bool:
    """Whether a leaf reads its whole stored array, in the stored order."""
    if not isinstance(leaf, Leaf):
        return False
    stored = program.storage.get(leaf.name, ())
    return len(leaf.picks) == len(stored) and all(
        isinstance(p, tuple) and p[1] == 0 and p[0].lo == a.lo and p[0].hi == a.hi for p, a in zip(leaf.picks, stored))


def _factors(e) -> list:
    if isinstance(e, Map) and e.op == "*":
        return [f for a in e.args for f in _factors(a)]
    return [e]


def _is_call(e, name) -> bool:
    return isinstance(e, Call) and e.name == name


class NumPyPrinter(ArrayPrinter):
    """The NumPy target: in-place statements where a fresh buffer can take the work."""

    def statement(self, name: str, expr, axes) -> list[str]:
        self.lines = []
        # an activation into its own buffer, ufunc by ufunc
        if isinstance(expr, Act) and _full(expr.arg, self.plan.program) and tuple(expr.arg.axes) == tuple(axes):
            act = self.net.activation_for(expr.layer)
            a = self.values.get(expr.arg.name) if expr.derivative else None
            if chainable(activation_tree(act, expr.derivative, bool(a))):
                chain = InplacePrinter().lines(activation_expr(act, expr.derivative, expr.arg.name, a), name)
                if chain:
                    return chain
        if isinstance(expr, Map) and expr.op in ("+", "*") and len(expr.args) == 2:
            for fresh, other in ((expr.args[0], expr.args[1]), (expr.args[1], expr.args[0])):
                if not isinstance(fresh, Reduce) and not (isinstance(fresh, Map) and expr.op == "*"):
                    continue
                if expr.op == "+" and not isinstance(fresh, Reduce):
                    continue
                first = self.aligned(fresh, axes)
                lines = [*self.lines, f"{name} = {first}"]
                self.lines = []
                if expr.op == "*" and isinstance(other, Act) and other.derivative and _full(other.arg, self.plan.program):
                    # g'(z) = a*(1 - a): multiply by each factor, no buffer for g' itself
                    act = self.net.activation_for(other.layer)
                    a = self.values.get(other.arg.name)
                    g = activation_expr(act, True, other.arg.name, a)
                    if not chainable(activation_tree(act, True, bool(a))):
                        return lines + [f"{name} *= {activation_code(act, True, other.arg.name, a)}"]
                    if g.is_Mul:
                        printer = ElementwisePrinter()
                        return lines + [f"{name} *= {printer.parenthesize(f, 60)}" for f in g.args]
                    chain = InplacePrinter().lines(g, "_g")
                    if chain:
                        return lines + chain + [f"{name} *= _g"]
                code = self.aligned(other, axes)
                return lines + self.lines + [f"{name} {expr.op}= {code}"]
        return super().statement(name, expr, axes)


class JaxPrinter(ArrayPrinter):
    """The JAX target: the same plan, functional, with jax.numpy."""

    target = "jax"
    module = "jnp"


__all__ = ["ArrayPrinter", "ElementwisePrinter", "FormulaPrinter", "InplacePrinter", "JaxPrinter", "NumPyPrinter",
           "activation_code", "activation_expr", "activation_tree", "chainable"]


# --- the module ------------------------------------------------------------------------------------------
def module_source(plan: Plan, dtype: str, docs: str, printer_class=None) -> str:
    """The whole NumPy module: docstring, init_params, forward, loss, gradients, step."""
    printer_class = printer_class or NumPyPrinter
    p = printer_class(plan)
    program = plan.program
    storage = program.storage
    X, Y = plan.inputs.get("X"), plan.inputs.get("Y")

    def block(statements):
        out = []
        for name, expr in statements:
            out += p.statement(name, expr, storage[name])
        return out

    # constants are computed once, in whatever precision their numbers print in: cast to the module's dtype
    constants = block(program.constants.items()) + [f"{name} = {name}.astype(DTYPE)" for name in program.constants]
    forward = block(program.forward)
    backward = block(program.backward)
    p.lines = []
    loss_code = p.aligned(plan.loss_value, ())
    loss_lines = p.lines
    text = "\n".join([*constants, *forward, *backward, *loss_lines, loss_code])
    helpers = [h for f in FUNCTIONS.values() for t, h in (f.helpers or {}).items() if t == printer_class.target
               and re.search(rf"\b{f.code[t].split('(')[0]}\(", text)]
    unpack = [f"    {name} = params[{key!r}]" for key, name in plan.params.items()]
    read_backward = " ".join([*backward, *loss_lines, loss_code])
    out_label, out_low = plan.output
    live = [name for name, _ in program.forward if name == out_label or re.search(rf"\b{name}\b", read_backward)]
    first_output = 1 - out_low
    lines = [f'"""{docs}"""', "import numpy as np", "", f"LAYERS = {list(plan.net.widths)!r}", f"DTYPE = np.{dtype}", ""]
    lines += helpers
    if constants:
        lines += ["", "# constants of the formulation, computed once", *constants, ""]
    lines += ["", "def init_params(seed=0):",
              '    """Weights (a parameter times a node in a sum) drawn from N(0, 1/fan_in), scales 1, biases 0."""',
              "    rng = np.random.default_rng(seed)", "    params = {}"]
    for key, name in plan.params.items():
        shape = tuple(a.size for a in storage[name])
        rule = plan.init.get(key, ("zeros",))
        if rule[0] == "normal":
            lines.append(f"    params[{key!r}] = (rng.standard_normal({shape!r}) / np.sqrt({rule[1]})).astype(DTYPE)")
        else:
            lines.append(f"    params[{key!r}] = np.{rule[0]}({shape!r}, dtype=DTYPE)")
    lines += ["    return params", ""]
    inputs = [f"    {X} = X"] if X else []
    targets = [f"    {Y} = Y"] if Y else []
    lines += ["", "def _forward(params, X):", *unpack, *inputs, "    N = X.shape[0]",
              '    with np.errstate(over="ignore"):  # exp(-z) overflowing for z << 0 gives the right limit',
              *(f"        {line}" for line in forward), f"    return {', '.join(live)}", ""]
    output = f"_forward(params, X)[{live.index(out_label)}]" + (f"[:, {first_output}:]" if first_output else "")
    lines += ["", "def forward(params, X):", '    """The network\'s outputs for a batch X of shape (N, n_0)."""',
              f"    return {output}", "",
              "", "def loss(params, X, Y):", '    """The mean loss over the batch."""',
              f"    {', '.join(live)}{',' if len(live) == 1 else ''} = _forward(params, X)", *targets,
              "    N = X.shape[0]", *(f"    {line}" for line in loss_lines), f"    return float({loss_code})", "",
              "", "def _backward(params, X, Y, s):",
              '    """The gradients of the summed loss times s: s = 1/N gives those of the mean loss."""',
              *unpack, f"    {', '.join(live)}{',' if len(live) == 1 else ''} = _forward(params, X)", *inputs, *targets,
              "    N = X.shape[0]", '    with np.errstate(over="ignore"):', *(f"        {line}" for line in backward),
              f"    return {{{', '.join(f'{key!r}: {label}' for key, label in plan.gradients.items())}}}", "",
              "", "def gradients(params, X, Y):", '    """dJ/dparam for every parameter, same keys and shapes as params."""',
              "    return _backward(params, X, Y, 1 / X.shape[0])", "",
              "", "def step(params, X, Y, lr):", '    """One gradient-descent update: params - lr * gradients (a new dict)."""',
              "    # the backward pass is linear in its base case: with s = -lr/N it returns -lr times each gradient,",
              "    # in fresh buffers, and the update is one addition per parameter",
              "    new = _backward(params, X, Y, -lr / X.shape[0])",
              "    for key, value in params.items():", "        new[key] += value", "    return new", ""]
    return "\n".join(lines)
