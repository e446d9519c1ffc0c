"""Training kernels as a plan of matrix statements, built from the verified recursions.

A plan is a list of assignments ``name = expression`` over whole batches (samples in rows); the
expressions are small trees of matrix operations. The same plan is evaluated element by element with
SymEngine on a small network (and compared with direct differentiation) and printed to NumPy, so the
code that runs is the code that was checked.
"""
from __future__ import annotations

from dataclasses import dataclass

import symengine as se

from ..errors import UsageError
from ..model.network import Network


# --- the tree ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class MatMul:
    a: object
    b: object


@dataclass(frozen=True)
class Tr:
    a: object


@dataclass(frozen=True)
class Ew:
    """An element-wise binary operation: + - * /."""

    op: str
    a: object
    b: object


@dataclass(frozen=True)
class Scale:
    c: object  # a number
    a: object


@dataclass(frozen=True)
class AddRow:
    """A matrix plus a row vector broadcast over its rows (the bias)."""

    a: object
    row: object


@dataclass(frozen=True)
class SumRows:
    """The sum over samples (axis 0): a row vector."""

    a: object


@dataclass(frozen=True)
class SumAll:
    a: object


@dataclass(frozen=True)
class Act:
    """An activation applied element-wise (``derivative``: its derivative, written in Z and A)."""

    name: str
    z: object
    a: object = None
    derivative: bool = False


@dataclass(frozen=True)
class Softmax:
    """Row-wise softmax, computed with the row maximum subtracted."""

    z: object


@dataclass(frozen=True)
class LogSoftmax:
    """Row-wise z - logsumexp(z), with the row maximum subtracted."""

    z: object


@dataclass(frozen=True)
class Softplus:
    """log(1 + exp(z)), computed as logaddexp(0, z)."""

    z: object


@dataclass(frozen=True)
class Square:
    a: object


@dataclass
class Plan:
    """The kernels of one network: forward, loss and gradients, as assignments."""

    layers: list
    form: str
    hidden: str
    output: str
    loss: str
    forward: list  # [(name, tree)]
    loss_value: object  # tree of the mean loss
    backward: list  # [(name, tree)]
    gradients: dict  # parameter name -> (weight gradient, bias gradient) statement names
    formulas: list  # text lines: the formulas this plan implements
    assumptions: tuple = ()


_LOSS_FORMS = {
    # per-batch loss sums, numerically stable forms (each verified as an identity before use)
    ("sigmoid", "bce"): lambda Z, A, Y: Ew("-", Softplus(Z), Ew("*", Y, Z)),
    ("softmax", "cross-entropy"): lambda Z, A, Y: Scale(-1, Ew("*", Y, LogSoftmax(Z))),
}


def build_plan(net: Network) -> Plan:
    """The batch kernels for ``net``'s layers, activations and loss (explicit-bias or bias-node)."""
    if net.form.family not in ("explicit-bias", "bias-node"):
        raise UsageError(f"no kernels for the formulation {net.form.name!r}; use explicit-bias or bias-node")
    for act in {net.hidden, net.output}:
        if act.name == "generic":
            raise UsageError("the generic activation h has no code; choose sigmoid, tanh, relu or identity")
    L = len(net.widths) - 1
    fwd, bwd = [], []
    A = Var("X")
    for l in range(1, L + 1):
        fwd.append((f"Z{l}", AddRow(MatMul(A, Tr(Var(f"W{l}"))), Var(f"b{l}"))))
        act = net.output if l == L else net.hidden
        fwd.append((f"A{l}", Softmax(Var(f"Z{l}")) if not act.elementwise else Act(act.name, Var(f"Z{l}"))))
        A = Var(f"A{l}")
    Z, Y, N = Var(f"Z{L}"), Var("Y"), "N"
    out, loss = net.output, net.loss
    stable = _LOSS_FORMS.get((out.name, loss.name))
    if stable is not None:
        total = stable(Z, A, Y)
    elif loss.name == "half-squared-error":
        total = Scale(0.5, Square(Ew("-", A, Y)))
    elif loss.name == "mse":
        total = Square(Ew("-", A, Y))
    else:  # the loss as written in its table entry, element-wise
        total = Scale(-1, Ew("+", Ew("*", Y, Act("log", A)), Ew("*", Ew("-", 1, Y), Act("log", Ew("-", 1, A)))))
    loss_value = Ew("/", SumAll(total), Var(N))
    # the base case: a - y for the pairings that simplify, else grad_a J (Hadamard) g'(z)
    if (out.name, loss.name) in (("sigmoid", "bce"), ("softmax", "cross-entropy")):
        delta = Ew("-", A, Y)
    else:
        grad = {"half-squared-error": Ew("-", A, Y), "mse": Scale(2, Ew("-", A, Y)),
                "bce": Ew("+", Ew("/", Scale(-1, Y), A), Ew("/", Ew("-", 1, Y), Ew("-", 1, A)))}[loss.name]
        if not out.elementwise:
            raise UsageError(f"no kernel for {out.name} output with {loss.name}")
        delta = Ew("*", grad, Act(out.name, Z, A, derivative=True))
    # Delta carries the scale s (1/N, the mean), so the gradients need no further pass; the recursion is
    # linear in Delta^L, so a step passes s = -lr/N and gets -lr times every gradient from the same kernels
    bwd.append((f"D{L}", Ew("*", delta, Var("s"))))
    grads = {}
    for l in range(L, 0, -1):
        prev = Var("X") if l == 1 else Var(f"A{l - 1}")
        bwd.append((f"dW{l}", MatMul(Tr(Var(f"D{l}")), prev)))
        bwd.append((f"db{l}", SumRows(Var(f"D{l}"))))
        grads[l] = (f"dW{l}", f"db{l}")
        if l > 1:
            act = net.hidden
            bwd.append((f"D{l - 1}", Ew("*", MatMul(Var(f"D{l}"), Var(f"W{l}")),
                                          Act(act.name, Var(f"Z{l - 1}"), Var(f"A{l - 1}"), derivative=True))))
    formulas = [
        "Z^l = A^(l-1) W^l^T + 1 b^l^T,  A^l = g^l(Z^l)  (samples in rows, A^0 = X)",
        f"J = 1/N sum of the per-sample {loss.name} ({loss.formula})",
        "Delta^L = s (A^L - Y)" if delta == Ew("-", A, Y) else "Delta^L = s grad_A J (Hadamard) g'(Z^L)",
        "Delta^l = (Delta^(l+1) W^(l+1)) (Hadamard) g'(Z^l)",
        "dJ/dW^l = Delta^l^T A^(l-1),  dJ/db^l = 1^T Delta^l  with s = 1/N (the mean); a step uses s = -lr/N",
    ]
    assumptions = ("Y one-hot (rows sum to 1)",) if out.name == "softmax" else ()
    return Plan(list(net.widths), net.form.name, net.hidden.name, out.name, loss.name, fwd, loss_value, bwd,
                grads, formulas, assumptions)


# --- evaluation with SymEngine, element by element, for the checks ---------------------------------
class SymbolicEvaluator:
    """Evaluates a plan's trees on SymEngine matrices; one ``_eval_X`` per node type."""

    def __init__(self, env: dict, activations: dict):
        self.env, self.acts = env, activations

    def eval(self, node):
        return getattr(self, "_eval_" + type(node).__name__)(node)

    def _eval_Var(self, node):
        return self.env[node.name]

    def _eval_int(self, node):
        return se.Integer(node)

    def _eval_float(self, node):
        return se.Rational(*float(node).as_integer_ratio())

    def _eval_MatMul(self, node):
        return self.eval(node.a) * self.eval(node.b)

    def _eval_Tr(self, node):
        return self.eval(node.a).T

    def _eval_Ew(self, node):
        a, b = self.eval(node.a), self.eval(node.b)
        ma, mb = isinstance(a, se.DenseMatrix), isinstance(b, se.DenseMatrix)
        f = {"+": lambda u, v: u + v, "-": lambda u, v: u - v, "*": lambda u, v: u * v, "/": lambda u, v: u / v}[node.op]
        if ma and mb:
            return se.DenseMatrix(a.rows, a.cols, [f(a[r, c], b[r, c]) for r in range(a.rows) for c in range(a.cols)])
        if ma:
            return a.applyfunc(lambda u: f(u, b))
        if mb:
            return b.applyfunc(lambda v: f(a, v))
        return f(a, b)

    def _eval_Scale(self, node):
        c = self.eval(node.c)
        a = self.eval(node.a)
        return a.applyfunc(lambda u: c * u) if isinstance(a, se.DenseMatrix) else c * a

    def _eval_AddRow(self, node):
        a, row = self.eval(node.a), self.eval(node.row)
        return se.DenseMatrix(a.rows, a.cols, [a[r, c] + row[0, c] for r in range(a.rows) for c in range(a.cols)])

    def _eval_SumRows(self, node):
        a = self.eval(node.a)
        return se.DenseMatrix(1, a.cols, [se.Add(*[a[r, c] for r in range(a.rows)]) for c in range(a.cols)])

    def _eval_SumAll(self, node):
        a = self.eval(node.a)
        return se.Add(*[a[r, c] for r in range(a.rows) for c in range(a.cols)])

    def _eval_Act(self, node):
        z = self.eval(node.z)
        if node.name == "log":
            return z.applyfunc(se.log)
        act = self.acts[node.name]
        return z.applyfunc(act.derivative if node.derivative else act.value)

    def _eval_Softmax(self, node):
        z = self.eval(node.z)
        return se.DenseMatrix([self.acts["softmax"].vector([z[r, c] for c in range(z.cols)]) for r in range(z.rows)])

    def _eval_LogSoftmax(self, node):
        z = self.eval(node.z)
        rows = []
        for r in range(z.rows):
            lse = se.log(se.Add(*[se.exp(z[r, c]) for c in range(z.cols)]))
            rows.append([z[r, c] - lse for c in range(z.cols)])
        return se.DenseMatrix(rows)

    def _eval_Softplus(self, node):
        return self.eval(node.z).applyfunc(lambda u: se.log(1 + se.exp(u)))

    def _eval_Square(self, node):
        return self.eval(node.a).applyfunc(lambda u: u**2)
