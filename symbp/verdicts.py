"""Verdicts as data: one :class:`Verdict` per claim, one :class:`Counterexample` per failure.

Every stage that decides something (verify, check, codegen's plan check, prove) reports it in these
two shapes; :mod:`symbp.present` renders them as text or JSON, the pytest plugin as test reports.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Counterexample:
    """Where a claim fails: the architecture, the element, both sides' values, the residual, the point.

    ``left``/``right`` are the claimed side and the reference (direct differentiation); ``elements``
    lists further failing elements where a check compares many at once.

    >>> Counterexample("2-3-2", "W[1,1,2]", "0.5", "0.25", 0.25).to_dict()["residual"]
    0.25
    """

    architecture: str = ""
    element: str = ""
    left: str = ""
    right: str = ""
    residual: float | None = None
    point: dict = field(default_factory=dict)
    left_label: str = "left side"
    right_label: str = "right side"
    elements: list = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: v for k, v in d.items() if v not in ("", None, [], {})}


@dataclass
class Fix:
    """A change that makes a failing (or erroneous) claim hold, checked: the claim with it applied holds at
    every architecture in ``checked_at``.

    >>> Fix("index", "W[l, k, j] in place of W[l, j, k]", "d(e)/d(z[l, j]) = ...", "2-3-2").to_dict()["kind"]
    'index'
    """

    kind: str  # factor, sign, term, index, layer, bound, transpose, order, shape, assumption
    change: str  # what to change, in the file's notation
    statement: str  # the claim with the change applied
    checked_at: str = ""  # the architectures where the corrected claim was checked, 2-3-2, 3-4-2
    options: dict = field(default_factory=dict)  # what else changes: {"assume": [...]} or {"shape": "n[1] x n[0]"}

    def to_dict(self) -> dict:
        d = asdict(self)
        return d if self.options else {k: v for k, v in d.items() if k != "options"}


@dataclass
class Verdict:
    """The outcome of one claim: ``verdict`` is holds, fails or error, decided by ``method``.

    A claim from a derivation file also carries its ``file``, ``line`` and what the file ``expected``;
    ``diagnosis`` says what went wrong (for a failure, the fix in words); ``fix`` is a checked change that
    makes the claim hold; ``cause`` names an earlier claim whose failure explains this one (one root cause
    reported once). ``widths`` says whether it was proved for every width. ``elements`` lists per-element
    verdicts where they were asked for.
    """

    id: str
    statement: str
    verdict: str
    method: str = ""
    seconds: float = 0.0
    counterexample: Counterexample | None = None
    note: str = ""
    elements: list = field(default_factory=list)
    file: str = ""
    line: int = 0
    expected: str = "holds"
    diagnosis: str = ""
    widths: str = ""  # for a claim asked to hold for every width: proved, refused or not provable
    widths_detail: str = ""
    fix: Fix | None = None
    cause: str = ""

    @property
    def as_expected(self) -> bool:
        return self.verdict == self.expected

    def to_dict(self) -> dict:
        d = asdict(self)
        d["counterexample"] = self.counterexample.to_dict() if self.counterexample else None
        d["fix"] = self.fix.to_dict() if self.fix else None
        for key in ("elements", "counterexample", "file", "line", "diagnosis", "widths", "widths_detail", "fix", "cause"):
            if d[key] in ("", None, [], 0):
                d.pop(key)
        if not self.file:
            d.pop("expected")
        return d


@dataclass
class Report:
    """All verdicts for one network (or one derivation file)."""

    network: str
    verdicts: list

    @property
    def ok(self) -> bool:
        return all(v.verdict == "holds" for v in self.verdicts)


__all__ = ["Counterexample", "Fix", "Report", "Verdict"]
