"""A derivation file's own claims proved for every width: the widths become positive integer symbols.

The file's network is rebuilt at the depth of its architectures with widths ``n_0 .. n_L`` (or
``S_1 .. S_L``) and, with several samples, the batch size ``m`` as SymPy symbols, by evaluating the
formulation's own index-form equations (:mod:`symbp.calculus.symbolic`). A claim is proved when
``lhs - rhs`` reduces to 0 for a generic value of each free index; where it does not, the lowest value
of an index (the bias node 0) is split off and both parts are tried. Every range condition is decided
soundly or left undecided, so a wrong claim is never proved: it is refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..calculus.decide import decide
from ..calculus.reduce import EXPAND_OPS, LIMITS, reduce
from ..calculus.symbolic import Ctx, Evaluator, closed_forms
from ..errors import NotProvable
from ..model.losses import get_loss
from ..model.widthnet import WidthNetwork


@dataclass
class WidthProof:
    """The outcome of proving one claim for every width: proved, refused (with why) or out of reach."""

    claim: str
    verdict: str  # proved | refused | not provable
    detail: str
    depths: list = field(default_factory=list)


def prove_claim(derivation, claim, architectures=None) -> WidthProof:
    """Prove one claim of a loaded derivation for every width, at each depth of its architectures.

    ``architectures`` (default: the claim's own, else the file's) only say which depths to prove at.

    >>> from symbp.checking.derivation import load
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "d.toml"
    >>> _ = f.write_text('title = "t"\\n[network]\\nactivation = "tanh"\\nloss = "half-squared-error"\\n'
    ...                  'architectures = [[2, 3, 2]]\\n[[claim]]\\nid = "w"\\nall_widths = true\\n'
    ...                  'statement = "d(e)/d(W[2,j,k]) = (a[2,j] - y[j]) * a[1,k]"\\nranges = "(j, 1, n[2]), (k, 1, n[1])"\\n')
    >>> d = load(f)
    >>> prove_claim(d, d.claims[0]).verdict
    'proved'
    """
    try:
        if claim.form != "index":
            raise NotProvable("it is written in matrix form; only index-form claims are proved for every width")
        s = {**derivation.network, **{k: v for k, v in claim.network.items() if k != "architectures"}}
        output = s["output"] or get_loss(s["loss"]).default_output
        archs = architectures or claim.network.get("architectures") or derivation.architectures
        depths = sorted({len(a) for a in archs})
        proof = WidthProof(claim.id, "proved", "")
        for layers in depths:
            wn = WidthNetwork(derivation.formulation, layers, s["activation"], output, s["loss"], s["samples"], s["assume"])
            failure = _prove_at(wn, derivation.scope, claim)
            if failure:
                return WidthProof(claim.id, "refused", f"at {wn.description}: {failure}", proof.depths)
            proof.depths.append(wn.description)
        proof.detail = "; ".join(proof.depths)
        return proof
    except NotProvable as exc:
        return WidthProof(claim.id, "not provable", str(exc))


def _prove_at(wn: WidthNetwork, scope, claim) -> str:
    """'' when the claim holds for every width of ``wn``, else the case and residual that remain."""
    ev = Evaluator(wn, scope)
    base = Ctx()
    if wn.m != 1:
        base.sample = ev.fresh("i", base, 1, wn.m)
    for env in _free_values(ev, claim.ranges, {}, base):
        failure = _prove_case(ev, claim, env, base)
        if failure:
            return failure
    return ""


def _expand_nodes(ev, expr, ctx):
    """Every opaque node replaced by its defining equation, each under the ranges of the sums around it."""
    if isinstance(expr, sp.Indexed):
        return ev.expand_node(expr, ctx) if ev.node_of(expr, ctx) else expr
    if not isinstance(expr, sp.Basic) or not expr.args:
        return expr
    if isinstance(expr, LIMITS):
        inner = Ctx(dict(ctx.ranges), ctx.sample, ctx.cuts)
        for var, lo, hi in expr.limits:
            inner.ranges[var] = (lo, hi)
        return expr.func(_expand_nodes(ev, expr.function, inner), *expr.limits)
    return expr.func(*[_expand_nodes(ev, a, ctx) for a in expr.args])


def _free_values(ev, ranges, env, ctx):
    """Bindings of the claim's free indices: numbers where the range is fixed, symbols where it grows."""
    if not ranges:
        yield dict(env)
        return
    (var, lo, hi), rest = ranges[0], ranges[1:]
    lo, hi = ev.index(lo, env, ctx), ev.index(hi, env, ctx)
    if (hi - lo).is_Integer:
        for v in range(int(lo), int(hi) + 1):
            yield from _free_values(ev, rest, {**env, var: sp.Integer(lo + v - int(lo))}, ctx)
        return
    if decide(sp.Ge(hi - lo + 1, 1), ctx.ranges) is not True:
        raise NotProvable(f"the range of {var}, {lo}..{hi}, can be empty for small widths")
    yield from _free_values(ev, rest, {**env, var: ev.fresh(var, ctx, lo, hi)}, ctx)


def _prove_case(ev, claim, env, base: Ctx, done=frozenset()) -> str:
    """'' when lhs - rhs reduces to 0 for these index values, else what remains and where."""
    wn = ev.wn
    ones = (sp.IndexedBase("y"), wn.sizes[wn.L]) if "sum-y-is-1" in wn.assume else None
    ctx = Ctx(dict(base.ranges), base.sample, base.cuts)
    residual = ev.eval(claim.lhs, env, ctx) - ev.eval(claim.rhs, env, ctx)
    for level in range(wn.L - wn.first + 1):
        residual = reduce(residual, ctx.ranges, ones)
        if residual != 0:
            residual = reduce(closed_forms(residual), ctx.ranges, ones, closed=True)
        if residual == 0:
            return ""
        if level == 0:
            # a condition on one index that its range cannot settle (the bias node 0): that index's
            # lowest value and the rest of its range, separately
            for var, value in env.items():
                if value in _undecided(residual, env) and value not in done and value in base.ranges:
                    lo, hi = base.ranges[value]
                    failure = _prove_case(ev, claim, {**env, var: lo}, base, done | {value})
                    if failure:
                        return failure
                    rest = Ctx({**base.ranges, value: (lo + 1, hi)}, base.sample)
                    return _prove_case(ev, claim, env, rest, done | {value})
        # the nodes that remain, replaced by their defining equations, one layer at a time (while small)
        if not any(ev.node_of(a, ctx) for a in residual.atoms(sp.Indexed)) or sp.count_ops(residual) > EXPAND_OPS:
            break
        residual = _expand_nodes(ev, residual, ctx)
    where = ", ".join(f"{k} = {v}" for k, v in env.items() if v.is_Integer)
    return f"{'at ' + where + ': ' if where else ''}lhs - rhs reduces to {sp.sstr(residual)[:300]}, not 0"


def _undecided(expr, env) -> set:
    """The free indices that alone make a condition or a Kronecker delta undecided."""
    free = {v for v in env.values() if not v.is_Integer}
    out = set()
    for e in expr.atoms(sp.KroneckerDelta):
        out |= e.free_symbols & free if len(e.free_symbols & free) == 1 else set()
    for pw in expr.atoms(sp.Piecewise):
        for _, cond in pw.args:
            if cond is not sp.true and len(cond.free_symbols & free) == 1:
                out |= cond.free_symbols & free
    return out
