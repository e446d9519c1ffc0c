import json

import pytest

from symbp.checking.check import Checker, check
from symbp.cli import main
from symbp.checking.derivation import load
from symbp.checking.runner import Limits, check_files

HEADER = '''title = "broken"
[network]
activation = "sigmoid"
output = "sigmoid"
loss = "bce"
samples = 2
architectures = [[3, 3, 3], [3, 3, 3, 3]]

[[define]]
name = "delta"
indices = "l, j"
cases = [
  { when = "l == L", value = "a[L,j] - y[j]" },
  { value = "gprime[l](z[l,j]) * sum(W[l+1,k,j] * delta[l+1,k], (k, 1, n[l+1]))" },
]
'''


def claim(statement, ranges, cid="c", expect="holds"):
    return f'\n[[claim]]\nid = "{cid}"\nstatement = "{statement}"\nranges = "{ranges}"\nexpect = "{expect}"\n'


CORRECT = [
    ("d(e)/d(z[l,j]) = gprime[l](z[l,j]) * sum(W[l+1,k,j] * delta[l+1,k], (k, 1, n[l+1]))", "(l, 1, L-1), (j, 1, n[l])"),
    ("d(J)/d(W[l,j,k]) = 1/m * samplesum(delta[l,j] * a[l-1,k], (i, 1, m))", "(l, 1, L), (j, 1, n[l]), (k, 1, n[l-1])"),
    ("d(e)/d(W[l,j,k]) = delta[l,j] * a[l-1,k]", "(l, 1, L), (j, 1, n[l]), (k, 1, n[l-1])"),
    ("d(e)/d(z[L,j]) = a[L,j] - y[j]", "(j, 1, n[L])"),
]

# Each fix applied in reverse to a correct claim: the kind of fix and the change the diagnosis must name.
BROKEN = [
    ("d(e)/d(z[l,j]) = gprime[l](z[l,j]) * sum(W[l+1,j,k] * delta[l+1,k], (k, 1, n[l+1]))", CORRECT[0][1],
     "index", "W[l + 1, k, j] in place of W[l + 1, j, k]"),
    ("d(e)/d(z[l,j]) = sum(W[l+1,k,j] * delta[l+1,k], (k, 1, n[l+1]))", CORRECT[0][1],
     "factor", "the right side lacks the factor gprime[l](z[l, j])"),
    ("d(e)/d(z[l,j]) = gprime[l](z[l,j]) * gprime[l](z[l,j]) * sum(W[l+1,k,j] * delta[l+1,k], (k, 1, n[l+1]))",
     CORRECT[0][1], "factor", "the factor gprime[l](z[l, j]) does not belong: drop it"),
    ("d(J)/d(W[l,j,k]) = samplesum(delta[l,j] * a[l-1,k], (i, 1, m))", CORRECT[1][1],
     "factor", "the right side is off by a factor m: divide it by m"),
    ("d(e)/d(W[l,j,k]) = 1/m * delta[l,j] * a[l-1,k]", CORRECT[2][1], "factor", "the factor 1 / m does not belong"),
    ("d(e)/d(W[l,j,k]) = delta[l+1,j] * a[l-1,k]", "(l, 1, L-1), (j, 1, n[l]), (k, 1, n[l-1])",
     "layer", "delta[l, j] in place of delta[l + 1, j]"),
    ("d(e)/d(z[l,j]) = gprime[l](z[l,j]) * sum(W[l+1,k,j] * delta[l+1,k], (k, 2, n[l+1]))", CORRECT[0][1],
     "bound", "the sum over k runs from 1"),
    ("d(e)/d(z[L,j]) = y[j] - a[L,j]", CORRECT[3][1], "sign", "the right side has the wrong sign"),
]


def write(tmp_path, body):
    f = tmp_path / "d.toml"
    f.write_text(HEADER + body)
    return load(f)


def test_correct_claims_hold(tmp_path):
    d = write(tmp_path, "".join(claim(s, r, f"c{k}") for k, (s, r) in enumerate(CORRECT)))
    assert [(v.id, v.verdict) for v in check(d)] == [(f"c{k}", "holds") for k in range(len(CORRECT))]


@pytest.mark.parametrize("statement, ranges, kind, change", BROKEN)
def test_broken_claims_fail_and_the_diagnosis_names_the_fix(tmp_path, statement, ranges, kind, change):
    (v,) = check(write(tmp_path, claim(statement, ranges, expect="fails")))
    assert v.verdict == "fails" and v.as_expected
    assert v.counterexample.residual > 1e-20
    assert v.fix.kind == kind and change in v.fix.change and v.diagnosis == v.fix.change, v.fix
    (again,) = check(write(tmp_path, claim(v.fix.statement, ranges)))  # the stated fix, checked from its text
    assert again.verdict == "holds", v.fix.statement


@pytest.mark.parametrize(
    "statement, ranges, message",
    [
        ("d(e)/d(z[l,j]) = delta[l,j]", "(l, 1, L+1), (j, 1, n[l])", "layer 3 does not exist"),
        ("d(e)/d(z[1,j]) = sum(a[1,k], (k, 2, 1))", "(j, 1, n[1])", "empty range"),
        ("d(e)/d(x[1]) = 0", "", "not a variable"),
        ("d(J)/d(W[1]) = a[1]", "", "the left side is 3x3 and the right side 3x1"),
    ],
)
def test_bad_claims_are_errors_naming_the_problem(tmp_path, statement, ranges, message):
    body = claim(statement, ranges, expect="error")
    if "W[1])" in statement:
        body = body.replace('expect = "error"', 'expect = "error"\nform = "matrix"')
    (v,) = check(write(tmp_path, body))
    assert v.verdict == "error" and message in v.diagnosis, v.diagnosis


def test_time_budget_turns_a_slow_claim_into_an_error_and_the_next_claim_is_checked(tmp_path):
    widths = ", ".join(["2"] * 121)  # minutes of work inside SymEngine, far past the budget
    slow = claim("d(J)/d(W[1,1,1]) = d(J)/d(W[1,1,1])", "", "slow") + f"architectures = [[{widths}]]\n"
    f = tmp_path / "d.toml"
    f.write_text(HEADER + slow + claim(*CORRECT[3], "next"))
    (result,) = check_files([f], limits=Limits(seconds=5))
    slow, following = result.verdicts
    assert slow.verdict == "error" and "took longer than the time budget of 5 s" in slow.diagnosis
    assert following.verdict == "holds" and following.id == "next"


def test_other_sizes_and_fast(tmp_path):
    d = write(tmp_path, claim(*CORRECT[2]))
    v = Checker(d, sizes=[[2, 4, 1]], fast=True).check(d.claims[0])
    assert v.verdict == "holds" and v.method == "numeric"


def test_cli_check_exit_codes_and_json(tmp_path, capsys):
    f = tmp_path / "d.toml"
    f.write_text(HEADER + claim(*CORRECT[3]) + claim(BROKEN[-1][0], BROKEN[-1][1], "wrong"))
    assert main(["check", str(f), "--format", "json"]) == 1  # 'wrong' fails but the file expects it to hold
    data = json.loads(capsys.readouterr().out)
    assert [(d["id"], d["verdict"], d["expected"]) for d in data] == [("c", "holds", "holds"), ("wrong", "fails", "holds")]
    assert data[0]["file"] == str(f)
    f.write_text(HEADER + claim(*CORRECT[3]))
    assert main(["check", str(f), "--sizes", "2,2"]) == 0
    assert "1 of 1 verdicts as expected" in capsys.readouterr().out
    f.write_text("title = 1\n")
    assert main(["check", str(f)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_bundled_derivations_check_clean(capsys):
    assert main(["check", "--fast"]) == 0
    out = capsys.readouterr().out
    assert out.count("verdicts as expected") == 5 and "(expected" not in out


RESIDUAL = '''title = "residual"
[network]
activation = "tanh"
output = "identity"
loss = "half-squared-error"
architectures = [[2, 2, 2, 2]]

[network.formulation]
name = "residual"
equations = [
  { equation = "a[0,k] = x[k]", ranges = "(k, 1, n[0])" },
  { equation = "z[l,j] = b[l,j] + sum(W[l,j,k] * a[l-1,k], (k, 1, n[l-1])) + a[l-1,j]", ranges = "(l, 1, L), (j, 1, n[l])" },
  { equation = "a[l,j] = g[l](z[l,j])", ranges = "(l, 1, L), (j, 1, n[l])" },
]
parameters = [
  { parameter = "W[l,j,k]", ranges = "(l, 1, L), (j, 1, n[l]), (k, 1, n[l-1])" },
  { parameter = "b[l,j]", ranges = "(l, 1, L), (j, 1, n[l])" },
]

[[claim]]
id = "residual delta"
statement = "d(e)/d(z[l,j]) = gprime[l](z[l,j]) * (sum(W[l+1,k,j] * d(e)/d(z[l+1,k]), (k, 1, n[l+1])) + d(e)/d(z[l+1,j]))"
ranges = "(l, 1, L-1), (j, 1, n[l])"

[[claim]]
id = "plain delta"
statement = "d(e)/d(z[l,j]) = gprime[l](z[l,j]) * sum(W[l+1,k,j] * d(e)/d(z[l+1,k]), (k, 1, n[l+1]))"
ranges = "(l, 1, L-1), (j, 1, n[l])"
expect = "fails"
'''


def test_a_new_formulation_is_a_new_equation(tmp_path):
    f = tmp_path / "r.toml"
    f.write_text(RESIDUAL)
    assert [(v.id, v.verdict) for v in check(load(f))] == [("residual delta", "holds"), ("plain delta", "fails")]
