"""Scoring ``symbp check``'s fixes on wrong claims whose intended fix is recorded (``note = "fix: KIND: STATEMENT"``).

For each wrong claim (``expect`` other than ``holds``) of the files given, the claim is checked with its
diagnosis, and the fix it states is scored as ``tests/diagnosis_corpus/README.md`` says:

- right: the fixed statement holds, checked again here from its text alone (with the wrong claim's ranges,
  network options and architectures), and its left side is the wrong claim's (or its transpose);
- other: it holds but is about something else (another left side, or it changes the network: an assumption
  or a declared shape);
- wrong: a fix is stated and its statement does not hold (this must never happen);
- none: no fix is stated.

Usage (from the repository root)::

    python tools/score_diagnoses.py tests/diagnosis_corpus/*.toml
    python tools/score_diagnoses.py derivations/*.toml --json scores.json

prints one line per wrong claim, then the counts overall and per recorded kind, and the seconds spent.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace

from symbp import lang as il
from symbp.checking.check import Checker
from symbp.checking.derivation import load
from symbp.errors import SymbpError


def score_claim(checker: Checker, claim) -> dict:
    """The verdict, fix and score of one wrong claim."""
    start = time.perf_counter()
    verdict = checker.check(claim)
    out = {"id": claim.id, "verdict": verdict.verdict, "expected": claim.expect,
           "recorded": claim.note.removeprefix("fix: ") if claim.note.startswith("fix:") else ""}
    fix = verdict.fix
    if fix is None:
        out.update(score="none", seconds=time.perf_counter() - start)
        return out
    out.update(kind=fix.kind, change=fix.change, statement=fix.statement)
    try:
        parts = re.split(r"(?<![=<>!])=(?!=)", fix.statement)  # as derivation files split a claim
        if len(parts) != 2:
            raise SymbpError(f"not one equation: {fix.statement}")
        eq = il.Equation(*(il.parse_expr(p, f"the fix of {claim.id}") for p in parts), fix.statement)
    except SymbpError as exc:
        out.update(score="wrong", why=f"the fixed statement does not parse: {exc}", seconds=time.perf_counter() - start)
        return out
    network = dict(claim.network)
    if "assume" in fix.options:
        network["assume"] = sorted(set({**checker.d.network, **claim.network}.get("assume", ())) | set(fix.options["assume"]))
    shape = claim.shape
    if "shape" in fix.options:
        shape = tuple(il.parse_expr(s) for s in fix.options["shape"].split(" x "))
    again = checker.decide(replace(claim, statement=fix.statement, lhs=eq.lhs, rhs=eq.rhs, id=claim.id + " fixed",
                                   network=network, shape=shape))
    holds = again.verdict == "holds"
    same = eq.lhs == claim.lhs or eq.lhs == il.Call("T", (claim.lhs,)) or claim.lhs == il.Call("T", (eq.lhs,))
    if not holds:
        out["score"] = "wrong"
    elif same and fix.kind not in ("assumption", "shape"):
        out["score"] = "right"
    else:
        out["score"] = "other"
    out["seconds"] = time.perf_counter() - start
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--json", help="write every scored claim to this file")
    args = parser.parse_args(argv)
    rows = []
    start = time.perf_counter()
    for path in args.files:
        d = load(path)
        checker = Checker(d)
        for claim in d.claims:
            if claim.expect == "holds":
                continue
            row = score_claim(checker, claim)
            row["file"] = path
            rows.append(row)
            print(f"{row['score']:6} {path.split('/')[-1]}: {claim.id}: {row.get('change', '-')} {row.get('why', '')}"
                  f"  [recorded {row['recorded'].split(':')[0] or '-'}; {row['seconds']:.1f} s]", flush=True)
    totals = Counter(r["score"] for r in rows)
    by_kind = defaultdict(Counter)
    for r in rows:
        by_kind[r["recorded"].split(":")[0] or "-"][r["score"]] += 1
    n = len(rows)
    print(f"\n{n} wrong claims: " + ", ".join(f"{k} {totals[k]} ({100 * totals[k] / max(n, 1):.0f}%)"
                                          for k in ("right", "other", "wrong", "none")))
    for kind, c in sorted(by_kind.items()):
        print(f"  {kind:13} " + ", ".join(f"{k} {c[k]}" for k in ("right", "other", "wrong", "none") if c[k]))
    print(f"{time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 1 if totals["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
