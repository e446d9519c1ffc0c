"""Diagnoses: each kind of slip gets its fix, every stated fix makes the claim hold (checked again from its text),
and the reports say one root cause once, at a non-degenerate architecture, in the file's names."""
import json
import re
from fractions import Fraction

import pytest

from symbp import lang as il
from symbp.calculus.recursions import MUTATIONS
from symbp.checking import diagnosis
from symbp.checking.check import Checker, check
from symbp.checking.derivation import load
from symbp.checking.verify import verify
from symbp.cli import main
from symbp.model.network import Network

HEADER = '''title = "slips"
[network]
activation = "sigmoid"
output = "sigmoid"
loss = "bce"
samples = 2
architectures = [[2, 3, 2], [3, 2, 2, 2]]
constants = ["lam"]
{extra}
[[define]]
name = "delta"
indices = "l, j"
cases = [
  {{ when = "l == L", value = "a[L,j] - y[j]" }},
  {{ value = "gprime[l](z[l,j]) * sum(W[l+1,k,j] * delta[l+1,k], (k, 1, n[l+1]))" }},
]

[[define]]
name = "dvec"
indices = "l"
matrix = true
cases = [
  {{ when = "l == L", value = "a[L] - y" }},
  {{ value = "gprime[l](z[l]) * (T(W[l+1]) @ dvec[l+1])" }},
]
'''
DECAY = "lam/2 * sum(sum(sum(W[q,r,s]**2, (s, 1, n[q-1])), (r, 1, n[q])), (q, 1, L))"
WEIGHTS = "(l, 1, L), (j, 1, n[l]), (k, 1, n[l-1])"


def claim(statement, ranges="", cid="c", expect="fails", form="index", extra=""):
    return (f'\n[[claim]]\nid = "{cid}"\nstatement = "{statement}"\nranges = "{ranges}"\nexpect = "{expect}"\n'
            f'form = "{form}"\n{extra}')


def run(tmp_path, body, extra=""):
    f = tmp_path / "d.toml"
    f.write_text(HEADER.format(extra=extra) + body)
    return check(load(f))


def holds_as_text(tmp_path, v, ranges, form="index", extra="", header_extra=""):
    """The stated fix, written into a file of its own and checked from its text alone."""
    if v.fix.options.get("assume"):
        extra += f'assume = {json.dumps(v.fix.options["assume"])}\n'
    if v.fix.options.get("shape"):
        extra += f'shape = "{v.fix.options["shape"]}"\n'
    (again,) = run(tmp_path, claim(v.fix.statement, ranges, "fixed", "holds", form, extra), header_extra)
    return again.verdict == "holds"


# (statement, ranges, form, kind, change): every kind of slip the issue names, each as a user would write it
SLIPS = [
    (f"d(J + {DECAY})/d(W[l,j,k]) = 1/m * samplesum(delta[l,j] * a[l-1,k], (i, 1, m))", WEIGHTS, "index",
     "term", "the right side lacks + lam * W[l, j, k]"),
    (f"d(J + {DECAY})/d(W[l,j,k]) = 1/m * samplesum(delta[l,j] * a[l-1,k], (i, 1, m)) + 2 * lam * W[l,j,k]", WEIGHTS,
     "index", "term", "the term 2 * lam * W[l, j, k] of the right side should be lam * W[l, j, k]"),
    ("d(J / n[0])/d(b[l,j]) = 1/m * samplesum(delta[l,j], (i, 1, m))", "(l, 1, L), (j, 1, n[l])", "index",
     "factor", "the right side is off by a factor n[0]: divide it by n[0]"),
    ("d(e)/d(z[l,j]) = sum(W[l+1,k,j] * delta[l+1,k], (k, 1, n[l+1]))", "(l, 1, L-1), (j, 1, n[l])", "index",
     "factor", "the right side lacks the factor gprime[l](z[l, j])"),
    ("d(e)/d(W[l,j,k]) = delta[l,j] * a[l,k]", "(l, 2, L), (j, 1, n[l]), (k, 1, n[l-1])", "index",
     "layer", "a[l - 1, k] in place of a[l, k]"),
    ("d(e)/d(z[L,j]) = y[j] - a[L,j]", "(j, 1, n[L])", "index", "sign", "the right side has the wrong sign"),
    ("d(e)/d(W[l,j,k]) = delta[l,j] * z[l-1,k]", "(l, 2, L), (j, 1, n[l]), (k, 1, n[l-1])", "index",
     "quantity", "a[l - 1, k] in place of z[l - 1, k]"),
    ("d(a[L,j])/d(z[L,j]) = a[L,j] * (1 - a[L,j]**2)", "(j, 1, n[L])", "index", "power", "a[L, j] in place of a[L, j]**2"),
]

# error verdicts: a shape mismatch, a layer that does not exist, a sum over samples from 0
ERRORS = [
    ("d(e)/d(W[l]) = a[l-1] @ T(dvec[l])", "(l, 1, L)", "matrix", "order", "dvec[l] @ T(a[l - 1]) in place of"),
    ("d(e)/d(b[L]) = dvec[L+1]", "", "matrix", "layer", "dvec[L] in place of dvec[L + 1]"),
    ("d(e)/d(z[l]) = gprime[l](z[l]) * (W[l+1] @ dvec[l+1])", "(l, 1, L-1)", "matrix",
     "transpose", "T(W[l + 1]) @ dvec[l + 1] in place of W[l + 1] @ dvec[l + 1]"),
    ("d(J)/d(b[l,j]) = 1/m * samplesum(delta[l,j], (i, 0, m))", "(l, 1, L), (j, 1, n[l])", "index",
     "bound", "the sum over samples runs from 1"),
]


@pytest.mark.parametrize("statement, ranges, form, kind, change, expect",
                         [(*s, "fails") for s in SLIPS] + [(*s, "error") for s in ERRORS])
def test_each_slip_gets_its_fix_and_the_fix_holds_from_its_text(tmp_path, statement, ranges, form, kind, change, expect):
    (v,) = run(tmp_path, claim(statement, ranges, form=form, expect=expect))
    assert v.as_expected, (v.verdict, v.diagnosis)
    assert v.fix is not None, (v.verdict, v.diagnosis)
    assert v.fix.kind == kind and change in v.fix.change, v.fix
    assert v.fix.checked_at == "2-3-2, 3-2-2-2"
    assert holds_as_text(tmp_path, v, ranges, form)


def test_a_fix_named_after_a_width_holds_at_other_widths_and_a_number_is_not_named_by_coincidence(tmp_path):
    # the factor is n[1]: 3 at 2-3-2 and 2 at 3-2-2-2; a constant 3 would hold at one architecture only
    (v,) = run(tmp_path, claim("d(J)/d(b[1,j]) = n[1] * 1/m * samplesum(delta[1,j], (i, 1, m))", "(j, 1, n[1])"))
    assert v.fix.change == "the factor n[1] does not belong: drop it"
    # a true constant 2 at one architecture whose n[0] and m are 2: said as 2, not as n[0] or m (which fail at
    # wider layers and more samples)
    (v,) = run(tmp_path, claim("d(J)/d(b[1,j]) = 1/(2*m) * samplesum(delta[1,j], (i, 1, m))", "(j, 1, n[1])",
                               extra="architectures = [[2, 3, 2]]\n"))
    assert v.fix.change == "the right side is off by a factor 2: multiply it by 2", v.fix


def test_a_fix_that_holds_at_one_architecture_only_is_not_stated(tmp_path):
    # at 2-3-2 the sum over k up to n[l+1] - 1 misses W[2,2,j] delta[2,2]; 'runs to n[l+1]' fixes it everywhere,
    # but no constant factor or term does: the fix stated must be the one that holds at both architectures
    (v,) = run(tmp_path, claim("d(e)/d(z[l,j]) = gprime[l](z[l,j]) * sum(W[l+1,k,j] * delta[l+1,k], (k, 1, n[l+1] - 1))",
                               "(l, 1, L-1), (j, 1, n[l])"))
    assert v.fix.kind == "bound" and "runs to n[l + 1]" in v.fix.change
    assert holds_as_text(tmp_path, v, "(l, 1, L-1), (j, 1, n[l])")


def test_a_claim_no_slip_explains_gets_no_fix(tmp_path):
    (v,) = run(tmp_path, claim("d(e)/d(z[L,j]) = exp(a[L,j]) - y[j]**3", "(j, 1, n[L])"))
    assert v.verdict == "fails" and v.fix is None and v.diagnosis == ""


def test_generated_slips_every_stated_fix_holds(tmp_path):
    """Slips generated from correct claims by the diagnosis's own rewrites: a fix is stated only where it holds."""
    correct = [("d(e)/d(z[l,j]) = gprime[l](z[l,j]) * sum(W[l+1,k,j] * delta[l+1,k], (k, 1, n[l+1]))",
                "(l, 1, L-1), (j, 1, n[l])"),
               ("d(J)/d(W[l,j,k]) = 1/m * samplesum(delta[l,j] * a[l-1,k], (i, 1, m))", WEIGHTS)]
    stated = 0
    for statement, ranges in correct:
        lhs, rhs = (il.parse_expr(s) for s in statement.split(" = "))
        notation = diagnosis.Notation(indices=tuple(v for v, _, _ in il.parse_ranges(ranges)), layers=("l",),
                                      quantities={"z": 2, "a": 2, "W": 3, "b": 2, "delta": 2}, nodes=("z", "a"),
                                      layered=("z", "a", "W", "b", "delta"))
        fake = type("C", (), {"lhs": lhs, "rhs": rhs, "shape": None, "network": {}})
        wrong = [c.statement() for c in diagnosis.slips(fake, notation) if c.lhs == lhs][::7][:8]
        for k, text in enumerate(wrong):
            (v,) = run(tmp_path, claim(text.replace('"', ''), ranges, f"w{k}", expect="holds"))
            if v.fix is not None:
                stated += 1
                assert holds_as_text(tmp_path, v, ranges), (text, v.fix)
    assert stated >= 8


def test_error_claims_with_the_same_cause_are_one_block(tmp_path, capsys):
    f = tmp_path / "d.toml"
    f.write_text(HEADER.format(extra="") + claim("d(e)/d(b[L]) = dvec[L+1]", "", "one", "error", "matrix")
                 + claim("d(e)/d(W[L]) = dvec[L+1] @ T(a[L-1])", "", "two", "error", "matrix"))
    assert main(["check", str(f)]) == 0
    out = capsys.readouterr().out
    assert out.count("likely fix") == 1
    assert "two error: the same root cause as one; checked: d(e)/d(W[L]) = dvec[L] @ T(a[L - 1])" in out


def test_counterexample_is_at_a_non_degenerate_architecture_in_the_files_names(tmp_path):
    extra = 'architectures = [[1, 1, 1], [2, 2, 2]]\naliases = { w = "W", zz = "z" }\n'
    f = tmp_path / "d.toml"
    f.write_text(HEADER.format(extra="").replace("architectures = [[2, 3, 2], [3, 2, 2, 2]]\n", "")
                 .replace('constants = ["lam"]\n', 'constants = ["lam"]\n' + extra)
                 + claim("d(e)/d(w[l,j,k]) = 2 * delta[l,j] * a[l-1,k]", WEIGHTS))
    (v,) = check(load(f))
    c = v.counterexample
    assert c.architecture == "2-2-2"
    assert all(not k.startswith(("W[", "_r")) for k in c.point), c.point  # the file's w, never a direction symbol
    assert any(k.startswith("w[") for k in c.point)
    left, right = float(c.left), float(c.right)
    assert abs(left) < 1 and abs(right) < 1
    assert c.residual == pytest.approx(abs(left - right) / max(abs(left), abs(right)))  # relative to the larger side
    assert c.residual == pytest.approx(0.5)  # 2x against x: half the larger side


def test_counterexample_point_holds_only_what_the_element_reads(tmp_path):
    (v,) = run(tmp_path, claim("d(e)/d(z[L,j]) = y[j] - a[L,j]", "(j, 1, n[L])"))
    reads = set(v.counterexample.point)
    assert reads and all(re.match(r"^(W|b|x|y)\[", k) for k in reads)
    assert not any(k.startswith("y[2]") for k in reads)  # the element is j = 1: y[2] is not read


def test_verify_reports_one_root_cause_once():
    report = verify(Network([3, 4, 3], "sigmoid", "softmax", "cross-entropy"))
    failing = [v for v in report.verdicts if v.verdict == "fails"]
    assert [v.id for v in failing] == ["delta[2]"]
    report = verify(Network([3, 4, 2]), mutation="gprime-dropped")
    roots = [v.id for v in report.verdicts if v.verdict == "fails" and not v.cause]
    caused = {v.id: v.cause for v in report.verdicts if v.cause}
    assert roots == ["delta[1]"]
    assert caused == {"dJ/dW[1]": "delta[1]", "matrix dJ/dW[1]": "delta[1]", "dJ/db[1]": "delta[1]",
                      "matrix dJ/db[1]": "delta[1]"}


def test_verify_text_has_one_block_per_root_cause(capsys):
    assert main(["verify", "--layers", "3,4,2", "--mutate", "mean-dropped"]) == 1
    out = capsys.readouterr().out
    assert out.count("smallest failing architecture") == 2  # dJ/dW and dJ/db: two statements, two causes
    assert "the same root cause makes matrix dJ/dW[1], dJ/dW[2], matrix dJ/dW[2] fail (the same statement)" in out


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_each_mutation_prints_its_statement_and_gives_counterexamples(mutation):
    report = verify(Network([3, 4, 2], "sigmoid", "sigmoid", "bce"), mutation=mutation)
    failing = [v for v in report.verdicts if v.verdict == "fails"]
    assert failing and all(v.counterexample.left != v.counterexample.right for v in failing)
    correct = {v.id: v.statement for v in verify(Network([3, 4, 2], "sigmoid", "sigmoid", "bce")).verdicts}
    assert any(v.statement != correct[v.id] for v in failing)  # the mutated statement, not the correct one
    by_id = {v.id: v.verdict for v in report.verdicts}
    for name, verdict in by_id.items():  # the batch form is mutated with the index form
        if name.startswith("matrix "):
            assert verdict == by_id[name.removeprefix("matrix ")], (name, by_id)
    errors = [v for v in report.verdicts if v.verdict == "error"]
    # only where the mutated statement names a layer that no network has (delta[L + 1] at the top layer)
    assert all("layer 3 does not exist" in v.note for v in errors), [v.note for v in errors]


def test_json_carries_the_fix_as_data(tmp_path, capsys):
    f = tmp_path / "d.toml"
    f.write_text(HEADER.format(extra="") + claim("d(e)/d(z[L,j]) = y[j] - a[L,j]", "(j, 1, n[L])"))
    assert main(["check", str(f), "--format", "json"]) == 0
    (data,) = json.loads(capsys.readouterr().out)
    assert data["fix"] == {"kind": "sign", "change": "the right side has the wrong sign: -(y[j] - a[L, j])",
                           "statement": "d(e)/d(z[L, j]) = -(y[j] - a[L, j])", "checked_at": "2-3-2, 3-2-2-2"}


def test_ratio_ignores_points_where_both_sides_are_zero():
    one, two = Fraction(1), Fraction(2)
    assert diagnosis._ratio([two, Fraction(0), 2 * two], [one, Fraction(0), two]) == 2
    assert diagnosis._ratio([two, one], [one, Fraction(0)]) is None  # 1/0: no constant ratio
    assert diagnosis._ratio([two, 3 * one], [one, one]) is None
    assert diagnosis._ratio([Fraction(0)], [Fraction(0)]) is None


def test_a_candidate_that_holds_at_the_failing_architecture_only_is_refused(tmp_path):
    f = tmp_path / "d.toml"
    f.write_text(HEADER.format(extra="") + claim("d(J)/d(b[1,j]) = n[1] * 1/m * samplesum(delta[1,j], (i, 1, m))",
                                                 "(j, 1, n[1])"))
    d = load(f)
    checker = Checker(d)
    (c,) = d.claims
    third = diagnosis.Candidate("factor", "times 1/3", c.lhs, il.BinOp("*", il.Num(Fraction(1, 3)), c.rhs))
    assert checker._holds(c, third, [[2, 3, 2]])  # n[1] = 3 at 2-3-2: the constant works there
    assert not checker._holds(c, third, [[2, 3, 2], [3, 2, 2, 2]])  # and not at 3-2-2-2
    named = diagnosis.Candidate("factor", "over n[0]", c.lhs, il.BinOp("/", c.rhs, il.Ref("n", (il.Num(Fraction(0)),))),
                                named=True)
    assert not checker._holds(c, named, [[3, 3, 2]])  # n[0] = n[1] = 3 there, but not with wider layers
