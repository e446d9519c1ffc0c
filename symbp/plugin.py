"""A pytest plugin: ``pytest derivations/`` collects every claim of every derivation file as a test.

A claim passes when its verdict is what the file expects; a failure is reported as the claim,
the direct reference, the residual and the counterexample, without a Python traceback. A claim
asked to hold for every width that could not be proved so passes with a warning that says so.
"""
from __future__ import annotations

import tomllib
import warnings

import pytest

from .checking.check import Checker
from .checking.derivation import load
from .errors import SymbpError
from .present.report import counterexample_lines


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".toml" and _is_derivation(file_path):
        return DerivationFile.from_parent(parent, path=file_path)
    return None


def _is_derivation(path) -> bool:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return path.parent.name == "derivations"  # a broken derivation still shows up, as an error
    return isinstance(data, dict) and "claim" in data and "network" in data


class DerivationFile(pytest.File):
    def collect(self):
        try:
            derivation = load(self.path)
        except SymbpError as exc:
            raise self.CollectError(str(exc)) from None
        checker = Checker(derivation)
        for claim in derivation.claims:
            yield ClaimItem.from_parent(self, name=claim.id, claim=claim, checker=checker)


class ClaimMismatch(Exception):
    """A claim whose verdict is not what its file expects."""


class ClaimItem(pytest.Item):
    def __init__(self, *, claim, checker, **kwargs):
        super().__init__(**kwargs)
        self.claim, self.checker, self.verdict = claim, checker, None

    def runtest(self):
        self.verdict = v = self.checker.decide(self.claim)
        if not v.as_expected:  # a fix is shown only with a test that fails: no search for one that would pass
            self.checker.explain(self.claim, v)
        self.checker.prove_widths(self.claim, v)
        if v.widths:
            self.user_properties.append(("all_widths", v.widths_detail))
        if not v.as_expected:
            raise ClaimMismatch(v)
        if v.widths and v.widths != "proved":  # asked for every width, checked at its sizes: said, not failed
            warnings.warn(pytest.PytestWarning(f"claim {v.id}: {v.widths_detail}"))

    def repr_failure(self, excinfo):
        if not isinstance(excinfo.value, ClaimMismatch):
            return super().repr_failure(excinfo)
        v = self.verdict
        lines = [f"claim {v.id}: {v.statement}", f"verdict: {v.verdict}, expected: {v.expected}"]
        if v.counterexample:
            lines.extend(counterexample_lines(v))
        if v.diagnosis:
            lines.append(f"  {'likely fix' if v.verdict == 'fails' else 'reason'}: {v.diagnosis}")
        if v.note:
            lines.append(f"  note: {v.note}")
        return "\n".join(lines)

    def reportinfo(self):
        return self.path, self.claim.line - 1 if self.claim.line else None, f"claim {self.claim.id}"
