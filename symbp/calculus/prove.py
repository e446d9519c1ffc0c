"""Proofs for every width and depth: base case, induction step over one generic layer, gradients.

Widths are positive integer symbols (``n_l``, ``n_(l+1)``, ``K``, ``m``) and quantities are SymPy
``IndexedBase`` objects, so differentiating ``W[k,j]`` by ``W[p,q]`` gives Kronecker deltas (seed
002 eq (10)). Every step is an equation that SymPy must reduce to ``0 = 0``; a step it cannot
reduce is refused, never assumed, so a wrong statement is never proved. Each step is checked for a
generic index and for an index at each bound of its range (the bias index 0 included).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import sympy as sp
import symengine as se

from ..model.activations import get_activation
from ..errors import UsageError
from ..model.losses import PAIRINGS, get_loss, loss_grad
from .recursions import Variant
from .reduce import settle

POS = {"positive": True, "integer": True}


@dataclass
class Step:
    part: str  # base case | induction step | gradient
    statement: str
    rule: str
    verdict: str  # proved | refused
    detail: str = ""


@dataclass
class Proof:
    activation: str
    output: str
    loss: str
    form: str
    assumptions: list
    steps: list = field(default_factory=list)
    cross_check: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.verdict == "proved" for s in self.steps) and all(c["agrees"] for c in self.cross_check)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


# --- the language of the proof ----------------------------------------------------------------------
def _act(name):
    """(value, derivative) of an activation as SymPy callables; the generic g with g' undefined."""
    if name == "generic":
        g = sp.Function("g")
        u = sp.Dummy("u")
        return g, lambda v: sp.Subs(sp.Derivative(g(u), u), u, v).doit() if not v.is_Symbol else sp.Derivative(g(v), v)
    act = get_activation(name)
    if not act.elementwise:
        raise UsageError(f"{name} is vector-valued: it can only be the output activation")
    u = se.Symbol("u")
    value, deriv = act.value(u)._sympy_(), act.derivative(u)._sympy_()
    su = sp.Symbol("u")
    return (lambda v: value.subs(su, v)), (lambda v: deriv.subs(su, v))


def _term(loss, a, y):
    """One output's term of a per-sample loss, from the loss table."""
    A, Y = se.Symbol("A"), se.Symbol("Y")
    t = loss.value([A], [Y])._sympy_()
    return t.subs({sp.Symbol("A"): a, sp.Symbol("Y"): y})


def _grad(loss, a, y):
    """d loss / d a for one output, from the loss table."""
    A, Y = se.Symbol("A"), se.Symbol("Y")
    return loss_grad(loss, A, Y)._sympy_().subs({sp.Symbol("A"): a, sp.Symbol("Y"): y})


class Prover:
    """Builds and checks the steps for one output/loss pairing and formulation."""

    def __init__(self, activation, output, loss, form="explicit-bias", variant: Variant = Variant()):
        if form not in ("explicit-bias", "bias-node"):
            raise UsageError(f"unknown form {form!r}; expected explicit-bias or bias-node")
        # the induction and the gradients hold for any differentiable g: they are proved with the generic
        # one, and a concrete activation's closed-form derivative is a step of its own
        self.activation = activation
        self.g, self.gp = _act("generic")
        self.out_name, self.loss = output, get_loss(loss)
        self.out = get_activation(output, "output activation")
        if self.loss.outputs is not None and output not in self.loss.outputs:
            raise UsageError(f"loss {loss!r} does not fit output activation {output!r}")
        self.form, self.variant = form, variant
        self.proof = Proof(activation, output, loss, form, [])
        self.pairing = PAIRINGS.get((output, loss))

    # --- checking one equation -------------------------------------------------------------------
    def check(self, part, statement, rule, lhs, rhs, ranges, assumptions=()):
        """Reduce lhs - rhs to 0 for generic indices and for each index at each end of its range."""
        for name, subs, rest in _cases(ranges):
            diff = _reduce((lhs - rhs).subs(subs), rest, assumptions)
            if diff != 0:
                step = Step(part, statement, rule, "refused", f"does not reduce to 0 {name}: {sp.sstr(diff)[:300]}")
                self.proof.steps.append(step)
                return False
        self.proof.steps.append(Step(part, statement, rule, "proved",
                                     f"checked {', '.join(c[0] for c in _cases(ranges))}"))
        return True

    # --- the three parts ---------------------------------------------------------------------------
    def base_case(self):
        K = sp.Symbol("K", **POS)
        k, p = sp.Symbol("k", **POS), sp.Symbol("p", **POS)
        z, y = sp.IndexedBase("z"), sp.IndexedBase("y")
        if self.out.elementwise:
            g, gp = _act(self.out_name)
            a = lambda i: g(z[i])  # noqa: E731
        else:
            j = sp.Symbol("j", **POS)
            S = sp.Sum(sp.exp(z[j]), (j, 1, K))
            a = lambda i: sp.exp(z[i]) / S  # noqa: E731
        J = sp.Sum(_term(self.loss, a(k), y[k]), (k, 1, K))
        assumptions = []
        if self.pairing is not None:
            delta = self.pairing.base_case(se.Symbol('A'), se.Symbol('Y'))._sympy_().subs({sp.Symbol('A'): a(p), sp.Symbol('Y'): y[p]})
            assumptions = sorted(self.pairing.assumptions)
            statement = "dJ/dz^L_p = a^L_p - y_p"
        elif self.out.elementwise:
            delta = _grad(self.loss, a(p), y[p]) * gp(z[p])
            statement = "dJ/dz^L_p = dJ/da_p g'(z^L_p)"
        else:
            delta = sp.Sum(_grad(self.loss, a(k), y[k]) * a(k) * (sp.KroneckerDelta(p, k) - a(p)), (k, 1, K))
            statement = "dJ/dz^L_p = sum_k dJ/da_k a_k (I(p,k) - a_p)"
        self.proof.assumptions = [{"sum-y-is-1": "sum_k y_k = 1"}[x] for x in assumptions]
        rule = "differentiate J = sum_k loss(a_k, y_k) by z^L_p directly" + (
            "; sum_k y_k = 1" if assumptions else "")
        return self.check("base case", statement, rule, sp.diff(J, z[p]), delta, {p: (1, K)}, assumptions)

    def activation_derivative(self):
        if self.activation in ("generic",):
            return True
        value, closed = _act(self.activation)
        u = sp.Symbol("u", real=True)
        return self.check("induction step", f"g'(u) = {get_activation(self.activation).derivative_formula} for g = {self.activation}",
                          "differentiate the activation directly", sp.diff(value(u), u), closed(u), {})

    def induction(self):
        n, n1 = sp.Symbol("n_l", **POS), sp.Symbol("n_(l+1)", **POS)
        j, k, p = sp.Symbol("j", **POS), sp.Symbol("k", **POS), sp.Symbol("p", **POS)
        z, Wn, b, dn = sp.IndexedBase("z"), sp.IndexedBase("W^(l+1)"), sp.IndexedBase("b^(l+1)"), sp.IndexedBase("delta^(l+1)")
        g, gp = self.g, self.gp
        if self.form == "explicit-bias":
            z_next = b[k] + sp.Sum(Wn[k, j] * g(z[j]), (j, 1, n))
            rule_z = "z^(l+1)_k = b_k + sum_j W_{k,j} g(z^l_j)"
        else:  # the bias node's term split off: theta_{k,0} h(z_0) C_0 = theta_{k,0} (eq 5 with 7 and 8)
            z_next = Wn[k, 0] + sp.Sum(Wn[k, j] * g(z[j]), (j, 1, n))
            rule_z = "z^(l+1)_k = theta_{k,0} + sum_{j>=1} theta_{k,j} h(z^l_j)  (eq 5 with C (7) and z_0 = 1 (8))"
            h1 = sp.Symbol("h1", nonzero=True)  # h(1), whatever h is
            self.check("induction step", "h(z_0) C_{k,0} = 1", "z_0 = 1 (8), C_{k,0} = 1/h(1) (7)", h1 * (1 / h1), 1, {})
        jac = sp.diff(z_next, z[p])
        ranges = {p: (1, n)}
        want_jac = Wn[k, p] * gp(z[p])
        self.check("induction step", "dz^(l+1)_k/dz^l_p = W^(l+1)_{k,p} g'(z^l_p)",
                   f"differentiate {rule_z} by z^l_p", jac, want_jac, ranges)
        chain = sp.Sum(dn[k] * jac, (k, 1, n1))
        v = self.variant
        weight = Wn[k, p] if v.transpose else Wn[p, k]
        claimed = sp.Sum(weight * dn[k], (k, 1, n1)) * (gp(z[p]) if v.gprime else 1)
        gp_text = "g'(z^l_p) " if v.gprime else ""
        w_text = "W^(l+1)_{k,p}" if v.transpose else "W^(l+1)_{p,k}"
        text = f"dJ/dz^l_p = {gp_text}sum_k {w_text} delta^(l+1)_k"
        return self.check(
            "induction step",
            text,
            "chain rule through z^(l+1), on which alone J depends: sum_k dJ/dz^(l+1)_k dz^(l+1)_k/dz^l_p, "
            "with dJ/dz^(l+1)_k = delta^(l+1)_k (hypothesis)",
            chain, claimed, ranges,
        )

    def gradients(self):
        n, n0, m = sp.Symbol("n_l", **POS), sp.Symbol("n_(l-1)", **POS), sp.Symbol("m", **POS)
        i, j, k, p = (sp.Symbol(s, **POS) for s in "ijkp")
        W, b, a, d = sp.IndexedBase("W^l"), sp.IndexedBase("b^l"), sp.IndexedBase("a^(l-1)"), sp.IndexedBase("delta^l")
        v = self.variant
        scale = 1 / m if v.mean else 1
        if v.delta_shift:  # the gradient of layer l's weights written with delta of layer l + shift
            d_claim = sp.IndexedBase(f"delta^(l+{v.delta_shift})")
        else:
            d_claim = d
        # the statement as the variant writes it
        m_text, d_text = ("1/m " if v.mean else ""), str(d_claim)
        if self.form == "explicit-bias":
            q = sp.Symbol("q", **POS)
            z = lambda s, kk: b[kk] + sp.Sum(W[kk, j] * a[s, j], (j, 1, n0))  # noqa: E731
            grad = sp.Sum(sp.Sum(d[i, k] * sp.diff(z(i, k), W[p, q]), (k, 1, n)), (i, 1, m)) / m
            t, f = (q, p) if v.swap_gradient else (p, q)
            claimed = scale * sp.Sum(d_claim[i, t] * a[i, f], (i, 1, m))
            ok = self.check("gradient", f"dJ/dW^l_{{p,q}} = {m_text}sum_i {d_text}_{{i,{t}}} a^(l-1)_{{i,{f}}}",
                            "J = 1/m sum_i J_i; dJ_i/dW_{p,q} = sum_k delta_{i,k} dz_{i,k}/dW_{p,q}; dW_{k,j}/dW_{p,q} = I(k,p) I(j,q)",
                            grad, claimed, {p: (1, n), q: (1, n0)})
            gb = sp.Sum(sp.Sum(d[i, k] * sp.diff(z(i, k), b[p]), (k, 1, n)), (i, 1, m)) / m
            return self.check("gradient", f"dJ/db^l_p = {m_text}sum_i {d_text}_{{i,p}}", "db_k/db_p = I(k,p)", gb,
                              scale * sp.Sum(d_claim[i, p], (i, 1, m)), {p: (1, n)}) and ok
        # bias node: theta^(l-1)_{p,q}, q = 0 the bias column; the source of node q is 1 for q = 0, h(z_q) else
        hz = sp.IndexedBase("h(z^(l-1))")
        z = lambda s, kk: W[kk, 0] + sp.Sum(W[kk, j] * hz[s, j], (j, 1, n0))  # noqa: E731
        q = sp.Symbol("q", **POS)
        ok = True
        for label, qq, source in (("q = 0", 0, lambda s: 1), ("q >= 1", q, lambda s: hz[s, q])):
            grad = sp.Sum(sp.Sum(d[i, k] * sp.diff(z(i, k), W[p, qq]), (k, 1, n)), (i, 1, m)) / m
            t = d_claim[i, qq] if v.swap_gradient else d_claim[i, p]
            claimed = scale * sp.Sum(t * source(i), (i, 1, m))
            ranges = {p: (1, n), q: (1, n0)} if qq != 0 else {p: (1, n)}
            t_text = "q" if v.swap_gradient else "p"
            ok &= self.check("gradient", f"dJ/dtheta^(l-1)_{{p,q}} = {m_text}sum_i {d_text}_{{i,{t_text}}} C_{{1,q}} "
                                         f"h(z^(l-1)_{{i,q}}), {label}",
                             "J = 1/m sum_i J_i; dtheta_{k,j}/dtheta_{p,q} = I(k,p) I(j,q) (eq 10); C_{1,0} h(z_0) = 1",
                             grad, claimed, ranges)
        return ok


def _cases(ranges):
    """(name, substitution, remaining ranges): generic indices, then each index at each end of its range."""
    label = lambda rs: ", ".join(f"{sp.sstr(k)} in {sp.sstr(lo)}..{sp.sstr(hi)}" for k, (lo, hi) in rs.items())  # noqa: E731
    out = [(f"for {label(ranges)}" if ranges else "as stated", {}, ranges)]
    for idx, (lo, hi) in ranges.items():
        rest = {k: v for k, v in ranges.items() if k != idx}
        for end in dict.fromkeys((lo, hi)):
            out.append((f"at {sp.sstr(idx)} = {sp.sstr(end)}", {idx: end}, rest))
    return out


def _reduce(expr, ranges, assumptions):
    """doit, settle the range conditions that the index ranges decide, apply the assumptions, simplify."""
    expr = expr.doit()
    expr = settle(expr, ranges)
    if "sum-y-is-1" in assumptions:
        y = sp.IndexedBase("y")
        expr = sp.factor_terms(sp.expand(expr))
        expr = expr.replace(lambda e: isinstance(e, sp.Sum) and e.function.func is sp.Indexed and e.function.base == y,
                            lambda e: sp.Integer(1))
    expr = sp.simplify(sp.expand(expr.doit()))
    return settle(expr, ranges)


def prove(activation="generic", output="generic", loss="half-squared-error", form="explicit-bias",
          variant: Variant = Variant()) -> Proof:
    """Prove the backpropagation recursion for every width and depth.

    >>> proof = prove("generic", "sigmoid", "bce")
    >>> proof.ok, [s.part for s in proof.steps][:2]
    (True, ['base case', 'induction step'])
    """
    start = time.perf_counter()
    prover = Prover(activation, output, loss, form, variant)
    prover.base_case()
    prover.activation_derivative()
    prover.induction()
    prover.gradients()
    proof = prover.proof
    proof.seconds = time.perf_counter() - start
    return proof


def to_text(proof: Proof) -> str:
    lines = [f"Proof for every width and depth: hidden {proof.activation}, output {proof.output}, loss {proof.loss}, "
             f"form {proof.form}"]
    if proof.assumptions:
        lines.append(f"assuming: {', '.join(proof.assumptions)}")
    part = None
    for s in proof.steps:
        if s.part != part:
            part = s.part
            lines.append(f"\n{part}:")
        lines.append(f"  [{s.verdict}] {s.statement}")
        lines.append(f"      by: {s.rule}")
        lines.append(f"      {s.detail}")
    for c in proof.cross_check:
        lines.append(f"\ncross-check at {c['architecture']}: the symbolic core says {'holds' if c['holds'] else 'fails'}"
                     f" ({'agrees' if c['agrees'] else 'DISAGREES'})")
    lines.append(f"\n{'proved' if proof.ok else 'not proved'} in {proof.seconds:.2f} s")
    return "\n".join(lines)
