"""The derived recursion (index form) and its batch form against direct differentiation, for every form."""
import pytest
from hypothesis import given, settings, strategies as st

from symbp.calculus import recursions as rec
from symbp.calculus.batch import matrix_gradient
from symbp.calculus.direct import d_loss_d_nodes, loss_gradient
from symbp.calculus.equivalence import Engine
from symbp.errors import IndexRangeError
from symbp.model.activations import ACTIVATIONS
from symbp.model.formulations import FORMS
from symbp.model.losses import LOSSES
from symbp.model.network import Network

PAIRINGS = [
    ("sigmoid", "sigmoid", "bce"),
    ("tanh", "softmax", "cross-entropy"),
    ("relu", "identity", "half-squared-error"),
    ("identity", "sigmoid", "mse"),
    ("generic", "generic", "half-squared-error"),
    ("generic", "generic", "bce"),
    ("sigmoid", "tanh", "mse"),
    ("swish", "identity", "huber"),
]
ASSUME = frozenset({"sum-y-is-1"})


def agree(net, closed):
    eng = Engine(lambda rng: net.sample_point(rng, ASSUME), substitutions=net.assumption_substitutions(ASSUME))
    ref = loss_gradient(net)
    return [p for p in net.params if not eng.compare(closed[p], ref[p]).equal]


def widths_for(form, widths):
    """The residual form needs its hidden layers of one width."""
    if form == "residual" and len(widths) > 2:
        return [widths[0], *[widths[1]] * (len(widths) - 2), widths[-1]]
    return widths


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(1, 3), min_size=2, max_size=5),
    pairing=st.sampled_from(PAIRINGS),
    form=st.sampled_from(sorted(FORMS)),
    samples=st.integers(1, 2),
)
def test_index_and_batch_forms_agree_with_direct_differentiation(widths, pairing, form, samples):
    net = Network(widths_for(form, widths), *pairing, form=form, samples=samples)
    assert agree(net, rec.gradient(net)) == []
    assert agree(net, matrix_gradient(net)) == []


def test_input_by_output_layout():
    net = Network([2, 3, 2], "tanh", "sigmoid", "bce", layout="input-by-output", samples=2)
    assert agree(net, rec.gradient(net)) == [] and agree(net, matrix_gradient(net)) == []


@pytest.mark.parametrize("name", sorted(n for n, a in ACTIVATIONS.items() if a.hidden_ok))
def test_every_hidden_activation_in_every_form(name):
    for form in sorted(FORMS):
        net = Network(widths_for(form, [2, 2, 2, 2, 2]), name, "identity", "half-squared-error", form=form)
        assert agree(net, rec.gradient(net)) == [], form


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_with_its_default_output(name):
    net = Network([2, 3, 2], "tanh", None, name, samples=2)
    assert agree(net, rec.gradient(net)) == [] and agree(net, matrix_gradient(net)) == []


def test_deltas_are_the_derivatives_by_the_pre_activations():
    net = Network([2, 3, 3, 2], "sigmoid", "sigmoid", "bce", form="residual")
    eng = Engine(lambda rng: net.sample_point(rng))
    deltas = rec.deltas(net, 0)
    for l in (3, 2, 1):
        assert all(eng.compare(a, b).equal for a, b in zip(deltas[l], d_loss_d_nodes(net, 0, "z", l))), l


# theta^(l) is S x (S+1): swapping its indices reads a node that does not exist (tested below)
CASES = [(m, f) for m in rec.MUTATIONS for f in ("explicit-bias", "bias-node", "residual")
         if (m, f) != ("indices-swapped", "bias-node")]


@pytest.mark.parametrize("mutation, form", CASES)
def test_every_mutation_is_caught(mutation, form):
    net = Network([3, 3, 3, 3], "sigmoid", "sigmoid", "bce", form=form, samples=2)
    try:
        wrong = rec.gradient(net, mutation)
    except IndexRangeError:  # the mutation names a node or a layer the network does not have
        return
    assert agree(net, wrong) != []


def test_swapped_indices_outside_a_range_is_an_error():
    net = Network([2, 3, 2], "sigmoid", "sigmoid", "bce", form="bias-node")
    with pytest.raises(IndexRangeError):
        rec.gradient(net, "indices-swapped")


def test_mutations_are_caught_with_the_generic_activation_exactly():
    net = Network([2, 2, 2, 2], "generic", "generic", "half-squared-error", samples=2)
    first_layer = [p for p in net.params if str(p).startswith(("W[1,", "b[1,"))]
    for mutation in rec.MUTATIONS:  # the first layer's gradients exist under every mutation
        assert agree(net, {**loss_gradient(net), **rec.gradient(net, mutation, first_layer)}) != [], mutation


def test_mutations_rewrite_the_statements_they_name():
    net = Network([2, 2, 2])
    right, _ = rec.recursion_of(net)
    wrong, _ = rec.recursion_of(net, "not-transposed")
    assert "W[l + 1, k, j]" in right.statements[1] and "W[l + 1, j, k]" in wrong.statements[1]
    dropped, _ = rec.recursion_of(net, "gprime-dropped")
    assert "gprime" in right.statements[1] and "gprime" not in dropped.statements[1]
    _, mean = rec.recursion_of(net, "mean-dropped")
    assert mean is False
