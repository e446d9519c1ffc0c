"""From verified formulas to NumPy: check a kernel plan against direct differentiation, then print it."""
from __future__ import annotations

import time

import symengine as se

from . import plan as k
from .. import lang as il
from ..checking.check import index_envs
from ..checking.claims import Evaluator
from ..calculus import recursions as rec
from ..model.activations import ACTIVATIONS
from ..calculus.direct import loss_gradient
from ..calculus.equivalence import Engine
from ..errors import UsageError
from ..model.network import Network
from .printer import module_source
from ..verdicts import Counterexample, Verdict

CHECK_WIDTHS = ([2, 3, 2], [2, 2, 3, 2])  # small networks on which every plan is checked before printing
DTYPES = ("float64", "float32")


def check_plan(hidden: str, output: str, loss: str, form: str, samples: int = 2) -> list[Verdict]:
    """Evaluate the plan element by element on small networks and compare with direct differentiation.

    >>> [v.verdict for v in check_plan("tanh", "softmax", "cross-entropy", "explicit-bias")]
    ['holds', 'holds', 'holds', 'holds']
    """
    verdicts = []
    for widths in CHECK_WIDTHS:
        net = Network(widths, hidden, output, loss, form, samples=samples)
        plan = k.build_plan(net)
        assume = {"sum-y-is-1"} if output == "softmax" else set()
        engine = Engine(lambda rng: net.sample_point(rng, assume), substitutions=net.assumption_substitutions(assume))
        env = _symbolic_env(net)
        ev = k.SymbolicEvaluator(env, ACTIVATIONS)
        for name, tree in plan.forward:
            env[name] = ev.eval(tree)
        start = time.perf_counter()
        loss_ok = engine.compare(ev.eval(plan.loss_value), net.J)
        verdicts.append(Verdict(f"loss at {net.architecture}", "the printed loss (stable form) = J", _word(loss_ok),
                                loss_ok.method, time.perf_counter() - start))
        for name, tree in plan.backward:
            env[name] = ev.eval(tree)
        start = time.perf_counter()
        direct = loss_gradient(net)
        failures, methods = [], set()
        for symbol, printed in _printed_gradients(net, plan, env).items():
            ev_ = engine.compare(printed, direct[symbol])
            methods.add(ev_.method)
            if not ev_.equal:
                failures.append(str(symbol))
        verdicts.append(Verdict(
            f"gradients at {net.architecture}", "the printed Delta recursion and gradients = direct dJ/dparam",
            "fails" if failures else "holds", "numeric" if "numeric" in methods else "exact",
            time.perf_counter() - start, Counterexample(net.architecture, elements=failures[:10]) if failures else None,
        ))
    return verdicts


def _printed_gradients(net, plan, env) -> dict:
    """Parameter symbol -> the plan's gradient of it, from a plan evaluated in ``env``: weights, then biases."""
    out = {}
    for l, (gW, gb) in plan.gradients.items():
        for r in range(env[gW].rows):
            for c in range(env[gW].cols):
                out[net.symbols[_weight_key(net, l, r + 1, c + 1)]] = env[gW][r, c]
        for r in range(env[gW].rows):
            out[net.symbols[_bias_key(net, l, r + 1)]] = env[gb][0, r]
    return out


def _word(evidence) -> str:
    return "holds" if evidence.equal else "fails"


def _weight_key(net, l, to, frm):
    """The parameter behind W{l}[to, frm] of a plan: where the recursion family keeps it."""
    return rec.family(net).weight(net.first + l, to, frm)


def _bias_key(net, l, to):
    """The parameter behind b{l}[to]: its own bias, or column 0 of theta in the bias-node form."""
    fam = rec.family(net)
    return fam.bias(net.first + l, to) if fam.bias else fam.weight(net.first + l, to, 0)


def _symbolic_env(net: Network) -> dict:
    L = len(net.widths) - 1
    env = {
        "X": se.DenseMatrix([net.x(i) for i in range(net.samples)]),
        "Y": se.DenseMatrix([net.y(i) for i in range(net.samples)]),
        "N": se.Integer(net.samples),
        "s": se.Rational(1, net.samples),
    }
    for l in range(1, L + 1):
        rows, cols = net.width(net.first + l), net.width(net.first + l - 1)
        env[f"W{l}"] = se.DenseMatrix([[net.symbols[_weight_key(net, l, r, c)] for c in range(1, cols + 1)]
                                       for r in range(1, rows + 1)])
        env[f"b{l}"] = se.DenseMatrix([[net.symbols[_bias_key(net, l, r)] for r in range(1, rows + 1)]])
    return env


def claims_against_plan(derivation, widths) -> list[Verdict]:
    """A derivation's own gradient claims compared, element by element, with the plan that gets printed.

    Each claim that the file expects to hold and that gives ``d(J)/d(P)`` for a parameter ``P`` (``d(e)/d(P)``
    with one sample), in index or matrix form, is evaluated at ``widths`` and compared with the plan's
    gradient of the same parameter: the kernels then compute the file's formulas, not only symbp's.
    """
    s = derivation.network
    net = Network(list(widths), s["activation"], s["output"], s["loss"], s["form"], s["layout"], s["samples"],
                  formulation=derivation.formulation)
    plan = k.build_plan(net)
    env = _symbolic_env(net)
    ev = k.SymbolicEvaluator(env, ACTIVATIONS)
    for name, tree in [*plan.forward, *plan.backward]:
        env[name] = ev.eval(tree)
    printed = _printed_gradients(net, plan, env)
    assume = set(s["assume"]) | ({"sum-y-is-1"} if net.output.name == "softmax" else set())
    engine = Engine(lambda rng: net.sample_point(rng, assume), substitutions=net.assumption_substitutions(assume))
    losses = {"J"} | ({"e"} if net.samples == 1 else set())
    aliases = derivation.scope.aliases
    out = []
    for claim in derivation.claims:
        lhs = claim.lhs
        if (claim.expect != "holds" or claim.network or not isinstance(lhs, il.Deriv) or not isinstance(lhs.of, il.Name)
                or aliases.get(lhs.of.name, lhs.of.name) not in losses or not isinstance(lhs.wrt, il.Ref)):
            continue
        start, failures, compared, matrix = time.perf_counter(), [], 0, claim.form == "matrix"
        name = aliases.get(lhs.wrt.name, lhs.wrt.name)
        for bound in index_envs(net, claim.ranges):
            cev = Evaluator(net, derivation.scope)
            idx = tuple(cev.index(i, bound) for i in lhs.wrt.indices)
            wrt = cev.matrix_ref(name, idx) if matrix else se.DenseMatrix([[net.symbols.get((name, idx))]])
            rhs = cev.eval(claim.rhs, bound, matrix)
            rhs = rhs if isinstance(rhs, se.DenseMatrix) else se.DenseMatrix([[rhs]])
            if rhs.shape != wrt.shape:
                rhs = rhs.reshape(*wrt.shape)
            for r in range(wrt.rows):
                for c in range(wrt.cols):
                    if wrt[r, c] not in printed:
                        continue  # a constant, such as theta's row 0
                    compared += 1
                    if not engine.compare(printed[wrt[r, c]], rhs[r, c]).equal:
                        failures.append(str(wrt[r, c]))
        if compared:
            out.append(Verdict(claim.id, claim.statement, "fails" if failures else "holds", "", time.perf_counter() - start,
                               Counterexample(net.architecture, elements=failures[:10]) if failures else None, note=f"{compared} elements"))
    return out


def generate(layers, activation="sigmoid", output=None, loss="bce", form="explicit-bias", dtype="float64",
             source_note="") -> str:
    """Check the plan for this kind of network, then print the module for ``layers``.

    >>> src = generate([4, 8, 3], "sigmoid", "softmax", "cross-entropy")
    >>> "def gradients(params, X, Y):" in src and "import numpy as np" in src
    True
    """
    if dtype not in DTYPES:
        raise UsageError(f"--dtype must be one of: {', '.join(DTYPES)}; got {dtype!r}")
    net = Network(layers, activation, output, loss, form)
    plan = k.build_plan(net)  # raises for what has no code (generic activations)
    verdicts = check_plan(net.hidden.name, net.output.name, net.loss.name, form)
    failed = [v for v in verdicts if v.verdict != "holds"]
    if failed:
        raise UsageError(f"the kernel plan does not match direct differentiation: {failed[0].id}; nothing written")
    doc = [
        f"NumPy training kernels generated by symbp for a {net.architecture} network.",
        "",
        f"form: {form}; hidden activation: {net.hidden.name}; output: {net.output.name}; loss: {net.loss.name} (mean over the batch)",
        f"dtype: {dtype}; samples in rows: X is (N, {layers[0]}), Y is (N, {layers[-1]})"
        + ("; Y one-hot" if net.output.name == "softmax" else ""),
        ("parameters: theta1..theta%d of shape (S_(l+1), S_l + 1), column 0 the bias" % (len(layers) - 1)) if form == "bias-node"
        else "parameters: W1..WL of shape (n_l, n_(l-1)), b1..bL of shape (n_l,)",
        *([source_note] if source_note else []),
        "",
        "Formulas:",
        *[f"    {f}" for f in plan.formulas],
        *([f"Assumes: {', '.join(plan.assumptions)}"] if plan.assumptions else []),
        "",
        "Checks passed before printing (each element against direct differentiation by SymEngine):",
        *[f"    {v.id}: {v.verdict} ({v.method})" for v in verdicts],
    ]
    return module_source(plan, dtype, docstring("\n".join(doc) + "\n"))


def docstring(text: str) -> str:
    r'''``text`` as the inside of a triple-quoted docstring that reads back as ``text`` and nothing else.

    Claim ids and file names come from a derivation file: no quote may end the docstring, no backslash
    start an escape (``\N`` alone is a syntax error), no control character break the module.

    >>> import ast
    >>> text = 'x' + '"' * 3 + '; __import__("os").system("touch PWNED"); \\N{oops} \x00'
    >>> ast.literal_eval('"' * 3 + docstring(text) + '"' * 3) == text
    True
    '''
    out = []
    for ch in text:
        if ch in "\\\"":
            out.append("\\" + ch)
        elif ch == "\n" or ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)
