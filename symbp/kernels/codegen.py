"""From verified formulas to code: check a kernel plan against direct differentiation, then print it.

Before anything is written, the plan is evaluated element by element with SymEngine on small networks of the
requested depth and compared with direct differentiation, and the printed module itself is run there on the
engine's random point and compared with the direct gradients (float64, relative 1e-9).
"""
from __future__ import annotations

import time
import types

import numpy as np
import symengine as se

from .. import lang as il
from ..calculus.direct import loss_gradient
from ..calculus.equivalence import Engine
from ..checking.check import index_envs
from ..checking.claims import Evaluator
from ..errors import SymbpError, UsageError
from ..model.formulations import Formulation, get_formulation
from ..model.network import Network
from ..verdicts import Counterexample, Verdict
from .plan import Plan, build_plan
from .printer import module_source

DTYPES = ("float64", "float32")
CHECK_DEPTH = 6  # the deepest network the checks before printing build (every layer of it is checked)


def check_widths(layers, form: Formulation) -> list[list[int]]:
    """Small architectures to check kernels at: the requested one where it is small, and two of its depth (at
    most CHECK_DEPTH layers, hidden layers of one width) where the formulation's equations allow them."""
    depth = min(len(layers), CHECK_DEPTH)
    candidates = [[2] + [3] * (depth - 2) + [2], [3] + [2] * (depth - 2) + [3]]
    if len(layers) <= CHECK_DEPTH and max(layers) <= 8:
        candidates.insert(0, list(layers))
    out = []
    for widths in candidates:
        if widths in out or len(out) == 2:
            continue
        try:  # a convolution fixes each width by the one before: other widths name nodes it does not have
            Network(widths, "identity", "identity", "half-squared-error", formulation=form).J
        except SymbpError:
            continue
        out.append(widths)
    if not out:
        raise UsageError(f"no small architecture of depth {depth} fits the {form.name} equations to check the "
                         "kernels at; give --layers with widths of at most 8")
    return out


def check_plan(hidden: str, output: str, loss: str, form: str = "explicit-bias", samples: int = 2, layers=(2, 3, 2),
               formulation: Formulation | None = None, layout: str = "output-by-input") -> list[Verdict]:
    """The plan and the printed module, on small networks, against direct differentiation.

    >>> [v.verdict for v in check_plan("tanh", "softmax", "cross-entropy", "explicit-bias", layers=[3, 4, 2])]
    ['holds', 'holds', 'holds', 'holds', 'holds', 'holds']
    """
    formulation = formulation or get_formulation(form, layout)
    verdicts = []
    for widths in check_widths(list(layers), formulation):
        net = Network(widths, hidden, output, loss, form, layout, samples=samples, formulation=formulation)
        plan = build_plan(net)
        assume = {"sum-y-is-1"} if plan.assumptions else set()
        engine = Engine(lambda rng: net.sample_point(rng, assume), substitutions=net.assumption_substitutions(assume))
        start = time.perf_counter()
        arrays = plan.program.evaluate(net)
        loss_ok = engine.compare(arrays["loss"][()] / net.samples, net.J)
        verdicts.append(Verdict(f"loss at {net.architecture}", "the plan's loss (its stable form) = J",
                                "holds" if loss_ok.equal else "fails", loss_ok.method, time.perf_counter() - start))
        start = time.perf_counter()
        direct = loss_gradient(net)
        failures, methods = [], set()
        for symbol, printed in printed_gradients(net, plan, arrays).items():
            evidence = engine.compare(printed, direct[symbol])
            methods.add(evidence.method)
            if not evidence.equal:
                failures.append(str(symbol))
        verdicts.append(Verdict(
            f"gradients at {net.architecture}", "the plan's recursion and gradients = direct dJ/dparam",
            "fails" if failures else "holds", "numeric" if "numeric" in methods else "exact",
            time.perf_counter() - start, Counterexample(net.architecture, elements=failures[:10]) if failures else None))
        verdicts.append(_run_module(net, plan, engine, direct))
    return verdicts


def _run_module(net: Network, plan: Plan, engine: Engine, direct: dict) -> Verdict:
    """The printed module itself, run at the engine's point: its gradients against the direct ones there."""
    start = time.perf_counter()
    module = load_module(module_source(plan, "float64", "checked before printing\n"))
    symbols = [*net.params, *(v for i in range(net.samples) for v in (*net.x(i), *net.y(i)))]
    point = {s: float(engine.value(s, 0)) for s in symbols}
    params, X, Y = module_inputs(net, plan, point)
    grads = module.gradients(params, X, Y)
    failures = []
    for key, label in plan.gradients.items():
        family, lead = next((f, ld) for (f, ld), lb in plan.program.gradients.items() if lb == label)
        axes = plan.program.storage[label]
        for position in np.ndindex(*[a.size for a in axes]):
            idx = tuple(a.lo + p for a, p in zip(axes, position))
            want = float(engine.value(direct[net.symbols[(family, (*lead, *idx))]], 0))
            if not abs(grads[key][position] - want) <= 1e-9 * max(1.0, abs(want)):
                failures.append(f"{key}{list(position)}")
    loss_value = float(engine.value(net.J, 0))
    if not abs(module.loss(params, X, Y) - loss_value) <= 1e-9 * max(1.0, abs(loss_value)):
        failures.append("loss")
    return Verdict(f"printed module at {net.architecture}", "the printed code's loss and gradients = direct, in float64",
                   "fails" if failures else "holds", "numeric", time.perf_counter() - start,
                   Counterexample(net.architecture, elements=failures[:10]) if failures else None)


def module_inputs(net: Network, plan: Plan, point: dict):
    """(params, X, Y) as arrays for a printed module, from values of the network's symbols."""
    program = plan.program
    params = {}
    for key, name in plan.params.items():
        kind, family, lead = program.stored[name]
        axes = program.storage[name]
        array = np.zeros([a.size for a in axes])
        for position in np.ndindex(*array.shape):
            idx = tuple(a.lo + p for a, p in zip(axes, position))
            array[position] = point[net.symbols[(family, (*lead, *idx))]]
        params[key] = array
    X = np.array([[point[s] for s in net.x(i)] for i in range(net.samples)])
    Y = np.array([[point[s] for s in net.y(i)] for i in range(net.samples)])
    return params, X, Y


def printed_gradients(net: Network, plan: Plan, arrays: dict) -> dict:
    """Parameter symbol -> the plan's gradient of it (times 1/m: its s), from an evaluated plan."""
    out = {}
    for (family, lead), label in plan.program.gradients.items():
        for point, value in arrays[label].items():
            out[net.symbols[(family, (*lead, *point))]] = value
    return out


def load_module(source: str):
    """A generated module, compiled in memory (no file is written): symbp printed the source itself."""
    module = types.ModuleType("symbp_kernels")
    exec(compile(source, "<symbp kernels>", "exec"), module.__dict__)  # noqa: S102 - code symbp printed, no input
    return module


def claims_against_plan(derivation, widths) -> list[Verdict]:
    """A derivation's own gradient claims compared, element by element, with the plan that gets printed.

    Each claim that the file expects to hold and that gives ``d(J)/d(P)`` for a parameter ``P`` (``d(e)/d(P)``
    with one sample), in index or matrix form, is evaluated at ``widths`` and compared with the plan's
    gradient of the same parameter: the kernels then compute the file's formulas, not only symbp's.
    """
    s = derivation.network
    net = Network(list(widths), s["activation"], s["output"], s["loss"], s["form"], s["layout"], s["samples"],
                  formulation=derivation.formulation)
    plan = build_plan(net)
    printed = printed_gradients(net, plan, plan.program.evaluate(net))
    assume = set(s["assume"]) | ({"sum-y-is-1"} if plan.assumptions else set())
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
             source_note="", formulation: Formulation | None = None, layout: str = "output-by-input") -> str:
    """Check the plan for this kind of network, then print the module for ``layers``.

    >>> src = generate([4, 8, 3], "sigmoid", "softmax", "cross-entropy")
    >>> "def gradients(params, X, Y):" in src and "import numpy as np" in src
    True
    """
    if dtype not in DTYPES:
        raise UsageError(f"--dtype must be one of: {', '.join(DTYPES)}; got {dtype!r}")
    net = Network(layers, activation, output, loss, form, layout, formulation=formulation)
    plan = build_plan(net)  # raises for what has no code (generic activations)
    verdicts = check_plan(net.hidden.name, net.output.name, net.loss.name, form, layers=net.widths,
                          formulation=net.form, layout=layout)
    failed = [v for v in verdicts if v.verdict != "holds"]
    if failed:
        raise UsageError(f"the kernels do not match direct differentiation: {failed[0].id}; nothing written")
    shapes = ", ".join(f"{key} {tuple(a.size for a in plan.program.storage[name])}" for key, name in plan.params.items())
    doc = [
        f"NumPy training kernels generated by symbp for a {net.architecture} network.",
        "",
        f"form: {net.form.name}; hidden activation: {net.hidden.name}; output: {net.output.name}; "
        f"loss: {net.loss.name} (mean over the batch)",
        f"dtype: {dtype}; samples in rows: X is (N, {layers[0]}), Y is (N, {layers[-1]})"
        + ("; Y one-hot" if plan.assumptions else ""),
        f"parameters: {shapes}",
        *([source_note] if source_note else []),
        "",
        "Formulas (the forward equations, then the recursion symbp derived from them):",
        *[f"    {f}" for f in plan.formulas],
        *([f"Assumes: {', '.join(plan.assumptions)}"] if plan.assumptions else []),
        "",
        f"Checks passed before printing (at depth {min(len(layers), CHECK_DEPTH)}, against direct differentiation):",
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
