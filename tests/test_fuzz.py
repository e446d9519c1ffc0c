"""Fuzzing with the repository's own generator (tools/fuzz_derivations.py): a share of the long run in the suite.

Thousands of generated files are read (a clean load or one line naming the file), and a batch is checked by
``symbp check``: exit code 0, 1 or 2, no traceback, no file created by an injected payload, no planted false
claim that holds. The long run is ``python tools/fuzz_derivations.py --files 10000`` (see README).
"""
import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from symbp.checking.derivation import load
from symbp.cli import main
from symbp.errors import DerivationError

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("fuzz_derivations", ROOT / "tools" / "fuzz_derivations.py")
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), kind=st.sampled_from(fuzz.KINDS))
def test_generated_files_load_or_are_refused_in_one_line(tmp_path, monkeypatch, seed, kind):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "d.toml"
    f.write_text(fuzz.derivation(seed, kind)[1], encoding="utf-8")
    try:
        d = load(f)
    except DerivationError as exc:
        text = str(exc)
        assert text.startswith(str(f)) and "\n" not in text and len(text) < 600, text
    else:
        assert d.claims
    assert not list(tmp_path.glob(fuzz.CANARY))


def test_a_batch_of_generated_files_checks_without_a_crash_a_run_payload_or_a_false_holds(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    files = []
    for n in range(40):  # every kind, and more of the planted claims whose truth is known
        kind, text = fuzz.derivation(n, fuzz.KINDS[n % len(fuzz.KINDS)] if n < 30 else "planted")
        files.append(tmp_path / f"f{n:02d}_{kind}.toml")
        files[-1].write_text(text, encoding="utf-8")
    code = main(["check", "--format", "json", "--budget", "3", "--memory", "1024", "-j", "2", "--no-diagnosis",
                 *map(str, files)])
    out, err = capsys.readouterr()
    verdicts = json.loads(out)
    counts = fuzz.judge(code, verdicts, err, 0, 0, budget=3)
    assert code in (0, 1, 2) and counts["crashes"] == counts["hangs"] == counts["false_holds"] == 0, counts["problems"]
    planted_false = [v for v in verdicts if v["id"].startswith("false:")]
    assert len(planted_false) >= 20 and {v["verdict"] for v in planted_false} <= {"fails", "error"}
    assert all(line.startswith("symbp: error: ") for line in err.splitlines())
    assert not list(tmp_path.rglob(fuzz.CANARY))


@pytest.mark.parametrize("code, verdicts, stderr, counted", [
    (0, [{"id": "false:1", "verdict": "holds", "seconds": 0.1, "statement": "s"}], "", "false_holds"),
    (3, [], "symbp: internal error: KeyError", "crashes"),
    (1, [], "Traceback (most recent call last):", "crashes"),
    (None, [], "", "hangs"),
    (1, [{"id": "c", "verdict": "error", "seconds": 99.0, "statement": "s"}], "", "hangs"),
])
def test_the_judge_counts_what_it_must(code, verdicts, stderr, counted):
    counts = fuzz.judge(code, verdicts, stderr, 1.0, 10.0, budget=5)
    assert counts[counted] == 1
    assert fuzz.judge(0, [{"id": "false:1", "verdict": "fails", "seconds": 0.1, "statement": "s"}], "", 1.0, 10.0,
                      budget=5)["false_holds"] == 0


def test_every_planted_false_claim_is_false_in_fact():
    """The planted variants are not the true claim they came from, and each kind is generated."""
    import random
    rng = random.Random(0)
    for statement, ranges, form, shape in fuzz.TRUE:
        for variant in fuzz.false_variants(rng, statement, ranges, form, shape):
            assert variant[0] != statement or variant[3] != shape
    assert {fuzz.derivation(n)[0] for n in range(200)} == set(fuzz.KINDS)
