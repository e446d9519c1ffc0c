import pytest
import symengine as se

from symbp.calculus import recursions as rec
from symbp.calculus import dag
from symbp.calculus.dag import forward
from symbp.calculus.direct import d_loss_d_nodes, derivative, directional_derivative, loss_gradient, normalize
from symbp.calculus.equivalence import Engine
from symbp.model.network import Network

from helpers import central_difference, point_engine

PAIRINGS = [
    ("sigmoid", "sigmoid", "bce", "explicit-bias"),
    ("tanh", "softmax", "cross-entropy", "explicit-bias"),
    ("relu", "identity", "mse", "explicit-bias"),
    ("sigmoid", "sigmoid", "half-squared-error", "bias-node"),
    ("tanh", "softmax", "cross-entropy", "bias-node"),
]


@pytest.mark.parametrize("act, out, loss, form", PAIRINGS)
def test_gradient_matches_finite_differences(act, out, loss, form):
    net = Network([2, 3, 2], act, out, loss, form, samples=2)
    eng = point_engine(net, seed=3)
    grad = loss_gradient(net)
    for p in net.params:
        exact = eng.value(grad[p], 0)
        fd = central_difference(net.J, p, eng)
        assert abs(float(exact - fd)) < 1e-30 * max(1.0, abs(float(exact)))


def test_node_derivative_matches_finite_differences():
    net = Network([2, 2, 2], "sigmoid", "sigmoid", "bce")
    eng = point_engine(net, seed=5)
    # dJ/dz^1_1 through a cut: perturb b^1_1, which shifts z^1_1 one for one and nothing else
    (dz,) = d_loss_d_nodes(net, 0, "z", 1)[:1]
    b = net.symbols[("b", (1, 1))]
    assert abs(float(eng.value(dz, 0) - central_difference(net.J, b, eng))) < 1e-30


def test_derivative_of_a_node_by_a_node_and_by_a_parameter():
    net = Network([1, 1, 1], "identity", "identity", "half-squared-error")
    W2 = net.symbols[("W", (2, 1, 1))]
    assert derivative(net, 0, ("z", (2, 1)), ("z", (1, 1))) == W2
    assert derivative(net, 0, ("z", (2, 1)), ("W", (2, 1, 1))) == net.z(0, 1, 1)
    assert derivative(net, 0, ("z", (1, 1)), ("W", (2, 1, 1))) == 0


def test_against_torch_autograd():
    torch = pytest.importorskip("torch")
    net = Network([3, 4, 2], "sigmoid", "sigmoid", "bce", samples=2)
    eng = point_engine(net, seed=11)
    values = {s: float(v) for s, v in eng._points[0][0].items()}
    W1 = torch.tensor([[values[net.symbols[("W", (1, j, k))]] for k in (1, 2, 3)] for j in (1, 2, 3, 4)], dtype=torch.float64, requires_grad=True)
    b1 = torch.tensor([values[net.symbols[("b", (1, j))]] for j in (1, 2, 3, 4)], dtype=torch.float64, requires_grad=True)
    W2 = torch.tensor([[values[net.symbols[("W", (2, j, k))]] for k in (1, 2, 3, 4)] for j in (1, 2)], dtype=torch.float64, requires_grad=True)
    b2 = torch.tensor([values[net.symbols[("b", (2, j))]] for j in (1, 2)], dtype=torch.float64, requires_grad=True)
    X = torch.tensor([[values[s] for s in net.x(i)] for i in range(2)], dtype=torch.float64)
    Y = torch.tensor([[values[s] for s in net.y(i)] for i in range(2)], dtype=torch.float64)
    A = torch.sigmoid(torch.sigmoid(X @ W1.T + b1) @ W2.T + b2)
    J = torch.nn.functional.binary_cross_entropy(A, Y, reduction="sum") / 2
    J.backward()
    grad = loss_gradient(net)
    for (name, idx), s in net.symbols.items():
        t = {"W": {1: W1, 2: W2}, "b": {1: b1, 2: b2}}[name][idx[0]].grad
        ref = t[idx[1] - 1, idx[2] - 1] if name == "W" else t[idx[1] - 1]
        assert float(eng.value(grad[s], 0)) == pytest.approx(float(ref), rel=1e-9, abs=1e-12)


def test_directional_derivative_is_forward_accumulation_along_the_direction():
    net = Network([2, 3, 2], "tanh", "softmax", "cross-entropy", samples=2)
    r = {p: se.Symbol(f"_r[{p}]") for p in net.params}
    eng = Engine(lambda rng: net.sample_point(rng))
    assert eng.compare(directional_derivative(net, r), forward(net.J, r)).equal  # two independent passes
    # one wrong component is seen through the projection
    grad = loss_gradient(net)
    wrong = dict(grad)
    wrong[net.params[4]] = wrong[net.params[4]] * (1 + se.Rational(1, 10**12))
    assert not eng.compare(directional_derivative(net, r), se.Add(*[r[p] * wrong[p] for p in net.params])).equal


FORMS = [("sigmoid", "sigmoid", "bce", "explicit-bias"), ("tanh", "softmax", "cross-entropy", "bias-node"),
         ("relu", "identity", "mse", "explicit-bias"), ("generic", "generic", "half-squared-error", "bias-node"),
         ("identity", "identity", "mse", "explicit-bias")]


@pytest.mark.parametrize("act, out, loss, form", FORMS)
def test_accumulation_agrees_with_symengines_diff_of_the_composed_loss(act, out, loss, form):
    """The reverse pass against SymEngine differentiating J by each parameter, and by each cut node."""
    net = Network([2, 3, 2], act, out, loss, form, samples=2)
    eng = Engine(lambda rng: net.sample_point(rng), exact=False)
    grad = loss_gradient(net)
    for p in net.params:
        assert eng.compare(grad[p], normalize(net.J.diff(p), net=net)).equal, p
    for l in range(net.first + 1, net.L + 1):
        for j, mine in enumerate(d_loss_d_nodes(net, 1, "z", l), start=1):
            s = se.Symbol("_cut")
            cut = net.sample_loss(1, overrides={("z", (l, j)): s})
            theirs = normalize(cut.diff(s), net=net).subs({s: net.z(1, l, j)})
            assert eng.compare(mine, theirs).equal, (l, j)


def test_a_flat_sum_is_still_a_node():
    """With an identity output and squared error, SymEngine merges z^L into (z^L - y); the mark keeps it."""
    net = Network([1, 1], "identity", "identity", "mse")
    assert dag.key(net.z(0, 1, 1)) not in {k for _, k, _, _ in dag.topological(net.J)}
    assert d_loss_d_nodes(net, 0, "z", 1) == [2 * (net.z(0, 1, 1) - net.y(0)[0])]


def test_deep_network_against_finite_differences():
    net = Network([2] * 41, "tanh", "sigmoid", "bce")  # 40 layers: 2^40 paths from J to W^1
    eng = point_engine(net, seed=2)
    grad = loss_gradient(net)
    for p in (net.symbols[("W", (1, 1, 2))], net.symbols[("b", (20, 2))], net.symbols[("W", (40, 1, 1))]):
        assert abs(float(eng.value(grad[p], 0) - central_difference(net.J, p, eng))) < 1e-30
    b = net.symbols[("b", (1, 2))]  # b^1_2 shifts z^1_2 one for one
    assert abs(float(eng.value(d_loss_d_nodes(net, 0, "z", 1)[1], 0) - central_difference(net.J, b, eng))) < 1e-30


@pytest.mark.parametrize("mutation", list(rec.MUTATIONS))
def test_every_mutation_is_caught_at_depth(mutation):
    net = Network([2] * 25, "sigmoid", "sigmoid", "bce", samples=2)
    eng = Engine(lambda rng: net.sample_point(rng))
    direct = loss_gradient(net)
    below = [p for p in net.params if not str(p).startswith(("W[24,", "b[24,"))]  # the top layer's delta[25] is none
    closed = {**direct, **rec.gradient(net, rec.MUTATIONS[mutation], below)}
    r = {p: se.Symbol(f"_r[{p}]") for p in net.params}
    projected = se.Add(*[r[p] * closed[p] for p in net.params])
    assert not eng.compare(projected, directional_derivative(net, r)).equal
    assert any(not eng.compare(closed[p], direct[p]).equal for p in net.params)
    correct = rec.gradient(net)
    assert all(eng.compare(correct[p], direct[p]).equal for p in net.params)
