"""Verification: every closed-form claim compared against direct differentiation, one verdict each."""
from __future__ import annotations

import time
from dataclasses import dataclass

import symengine as se

from .. import lang as il
from ..calculus import recursions as rec
from ..calculus.batch import matrix_gradient
from ..calculus.dag import transform
from ..calculus.derive import DELTA
from ..calculus.direct import d_loss_d_nodes, directional_derivative, loss_gradient, normalize
from ..calculus.equivalence import Engine
from ..calculus.prove import Proof, prove
from ..errors import SymbpError
from ..model.activations import Activation
from ..model.formulations import Formulation
from ..model.losses import PAIRINGS, get_loss
from ..model.network import Network
from ..verdicts import Counterexample, Report, Verdict


_BATCH_FORM = "the batch form of "


@dataclass
class Claim:
    """A claim: elements (label, closed form thunk, reference thunk), checked one by one."""

    id: str
    statement: str
    elements: object  # callable returning [(label, lhs, rhs)]
    note: str = ""
    projection: object = None  # callable returning (lhs, rhs): all elements at once along a random direction


def claims(net: Network, mutation: str | None = None, assumptions=frozenset()) -> list[Claim]:
    """The claims for a network, in the order a derivation states them, from its derived recursion."""
    recursion, mean = rec.recursion_of(net, mutation)
    out = [_activation_claim(a) for a in _distinct({net.hidden, net.output})
           if not isinstance(a.trees["derivative"], il.Num)]  # a constant derivative (the identity's) says nothing
    for statement, ranges, label in net.form.consequences:
        out.append(_consequence(net, statement, ranges, label))
    family, L = recursion.family, net.L
    cache: dict = {}

    def evaluators():
        if "ev" not in cache:
            cache["ev"] = [net.evaluator(i, {DELTA: recursion.delta}, {DELTA: recursion.ranges}) for i in range(net.samples)]
        return cache["ev"]

    def direct_deltas(l):
        if l not in cache:
            cache[l] = [d_loss_d_nodes(net, i, family, l) for i in range(net.samples)]
        return cache[l]

    def label(l, j, i):
        return f"delta[{l},{j}]" + (f" sample {i + 1}" if net.samples > 1 else "")

    def derived(l):
        return [(label(l, j, i), evaluators()[i].ref(DELTA, (l, j)), direct_deltas(l)[i][j - 1])
                for i in range(net.samples) for j in range(1, net.width(l) + 1)]

    cases = recursion.delta.cases
    idx = ", ".join(recursion.delta.indices)
    pairing = PAIRINGS.get((net.output.name, net.loss.name))
    needs = pairing.assumptions if pairing else frozenset()
    missing = sorted(needs - set(assumptions))
    note = f"holds only under {', '.join(missing)}; pass --assume {' --assume '.join(missing)}" if missing else ""
    if pairing is not None:
        def base():
            return [(label(L, j, i), pairing.base_case(net.outputs(i)[j - 1], net.y(i)[j - 1]), direct_deltas(L)[i][j - 1])
                    for i in range(net.samples) for j in range(1, net.width(L) + 1)]
        out.append(Claim(f"delta[{L}]", pairing.statement, base, note))
    else:
        out.append(Claim(f"delta[{L}]", f"{DELTA}[{idx}] = {il.to_text(cases[0][1])}  (where {il.to_text(cases[0][0])})"
                         if cases[0][0] is not None else recursion.statements[0], lambda: derived(L)))
    first = int(net.evaluate(0, recursion.ranges[0][1], {}))
    for l in range(L - 1, first - 1, -1):
        # the case of the derived recursion that applies at this layer (a split-off top layer, or the general one)
        cond, value = next((c, v) for c, v in cases if c is None or net.evaluate(0, c, {recursion.delta.indices[0]: l}))
        where = f"  (where {il.to_text(cond)})" if cond is not None else ""
        out.append(Claim(f"delta[{l}]", f"{DELTA}[{idx}] = {il.to_text(value)}{where}", lambda l=l: derived(l)))
    closed: dict = {}
    direct: dict = {}

    def closed_gradient(kind, params):
        # per parameter group: a mutation that names a layer beyond the network is an error of its group only
        key = (kind, tuple(params))
        if key not in closed:
            closed[key] = (rec.gradient if kind == "index" else matrix_gradient)(net, mutation, params)
        return closed[key]

    def direct_gradient(params):
        missing = [p for p in params if p not in direct]
        direct.update(loss_gradient(net, missing))
        return [direct[p] for p in params]

    for group, members in net.groups().items():
        name = members[0][0]
        params = [s for _, _, s in members]
        g = recursion.gradients[name]
        mean_text = "1/m * " if mean else ""
        statement = f"d(J)/d({il.to_text(g.ref)}) = {mean_text}samplesum({il.to_text(g.value)}, (i, 1, m))"
        r = {p: se.Symbol(f"_r[{p}]") for p in params}
        for kind, prefix in (("index", ""), ("matrix", "matrix ")):
            out.append(Claim(
                f"{prefix}dJ/d{group}",
                statement if kind == "index" else f"{_BATCH_FORM}{statement}",
                (lambda params=params, kind=kind: [
                    (str(p), closed_gradient(kind, params)[p], d) for p, d in zip(params, direct_gradient(params))
                ]),
                note if needs else "",
                (lambda r=r, kind=kind, params=params: (
                    se.Add(*[r[p] * closed_gradient(kind, params)[p] for p in r]), directional_derivative(net, r)
                )),
            ))
    return out


def _consequence(net: Network, statement: str, ranges: str, label: str) -> Claim:
    """A fact the formulation states follows from its equations (Brawer's eq (8)), checked on the network."""
    where = f"formulation {net.form.name}: {label}"
    eq = il.parse_equation(statement, where)
    bindings = list(net.bindings(il.parse_ranges(ranges, where), {}))
    return Claim(label, f"{statement} for {ranges}, from the formulation's equations", lambda: [
        (f"{il.to_text(eq.lhs)} at {', '.join(f'{k} = {v}' for k, v in env.items())}",
         net.evaluate(i, eq.lhs, env), net.evaluate(i, eq.rhs, env))
        for i in range(net.samples) for env in bindings])


def _distinct(acts):
    return sorted(acts, key=lambda a: a.name)


def _activation_claim(act: Activation) -> Claim:
    """The catalog's closed-form derivative against direct differentiation of its formula."""
    u = [se.Symbol(f"u{k}") for k in range(1, 4)]
    if act.elementwise:
        return Claim(
            f"{act.name}'", f"d/du {act.formula} = {act.derivative_formula}",
            lambda: [(f"{act.name}'(u)", act.derivative(u[0]), normalize(act.value(u[0]).diff(u[0])))],
        )
    return Claim(
        f"{act.name}'", f"d a_k / d z_j = {act.derivative_formula}",
        lambda: [
            (f"da[{k + 1}]/dz[{j + 1}]", act.jacobian(u)[k][j], act.vector(u)[k].diff(u[j]))
            for k in range(3) for j in range(3)
        ],
    )


def verify(
    net: Network,
    assumptions=(),
    mutation: str | None = None,
    points: int = 3,
    seed: int = 0,
    verbose: bool = False,
    shrink: bool = True,
    progress=None,
) -> Report:
    """Check the standard backpropagation claims for ``net`` against direct differentiation.

    >>> report = verify(Network([2, 2, 1], activation="sigmoid", loss="bce"))
    >>> report.ok, [v.id for v in report.verdicts][1:3]
    (True, ['delta[2]', 'delta[1]'])
    >>> verify(Network([2, 2, 1]), mutation="gprime-dropped").ok
    False
    """
    assumptions = frozenset(assumptions)
    engine = _engine(net, assumptions, points, seed)
    verdicts = []
    items = claims(net, mutation, assumptions)
    for claim in items if progress is None else progress(items):
        v = _check(claim, engine, net, verbose)
        if v.verdict == "fails" and shrink:
            _shrink(v, net, assumptions, mutation, points, seed)
        if mutation is not None and v.verdict != "fails" and shrink:
            _elsewhere(v, net, assumptions, mutation, points, seed)
        verdicts.append(v)
    if mutation is not None and shrink:
        _attribute(verdicts, net, assumptions, mutation, points, seed)
    return Report(repr(net), verdicts)


def _attribute(verdicts, net: Network, assumptions, mutation, points, seed):
    """One root cause reported once: a gradient claim that fails only because delta is wrong (its formula holds
    with the correct delta) names the first failing delta claim as its cause."""
    wrong = [v.id for v in verdicts if v.id.startswith(DELTA) and v.verdict == "fails"]
    m = mutation if isinstance(mutation, rec.Mutation) else rec.MUTATIONS[mutation]
    first: dict = {}  # a statement -> the first claim that fails with it
    for v in verdicts:
        if v.verdict != "fails" or v.counterexample is None:
            continue
        if wrong and not v.id.startswith(DELTA):
            widths = [int(w) for w in v.counterexample.architecture.split("-")]
            net_there = _network_like(net, widths, max(net.samples, 2))
            again = _retry(v, net_there, assumptions, m.gradients_only(), points, seed)
            if again is not None and again.verdict == "holds":
                v.cause, v.note = wrong[0], f"the formula holds with a correct {DELTA}"
                continue
        same = v.statement.removeprefix(_BATCH_FORM)
        if same in first:
            v.cause, v.note = first[same], "the same statement"
        else:
            first[same] = v.id


def _engine(net, assumptions, points, seed):
    subs = net.assumption_substitutions(assumptions)
    return Engine(lambda rng: net.sample_point(rng, assumptions), points=points, seed=seed, substitutions=subs)


def _check(claim: Claim, engine: Engine, net: Network, verbose: bool) -> Verdict:
    start = time.perf_counter()
    methods, elements, failure = set(), [], None
    try:
        if claim.projection is not None and not verbose:
            ev = engine.compare(*claim.projection())
            if ev.equal:
                return Verdict(claim.id, claim.statement, "holds", ev.method, time.perf_counter() - start)
            methods.add(ev.method)  # locate the failing element below
        for label, lhs, rhs in claim.elements():
            ev = engine.compare(lhs, rhs)
            methods.add(ev.method)
            if verbose:
                elements.append({"id": label, "verdict": "holds" if ev.equal else "fails", "method": ev.method})
            if not ev.equal and failure is None:
                failure = counterexample(net.architecture, label, ev, lhs, rhs, "closed form", "direct")
                if not verbose:
                    break
    except SymbpError as exc:
        return Verdict(claim.id, claim.statement, "error", "", time.perf_counter() - start, note=str(exc))
    method = "numeric" if "numeric" in methods else "exact"
    verdict = "fails" if failure else "holds"
    note = claim.note if failure else ""
    return Verdict(claim.id, claim.statement, verdict, method, time.perf_counter() - start, failure, note, elements)


def counterexample(architecture, label, evidence, lhs, rhs, left_label="left side", right_label="right side"):
    """A failing element: both sides' values, the residual relative to the larger side, and the point's values of
    only the symbols the element reads (never a direction symbol of the projection)."""
    reads = {str(s) for s in transform(se.sympify(lhs) - se.sympify(rhs), _symbols_leaf, _symbols_node)}
    point = {k: v for k, v in evidence.point.items() if k in reads}
    return Counterexample(architecture, label, evidence.lhs, evidence.rhs, relative_residual(evidence), point,
                          left_label, right_label)


def _symbols_leaf(e):
    return frozenset({e}) if e.is_Symbol else frozenset()


def _symbols_node(e, args):
    return frozenset().union(*args)


def relative_residual(evidence) -> float | None:
    """|left - right| / max(|left|, |right|): relative to the larger side, whatever its size."""
    try:
        left, right = float(evidence.lhs), float(evidence.rhs)
    except (TypeError, ValueError):
        return evidence.residual
    scale = max(abs(left), abs(right))
    return abs(left - right) / scale if scale else 0.0


def _network_like(net: Network, widths, samples=None) -> Network:
    return Network(list(widths), net.hidden.name, net.output.name, net.loss.name, net.form.name, net.layout,
                   samples or net.samples, formulation=net.form)


def _shrink(verdict: Verdict, net: Network, assumptions, mutation, points, seed):
    """Look for a smaller architecture of the same depth where the claim fails too; widths stay at least 2 where
    they were (a width of 1 often makes a derivative identically 0: a counterexample there explains nothing)."""
    for w in range(2, max(net.widths)):
        widths = [min(w, n) for n in net.widths]
        if widths == net.widths:
            break
        v = _retry(verdict, _network_like(net, widths), assumptions, mutation, points, seed)
        if v is not None and v.verdict == "fails":
            verdict.counterexample = v.counterexample
            return


def _retry(verdict, net, assumptions, mutation, points, seed):
    try:
        claim = next((c for c in claims(net, mutation, assumptions) if c.id == verdict.id), None)
    except SymbpError:
        return None
    return None if claim is None else _check(claim, _engine(net, assumptions, points, seed), net, False)


def _elsewhere(verdict: Verdict, net: Network, assumptions, mutation, points, seed):
    """A mutated claim that holds here (1/m with one sample) or names what this network lacks (a transpose of
    a matrix that is not square): a counterexample where it is defined and fails, if there is one."""
    depth = len(net.widths)
    for samples in dict.fromkeys((net.samples, 2)):
        for w in (2, 3):
            other = _network_like(net, [w] * depth, samples)
            if other.architecture == net.architecture and samples == net.samples:
                continue
            try:
                v = _retry(verdict, other, assumptions, mutation, points, seed)
            except SymbpError:
                continue
            if v is not None and v.verdict == "fails":
                was = "holds" if verdict.verdict == "holds" else f"is an error ({verdict.note})"
                verdict.verdict, verdict.counterexample, verdict.method = "fails", v.counterexample, v.method
                verdict.note = (f"at {net.architecture}{'' if net.samples == 1 else f' with {net.samples} samples'} it "
                                f"{was}; it fails at {other.architecture} with {samples} sample{'s' * (samples > 1)}")
                return


def cross_check(proof: Proof, mutation: str | None = None) -> list:
    """A proof's statements checked at concrete sizes by the symbolic core: the verdicts must agree.

    >>> from symbp.calculus.prove import prove
    >>> [c["agrees"] for c in cross_check(prove("generic", "sigmoid", "bce"))]
    [True, True]
    """
    proved = all(s.verdict == "holds" for s in proof.steps)
    out = []
    for widths in ([2, 3, 2], [3, 2, 2, 2]):
        net = Network(widths, proof.activation, proof.output, proof.loss, proof.form, samples=2)
        assume = {"sum-y-is-1"} if proof.assumptions else set()
        holds = verify(net, assume, mutation, points=2, shrink=False).ok  # an out-of-range mutation is an error: not ok
        out.append({"architecture": net.architecture, "holds": holds, "agrees": holds == proved})
    return out


@dataclass
class Derived:
    """A formulation's derived recursion, checked at concrete sizes and proved for every width and depth."""

    formulation: str
    statements: list
    reports: list  # one Report per architecture
    proof: Proof | None = None
    error: str = ""  # why the recursion could not be derived

    @property
    def ok(self) -> bool:
        return not self.error and all(r.ok for r in self.reports) and (self.proof is None or self.proof.ok)

    def to_dict(self) -> dict:
        return {"formulation": self.formulation, "recursion": self.statements, "error": self.error or None,
                "checks": [{"network": r.network, "verdicts": [v.to_dict() for v in r.verdicts]} for r in self.reports],
                "proof": self.proof.to_dict() if self.proof else None, "ok": self.ok}


def derived(formulation: Formulation, activation: str, output: str | None, loss: str, architectures, samples=2,
            assumptions=(), layout: str = "output-by-input", proof: bool = True) -> Derived:
    """symbp's recursion for a formulation: derived from its equations, verified at each architecture against
    direct differentiation, and proved for every width and depth.

    >>> from symbp.model.formulations import get_formulation
    >>> d = derived(get_formulation("residual"), "tanh", None, "half-squared-error", [[2, 3, 3, 3, 2]], proof=False)
    >>> d.ok, d.statements[3]
    (True, 'delta[l, j] = gprime[l](z[l, j]) * sum(delta[l + 1, k] * W[l + 1, k, j], (k, 1, n[l + 1])) + gprime[l](z[l, j]) * delta[l + 2, j]  otherwise')
    """
    output = output or get_loss(loss).default_output
    nets = [Network(list(widths), activation, output, loss, formulation.name, layout, samples, formulation=formulation)
            for widths in architectures]
    try:
        recursion, _ = rec.recursion_of(nets[0])
    except SymbpError as exc:
        return Derived(formulation.name, [], [], error=str(exc))
    statements = [s for s in recursion.statements if s.startswith(DELTA)] + [
        f"d(J)/d({il.to_text(g.ref)}) = 1/m * samplesum({il.to_text(g.value)}, (i, 1, m))" for g in recursion.gradients.values()]
    reports = [verify(net, assumptions) for net in nets]
    result = Derived(formulation.name, statements, reports)
    if proof:
        result.proof = prove(activation, output, loss, formulation=formulation,
                             assumptions=assumptions if assumptions else None)
    return result
