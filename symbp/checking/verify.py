"""Verification: every closed-form claim compared against direct differentiation, one verdict each."""
from __future__ import annotations

import time
from dataclasses import dataclass

import symengine as se

from ..calculus import recursions as rec
from ..model.activations import Activation
from ..calculus.direct import d_loss_d_nodes, directional_derivative, loss_gradient, normalize
from ..calculus.equivalence import Engine
from ..errors import SymbpError
from ..calculus.prove import Proof
from ..model.network import Network
from ..verdicts import Counterexample, Report, Verdict


@dataclass
class Claim:
    """A claim: elements (label, closed form thunk, reference thunk), checked one by one."""

    id: str
    statement: str
    elements: object  # callable returning [(label, lhs, rhs)]
    note: str = ""
    projection: object = None  # callable returning (lhs, rhs): all elements at once along a random direction


def claims(net: Network, variant: rec.Variant = rec.Variant(), assumptions=frozenset()) -> list[Claim]:
    """The standard claims for a network, in the order a derivation states them."""
    fam = rec.family(net)
    out = [_activation_claim(a) for a in _distinct({net.hidden, net.output}) if a.name != "identity"]
    if net.form.family == "bias-node":
        out.append(Claim(
            "z[l,0] = 1 (8)",
            "z^l_0 = 1 on every layer, from eq (5) with (6) and (7)",
            lambda: [(f"z[{l},0]", net.z(i, l, 0), se.Integer(1)) for i in range(net.samples) for l in range(1, net.L + 1)],
        ))
    cache: dict = {}

    def direct_deltas(l):
        if l not in cache:
            cache[l] = [d_loss_d_nodes(net, i, "z", l) for i in range(net.samples)]
        return cache[l]

    def closed_deltas():
        if "closed" not in cache:
            cache["closed"] = [rec.deltas(net, i, variant) for i in range(net.samples)]
        return cache["closed"]

    _, base_statement, needs = rec.base_case(net, 0)
    missing = sorted(needs - set(assumptions))
    note = f"holds only under {', '.join(missing)}; pass --assume {' --assume '.join(missing)}" if missing else ""
    for l in [net.L, *rec.hidden_layers(net)]:
        statement = base_statement if l == net.L else fam.names["delta"]
        out.append(Claim(
            f"delta[{l}]", statement,
            (lambda l=l: [
                (f"delta[{l},{j}]" + (f" sample {i + 1}" if net.samples > 1 else ""), closed_deltas()[i][l][j - 1], direct_deltas(l)[i][j - 1])
                for i in range(net.samples) for j in range(1, net.width(l) + 1)
            ]),
            note if needs else "",
        ))
    closed: dict = {}
    direct: dict = {}

    def closed_gradient(kind):
        if kind not in closed:
            closed[kind] = rec.gradient(net, variant) if kind == "index" else rec.matrix_gradient(net)
        return closed[kind]

    def direct_gradient(params):
        missing = [p for p in params if p not in direct]
        direct.update(loss_gradient(net, missing))
        return [direct[p] for p in params]

    for label, members in net.groups().items():
        name = members[0][0]
        params = [s for _, _, s in members]
        statement = fam.names["Wgrad"] if name in ("W", "theta") else "dJ/db^l_j = 1/m sum_i delta^l_j"
        r = {p: se.Symbol(f"_r[{p}]") for p in params}
        for kind, prefix in (("index", ""), ("matrix", "matrix ")):
            out.append(Claim(
                f"{prefix}dJ/d{label}",
                statement if kind == "index" else _matrix_statement(net, name),
                (lambda params=params, kind=kind: [
                    (str(p), closed_gradient(kind)[p], d) for p, d in zip(params, direct_gradient(params))
                ]),
                note if needs else "",
                (lambda r=r, kind=kind: (
                    se.Add(*[r[p] * closed_gradient(kind)[p] for p in r]), directional_derivative(net, r)
                )),
            ))
    return out


def _matrix_statement(net, name):
    if name == "b":
        return "dJ/db^l = 1/m 1^T Delta^l, Delta^l = (Delta^(l+1) W^(l+1)) (Hadamard) g'(Z^l)"
    if net.form.family == "bias-node":
        return "dJ/dtheta^(l) = 1/m Delta^(l+1)^T H^l, Delta^l = (Delta^(l+1) theta^(l)) .* Psi^l(Z^l) (48)"
    return "dJ/dW^l = 1/m Delta^l^T A^(l-1), Delta^l = (Delta^(l+1) W^(l+1)) (Hadamard) g'(Z^l)"


def _distinct(acts):
    return sorted(acts, key=lambda a: a.name)


def _activation_claim(act: Activation) -> Claim:
    u = [se.Symbol(f"u{k}") for k in range(1, 4)]
    if act.elementwise:
        return Claim(
            f"{act.name}'", f"d/dz {act.formula} = {act.derivative_formula}",
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
    variant: rec.Variant = rec.Variant(),
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
    >>> verify(Network([2, 2, 1]), variant=rec.MUTATIONS["gprime-dropped"]).ok
    False
    """
    assumptions = frozenset(assumptions)
    engine = _engine(net, assumptions, points, seed)
    verdicts = []
    items = claims(net, variant, assumptions)
    for claim in items if progress is None else progress(items):
        v = _check(claim, engine, net, verbose)
        if v.verdict == "fails" and shrink:
            _shrink(v, net, assumptions, variant, points, seed)
        verdicts.append(v)
    return Report(repr(net), verdicts)


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
                failure = Counterexample(net.architecture, label, ev.lhs, ev.rhs, ev.residual, ev.point,
                                         "closed form", "direct")
                if not verbose:
                    break
    except SymbpError as exc:
        return Verdict(claim.id, claim.statement, "error", "", time.perf_counter() - start, note=str(exc))
    method = "numeric" if "numeric" in methods else "exact"
    verdict = "fails" if failure else "holds"
    note = claim.note if failure else ""
    return Verdict(claim.id, claim.statement, verdict, method, time.perf_counter() - start, failure, note, elements)


def _shrink(verdict: Verdict, net: Network, assumptions, variant, points, seed):
    """Look for a smaller architecture of the same depth where the claim fails too."""
    for w in range(1, max(net.widths)):
        widths = [min(w, n) for n in net.widths]
        if widths == net.widths:
            break
        small = Network(widths, net.hidden.name, net.output.name, net.loss.name, net.form.name, net.layout, net.samples)
        claim = next((c for c in claims(small, variant, assumptions) if c.id == verdict.id), None)
        if claim is None:
            continue
        v = _check(claim, _engine(small, assumptions, points, seed), small, False)
        if v.verdict == "fails":
            verdict.counterexample = v.counterexample
            return


def cross_check(proof: Proof, variant: rec.Variant = rec.Variant()) -> list:
    """A proof's statements checked at concrete sizes by the symbolic core: the verdicts must agree.

    >>> from symbp.calculus.prove import prove
    >>> [c["agrees"] for c in cross_check(prove("generic", "sigmoid", "bce"))]
    [True, True]
    """
    proved = all(s.verdict == "proved" for s in proof.steps)
    out = []
    for widths in ([2, 3, 2], [3, 2, 2, 2]):
        net = Network(widths, proof.activation, proof.output, proof.loss, proof.form, samples=2)
        assume = {"sum-y-is-1"} if proof.assumptions else set()
        holds = verify(net, assume, variant, points=2, shrink=False).ok  # an out-of-range mutation is an error: not ok
        out.append({"architecture": net.architecture, "holds": holds, "agrees": holds == proved})
    return out
