"""The held-out diagnosis set (tests/diagnosis_heldout/) as data: every wrong claim records its intended fix, and the
corrected statement it names is a claim of the same file that is expected to hold under the same ranges, network
options and (at least) the same architectures. Checking the verdicts themselves is the pytest plugin's job (every
file here is collected like derivations/); this test only keeps the answer key consistent. It reads the files and
checks nothing, so it says nothing about the claims' diagnoses."""
import re
from collections import Counter
from pathlib import Path

import pytest

from symbp.checking.derivation import load

HELDOUT = Path(__file__).parent / "diagnosis_heldout"
FILES = sorted(HELDOUT.glob("*.toml"))
KINDS = ("transpose", "swap-indices", "drop-factor", "add-factor", "scale", "shift-layer", "sign", "add-term",
         "drop-term", "sum-bound", "order", "other")
NOTE = re.compile(r"^fix: (?P<kind>[a-z-]+): (?P<statement>.+)$")


def wrong_claims(derivation):
    return [c for c in derivation.claims if c.expect in ("fails", "error")]


def setting(derivation, claim):
    """What a claim is checked under, apart from its architectures."""
    net = {k: v for k, v in claim.network.items() if k != "architectures"}
    return tuple(sorted((k, repr(v)) for k, v in net.items())), claim.form


def architectures(derivation, claim):
    return {tuple(a) for a in claim.network.get("architectures", derivation.architectures)}


def test_the_heldout_set_has_enough_files_and_wrong_claims():
    assert 8 <= len(FILES) <= 12
    wrong = [c for f in FILES for c in wrong_claims(load(f))]
    assert len(wrong) >= 60
    errors = sum(c.expect == "error" for c in wrong)
    assert 0.1 <= errors / len(wrong) <= 0.25, "about 15-20% of the wrong claims are error verdicts"
    kinds = Counter(NOTE.match(c.note)["kind"] for c in wrong if NOTE.match(c.note))
    assert len(kinds) == len(KINDS), f"every kind of slip is represented: {sorted(set(KINDS) - set(kinds))}"


def test_claim_ids_are_unique_within_a_file():
    for f in FILES:
        ids = [c.id for c in load(f).claims]
        assert len(ids) == len(set(ids)), f.name


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_every_wrong_claim_names_a_fix_and_its_corrected_claim(path):
    d = load(path)
    assert wrong_claims(d), "each held-out file has wrong claims"
    holding = [c for c in d.claims if c.expect == "holds"]
    for c in wrong_claims(d):
        m = NOTE.match(c.note)
        assert m, f"{c.id}: note must read 'fix: <kind>: <corrected statement>', got {c.note!r}"
        assert m["kind"] in KINDS, f"{c.id}: unknown fix kind {m['kind']!r}"
        assert m["statement"] != c.statement, f"{c.id}: the corrected statement is the wrong one"
        twins = [h for h in holding if h.statement == m["statement"] and h.ranges == c.ranges
                 and setting(d, h) == setting(d, c) and architectures(d, c) <= architectures(d, h)]
        assert twins, (f"{c.id}: no claim expected to hold states {m['statement']!r} with the same ranges, "
                       f"options and architectures")

