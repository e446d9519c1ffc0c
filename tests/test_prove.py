"""Proofs for every width and depth: every pairing and form proved, every mutation refused where it goes wrong."""
import json

import pytest

from symbp.calculus.prove import prove, to_text
from symbp.calculus.recursions import MUTATIONS
from symbp.checking.verify import cross_check
from symbp.cli import main
from symbp.model import losses
from symbp.model.activations import ACTIVATIONS
from symbp.model.formulations import FORMS

PAIRINGS = [
    ("generic", "generic", "half-squared-error"), ("generic", "generic", "mse"), ("generic", "generic", "bce"),
    ("sigmoid", "sigmoid", "bce"), ("tanh", "softmax", "cross-entropy"), ("relu", "identity", "mse"),
    ("identity", "tanh", "mse"), ("generic", "identity", "huber"),
]


def refused(proof):
    return [s for s in proof.steps if s.verdict != "holds"]


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("pairing", PAIRINGS)
def test_every_pairing_is_proved(pairing, form):
    proof = prove(*pairing, form=form)
    assert proof.ok, refused(proof)
    assert {"base case", "induction step", "gradient"} <= {s.id for s in proof.steps}


@pytest.mark.parametrize("name", sorted(n for n, a in ACTIVATIONS.items() if a.elementwise and not a.generic))
def test_every_activation_closed_form_is_proved(name):
    proof = prove(name, "identity", "half-squared-error")
    steps = [s for s in proof.steps if s.id == "activation"]
    assert proof.ok, refused(proof)
    assert name == "identity" or any(ACTIVATIONS[name].formula in s.statement for s in steps)


def test_softmax_cross_entropy_states_its_assumption():
    proof = prove("tanh", "softmax", "cross-entropy")
    assert proof.ok and proof.assumptions == ["sum-y-is-1"] and "assuming: sum-y-is-1" in to_text(proof)
    without = prove("tanh", "softmax", "cross-entropy", assumptions=())
    assert [s.statement for s in refused(without)] == ["delta[L,j] = a[L,j] - y[j]"]


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_wrong_recursions_are_refused_with_the_failing_step(mutation, form):
    proof = prove("generic", "generic", "half-squared-error", form, mutation)
    steps = refused(proof)
    assert steps and not proof.ok
    expected = "induction step" if mutation in ("gprime-dropped", "not-transposed") else "gradient"
    assert steps[0].id == expected and "does not reduce to 0" in steps[0].counterexample.left


def test_a_wrong_base_case_is_refused(monkeypatch):
    wrong = losses.Pairing("sigmoid", "bce", "y[j] - yhat[j]", losses.PAIRINGS[("sigmoid", "bce")].stable)
    monkeypatch.setitem(losses.PAIRINGS, ("sigmoid", "bce"), wrong)
    proof = prove("sigmoid", "sigmoid", "bce")
    assert [s.statement for s in refused(proof)] == ["delta[L,j] = y[j] - a[L,j]"]


def test_cross_check_agrees_both_ways():
    good = prove("generic", "generic", "half-squared-error", "bias-node")
    checks = cross_check(good)
    assert good.ok and len(checks) == 2 and all(c["holds"] and c["agrees"] for c in checks)
    checks = cross_check(prove("generic", "generic", "half-squared-error", mutation="mean-dropped"), "mean-dropped")
    assert len(checks) == 2 and all(not c["holds"] and c["agrees"] for c in checks)


def test_cli(capsys):
    assert main(["prove", "--activation", "sigmoid", "--loss", "bce", "--no-cross-check", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and {"id", "statement", "verdict", "method", "note"} <= set(data["steps"][0])
    assert main(["prove", "--mutate", "gprime-dropped", "--no-cross-check"]) == 1
    out = capsys.readouterr().out
    assert "[refused] delta[l, j] = sum(delta[l + 1, k] * W[l + 1, k, j], (k, 1, n[l + 1]))" in out
    assert main(["prove", "--form", "residual", "--loss", "huber", "--no-cross-check"]) == 0


@pytest.mark.parametrize("mutation, statement", [
    ("indices-swapped", "d(e)/d(W[l, j, k]) = delta[l, k] * a[l - 1, j]"),
    ("mean-dropped", "d(J)/d(P) = samplesum(d(e)/d(P), (i, 1, m))"),
    ("wrong-delta-layer", "d(e)/d(W[l, j, k]) = delta[l + 1, j] * a[l - 1, k]"),
])
def test_a_refused_gradient_is_shown_as_the_mutation_writes_it(mutation, statement):
    proof = prove(mutation=mutation)
    assert refused(proof)[0].statement == statement
