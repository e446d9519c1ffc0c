from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from symbp import lang as il
from symbp.errors import ParseError


class _Toy(il.Evaluator):
    """x[k] is len(idx) + sum(idx) unless given; every per-layer function is 100; L is 3."""

    def __init__(self, values):
        self.values = values

    def ref(self, name, idx):
        return self.values.get((name, idx), Fraction(len(idx) + sum(idx)))

    def apply(self, node, env):
        return Fraction(100)

    def constant(self, name):
        return {"L": 3}[name]


def evaluate(text, env=None, values=None):
    return _Toy(values or {}).eval(il.parse_expr(text), env or {})


def test_sum_kronecker_and_condition():
    assert evaluate("sum(I(k, 2) * x[k], (k, 1, 3))") == 1 + 2  # x[2] -> 1 + 2
    assert evaluate("sum(k, (k, 1, L))") == 6
    assert evaluate("1/2 if p == 0 else 3", {"p": 0}) == Fraction(1, 2)
    assert evaluate("1/2 if p == 0 else 3", {"p": 1}) == 3
    assert evaluate("sum(1, (k, 1, 0))") == 0  # an empty range sums to 0


def test_equation_and_ranges():
    eq = il.parse_equation("C[l,j,k] = 1/h[l](1) if k == 0 else 1")
    assert eq.lhs.name == "C" and isinstance(eq.rhs, il.Cond)
    assert [r[0] for r in il.parse_ranges("(l, 1, L-1), (k, 0, S[l])")] == ["l", "k"]
    assert il.names_in(eq.rhs) == {"h"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os')", "not a valid name"),
        ("x.y", "Attribute is not part"),
        ("lambda: 1", "Lambda is not part"),
        ("'text'", "only numbers"),
        ("f(1, 2)", "unknown function"),
        ("z[l](1)(2)", "can be called"),
        ("sum(x)", "write a sum as"),
        ("x[", "cannot read"),
        ("[1, 2]", "List is not part"),
        ("x % y", "operator Mod"),
        ("d(x)", "write a derivative as"),
    ],
)
def test_rejects_code_with_a_message(text, message):
    with pytest.raises(ParseError, match=message):
        il.parse_expr(text, "claim (3)")


def test_error_names_the_place():
    with pytest.raises(ParseError, match=r"^claim \(43\): .*column"):
        il.parse_expr("delta[l,p] +* 2", "claim (43)")
    with pytest.raises(ParseError, match="expected one '='"):
        il.parse_equation("z[l,j] == 1")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abzxhIW[](),.:=+-*/ 0123456789_'\"lambdsum\\\n", max_size=40))
def test_fuzz_only_clean_errors(text):
    try:
        il.parse_expr(text)
    except ParseError:
        pass


@pytest.mark.parametrize("text, printed", [
    ("1 <= j <= n[l]", "1 <= j and j <= n[l]"),
    ("k == 0 or not p > 1", "k == 0 or not p > 1"),
    ("exp(-u) * max(u, 0) + pi", "exp(-u) * max(u, 0) + pi"),
    ("(a if abs(u) <= 1 and u != 0 else b)", "(a if abs(u) <= 1 and u != 0 else b)"),
])
def test_functions_and_conditions_read_and_print_back(text, printed):
    tree = il.parse_expr(text)
    assert il.to_text(tree) == printed
    assert il.parse_expr(il.to_text(tree)) == tree


@pytest.mark.parametrize("text, message", [
    ("exp(1, 2)", "exp takes 1 argument"),
    ("max(u)", "max takes 2 argument"),
    ("frobnicate(u, v)", "unknown function 'frobnicate'"),
])
def test_functions_check_their_arity(text, message):
    with pytest.raises(ParseError, match=message):
        il.parse_expr(text)


def test_conditions_on_indices_are_decided_and_combine():
    assert evaluate("1 if 1 <= k <= 3 and not k == 2 else 0", {"k": 3}) == 1
    assert evaluate("1 if 1 <= k <= 3 and not k == 2 else 0", {"k": 2}) == 0
    assert evaluate("1 if k < 0 or k > 2 else 0", {"k": 5}) == 1


def test_a_node_the_visitor_does_not_know_is_a_clear_error():
    class OnlyNumbers(il.Visitor):
        def visit_Num(self, node):
            return node.value

    with pytest.raises(il.Visitor.unknown.__globals__["UnknownNodeError"], match="OnlyNumbers cannot handle Ref"):
        OnlyNumbers().visit(il.parse_expr("x[1]"))
