"""Checking a derivation file claim by claim against direct differentiation, with a diagnosis of failures."""
from __future__ import annotations

import time

import symengine as se

from . import diagnosis
from .claims import Evaluator, Scope
from .derivation import Claim, Derivation
from ..calculus.dag import key, transform
from ..calculus.equivalence import EXACT_LIMIT, Engine, Evidence
from ..errors import ClaimError, IndexRangeError, ShapeError, SymbpError
from ..model.network import Network
from ..verdicts import Counterexample, Verdict
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
        """Holds, fails (with the smallest counterexample) or error (with what went wrong)."""
        start = time.perf_counter()
        verdict = Verdict(claim.id, claim.statement, "holds", "exact", 0.0, file=self.d.path,
                          expected=claim.expect, note=claim.note, line=claim.line)
        methods = set()
        try:
            for widths in self._architectures(claim):
                failure = self._at(claim, widths, methods)
                if failure is not None:
                    verdict.verdict, verdict.counterexample = "fails", failure
                    break
            verdict.method = "numeric" if "numeric" in methods else "exact"
        except SymbpError as exc:  # a shape mismatch, an index out of range, a value that is not a real number, ...
            verdict.verdict, verdict.method, verdict.diagnosis = "error", "", _short(exc, 500)
        except RecursionError:
            verdict.verdict, verdict.method, verdict.diagnosis = "error", "", TOO_DEEP
        except (ZeroDivisionError, OverflowError) as exc:  # index arithmetic such as z[1, 1/0]
            verdict.verdict, verdict.method, verdict.diagnosis = "error", "", f"an index cannot be computed: {exc}"
        verdict.seconds = time.perf_counter() - start
        return verdict

    def explain(self, claim: Claim, verdict: Verdict) -> None:
        """A failing claim's likely fix, where one of the usual slips explains it."""
        if verdict.verdict == "fails" and self.diagnose:
            start = time.perf_counter()
            try:
                verdict.diagnosis = self._diagnose(claim, verdict.counterexample.architecture)
            except (SymbpError, RecursionError, ArithmeticError):  # no candidate could be evaluated: no fix
                verdict.diagnosis = ""
            verdict.seconds += time.perf_counter() - start

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

    def _at(self, claim: Claim, widths, methods, lhs=None, rhs=None):
        """The first failing element at one architecture as a counterexample, or None."""
        options = {k: v for k, v in claim.network.items() if k != "architectures"}
        net, engine = self.network(widths, options)
        lhs, rhs = lhs or claim.lhs, rhs or claim.rhs
        matrix = claim.form == "matrix"
        seen = set()
        for env in index_envs(net, claim.ranges):
            for i in range(net.samples):
                ev = Evaluator(net, self.d.scope, i)
                left, right = ev.eval(lhs, env, matrix), ev.eval(rhs, env, matrix)
                pairs = _elements(left, right, claim, ev, env)
                statement = tuple((key(a), key(b)) for _, a, b in pairs)  # exact identity; never printed
                if statement in seen:
                    continue  # the same statement again (it does not depend on the sample)
                seen.add(statement)
                for label, a, b in pairs:
                    evidence = engine.compare(a, b)
                    methods.add(evidence.method)
                    if not evidence.equal:
                        at = ", ".join(f"{k} = {v}" for k, v in env.items())
                        sample = f" sample {i + 1}" if net.samples > 1 else ""
                        return Counterexample(net.architecture, ", ".join(filter(None, [label, at, sample.strip()])),
                                              evidence.lhs, evidence.rhs, evidence.residual, evidence.point)
        return None

    def _diagnose(self, claim: Claim, architecture: str) -> str:
        widths = [int(w) for w in architecture.split("-")]
        names = set(self.d.scope.definitions) | {"z", "a"}
        for description, lhs, rhs in diagnosis.candidates(claim.lhs, claim.rhs, names):
            try:
                if self._at(claim, widths, set(), lhs, rhs) is None:
                    return f"holds if {description}"
            except (ClaimError, ShapeError, IndexRangeError):
                continue
        return ""


def _elements(left, right, claim, ev, env):
    lm, rm = isinstance(left, se.DenseMatrix), isinstance(right, se.DenseMatrix)
    if lm != rm:
        raise ShapeError("one side is a matrix and the other a scalar")
    if not lm:
        return [("", real(left, "left"), real(right, "right"))]
    if claim.shape is not None:  # strict: a declared 1 x n row is not an n x 1 column
        want = tuple(ev.index(s, env) for s in claim.shape)
        for side, m in (("left", left), ("right", right)):
            if m.shape != want:
                raise ShapeError(f"the {side} side is {m.rows}x{m.cols}, the claim declares {want[0]}x{want[1]}")
    if left.shape != right.shape:
        raise ShapeError(f"the left side is {left.rows}x{left.cols} and the right side {right.rows}x{right.cols}")
    return [(f"[{r + 1},{c + 1}]", real(left[r, c], "left"), real(right[r, c], "right"))
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
