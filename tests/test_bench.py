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
    rows = [{"layers": "2-2", "parameters": 6, "mode": "directional", "seconds": 0.5, "sympy_seconds": 5.0,
             "ratio_sympy": 10.0, "failures": 0}]
    assert bench.symbolic_text(rows).splitlines()[1].split() == ["2-2", "6", "directional", "0.500", "5.000", "10x", "0"]


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
