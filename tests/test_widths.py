"""File claims proved for every width: correct ones proved, wrong ones refused, the rest said plainly."""
import itertools

import pytest
import sympy as sp
from hypothesis import given, strategies as st

from symbp.checking.check import check
from symbp.checking.derivation import load
from symbp.calculus.decide import decide
from symbp.checking.widths import prove_claim

HEADER = {
    "generic": 'activation = "generic"\noutput = "generic"\nloss = "half-squared-error"\n',
    "sigmoid-bce": 'activation = "tanh"\noutput = "sigmoid"\nloss = "bce"\n',
    "softmax": 'activation = "sigmoid"\noutput = "softmax"\nloss = "cross-entropy"\nassume = ["sum-y-is-1"]\n',
    "batch": 'activation = "generic"\noutput = "generic"\nloss = "half-squared-error"\nsamples = 2\n',
    "bias-node": 'form = "bias-node"\nactivation = "sigmoid"\noutput = "sigmoid"\nloss = "bce"\n',
}
DELTA = ('[[define]]\nname = "delta"\nindices = "l, j"\ncases = [\n'
         '  { when = "l == L", value = "d(e)/d(a[L,j]) * gprime[L](z[L,j])" },\n'
         '  { value = "gprime[l](z[l,j]) * sum(W[l+1,k,j] * delta[l+1,k], (k, 1, n[l+1]))" },\n]\n')


def derivation(tmp_path, network, claims, extra="", archs="[[2, 3, 2], [2, 2, 3, 2]]"):
    text = f'title = "t"\n[network]\n{HEADER[network]}architectures = {archs}\n{extra}'
    for n, (statement, ranges) in enumerate(claims):
        text += f'[[claim]]\nid = "c{n}"\nall_widths = true\nstatement = "{statement}"\nranges = "{ranges}"\n'
    f = tmp_path / "d.toml"
    f.write_text(text)
    return load(f)


def verdicts(d):
    return [prove_claim(d, c).verdict for c in d.claims]


RECURSION = "delta[l,j] = gprime[l](z[l,j]) * sum(W[l+1,k,j] * d(e)/d(z[l+1,k]), (k, 1, n[l+1]))"
RIGHT = [
    ("d(e)/d(z[l,j]) = delta[l,j]", "(l, 1, L), (j, 1, n[l])"),
    ("d(e)/d(W[l,j,k]) = delta[l,j] * a[l-1,k]", "(l, 1, L), (j, 1, n[l]), (k, 1, n[l-1])"),
    ("d(e)/d(b[l,j]) = delta[l,j]", "(l, 1, L), (j, 1, n[l])"),
    ("z[l,j] = b[l,j] + sum(W[l,j,k] * a[l-1,k], (k, 1, n[l-1]))", "(l, 1, L), (j, 1, n[l])"),
]
# the mutations of the symbolic core, written as file claims
WRONG = {
    "derivative dropped": ("d(e)/d(z[l,j]) = sum(W[l+1,k,j] * delta[l+1,k], (k, 1, n[l+1]))", "(l, 1, L-1), (j, 1, n[l])"),
    "a number for a width": ("n[L] * b[L,1] = 2 * b[L,1]", ""),  # true at every listed size
}


def test_right_claims_are_proved_at_each_depth(tmp_path):
    d = derivation(tmp_path, "generic", RIGHT, DELTA)
    proofs = [prove_claim(d, c) for c in d.claims]
    assert [p.verdict for p in proofs] == ["proved"] * len(RIGHT)
    assert proofs[0].depths == ["depth 2 with widths n_0, n_1, n_2", "depth 3 with widths n_0, n_1, n_2, n_3"]


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_claims_are_refused(tmp_path, name):
    d = derivation(tmp_path, "generic", [WRONG[name]], DELTA)
    proof = prove_claim(d, d.claims[0])
    assert proof.verdict == "refused", proof
    assert "reduces to" in proof.detail and "not 0" in proof.detail


@pytest.mark.parametrize("claim, where", [
    # delta^l_k with k running over layer l-1
    (("d(e)/d(W[l,j,k]) = delta[l,k] * a[l-1,j]", "(l, 1, L), (j, 1, n[l]), (k, 1, n[l-1])"), "z[1, k_1]"),
    # W^(l+1)_{j,k} with j on layer l: the transpose missing
    (("d(e)/d(z[l,j]) = gprime[l](z[l,j]) * sum(W[l+1,j,k] * delta[l+1,k], (k, 1, n[l+1]))",
      "(l, 1, L-1), (j, 1, n[l])"), "W[2, j_0, k_4]"),
    # delta of the layer above
    (("d(e)/d(W[l,j,k]) = delta[l+1,j] * a[l-1,k]", "(l, 1, L-1), (j, 1, n[l]), (k, 1, n[l-1])"), "z[2, j_0]"),
])
def test_indices_out_of_range_for_some_widths_are_not_proved(tmp_path, claim, where):
    d = derivation(tmp_path, "generic", [claim], DELTA)
    proof = prove_claim(d, d.claims[0])
    assert proof.verdict == "not provable"
    assert proof.detail == f"{where} lies outside the range of its indices for some widths"


def test_a_claim_true_only_at_the_listed_width_is_not_proved(tmp_path):
    # sum_k W[2,k,1] over k = 1..2 is the whole column only while n_2 = 2; W[2,2,1] needs n_2 >= 2
    claim = ("sum(W[2,k,1], (k, 1, 2)) = sum(W[2,k,1], (k, 1, n[2]))", "")
    d = derivation(tmp_path, "generic", [claim], archs="[[2, 2, 2]]")
    (v,) = check(d)
    assert v.verdict == "holds"
    assert v.widths == "not provable"
    assert v.widths_detail == ("checked only at 2-2-2; not proved for every width: W[2, 2, 1] lies outside the range "
                               "of its indices for some widths")


def test_the_missing_mean_is_refused_over_a_batch(tmp_path):
    right = ("d(J)/d(b[L,j]) = samplesum(d(e)/d(z[L,j]), (i, 1, m)) / m", "(j, 1, n[L])")
    wrong = ("d(J)/d(b[L,j]) = samplesum(d(e)/d(z[L,j]), (i, 1, m))", "(j, 1, n[L])")
    d = derivation(tmp_path, "batch", [right, wrong])
    proofs = [prove_claim(d, c) for c in d.claims]
    assert [p.verdict for p in proofs] == ["proved", "refused"]
    assert "batch size m" in proofs[0].detail


@pytest.mark.parametrize("network, claim, expected", [
    ("sigmoid-bce", ("d(e)/d(z[L,j]) = a[L,j] - y[j]", "(j, 1, n[L])"), "proved"),
    ("sigmoid-bce", ("d(e)/d(z[L,j]) = (a[L,j] - y[j]) * a[L,j]", "(j, 1, n[L])"), "refused"),
    ("sigmoid-bce", ("gprime[1](z[1,j]) = 1 - a[1,j]**2", "(j, 1, n[1])"), "proved"),  # tanh's closed form
    ("sigmoid-bce", ("gprime[1](z[1,j]) = a[1,j] * (1 - a[1,j])", "(j, 1, n[1])"), "refused"),
    ("softmax", ("d(e)/d(z[L,j]) = a[L,j] - y[j]", "(j, 1, n[L])"), "proved"),  # with sum_k y_k = 1
    ("softmax", ("d(e)/d(z[L,j]) = a[L,j] - y[j] * a[L,j]", "(j, 1, n[L])"), "refused"),
])
def test_pairings_and_closed_forms(tmp_path, network, claim, expected):
    d = derivation(tmp_path, network, [claim])
    assert verdicts(d) == [expected]


def test_softmax_needs_its_assumption(tmp_path):
    d = derivation(tmp_path, "softmax", [("d(e)/d(z[L,j]) = a[L,j] - y[j]", "(j, 1, n[L])")])
    d.network["assume"] = []
    assert verdicts(d) == ["refused"]


def test_bias_node_index_zero_is_split_off(tmp_path):
    # node 0 of layer 1 is the bias input x_0 = 1 (eq 8); the others are the inputs
    claims = [("z[1,k] = x[k]", "(k, 0, S[1])"), ("z[l,0] = 1", "(l, 2, L)"),
              ("d(z[l,j])/d(theta[l-1,p,q]) = I(p,j) * h[l-1](z[l-1,q]) * C[l-1,p,q]",
               "(l, 2, L), (j, 1, S[l]), (p, 1, S[l]), (q, 0, S[l-1])"),
              ("d(z[l,j])/d(theta[l-1,p,q]) = I(p,j) * h[l-1](z[l-1,q])",  # C dropped: wrong at q = 0
               "(l, 3, L), (j, 1, S[l]), (p, 1, S[l]), (q, 0, S[l-1])")]
    d = derivation(tmp_path, "bias-node", claims)
    assert verdicts(d) == ["proved", "proved", "proved", "refused"]


def test_what_cannot_be_proved_is_said_plainly(tmp_path):
    d = derivation(tmp_path, "generic", [("d(e)/d(b[L,j]) = a[L,j] - y[j]", "(j, 1, n[L])")])
    d.claims[0].form = "matrix"
    proof = prove_claim(d, d.claims[0])
    assert proof.verdict == "not provable" and "matrix form" in proof.detail


def test_check_reports_the_proof(tmp_path):
    from symbp.present.report import check_text

    d = derivation(tmp_path, "generic", [RIGHT[0], ("d(e)/d(b[L,j]) = a[L,j]", "(j, 1, n[L])")], DELTA)
    right, wrong = check(d)
    assert right.verdict == "holds" and right.widths == "proved"
    assert right.widths_detail == ("proved for every width at depth 2 with widths n_0, n_1, n_2; "
                                   "depth 3 with widths n_0, n_1, n_2, n_3")
    assert wrong.verdict == "fails" and wrong.widths == "not provable"
    assert wrong.widths_detail == "not tried: at 2-3-2, 2-2-3-2 the claim fails"
    assert "c0: proved for every width at depth 2" in check_text("t", "d.toml", [right, wrong])


# --- deciding range conditions ------------------------------------------------------------------
def test_decide_is_sound_on_equalities_inside_a_range():
    j = sp.Symbol("j", integer=True)
    n = sp.Symbol("n", integer=True, positive=True)
    assert decide(sp.Eq(j, 5), {j: (1, 10)}) is None  # false at both ends, true at 5
    assert decide(sp.Eq(j, 0), {j: (1, n)}) is False
    assert decide(sp.And(sp.Ge(j, 1), sp.Le(j, n)), {j: (1, n)}) is True
    assert decide(sp.Ne(j, 5), {j: (1, 10)}) is None
    assert decide(sp.Le(j, n), {j: (0, n)}) is True and decide(sp.Ge(j, 1), {j: (0, n)}) is None


ops = st.sampled_from([sp.Eq, sp.Ne, sp.Lt, sp.Le, sp.Gt, sp.Ge])


@given(ops, st.integers(-3, 3), st.integers(-3, 3), st.integers(-4, 4), st.integers(0, 3), st.integers(0, 3),
       st.sampled_from(["and", "or", "not", "atom"]), ops, st.integers(-4, 4))
def test_decide_agrees_with_every_value_it_settles(op, a, b, c, lo, span, combine, op2, c2):
    p, q = sp.Symbol("p", integer=True), sp.Symbol("q", integer=True)
    ranges = {p: (lo, lo + span), q: (0, span)}
    first, second = op(a * p + b * q, c), op2(p - q, c2)
    cond = {"and": sp.And(first, second), "or": sp.Or(first, second), "not": sp.Not(first), "atom": first}[combine]
    verdict = decide(cond, ranges)
    if verdict is None:
        return
    for vp, vq in itertools.product(range(lo, lo + span + 1), range(0, span + 1)):
        assert bool(cond.subs({p: vp, q: vq})) is verdict


ERRATA = [("000_matrix_form.toml", "(4) without sum y = 1"), ("000_matrix_form.toml", "(13) as printed"),
          ("000_matrix_form.toml", "(23) as printed"), ("002_brawer.toml", "(35) p = 0"),
          ("002_brawer.toml", "(41) as printed"), ("002_brawer.toml", "(46) as printed"),
          ("004_slides.toml", "dL/da_L,i for any targets")]


@pytest.mark.parametrize("name, claim_id", ERRATA)
def test_no_erratum_of_the_seeds_is_proved(name, claim_id):
    """The seeds' index-form errata are never proved (000 (37), refused in 12 s, is left out for time)."""
    import pathlib

    d = load(pathlib.Path(__file__).parent.parent / "derivations" / name)
    (claim,) = [c for c in d.claims if c.id == claim_id]
    assert claim.expect != "holds"
    assert prove_claim(d, claim).verdict in ("refused", "not provable")


def test_a_range_that_can_be_empty_is_said_plainly(tmp_path):
    d = derivation(tmp_path, "generic", [("d(e)/d(b[1,j]) = delta[1,j]", "(j, 2, n[1])")], DELTA, archs="[[2, 3, 2]]")
    proof = prove_claim(d, d.claims[0])
    assert proof.verdict == "not provable"
    assert proof.detail == "the range of j, 2..n_1, can be empty for small widths"


def test_the_sizes_given_to_check_set_the_depths(tmp_path):
    from symbp.checking.check import Checker

    d = derivation(tmp_path, "generic", [RIGHT[2]], DELTA)
    v = Checker(d, sizes=[[2, 2, 2, 2, 2]]).check(d.claims[0])
    assert v.widths == "proved" and v.widths_detail == "proved for every width at depth 4 with widths n_0, n_1, n_2, n_3, n_4"
