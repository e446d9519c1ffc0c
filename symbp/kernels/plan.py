"""Training kernels as a target-neutral plan: the batch form of a network's derived recursion, with the
numerically stable loss and base case its pairing states, and the step's scale folded into the backward pass.

The plan is :class:`symbp.calculus.batch.Program` (whole arrays over named axes, samples in rows), built from
the formulation's equations and the derived recursion; nothing here is written per form. A pairing (sigmoid
with binary cross-entropy, softmax with cross-entropy) gives the base case ``a[L,j] - y[j]`` and a loss in the
pre-activations that cannot overflow (``softplus(z) - y z``, ``logsumexp(z) - z``); both are checked with the
rest of the plan before anything is printed. Because the backward pass is linear in the base case, a step
multiplies the base case by ``s = -lr/N`` and gets ``-lr`` times every gradient from the same kernels.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from .. import lang as il
from ..calculus.batch import SAMPLE, Lowering, Map, Program, Reduce, Scalar, broadcast, lower
from ..calculus.derive import DELTA, Recursion
from ..calculus.recursions import recursion
from ..errors import NotProvable, UsageError
from ..model.losses import PAIRINGS
from ..model.network import Network


@dataclass
class Plan:
    """The kernels of one network: the batch program and what the printed module needs to know of it."""

    net: Network
    program: Program
    loss_value: object  # the mean loss over the batch
    params: dict = field(default_factory=dict)  # key ('W1', 'theta2') -> stored array name
    gradients: dict = field(default_factory=dict)  # key -> gradient array name
    inputs: dict = field(default_factory=dict)  # 'X' / 'Y' -> stored array name
    output: tuple = ()  # (array name, first position of the outputs 1..n_L on its last axis)
    init: dict = field(default_factory=dict)  # key -> ("normal", fan_in) | ("ones",) | ("zeros",)
    formulas: list = field(default_factory=list)
    assumptions: tuple = ()
    folded: bool = True  # s multiplies the base case (else every gradient)


def build_plan(net: Network, rec: Recursion | None = None) -> Plan:
    """The kernels of ``net`` (its layers, activations, loss and formulation) from its derived recursion.

    >>> plan = build_plan(Network([4, 8, 3], "sigmoid", "softmax", "cross-entropy", samples=2))
    >>> sorted(plan.params), [name for name, _ in plan.program.forward]
    (['W1', 'W2', 'b1', 'b2'], ['a0', 'z1', 'a1', 'z2', 'a2'])
    """
    if net.hidden.generic or net.output.generic:
        raise UsageError("the generic activation h has no code; choose a concrete activation such as sigmoid or tanh")
    rec = rec or recursion(net.form, net.output, net.loss)
    try:
        program = lower(net, rec)
    except NotProvable as exc:
        raise UsageError(f"no kernels for this network: {exc}") from None
    low = Lowering(net, {DELTA: rec.delta}, {DELTA: rec.ranges})
    low.program = program  # the pairing's forms read the same arrays
    L, i = net.L, low.sample
    pairing = PAIRINGS.get((net.output.name, net.loss.name))
    base_label = f"{DELTA}{L}"
    backward = dict(program.backward)
    if pairing is not None:
        # the simplified base case on the outputs 1..n_L, the derived one elsewhere (a bias node's 0)
        lvar, jvar = rec.delta.indices
        derived = rec.delta.cases[0][1]
        stated = il.rewrite(pairing.trees["delta"], lambda n: il.Ref(net.form.output, (il.Name("L"), *n.indices))
                            if isinstance(n, il.Ref) and n.name == "yhat" else None)
        stated = il.rewrite(stated, lambda n: il.Name(jvar) if n == il.Name("j") else None)
        outputs = il.BoolOp("and", (il.Compare(">=", il.Name(jvar), il.Num(Fraction(1))),
                                    il.Compare("<=", il.Name(jvar), il.Ref(net.form.size, (il.Name("L"),)))))
        tree = il.Cond(outputs, stated, derived)
        axes = program.storage[base_label]
        env = {lvar: L, SAMPLE: i, jvar: axes[1]}
        backward[base_label] = broadcast(low.visit(tree, env), axes)
        stable = pairing.trees["stable"]
        u = il.rewrite(stable, lambda n: il.Ref(net.form.delta, (il.Name("L"), n.indices[0]))
                       if isinstance(n, il.Ref) and n.name == "u" else None)
        u = il.rewrite(u, lambda n: il.Ref(net.form.size, (il.Name("L"),)) if n == il.Name("K") else None)
        total = Reduce(broadcast(low.visit(u, {SAMPLE: i}), (i,)), i, ())
    else:
        total = program.loss
    program.loss = total
    folded = all(_linear(value) for _, value in rec.delta.cases[1:]) and all(
        _linear(g.value) for g in rec.gradients.values())
    s = Scalar("s")
    if folded:  # the recursion is linear in the base case: one scaling there scales every gradient
        backward[base_label] = Map("*", (backward[base_label], s), backward[base_label].axes)
    else:
        for label in program.gradients.values():
            backward[label] = Map("*", (backward[label], s), backward[label].axes)
    program.backward = list(backward.items())
    plan = Plan(net, program, Map("/", (total, Scalar("N")), ()), folded=folded)
    for (family, lead), label in program.gradients.items():
        key = f"{family}{''.join(map(str, lead))}"
        plan.gradients[key] = label
        stored = next(name for name, (kind, fam, ld) in program.stored.items() if kind == "param" and fam == family
                      and ld == lead)
        plan.params[key] = stored
        plan.init[key] = init_rule(net, family, lead)
    for name, (kind, family, _) in program.stored.items():
        if kind == "input":
            plan.inputs["X" if family == "x" else "Y"] = name
    out_label = f"{net.form.output}{L}"
    if out_label not in program.storage:
        low.array(net.form.output, (L,))
    plan.output = (out_label, program.storage[out_label][-1].lo)
    plan.formulas = [*(f"{text}" for text in _equations(net)), f"e = {il.to_text(net.loss.trees['value'])} "
                     f"(yhat = {net.form.output}[L, .]); J = 1/N sum over the batch",
                     *rec.statements]
    if pairing is not None:
        plan.formulas.append(f"{pairing.statement} (on the outputs), checked; the loss computed stably as "
                             f"{pairing.stable} with u = {net.form.delta}[L, .]")
    plan.assumptions = ("Y one-hot (rows sum to 1)",) if pairing is not None and pairing.assumptions else ()
    return plan


def init_rule(net: Network, family: str, lead: tuple) -> tuple:
    """How to draw a parameter: a factor of a node inside a sum is a weight, N(0, 1/fan_in) with fan_in the
    sum's length; a factor of a node outside a sum a scale (1); anything else, added, a bias (0)."""
    nodes = {name for name in net.rules if name not in ("x", "y")}
    for name, rules in net.rules.items():
        for rule in rules:
            found = _factor_of_node(rule.rhs, family, nodes | {"x"}, None)
            if found is None:
                continue
            if found == "scale":
                return ("ones",)
            layer_var = rule.lhs.indices[0].name if rule.lhs.indices and isinstance(rule.lhs.indices[0], il.Name) else None
            env = {layer_var: lead[0] + _layer_shift(rule, family)} if layer_var and lead else {}
            try:
                lo, hi = (net.integer(b, env) for b in found)
            except Exception:  # a bound that needs more than the layer: the width above stands for it
                return ("normal", max(1, net.width(lead[0]) if lead else 1))
            return ("normal", max(1, hi - lo + 1))
    return ("zeros",)


def _layer_shift(rule, family) -> int:
    """The layer of a rule's node minus the layer index of ``family`` in it (theta[l-1] in z[l]: 1)."""
    for node in il.walk(rule.rhs):
        if isinstance(node, il.Ref) and node.name == family and node.indices and rule.lhs.indices:
            d = il.BinOp("-", rule.lhs.indices[0], node.indices[0])
            names = {n.name for n in il.walk(d) if isinstance(n, il.Name)}
            try:
                return int(_difference(d, names))
            except ValueError:
                return 0
    return 0


def _difference(tree, names) -> int:
    """An index difference such as l - (l - 1), evaluated with every name at 0 (it is a constant)."""
    if isinstance(tree, il.Num):
        return int(tree.value)
    if isinstance(tree, il.Name):
        return 0
    if isinstance(tree, il.BinOp) and tree.op in "+-":
        a, b = _difference(tree.left, names), _difference(tree.right, names)
        return a + b if tree.op == "+" else a - b
    if isinstance(tree, il.Neg):
        return -_difference(tree.operand, names)
    raise ValueError("not a constant difference")


def _factor_of_node(tree, family, nodes, bounds):
    """The bounds of the sum around ``family`` where it multiplies a node ("scale" outside a sum), else None."""
    if isinstance(tree, il.Sum):
        return _factor_of_node(tree.body, family, nodes, (tree.lo, tree.hi))
    if isinstance(tree, il.BinOp) and tree.op == "*":
        factors = _product(tree)
        has_param = any(isinstance(f, il.Ref) and f.name == family for f in factors)
        has_node = any(isinstance(n, il.Ref) and n.name in nodes for f in factors for n in il.walk(f)
                       if not (isinstance(f, il.Ref) and f.name == family))
        if has_param and has_node:
            return bounds if bounds is not None else "scale"
    for child in ([getattr(tree, f) for f in tree.__dataclass_fields__] if hasattr(tree, "__dataclass_fields__") else
                  tree if isinstance(tree, tuple) else []):
        if isinstance(child, (str, Fraction)):
            continue
        found = _factor_of_node(child, family, nodes, bounds)
        if found is not None:
            return found
    return None


def _product(tree) -> list:
    if isinstance(tree, il.BinOp) and tree.op == "*":
        return _product(tree.left) + _product(tree.right)
    return [tree]


def _equations(net: Network) -> list:
    return [text for text, _ in net.form.equations]


def _linear(tree) -> bool:
    """Whether every term of a tree carries exactly one delta factor (so it scales with the base case)."""
    if isinstance(tree, il.Ref) and tree.name == DELTA:
        return True
    if isinstance(tree, il.Num):
        return tree.value == 0
    if isinstance(tree, il.BinOp):
        if tree.op in "+-":
            return _linear(tree.left) and _linear(tree.right)
        if tree.op == "*":
            return _linear(tree.left) != _linear(tree.right) and not (_has_delta(tree.left) and _has_delta(tree.right))
        if tree.op == "/":
            return _linear(tree.left) and not _has_delta(tree.right)
        return False
    if isinstance(tree, il.Neg):
        return _linear(tree.operand)
    if isinstance(tree, il.Sum):
        return _linear(tree.body)
    if isinstance(tree, il.Cond):
        return _linear(tree.then) and _linear(tree.orelse)
    return False


def _has_delta(tree) -> bool:
    return any(isinstance(n, il.Ref) and n.name == DELTA for n in il.walk(tree))


__all__ = ["Plan", "build_plan"]
