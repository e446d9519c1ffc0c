from symbp import bench
from symbp.network import Network


def test_gradient_check_counts_no_failures_on_a_correct_network():
    seconds, failures = bench._verify_gradients(Network([2, 2, 2, 1]), points=1)
    assert failures == 0 and seconds > 0


def test_directional_check_catches_a_wrong_recursion(monkeypatch):
    from symbp import recursions as rec

    net = Network([2, 2, 2, 1])
    assert bench._verify_directional(net, points=1)[1] == 0
    wrong = rec.gradient(net, rec.MUTATIONS["gprime-dropped"])
    monkeypatch.setattr(bench.rec, "gradient", lambda n: wrong)
    assert bench._verify_directional(net, points=1)[1] == 1


def test_sympy_reference_agrees():
    seconds, failures = bench._sympy_gradients(Network([1, 1, 1]), points=1)
    assert failures == 0 and seconds > 0


def test_text_table():
    rows = [{"layers": "2-2", "parameters": 6, "mode": "directional", "seconds": 0.5, "sympy_seconds": 5.0,
             "ratio_sympy": 10.0, "failures": 0}]
    assert bench.symbolic_text(rows).splitlines()[1].split() == ["2-2", "6", "directional", "0.500", "5.000", "10x", "0"]
