"""DAG walks and derivatives: exact identity, each node once, and SymEngine's own diff as the reference."""
import symengine as se
from hypothesis import given, settings, strategies as st

from symbp.calculus import dag
from symbp.calculus.equivalence import Engine
from symbp.model.activations import h, h_prime

from helpers import tangle

x, y, z = se.symbols("x y z")


def test_key_is_equal_exactly_when_the_expressions_are():
    assert dag.key(x + y) == dag.key(y + x) and dag.key(se.exp(x) * y) == dag.key(y * se.exp(x))
    assert dag.key(tangle(x, 50)) == dag.key(tangle(z, 50).xreplace({z: x}))  # built apart
    assert hash(x + y) == hash(2 * x + 2 * y) and dag.key(x + y) != dag.key(2 * x + 2 * y)
    assert dag.key(se.Integer(2) * x) != dag.key(se.RealDouble(2.0) * x)  # a float is not silently exact
    assert dag.key(h(x)) != dag.key(h_prime(x)) and dag.key(x**2) != dag.key(2**x)
    assert dag.key(3) == dag.key(se.Integer(3))


def test_key_survives_temporary_objects_and_the_tables_starting_over(monkeypatch):
    def keys():  # each product is freed as soon as it is keyed, unless the table keeps it
        return [dag.key(se.Symbol(f"s{i}") * (x + i)) for i in range(300)]

    first = keys()
    assert len(set(first)) == 300 and keys() == first
    monkeypatch.setattr(dag, "_ADDRESS_LIMIT", 10)  # start over on almost every call: addresses are reused
    assert keys() == first  # interned again, to the same identities
    monkeypatch.setattr(dag, "_STRUCTURE_LIMIT", 10)
    again = keys()
    assert len(set(again)) == 300 and not set(again) & set(first)  # new identities, never an old one


def test_walks_visit_each_distinct_node_once():
    e = tangle(x, 40)
    order = dag.topological(e)
    assert len(order) == len({k for _, k, _, _ in order}) < 10 * 40
    calls = []
    dag.transform(e, lambda a: calls.append(a) or a, lambda n, args: calls.append(n) or dag.rebuild(n, args))
    assert len(calls) == len(order)


def test_substitute_rebuilds_only_above_a_replaced_atom():
    e = se.exp(x) + se.sin(y)
    assert dag.substitute(e, {}) is e
    assert dag.substitute(e, {x: z**2}) == se.exp(z**2) + se.sin(y)
    relu = se.Piecewise((0, x <= 0), (x, True))
    assert dag.substitute(relu * y, {y: 2}) == 2 * relu


def test_substitute_on_a_deep_dag():
    e = dag.substitute(tangle(z, 60), {z: x})
    assert dag.key(e) == dag.key(tangle(x, 60))


FUNCTIONS = [se.exp, se.log, se.tanh, se.sin, se.erf, se.sqrt, lambda u: 1 / (1 + se.exp(-u)), lambda u: u**3,
             lambda u: se.Piecewise((0, u <= 0), (u, True)), lambda u: se.Piecewise((u / 10, u <= 0), (u**2, True))]


@st.composite
def expressions(draw, depth=4):
    """Random expressions in x, y, z over sums, products, powers and the functions above, with sharing."""
    pool = [x, y, z, x + 2, y * z]
    for _ in range(draw(st.integers(2, 8))):
        a, b = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
        op = draw(st.integers(0, 4))
        if op == 0:
            new = a + b
        elif op == 1:
            new = a * b
        elif op == 2:
            new = draw(st.sampled_from(FUNCTIONS))(a)
        elif op == 3:
            new = a ** draw(st.sampled_from([2, -1, se.Rational(1, 2)]))
        else:
            new = a * draw(st.sampled_from([se.Integer(3), se.sqrt(2), se.pi])) - b
        pool.append(new)
    return pool[-1]


def positive_point(rng):
    """x, y, z in (1/2, 1): logs, square roots and negative powers are defined."""
    return {s: se.Rational(rng.randint(500, 999), 1000) for s in (x, y, z)}


@settings(max_examples=60, deadline=None)
@given(expressions())
def test_reverse_and_forward_agree_with_symengines_diff(e):
    eng = Engine(positive_point, points=2, exact=False)
    grads = dag.reverse(e, [x, y, z])
    for s in (x, y, z):
        assert eng.compare(grads[s], e.diff(s)).equal, s
    r = {x: se.Integer(3), y: se.Rational(-1, 2), z: se.Integer(5)}
    assert eng.compare(dag.forward(e, r), se.Add(*[r[s] * grads[s] for s in r])).equal


def test_the_generic_activation_differentiates_to_hprime():
    e = h(x * h(y))
    d = dag.reverse(e, [x, y])
    assert d[x] == h_prime(x * h(y)) * h(y)
    assert d[y] == h_prime(x * h(y)) * x * h_prime(y)
    assert dag.forward(e, {y: 1}) == d[y]


def test_a_wrong_local_rule_would_be_seen(monkeypatch):
    """The agreement above is not vacuous: a product rule that drops a factor is caught."""
    original = dag.partials

    def wrong(e, args, which):
        out = original(e, args, which)
        return [(k, d * 2) if type(e).__name__ == "Mul" else (k, d) for k, d in out]

    monkeypatch.setattr(dag, "partials", wrong)
    e = x * se.exp(y)
    eng = Engine(positive_point, exact=False)
    assert not eng.compare(dag.reverse(e, [x])[x], e.diff(x)).equal


def test_a_mark_keeps_a_named_sum_apart():
    u = dag.mark(x + y, 0)
    e = u + z + u * x  # unmarked, x + y + z would be one flat sum
    assert dag.reverse(e, [u])[u] == 1 + x
    assert dag.unmark(e) == x + y + z + (x + y) * x
    v = dag.mark(x + y, 1)  # an equal value, another quantity
    assert dag.reverse(u * v, [u, v]) == {u: v, v: u}


def test_reverse_on_a_deep_dag_is_a_dag_of_about_the_same_size():
    e = tangle(x, 60)
    d = dag.reverse(e, [x])[x]
    assert len(dag.topological(d)) < 40 * len(dag.topological(e))
    eng = Engine(lambda rng: {x: se.Rational(rng.randint(1, 999), 1000)}, exact=False)
    small = tangle(x, 8)
    assert eng.compare(dag.reverse(small, [x])[x], small.diff(x)).equal
    v = eng.value(d, 0)
    assert v.is_Number


def test_abs_differentiates_to_the_sign():
    # SymEngine leaves d|u|/du unevaluated, which no point can evaluate; the sign is its value off u = 0
    assert dag.reverse(se.Abs(x - y) * z, [x])[x] == z * se.sign(x - y)
