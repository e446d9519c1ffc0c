import pytest

from symbp import bench
from symbp.model.network import Network


def test_gradient_check_counts_no_failures_on_a_correct_network():
    seconds, failures = bench._verify_gradients(Network([2, 2, 2, 1]), points=1)
    assert failures == 0 and seconds > 0


def test_directional_check_catches_a_wrong_recursion(monkeypatch):
    from symbp.calculus import recursions as rec

    net = Network([2, 2, 2, 1])
    assert bench._verify_directional(net, points=1)[1] == 0
    wrong = rec.gradient(net, rec.MUTATIONS["gprime-dropped"])
    monkeypatch.setattr(bench.rec, "gradient", lambda n: wrong)
    assert bench._verify_directional(net, points=1)[1] == 1


def test_sympy_reference_agrees():
    seconds, failures = bench._sympy_gradients(Network([1, 1, 1]), points=1)
    assert failures == 0 and seconds > 0


def test_text_table():
    rows = [{"layers": "2-2", "parameters": 6, "mode": "directional", "seconds": 0.5, "min": 0.4, "max": 0.7,
             "sympy_seconds": 5.0, "ratio_sympy": 10.0, "failures": 0}]
    assert bench.symbolic_text(rows).splitlines()[1].split() == [
        "2-2", "6", "directional", "0.500", "0.400", "0.700", "5.000", "10x", "0"]


def test_runs_are_interleaved_each_round_in_another_order():
    order = []
    runs = bench._interleaved({name: (lambda name=name: order.append(name) or (0.0, 0)) for name in "abc"}, 3)
    assert order == list("abcbcacab") and all(len(r) == 3 for r in runs.values())


def test_depth_series_rows_and_fitted_growth(monkeypatch):
    monkeypatch.setattr(bench, "DEPTHS", {2: (2, 4, 8)})
    rows = bench.depth_series(repeats=1, points=1)
    assert {(r["depth"], r["claim"]) for r in rows} == {(d, c) for d in (2, 4, 8) for c in (bench.ALL_CLAIMS, *bench.DEPTH_CLAIMS)}
    assert all(r["failures"] == 0 and r["min"] <= r["seconds"] <= r["max"] for r in rows)
    assert all(r["growth"] is not None for r in rows)
    text = bench.depth_text(rows).splitlines()
    assert text[0].split()[:3] == ["width", "depth", "verify"] and text[4].split()[:2] == ["2", "p"]


def test_one_claim_alone_fails_on_a_wrong_recursion(monkeypatch):
    from symbp.calculus.recursions import MUTATIONS
    from symbp.checking import verify

    assert bench._check_claim(2, 6, "delta[1]", 1)[1] == 0
    monkeypatch.setattr(bench, "claims", lambda net: verify.claims(net, MUTATIONS["gprime-dropped"]))
    assert bench._check_claim(2, 6, "delta[1]", 1)[1] == 1
    assert bench._check_claim(2, 6, "dJ/dW[1]", 1)[1] == 1


def test_growth_of_the_fitted_power():
    assert bench.growth([2, 4, 8, 16], [5.0, 1.0, 2.0, 4.0]) == pytest.approx(1.0)  # depth 2 is left out
    assert bench.growth([2, 4], [1.0, 2.0]) is None


def test_hand_written_reference_step_agrees_with_the_generated_step():
    import numpy as np

    from symbp.kernels.codegen import generate
    from symbp.train import load_kernels

    layers = [5, 7, 4, 3]
    m = load_kernels(generate(layers, "sigmoid", "softmax", "cross-entropy"))
    params = m.init_params(2)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((6, 5)), np.eye(3)[rng.integers(0, 3, 6)]
    ours, theirs = m.step(params, X, Y, 0.3), bench._reference_step(params, X, Y, 0.3, 3)
    assert set(ours) == set(theirs)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12, atol=1e-14)


def test_kernels_table_and_gemm_rate():
    assert bench.gemm_rate("float64", n=64, repeats=1) > 0
    row = {"layers": "4-8-3", "batch": 32, "dtype": "float64", "generated_s": 1e-4, "numpy_s": 2e-4, "torch_s": None,
           "ratio_numpy": 0.5, "ratio_torch": None, "gflops": 1.5, "gemm_gflops": 100.0}
    line = bench.kernels_text([row]).splitlines()[1].split()
    assert line == ["4-8-3", "32", "float64", "0.100", "0.200", "-", "0.50", "-", "1.5", "100"]


def test_localize_names_every_parameter_a_wrong_recursion_gets_wrong():
    net = Network([2, 3, 2, 1])
    seconds, failures = bench._localize(net, points=1)
    assert 0 < failures < len(net.params)  # the last layer's gradients do not use g'
