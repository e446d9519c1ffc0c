"""Rendering verdicts: text tables and JSON. Verdicts are data; this module only prints them."""
from __future__ import annotations

import json

from ..verdicts import Report

_POINT_SHOWN = 8


def to_json(report: Report) -> str:
    """A JSON list with one object per claim."""
    return json.dumps([v.to_dict() for v in report.verdicts], indent=2)


def counterexample_lines(v) -> list[str]:
    """The counterexample of a failing verdict, a few indented lines."""
    c = v.counterexample
    lines = [f"  smallest failing architecture tried: {c.architecture}, at {c.element}"]
    width = max(len(c.left_label), len(c.right_label))
    lines.append(f"  {c.left_label.ljust(width)} = {c.left}")
    lines.append(f"  {c.right_label.ljust(width)} = {c.right}" + ("  (direct differentiation)" if c.right_label == "direct" else ""))
    if c.residual is not None:
        lines.append(f"  relative residual |left - right| / max(|left|, |right|) = {c.residual:.3g}")
    shown = list(c.point.items())[:_POINT_SHOWN]
    more = len(c.point) - len(shown)
    lines.append("  at " + ", ".join(f"{k} = {val}" for k, val in shown) + (f", ... ({more} more)" if more > 0 else ""))
    return lines


def fix_lines(v) -> list[str]:
    """A verdict's checked fix: what to change, and the corrected claim with where it was checked."""
    if v.fix is None:
        return []
    return [f"  likely fix: {v.fix.change}", f"    checked: {v.fix.statement}  holds at {v.fix.checked_at}"]


def to_text(report: Report, verbose: bool = False) -> str:
    """A table of claims with their verdicts, then every failure with its counterexample."""
    rows = [("id", "verdict", "method", "seconds", "statement")]
    for v in report.verdicts:
        rows.append((v.id, v.verdict, v.method or "-", f"{v.seconds:.3f}", v.statement))
        if verbose:
            rows.extend((f"  {e['id']}", e["verdict"], e["method"], "", "") for e in v.elements)
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    lines = [report.network]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    followers: dict = {}  # one root cause, one block: the claims that fail because another does
    for v in report.verdicts:
        if v.cause:
            followers.setdefault(v.cause, {}).setdefault(v.note, []).append(v.id)
    for v in report.verdicts:
        if v.verdict == "error":
            lines.append(f"\n{v.id}: error: {v.note}")
        if v.verdict != "fails" or not v.counterexample or v.cause:
            continue
        lines.append(f"\n{v.id} fails: {v.statement}")
        if v.note:
            lines.append(f"  note: {v.note}")
        lines.extend(counterexample_lines(v))
        for why, ids in followers.get(v.id, {}).items():
            lines.append(f"  the same root cause makes {', '.join(ids)} fail ({why})")
    held = sum(v.verdict == "holds" for v in report.verdicts)
    lines.append(f"\n{held} of {len(report.verdicts)} claims hold")
    return "\n".join(lines)


def check_json(verdicts) -> str:
    """The verdicts of ``symbp check`` as JSON: the fields of ``symbp verify`` plus file and expected."""
    return json.dumps([v.to_dict() for v in verdicts], indent=2)


def check_text(title: str, path: str, verdicts) -> str:
    """One file's table: id, verdict (and what was expected where it differs), method, time, statement."""
    rows = [("id", "verdict", "method", "seconds", "statement")]
    for v in verdicts:
        mark = v.verdict if v.as_expected else f"{v.verdict} (expected {v.expected})"
        rows.append((v.id, mark, v.method or "-", f"{v.seconds:.2f}", v.statement))
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    lines = [f"{path}: {title}"]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    first: dict = {}  # one root cause, one block: a later claim with the same error or fix is one line
    for v in verdicts:
        cause = _cause(v)
        if cause is not None and cause in first:
            lines.append(f"\n{v.id} {v.verdict}{'' if v.as_expected else ' (expected ' + v.expected + ')'}: the same "
                         f"root cause as {first[cause]}" + (f"; checked: {v.fix.statement}" if v.fix else ""))
        elif v.verdict == "fails" and v.counterexample:
            lines.append(f"\n{v.id} fails{'' if v.as_expected else ' (expected to hold)'}: {v.statement}")
            if v.note:
                lines.append(f"  note: {v.note}")
            lines.extend(counterexample_lines(v))
            lines.extend(fix_lines(v))
        elif v.verdict == "error":
            lines.append(f"\n{v.id}: error{'' if v.as_expected else ' (expected ' + v.expected + ')'}: {v.diagnosis}")
            lines.extend(fix_lines(v))
        elif not v.as_expected:
            lines.append(f"\n{v.id} holds but the file expects it to {v.expected.rstrip('s')}")
        if v.widths:
            lines.append(f"\n{v.id}: {v.widths_detail}")
        if cause is not None:
            first.setdefault(cause, v.id)
    ok = sum(v.as_expected for v in verdicts)
    lines.append(f"\n{ok} of {len(verdicts)} verdicts as expected")
    return "\n".join(lines)


def _cause(v):
    """What identifies a claim's root cause: its error, or the change that fixes it (None where unknown)."""
    if v.verdict == "error":
        return ("error", v.diagnosis, v.fix.change if v.fix else "")
    if v.verdict == "fails" and v.fix is not None:
        return ("fails", v.fix.change)
    return None


def derived_text(d) -> str:
    """The derived recursion, then each architecture's checks in one line each, then the proof's steps."""
    lines = [f"The recursion of the formulation {d.formulation}, derived from its equations:"]
    if d.error:
        return "\n".join(lines + [f"  cannot be derived: {d.error}"])
    lines += [f"  {s}" for s in d.statements]
    for report in d.reports:
        held = sum(v.verdict == "holds" for v in report.verdicts)
        lines.append(f"\nchecked against direct differentiation on {report.network}: {held} of {len(report.verdicts)} hold")
        lines += [f"  {v.id}: {v.verdict}" + (f" ({v.note})" if v.verdict == "error" else "")
                  for v in report.verdicts if v.verdict != "holds"]
    if d.proof is not None:
        proved = [s for s in d.proof.steps if s.verdict == "holds"]
        lines.append(f"\nfor every width and depth: {'proved' if d.proof.ok else 'not proved'} "
                     f"({len(proved)} of {len(d.proof.steps)} steps, {d.proof.seconds:.1f} s)")
        for s in d.proof.steps:
            if s.verdict != "holds":
                why = s.counterexample.left if s.counterexample else s.note
                lines.append(f"  refused: {s.id}: {s.statement}\n    {why}")
    return "\n".join(lines)
