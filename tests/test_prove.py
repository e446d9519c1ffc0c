import json

import pytest

from symbp.model import losses
from symbp.cli import main
from symbp.calculus.prove import prove, to_text
from symbp.calculus.recursions import MUTATIONS
from symbp.checking.verify import cross_check

PAIRINGS = [
    ("generic", "generic", "half-squared-error"), ("generic", "generic", "mse"), ("generic", "generic", "bce"),
    ("sigmoid", "sigmoid", "bce"), ("tanh", "softmax", "cross-entropy"), ("relu", "identity", "mse"),
    ("identity", "tanh", "mse"),
]


@pytest.mark.parametrize("form", ["explicit-bias", "bias-node"])
@pytest.mark.parametrize("pairing", PAIRINGS)
def test_every_pairing_is_proved(pairing, form):
    proof = prove(*pairing, form=form)
    assert proof.ok, [s for s in proof.steps if s.verdict != "proved"]
    assert {s.part for s in proof.steps} == {"base case", "induction step", "gradient"}


def test_softmax_cross_entropy_states_its_assumption():
    proof = prove("tanh", "softmax", "cross-entropy")
    assert proof.assumptions == ["sum_k y_k = 1"] and "sum_k y_k = 1" in to_text(proof)


@pytest.mark.parametrize("form", ["explicit-bias", "bias-node"])
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_wrong_recursions_are_refused_with_the_failing_step(mutation, form):
    proof = prove("generic", "generic", "half-squared-error", form, MUTATIONS[mutation])
    refused = [s for s in proof.steps if s.verdict == "refused"]
    assert refused and not proof.ok
    expected_part = "induction step" if mutation in ("gprime-dropped", "not-transposed") else "gradient"
    assert refused[0].part == expected_part and "does not reduce to 0" in refused[0].detail


def test_a_wrong_base_case_is_refused(monkeypatch):
    wrong = losses.Pairing("sigmoid", "bce", "y[j] - yhat[j]", losses.PAIRINGS[("sigmoid", "bce")].stable)
    monkeypatch.setitem(losses.PAIRINGS, ("sigmoid", "bce"), wrong)
    monkeypatch.setattr("symbp.calculus.prove.PAIRINGS", losses.PAIRINGS)
    proof = prove("sigmoid", "sigmoid", "bce")
    assert [s.part for s in proof.steps if s.verdict == "refused"] == ["base case"]


def test_cross_check_agrees_both_ways():
    good = prove("generic", "generic", "half-squared-error", "bias-node")
    checks = cross_check(good)
    assert good.ok and len(checks) == 2 and all(c["holds"] and c["agrees"] for c in checks)
    variant = MUTATIONS["mean-dropped"]
    checks = cross_check(prove("generic", "generic", "half-squared-error", variant=variant), variant)
    assert len(checks) == 2 and all(not c["holds"] and c["agrees"] for c in checks)


def test_cli(capsys):
    assert main(["prove", "--activation", "sigmoid", "--loss", "bce", "--no-cross-check", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and {"part", "statement", "rule", "verdict", "detail"} <= set(data["steps"][0])
    assert main(["prove", "--mutate", "gprime-dropped", "--no-cross-check"]) == 1
    assert "[refused] dJ/dz^l_p = sum_k W^(l+1)_{k,p} delta^(l+1)_k" in capsys.readouterr().out


@pytest.mark.parametrize("mutation, statement", [
    ("indices-swapped", "dJ/dW^l_{p,q} = 1/m sum_i delta^l_{i,q} a^(l-1)_{i,p}"),
    ("mean-dropped", "dJ/dW^l_{p,q} = sum_i delta^l_{i,p} a^(l-1)_{i,q}"),
    ("wrong-delta-layer", "dJ/dW^l_{p,q} = 1/m sum_i delta^(l+1)_{i,p} a^(l-1)_{i,q}"),
])
def test_a_refused_gradient_is_shown_as_the_mutation_writes_it(mutation, statement):
    proof = prove(variant=MUTATIONS[mutation])
    refused = [s for s in proof.steps if s.verdict == "refused"]
    assert refused and refused[0].statement == statement
