import pytest
import symengine as se

from symbp.errors import IndexRangeError, UnknownNameError, UsageError
from symbp.model.network import Network
from symbp.calculus.equivalence import Engine


def test_hand_computed_forward_pass():
    net = Network([1, 1], activation="identity", output="identity", loss="half-squared-error")
    (W, b), (x,), (y,) = net.params, net.x(0), net.y(0)
    values = {W: se.Integer(3), b: se.Integer(-1), x: se.Integer(2), y: se.Integer(4)}
    assert net.z(0, 1, 1).subs(values) == 5  # 3*2 - 1
    assert net.J.subs(values) == se.Rational(1, 2)  # (5 - 4)^2 / 2


def test_weight_layouts_index_differently():
    out_in = Network([2, 3], layout="output-by-input")
    in_out = Network([2, 3], layout="input-by-output")
    names = lambda e: sorted(str(s) for s in e.free_symbols if str(s).startswith("W"))
    assert names(out_in.z(0, 1, 3)) == ["W[1,3,1]", "W[1,3,2]"]  # W^1_{j,k}: row j = 3
    assert names(in_out.z(0, 1, 3)) == ["W[1,1,3]", "W[1,2,3]"]  # w^1_{i,j}: column j = 3


def test_bias_node_eq8_is_a_consequence_of_eq5():
    net = Network([3, 2, 2], activation="generic", output="generic", loss="half-squared-error", form="bias-node")
    assert [net.z(0, l, 0) for l in (1, 2, 3)] == [1, 1, 1]
    assert len(net.params) == 2 * 4 + 2 * 3  # theta^(l) is S_{l+1} x (S_l + 1)
    assert net.param("theta", (1, 0, 0)) == 1 and net.param("theta", (1, 0, 2)) == 0  # eq (6)


def test_bias_node_and_explicit_bias_are_the_same_network():
    """theta^(l-1)_{j,0} plays b^l_j and theta^(l-1)_{j,k} plays W^l_{j,k}: the losses agree."""
    ex = Network([2, 3, 2], "sigmoid", "sigmoid", "bce", samples=2)
    bn = Network([2, 3, 2], "sigmoid", "sigmoid", "bce", form="bias-node", samples=2)
    rename = {}
    for (name, idx), s in bn.symbols.items():
        l, j, k = idx
        rename[s] = ex.symbols[("b", (l, j))] if k == 0 else ex.symbols[("W", (l, j, k))]
    eng = Engine(lambda rng: ex.sample_point(rng))
    assert eng.compare(ex.J, bn.J.subs(rename)).equal


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(activation="swash"), "unknown activation 'swash'"),
        (dict(loss="hinge"), "unknown loss 'hinge'"),
        (dict(activation="softmax"), "only allowed on the output layer"),
        (dict(output="identity", loss="cross-entropy"), "does not fit output activation 'identity'; use --output softmax"),
        (dict(output="softmax", loss="bce"), "does not fit"),
        (dict(layers=[3, 0, 2]), "width must be a whole number >= 1"),
        (dict(layers=[3]), "at least an input and an output"),
        (dict(layers="3,x"), "comma-separated"),
        (dict(samples=0), "samples must be"),
        (dict(form="skip"), "unknown form 'skip'"),
    ],
)
def test_bad_input(kwargs, message):
    kwargs = {"layers": [3, 4, 2], **kwargs}
    with pytest.raises((UsageError, UnknownNameError), match=message):
        Network(**kwargs)


def test_out_of_range_quantity():
    net = Network([2, 2])
    with pytest.raises(IndexRangeError, match=r"z\[1,5\] is not defined"):
        net.z(0, 1, 5)
    with pytest.raises(IndexRangeError, match="layer 4 does not exist"):
        net.width(4)


def test_unknown_assumption():
    with pytest.raises(UsageError, match="unknown assumption"):
        Network([2, 2]).assumption_substitutions({"y-is-one-hot"})


def test_softmax_targets_sum_to_one_under_the_assumption():
    import random

    net = Network([2, 3], output="softmax", loss="cross-entropy")
    point = net.sample_point(random.Random(0), {"sum-y-is-1"})
    assert se.Add(*[point[y] for y in net.y(0)]) == 1
