import pytest

from symbp import Network, verify
from symbp.calculus.recursions import MUTATIONS
from symbp.testing import BackpropClaimError, assert_backprop_holds


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(activation="sigmoid", output="sigmoid", loss="bce"),
        dict(activation="generic", output="generic", loss="half-squared-error", form="bias-node"),
        dict(activation="relu", output="softmax", loss="cross-entropy", samples=2),
    ],
)
def test_standard_claims_hold(kwargs):
    report = verify(Network([3, 2, 2], **kwargs), assumptions={"sum-y-is-1"})
    assert report.ok, [v for v in report.verdicts if v.verdict != "holds"]
    ids = [v.id for v in report.verdicts]
    assert any(i.startswith("delta[") for i in ids) and any(i.startswith("matrix dJ/d") for i in ids)


def test_generic_activation_is_proved_exactly():
    report = verify(Network([2, 2, 2], "generic", "generic", "half-squared-error"))
    assert {v.method for v in report.verdicts if v.id.startswith(("delta", "dJ"))} == {"exact"}


def test_bias_node_reports_eq8():
    report = verify(Network([2, 2, 2], "sigmoid", "sigmoid", "bce", form="bias-node"))
    (eq8,) = [v for v in report.verdicts if v.id == "z[l,0] = 1 (8)"]
    assert eq8.verdict == "holds"


def test_missing_assumption_fails_with_counterexample_and_note():
    report = verify(Network([2, 3], "sigmoid", "softmax", "cross-entropy"))
    (base,) = [v for v in report.verdicts if v.id == "delta[1]"]
    assert base.verdict == "fails"
    assert "sum-y-is-1" in base.note
    c = base.counterexample
    assert c.residual > 1e-10 and c.left != c.right and c.point


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_each_mutation_fails_with_a_small_counterexample(mutation):
    net = Network([3, 3, 3, 3], "tanh", "sigmoid", "bce", samples=2)
    report = verify(net, mutation=mutation)
    failed = [v for v in report.verdicts if v.verdict == "fails"]
    assert failed
    arch = failed[0].counterexample.architecture
    assert sum(map(int, arch.split("-"))) <= sum(net.widths)


def test_verbose_lists_every_element():
    report = verify(Network([2, 2]), verbose=True)
    (w,) = [v for v in report.verdicts if v.id == "dJ/dW[1]"]
    assert [e["id"] for e in w.elements] == ["W[1,1,1]", "W[1,1,2]", "W[1,2,1]", "W[1,2,2]"]


def test_assert_backprop_holds_raises_on_failure():
    assert assert_backprop_holds([2, 2], "sigmoid", "sigmoid", "bce").ok
    with pytest.raises(BackpropClaimError, match="fails"):
        assert_backprop_holds([2, 3], "sigmoid", "softmax", "cross-entropy")
    with pytest.raises(AssertionError):  # usable as a plain assertion in a user's tests
        assert_backprop_holds([2, 2, 2], mutation="gprime-dropped")
