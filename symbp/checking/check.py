"""Checking a derivation file claim by claim against direct differentiation, with a diagnosis of failures."""
from __future__ import annotations

import signal
import time
from contextlib import contextmanager

import symengine as se

from . import diagnosis
from .claims import Evaluator, Scope
from .derivation import Claim, Derivation
from ..calculus.dag import key
from ..calculus.equivalence import Engine
from ..errors import ClaimError, ClaimTimeout, IndexRangeError, ShapeError, SymbpError
from ..model.network import Network
from ..verdicts import Counterexample, Verdict
from .widths import WidthProof, prove_claim


class Checker:
    """Checks the claims of one derivation; networks and random points are shared between claims."""

    def __init__(self, derivation: Derivation, sizes=None, fast=False, points=3, seed=0, budget=60.0, diagnose=True):
        self.d = derivation
        archs = [list(s) for s in sizes] if sizes else derivation.architectures
        self.architectures = sorted(archs, key=lambda a: (sum(a), len(a)))
        self.sizes = sizes
        self.fast, self.points, self.seed, self.budget, self.diagnose = fast, points, seed, budget, diagnose
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
            self._nets[key] = (net, engine)
        return self._nets[key]

    def check(self, claim: Claim) -> Verdict:
        start = time.perf_counter()
        verdict = Verdict(claim.id, claim.statement, "holds", "exact", 0.0, file=self.d.path,
                                 expected=claim.expect, note=claim.note, line=claim.line)
        methods = set()
        try:
            with _budget(self.budget, claim.id):
                for widths in self._architectures(claim):
                    failure = self._at(claim, widths, methods)
                    if failure is not None:
                        verdict.verdict, verdict.counterexample = "fails", failure
                        break
                if verdict.verdict == "fails" and self.diagnose:
                    with _budget(self.budget, claim.id):
                        verdict.diagnosis = self._diagnose(claim, verdict.counterexample.architecture)
        except SymbpError as exc:  # a timeout, a shape mismatch, an index out of range, ...
            verdict.verdict, verdict.method, verdict.diagnosis = "error", "", str(exc)
        if verdict.verdict != "error":
            verdict.method = "numeric" if "numeric" in methods else "exact"
        if claim.all_widths:
            self._prove_all_widths(claim, verdict)
        verdict.seconds = time.perf_counter() - start
        return verdict

    def _prove_all_widths(self, claim, verdict):
        """A claim asked to hold for every width: proved that way, or said plainly where it was checked."""
        sizes = ", ".join("-".join(map(str, a)) for a in self._architectures(claim))
        if verdict.verdict != "holds":
            verdict.widths = "not provable"
            verdict.widths_detail = f"not tried: at {sizes} the claim {'fails' if verdict.verdict == 'fails' else 'is an error'}"
            return
        try:
            with _budget(self.budget, claim.id):
                proof = prove_claim(self.d, claim, self._architectures(claim))
        except ClaimTimeout:
            proof = WidthProof(claim.id, "not provable", f"the proof did not finish within the budget of {self.budget:g} s")
        verdict.widths = proof.verdict
        if proof.verdict == "proved":
            verdict.widths_detail = f"proved for every width at {proof.detail}"
        else:
            verdict.widths_detail = f"checked only at {sizes}; not proved for every width: {proof.detail}"

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
        return [("", left, right)]
    if claim.shape is not None:
        want = tuple(ev.index(s, env) for s in claim.shape)
        for side, m in (("left", left), ("right", right)):
            if m.shape != want and m.rows * m.cols == want[0] * want[1] and 1 in m.shape:
                continue  # a vector written as a row on one side and a column on the other
            if m.shape != want:
                raise ShapeError(f"the {side} side is {m.rows}x{m.cols}, the claim declares {want[0]}x{want[1]}")
        left, right = left.reshape(*want), right.reshape(*want)
    if left.shape != right.shape:
        raise ShapeError(f"the left side is {left.rows}x{left.cols} and the right side {right.rows}x{right.cols}")
    return [(f"[{r + 1},{c + 1}]", left[r, c], right[r, c]) for r in range(left.rows) for c in range(left.cols)]


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


@contextmanager
def _budget(seconds, claim_id):
    """Raise ClaimTimeout in the main thread when a claim runs past its budget."""
    if not seconds:
        yield
        return

    def handler(signum, frame):
        raise ClaimTimeout(f"claim {claim_id} took longer than its budget of {seconds:g} s (see --budget)")

    try:
        previous = signal.signal(signal.SIGALRM, handler)
    except ValueError:  # not the main thread: no budget
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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


__all__ = ["Verdict", "Checker", "check"]
