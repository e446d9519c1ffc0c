import pytest
from hypothesis import given, settings, strategies as st

from symbp.calculus import recursions as rec
from symbp.calculus.direct import loss_gradient
from symbp.calculus.equivalence import Engine
from symbp.errors import ShapeError
from symbp.model.network import Network

PAIRINGS = [
    ("sigmoid", "sigmoid", "bce"),
    ("tanh", "softmax", "cross-entropy"),
    ("relu", "identity", "half-squared-error"),
    ("identity", "sigmoid", "mse"),
    ("generic", "generic", "half-squared-error"),
    ("generic", "generic", "bce"),
    ("sigmoid", "tanh", "mse"),
]
ASSUME = frozenset({"sum-y-is-1"})


def agree(net, closed, variant_name=None):
    eng = Engine(lambda rng: net.sample_point(rng, ASSUME), substitutions=net.assumption_substitutions(ASSUME))
    ref = loss_gradient(net)
    return [p for p in net.params if not eng.compare(closed[p], ref[p]).equal]


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(1, 3), min_size=2, max_size=4),
    pairing=st.sampled_from(PAIRINGS),
    form=st.sampled_from(["explicit-bias", "bias-node"]),
    samples=st.integers(1, 2),
)
def test_index_and_matrix_forms_agree_with_direct_differentiation(widths, pairing, form, samples):
    net = Network(widths, *pairing, form=form, samples=samples)
    assert agree(net, rec.gradient(net)) == []
    assert agree(net, rec.matrix_gradient(net)) == []


def test_input_by_output_layout():
    net = Network([2, 3, 2], "tanh", "sigmoid", "bce", layout="input-by-output", samples=2)
    assert agree(net, rec.gradient(net)) == [] and agree(net, rec.matrix_gradient(net)) == []


# theta^(l) is S x (S+1): swapping its indices leaves the range (a shape error, tested below)
CASES = [(m, f) for m in rec.MUTATIONS for f in ("explicit-bias", "bias-node") if (m, f) != ("indices-swapped", "bias-node")]


@pytest.mark.parametrize("mutation, form", CASES)
def test_every_mutation_is_caught(mutation, form):
    net = Network([3, 3, 3, 3], "sigmoid", "sigmoid", "bce", form=form, samples=2)
    assert agree(net, rec.gradient(net, rec.MUTATIONS[mutation])) != []


def test_swapped_indices_outside_a_range_is_a_shape_error():
    net = Network([3, 3, 3], "sigmoid", "sigmoid", "bce", form="bias-node")
    with pytest.raises(ShapeError):
        rec.gradient(net, rec.MUTATIONS["indices-swapped"])


def test_mutations_are_caught_with_the_generic_activation_exactly():
    net = Network([2, 2, 2, 2], "generic", "generic", "half-squared-error", samples=2)
    for mutation in rec.MUTATIONS:
        assert agree(net, rec.gradient(net, rec.MUTATIONS[mutation])) != [], mutation


def test_hadamard_checks_shapes():
    import symengine as se

    with pytest.raises(ShapeError, match="2x1 and a 1x2"):
        rec.hadamard(se.DenseMatrix([[1], [2]]), se.DenseMatrix([[1, 2]]))


def test_softmax_cross_entropy_base_case_needs_the_assumption():
    net = Network([2, 3], "sigmoid", "softmax", "cross-entropy")
    deltas, statement, needs = rec.base_case(net, 0)
    assert needs == {"sum-y-is-1"}
    from symbp.calculus.direct import d_loss_d_nodes

    direct = d_loss_d_nodes(net, 0, "z", 1)
    free = Engine(lambda rng: net.sample_point(rng))
    assumed = Engine(lambda rng: net.sample_point(rng, ASSUME), substitutions=net.assumption_substitutions(ASSUME))
    assert not all(free.compare(d, r).equal for d, r in zip(deltas, direct))
    assert all(assumed.compare(d, r).equal for d, r in zip(deltas, direct))
