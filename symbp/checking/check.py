"""Checking a derivation file claim by claim against direct differentiation, with a diagnosis of failures."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction

import symengine as se

from . import diagnosis
from .. import lang as il
from .claims import Evaluator, Scope
from .derivation import Claim, Derivation
from .verify import counterexample
from ..calculus.dag import key, transform
from ..calculus.equivalence import EXACT_LIMIT, Engine, Evidence
from ..errors import ClaimError, ShapeError, SymbpError
from ..model.network import Network
from ..verdicts import Counterexample, Fix, Verdict
from .widths import WidthProof, prove_claim


class Checker:
    """Checks the claims of one derivation; networks and random points are shared between claims.

    Work here has no time limit of its own: :mod:`symbp.checking.runner` runs a Checker in a worker
    process and stops it from outside when a claim runs past its budget.
    """

    def __init__(self, derivation: Derivation, sizes=None, fast=False, points=3, seed=0, diagnose=True):
        self.d = derivation
        archs = [list(s) for s in sizes] if sizes else derivation.architectures
        self.architectures = sorted(archs, key=lambda a: (sum(a), len(a)))
        self.sizes = sizes
        self.fast, self.points, self.seed, self.diagnose = fast, points, seed, diagnose
        self._nets: dict = {}
        self._failures: dict = {}  # claim id -> where it failed, kept from deciding to explaining
        self._spelling: dict = {}

    def network(self, widths, options=None) -> tuple[Network, Engine]:
        options = options or {}
        key = (tuple(widths), tuple(sorted((k, str(v)) for k, v in options.items())))
        if key not in self._nets:
            s = {**self.d.network, **options}
            net = Network(list(widths), s["activation"], s["output"], s["loss"], s["form"], s["layout"],
                          s["samples"], formulation=self.d.formulation)
            assume = frozenset(s["assume"])
            engine = Engine(lambda rng: net.sample_point(rng, assume), points=self.points, seed=self.seed,
                            substitutions=net.assumption_substitutions(assume), exact=not self.fast)
            self._nets[key] = (net, RealEngine(engine))
        return self._nets[key]

    def check(self, claim: Claim) -> Verdict:
        """The verdict on one claim: decided, explained where it fails, proved for every width if asked."""
        verdict = self.decide(claim)
        self.explain(claim, verdict)
        self.prove_widths(claim, verdict)
        return verdict

    def decide(self, claim: Claim) -> Verdict:
        """Holds, fails (with a counterexample at the smallest architecture with no width 1 where there is one)
        or error (with what went wrong)."""
        start = time.perf_counter()
        verdict = Verdict(claim.id, claim.statement, "holds", "exact", 0.0, file=self.d.path,
                          expected=claim.expect, note=claim.note, line=claim.line)
        methods = set()
        try:
            failure = self._first_failure(claim, methods)
            if failure is not None:
                verdict.verdict, verdict.counterexample = "fails", failure.counterexample
                self._failures[claim.id] = failure
            verdict.method = "numeric" if "numeric" in methods else "exact"
        except SymbpError as exc:  # a shape mismatch, an index out of range, a value that is not a real number, ...
            verdict.verdict, verdict.method, verdict.diagnosis = "error", "", _short(exc, 500)
        except RecursionError:
            verdict.verdict, verdict.method, verdict.diagnosis = "error", "", TOO_DEEP
        except (ZeroDivisionError, OverflowError) as exc:  # index arithmetic such as z[1, 1/0]
            verdict.verdict, verdict.method, verdict.diagnosis = "error", "", f"an index cannot be computed: {exc}"
        verdict.seconds = time.perf_counter() - start
        return verdict

    def _first_failure(self, claim, methods):
        """The failure at the smallest architecture; where that has a width 1 (whose derivatives are often
        identically 0, a counterexample that explains nothing), the smallest one without, if it fails too."""
        first = None
        for widths in self._architectures(claim):
            if first is not None and min(widths) < 2:
                continue
            try:
                failure = self._at(claim, widths, methods)
            except SymbpError:
                if first is None:
                    raise
                return first  # an architecture where the claim is not even defined: keep the failure found
            if failure is not None and min(widths) >= 2:
                return failure
            first = first or failure
        return first

    def explain(self, claim: Claim, verdict: Verdict) -> None:
        """A fix for a failing or erroneous claim: the first candidate under which it holds everywhere it was asked.

        Candidates come from the failing element's residual (a factor, a term, a sign), then from the usual
        slips (:mod:`symbp.checking.diagnosis`); none is stated unless the corrected claim holds at every
        architecture of the claim.
        """
        failure = self._failures.pop(claim.id, None)
        if verdict.verdict not in ("fails", "error") or not self.diagnose:
            return
        start = time.perf_counter()
        archs = self._architectures(claim)
        if failure is not None:  # the failing architecture first: most candidates fail there at once
            archs = [failure.widths] + [a for a in archs if list(a) != list(failure.widths)]
        seen = set()
        for candidate in diagnosis.candidates(claim, self._notation(claim, failure), failure.element if failure else None):
            key = (candidate.lhs, candidate.rhs, candidate.shape, candidate.assume)
            if key in seen or (failure is not None and not _fixes_element(claim, candidate, failure.element)):
                continue
            seen.add(key)
            if self._holds(claim, candidate, archs):
                options = {"assume": list(candidate.assume)} if candidate.assume else {}
                if candidate.shape is not None:
                    options["shape"] = " x ".join(il.to_text(s) for s in candidate.shape)
                verdict.fix = Fix(candidate.kind, candidate.change, candidate.statement(), self.sizes_text(claim), options)
                if verdict.verdict == "fails":
                    verdict.diagnosis = candidate.change
                break
        verdict.seconds += time.perf_counter() - start

    def _holds(self, claim, candidate, archs) -> bool:
        """Whether ``claim`` corrected by ``candidate`` holds at every architecture of ``archs`` (and, for a
        factor named after a width or the sample count, with wider layers and one more sample too: a width that
        equals the factor only by coincidence is not its name)."""
        options = dict(claim.network)
        if candidate.assume:
            merged = {**self.d.network, **claim.network}
            options["assume"] = sorted(set(merged.get("assume", ())) | set(candidate.assume))
        variant = replace(claim, lhs=candidate.lhs, rhs=candidate.rhs, network=options,
                          shape=candidate.shape if candidate.shape is not None else claim.shape)
        try:
            if not all(self._at(variant, widths, set()) is None for widths in archs):
                return False
            return not candidate.named or self._holds_wider(variant, archs[0])
        except (SymbpError, RecursionError, ArithmeticError):
            return False

    def _holds_wider(self, variant, widths) -> bool:
        """Whether a corrected claim holds with one more sample and every layer wider by a different amount (so
        that no two widths that were equal stay equal), or, where the form needs equal widths, wider by one."""
        samples = {**self.d.network, **variant.network}["samples"] + 1
        wider = replace(variant, network={**variant.network, "samples": samples})
        try:
            return self._at(wider, [w + 1 + k for k, w in enumerate(widths)], set()) is None
        except SymbpError:
            return self._at(wider, [w + 1 for w in widths], set()) is None

    def _spell(self, name: str) -> str:
        """The file's name for one of symbp's: an alias the file's claims use, or the name itself."""
        if name not in self._spelling:
            aliases = [k for k, v in self.d.scope.aliases.items() if v == name]
            used = [k for k in aliases if any(k in il.names_in((c.lhs, c.rhs)) for c in self.d.claims)]
            self._spelling[name] = (used or aliases or [name])[0]
        return self._spelling[name]

    def _notation(self, claim, failure) -> diagnosis.Notation:
        form = self.d.formulation
        merged = {**self.d.network, **claim.network}
        derivatives = [self._spell(form.derivative)] + [k for k, v in self.d.scope.aliases.items()
                                                        if v == form.derivative]
        notation = diagnosis.Notation(
            size=self._spell(form.size), z=self._spell("z"), a=self._spell(form.output),
            derivatives=tuple(dict.fromkeys(derivatives)), constants=tuple(self.d.scope.constants),
            indices=tuple(var for var, _, _ in claim.ranges),
            layers=tuple(var for var, _, hi in claim.ranges if il.Name("L") in il.walk(hi)),
            assumed=tuple(merged.get("assume", ())), quantities=self._quantities(), nodes=self._nodes(),
            layered=tuple(name for name, arity in self._quantities().items() if arity >= 1 and name not in ("x", "y")))
        if failure is not None:
            notation.widths = _width_names(failure.net, notation.size, {k: failure.env[k] for k in notation.layers})
        return notation

    def _quantities(self) -> dict:
        """The file's indexed quantities and their numbers of indices: the formulation's nodes and parameters,
        and the file's definitions, as the file writes them."""
        form = self.d.formulation
        out = {}
        for text, _ in form.equations:
            lhs = il.parse_equation(text).lhs
            out[self._spell(lhs.name)] = len(lhs.indices)
        for text, _ in form.parameters:
            ref = il.parse_expr(text)
            out[self._spell(ref.name)] = len(ref.indices)
        for name, definition in self.d.scope.definitions.items():
            out.setdefault(name, len(definition.indices))
        return out

    def _nodes(self) -> tuple:
        """The per-node quantities of the formulation (z, a, ...), which a slip may write one for another."""
        params = {il.parse_expr(text).name for text, _ in self.d.formulation.parameters}
        names = [il.parse_equation(text).lhs.name for text, _ in self.d.formulation.equations]
        return tuple(dict.fromkeys(self._spell(n) for n in names if n not in params and n != "x"))

    def prove_widths(self, claim: Claim, verdict: Verdict) -> None:
        """A claim asked to hold for every width: proved that way, or said plainly where it was checked."""
        if not claim.all_widths:
            return
        start = time.perf_counter()
        sizes = self.sizes_text(claim)
        if verdict.verdict != "holds":
            verdict.widths = "not provable"
            verdict.widths_detail = f"not tried: at {sizes} the claim {'fails' if verdict.verdict == 'fails' else 'is an error'}"
            return
        try:
            proof = prove_claim(self.d, claim, self._architectures(claim))
        except RecursionError:
            proof = WidthProof(claim.id, "not provable", TOO_DEEP)
        verdict.widths = proof.verdict
        if proof.verdict == "proved":
            verdict.widths_detail = f"proved for every width at {proof.detail}"
        else:
            verdict.widths_detail = f"checked only at {sizes}; not proved for every width: {proof.detail}"
        verdict.seconds += time.perf_counter() - start

    def sizes_text(self, claim: Claim) -> str:
        """The architectures a claim is checked at, as written in reports: 2-3-2, 3-4-2."""
        return ", ".join("-".join(map(str, a)) for a in self._architectures(claim))

    def _architectures(self, claim):
        own = claim.network.get("architectures")
        return sorted(own, key=lambda a: (sum(a), len(a))) if own and not self.sizes else self.architectures

    def _at(self, claim: Claim, widths, methods):
        """The first failing element at one architecture as a :class:`_Failure`, or None."""
        options = {k: v for k, v in claim.network.items() if k != "architectures"}
        net, engine = self.network(widths, options)
        matrix = claim.form == "matrix"
        seen = set()
        for env in index_envs(net, claim.ranges):
            for i in range(net.samples):
                ev = Evaluator(net, self.d.scope, i)
                left, right = ev.eval(claim.lhs, env, matrix), ev.eval(claim.rhs, env, matrix)
                pairs = _elements(left, right, claim, ev, env)
                statement = tuple((key(a), key(b)) for _, a, b, _ in pairs)  # exact identity; never printed
                if statement in seen:
                    continue  # the same statement again (it does not depend on the sample)
                seen.add(statement)
                for label, a, b, position in pairs:
                    evidence = engine.compare(a, b)
                    methods.add(evidence.method)
                    if not evidence.equal:
                        at = ", ".join(f"{k} = {v}" for k, v in env.items())
                        sample = f"sample {i + 1}" if net.samples > 1 else ""
                        where = ", ".join(filter(None, [label, at, sample]))
                        counter = counterexample(net.architecture, where, evidence, a, b)
                        counter.point = {self._alias(k): v for k, v in counter.point.items()}
                        return _Failure(list(widths), net, env, counter,
                                        _element(engine.engine, ev, env, matrix, position, a, b))
        return None

    def _alias(self, symbol: str) -> str:
        """A point's symbol as the file writes it: W[1,2,1] is w[1,2,1] where the file says w for W."""
        name, bracket, rest = symbol.partition("[")
        return self._spell(name) + bracket + rest if bracket else symbol


@dataclass
class _Failure:
    """Where a claim fails: the architecture, its network and indices, the counterexample, the element."""

    widths: list
    net: Network
    env: dict
    counterexample: Counterexample
    element: diagnosis.Element


def _element(engine: Engine, ev, env, matrix, position, a, b) -> diagnosis.Element:
    """The failing element's values at the engine's points, and the values of other trees at the same element."""

    def value(tree):
        try:
            v = ev.eval(tree, env, matrix)
            if isinstance(v, se.DenseMatrix):
                if position is None or position[0] >= v.rows or position[1] >= v.cols:
                    return None
                v = v[position]
            values = engine.values(real(v))
        except (SymbpError, RecursionError, ArithmeticError, RuntimeError):
            return None
        return values if all(_finite(x) for x in values) else None

    return diagnosis.Element(engine.values(a), engine.values(b), value)


def _fixes_element(claim, candidate, element: diagnosis.Element) -> bool:
    """Whether a corrected right side takes the left side's values at the failing element: a quick test before
    the claim is checked everywhere (a correction of the left side, the network or the shape is not tested)."""
    if candidate.lhs != claim.lhs or candidate.assume or candidate.shape is not None:
        return True
    values = element.value(candidate.rhs)
    if values is None:
        return False
    try:
        return diagnosis.close([Fraction(str(v)) for v in values], [Fraction(str(v)) for v in element.left])
    except (ValueError, ZeroDivisionError):
        return False


def _finite(x) -> bool:
    try:
        return abs(float(x)) < float("inf")
    except (TypeError, ValueError, RuntimeError):
        return False


def _width_names(net: Network, size: str, env: dict) -> dict:
    """The names a width or the sample count has at one network: n[l] and its neighbours for the claim's layer
    indices (``env``), then n[0], ..., n[L], then m."""
    out: dict = {}

    def add(value, tree):
        out.setdefault(Fraction(value), []).append(tree)

    for var, value in env.items():
        for d in (0, -1, 1):
            if net.form.first_layer <= value + d <= net.L:
                index = il.Name(var) if d == 0 else il.BinOp("+" if d > 0 else "-", il.Name(var), il.Num(Fraction(abs(d))))
                add(net.width(value + d), il.Ref(size, (index,)))
    for l in range(net.form.first_layer, net.L + 1):
        add(net.width(l), il.Ref(size, (il.Num(Fraction(l)),)))
    add(net.samples, il.Name("m"))
    return out


def _elements(left, right, claim, ev, env):
    """(label, left, right, position) for every element of a claim's two sides."""
    lm, rm = isinstance(left, se.DenseMatrix), isinstance(right, se.DenseMatrix)
    if lm != rm:
        raise ShapeError("one side is a matrix and the other a scalar")
    if not lm:
        return [("", real(left, "left"), real(right, "right"), None)]
    if claim.shape is not None:  # strict: a declared 1 x n row is not an n x 1 column
        want = tuple(ev.index(s, env) for s in claim.shape)
        for side, m in (("left", left), ("right", right)):
            if m.shape != want:
                raise ShapeError(f"the {side} side is {m.rows}x{m.cols}, the claim declares {want[0]}x{want[1]}")
    if left.shape != right.shape:
        raise ShapeError(f"the left side is {left.rows}x{left.cols} and the right side {right.rows}x{right.cols}")
    return [(f"[{r + 1},{c + 1}]", real(left[r, c], "left"), real(right[r, c], "right"), (r, c))
            for r in range(left.rows) for c in range(left.cols)]


#: values no real-valued claim can take: a division by zero, an infinity, the imaginary unit
_NOT_REAL = {se.zoo: "a division by zero", se.oo: "an infinity", -se.oo: "an infinity", se.nan: "an undefined value (0/0)",
             se.I: "an imaginary number"}
TOO_DEEP = ("nested too deeply to evaluate: a definition whose base case is never reached, or an expression or "
            "network too deep for the evaluator")


def real(value, side="value"):
    """``value`` if it can be a real number; a ClaimError naming what it holds otherwise.

    >>> real(se.Integer(1) / 2)
    1/2
    >>> real(se.Symbol("x") + se.Integer(1) / 0, "left")
    Traceback (most recent call last):
    symbp.errors.ClaimError: the left side holds a division by zero (zoo + x)
    """
    for atom, what in _NOT_REAL.items():
        if value.has(atom):
            text = str(value)
            raise ClaimError(f"the {side} side holds {what} ({text if len(text) <= 60 else text[:57] + '...'})")
    return value


def _short(value, limit=200) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class RealEngine:
    """An :class:`Engine` for claims: a value that is not a real number at a random point is an error.

    A side such as ``x[1]**(1/2)`` is complex where ``x[1] < 0``; the engine cannot compare it, and the
    claim gets an ``error`` verdict, never ``holds``. A small difference that expands to a nonzero
    polynomial is not zero, whatever the numeric test's tolerance: ``x + 10**-400`` is not ``x``.
    """

    def __init__(self, engine: Engine):
        self.engine = engine

    def compare(self, lhs, rhs):
        try:
            evidence = self.engine.compare(lhs, rhs)
        except RuntimeError as exc:  # SymEngine cannot evaluate a complex value as a real one
            raise ClaimError(f"a side is not a real number at a random point ({exc})") from None
        if not evidence.equal and evidence.residual == float("inf"):  # the engine found no finite real value
            raise ClaimError(f"a side is not a real number at a random point (left {evidence.lhs}, right "
                             f"{evidence.rhs}): it cannot be compared")
        if evidence.equal and evidence.method == "numeric":
            diff = (se.sympify(lhs) - se.sympify(rhs)).subs(self.engine.substitutions)
            if transform(diff, lambda e: 1, lambda e, args: 1 + sum(args)) <= EXACT_LIMIT:
                diff = se.expand(diff)
                if diff != 0 and transform(diff, _rational_leaf, _polynomial_node):  # too small for the numeric test
                    return Evidence(False, "exact", None, _short(lhs), _short(rhs))
            fine = transform(se.sympify(lhs) - se.sympify(rhs), _too_fine_leaf, _too_fine_node)
            if fine:
                raise ClaimError(f"the sides agree at random points to the numeric test's resolution (2^-150), but "
                                 f"the claim holds {fine}, which that test cannot resolve: undecided")
        return evidence


_FINE_BITS, _FINE_POWER = 100, 64  # numbers and powers beyond these can hide a difference below 2^-150


def _too_fine_leaf(e) -> str:
    if e.is_Number and e.is_Rational:
        num, den = (e, 1) if e.is_Integer else e.get_num_den()
        if max(abs(int(num)), int(den)).bit_length() > _FINE_BITS:
            return f"the number {_short(e, 60)}"
    return ""


def _too_fine_node(e, args) -> str:
    if type(e).__name__ == "Pow" and e.args[1].is_Number and abs(float(e.args[1])) > _FINE_POWER:
        return f"the power {_short(e, 60)}"
    return next((a for a in args if a), "")


def _rational_leaf(e) -> bool:
    return e.is_Symbol or (e.is_Number and e.is_Rational)


def _polynomial_node(e, args) -> bool:
    """Whether a node and its arguments make a polynomial with rational coefficients: nonzero means not zero."""
    kind = type(e).__name__
    return all(args) and (kind in ("Add", "Mul") or (kind == "Pow" and e.args[1].is_Integer and e.args[1] > 0))


def index_envs(net, ranges):
    """Every binding of a claim's free indices at one network, in order."""
    ints = Evaluator(net, Scope())

    def walk(k, env):
        if k == len(ranges):
            yield dict(env)
            return
        var, lo, hi = ranges[k]
        lo_v, hi_v = ints.index(lo, env), ints.index(hi, env)
        if hi_v < lo_v:
            raise ClaimError(f"the range of {var} is empty: {lo_v}..{hi_v}")
        for v in range(lo_v, hi_v + 1):
            yield from walk(k + 1, {**env, var: v})

    yield from walk(0, {})


def check(derivation: Derivation, **options) -> list[Verdict]:
    """Check every claim of a loaded derivation.

    >>> from symbp.checking.derivation import load
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "d.toml"
    >>> _ = f.write_text('title = "t"\\n[network]\\narchitectures = [[2, 2]]\\n[[claim]]\\nid = "w"\\n'
    ...                  'statement = "d(J)/d(W[1,j,k]) = d(J)/d(z[1,j]) * x[k]"\\nranges = "(j, 1, 2), (k, 1, 2)"\\n')
    >>> [(v.id, v.verdict) for v in check(load(f))]
    [('w', 'holds')]
    """
    checker = Checker(derivation, **options)
    return [checker.check(c) for c in derivation.claims]


__all__ = ["Checker", "RealEngine", "TOO_DEEP", "Verdict", "check", "index_envs", "real"]
