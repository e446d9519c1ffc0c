"""Benchmarks: medians measured in one run, with the ratios between them."""
from __future__ import annotations

import itertools
import math
import os
import random
import statistics
import sys
import time
from contextlib import contextmanager

import numpy as np
import symengine as se
import sympy

from .calculus import recursions as rec
from .calculus.direct import directional_derivative, loss_gradient
from .calculus.equivalence import Engine
from .calculus.prove import prove
from .checking.verify import claims, verify
from .kernels.codegen import generate
from .model.network import Network
from .train import load_kernels

SYMBOLIC_SIZES = {"small": [2, 2, 2, 1], "1k": [10, 30, 20, 10], "10k": [30, 100, 60, 20]}


def _verify_gradients(net: Network, points: int, variant=None) -> tuple[float, int]:
    """Seconds to differentiate J by every parameter and check each against the recursion; failures."""
    start = time.perf_counter()
    direct = loss_gradient(net)
    closed = rec.gradient(net, variant)
    engine = Engine(lambda rng: net.sample_point(rng), points=points)
    failures = sum(not engine.compare(closed[p], direct[p]).equal for p in net.params)
    return time.perf_counter() - start, failures


def _verify_directional(net: Network, points: int) -> tuple[float, int]:
    """Seconds to check every gradient at once: J differentiated along random directions."""
    start = time.perf_counter()
    r = {p: se.Symbol(f"_r[{p}]") for p in net.params}
    closed = rec.gradient(net)
    engine = Engine(lambda rng: net.sample_point(rng), points=points)
    ok = engine.compare(se.Add(*[r[p] * closed[p] for p in net.params]), directional_derivative(net, r)).equal
    return time.perf_counter() - start, int(not ok)


def _localize(net: Network, points: int) -> tuple[float, int]:
    """Per parameter against a recursion with g' dropped: every failing parameter named (with its counterexample)."""
    return _verify_gradients(net, points, "gprime-dropped")


MODES = {"per-parameter": _verify_gradients, "directional": _verify_directional, "localize": _localize}


def _sympy_gradients(net: Network, points: int) -> float:
    """The same work with SymPy alone: differentiate by every parameter, evaluate both sides at 60 digits."""
    J = net.J._sympy_()  # structural conversion; SymPy does all the timed work
    closed = {p: e._sympy_() for p, e in rec.gradient(net).items()}
    symbols = net.params + [s for i in range(net.samples) for s in net.x(i) + net.y(i)]
    start = time.perf_counter()
    rng = random.Random(0)
    pts = [{s._sympy_(): sympy.Rational(rng.randint(1, 999), 1000) for s in symbols} for _ in range(points)]
    failures = 0
    for p in net.params:
        d = sympy.diff(J, p._sympy_())
        for pt in pts:
            failures += bool(abs(d.evalf(60, subs=pt) - closed[p].evalf(60, subs=pt)) > 1e-40)
    return time.perf_counter() - start, failures


def symbolic(repeats: int = 3, large: bool = False, points: int = 3) -> list[dict]:
    """Verify every gradient of sigmoid/BCE networks, then the depth series; every row's runs interleaved.

    Rows: the small network (with SymPy alone for the ratio), 1k and 10k parameters checked per
    parameter or along one direction, then :func:`depth_series`.
    """
    small = Network(SYMBOLIC_SIZES["small"], "sigmoid", "sigmoid", "bce")
    plan = [("1k", "per-parameter"), ("1k", "directional"), ("10k", "directional")]
    if large:
        plan += [("10k", "per-parameter"), ("10k", "localize")]
    nets = {key: Network(SYMBOLIC_SIZES[key], "sigmoid", "sigmoid", "bce") for key in SYMBOLIC_SIZES}
    jobs = {("small", "symengine"): lambda: _verify_gradients(_fresh(small), points),
            ("small", "sympy"): lambda: _sympy_gradients(small, points)}
    for key, mode in plan:  # a fresh network each run: nothing is kept between runs
        jobs[(key, mode)] = (lambda key=key, mode=mode: MODES[mode](_fresh(nets[key]), points))
    runs = _interleaved(jobs, repeats)
    sympy_small = statistics.median(r[0] for r in runs[("small", "sympy")])
    se_small = statistics.median(r[0] for r in runs[("small", "symengine")])
    results = [_row(small, "per-parameter", runs[("small", "symengine")], sympy_small / se_small, sympy_small)]
    results += [_row(nets[key], mode, runs[(key, mode)]) for key, mode in plan]
    return results + depth_series(repeats, large, points)


def _fresh(net: Network) -> Network:
    return Network(net.widths, net.hidden.name, net.output.name, net.loss.name, net.form.name, net.layout, net.samples)


def _interleaved(jobs: dict, repeats: int) -> dict:
    """Each job once per round, every round in another order, so that a drift of the machine falls on all alike."""
    names = list(jobs)
    runs: dict = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            runs[name].append(jobs[name]())
    return runs


def _row(net, mode, runs, ratio=None, sympy_seconds=None):
    seconds = [r[0] for r in runs]
    return {
        "layers": net.architecture, "parameters": len(net.params), "mode": mode, "engine": "symengine",
        "seconds": statistics.median(seconds), "min": min(seconds), "max": max(seconds), "repeats": len(runs),
        "sympy_seconds": sympy_seconds, "ratio_sympy": ratio, "failures": max(r[1] for r in runs),
    }


# --- the depth series ------------------------------------------------------------------------------
DEPTHS = {2: (2, 4, 8, 16, 32, 64), 16: (2, 4, 8, 16, 32)}
LARGE_DEPTHS = {16: (64,)}
#: one claim for each kind of layer: the output layer's delta, the first hidden layer's delta (the
#: longest way back), and the weights into the first layer (one directional comparison)
DEPTH_CLAIMS = ("delta[L]", "delta[1]", "dJ/dW[1]")
ALL_CLAIMS = "verify (all)"


@contextmanager
def _deep_recursion(frames: int = 20000):
    """The network builder evaluates the forward equations recursively, about 20 frames a layer."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, frames))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def _depth_network(width: int, depth: int) -> Network:
    return Network([width] * (depth + 1), "sigmoid", "sigmoid", "bce")


def _verify_all(width: int, depth: int, points: int) -> tuple[float, int]:
    """Seconds to build the network and run every claim of ``verify``; failures."""
    start = time.perf_counter()
    report = verify(_depth_network(width, depth), points=points)
    return time.perf_counter() - start, sum(v.verdict != "holds" for v in report.verdicts)


def _check_claim(width: int, depth: int, claim_id: str, points: int) -> tuple[float, int]:
    """Seconds to build the network and check one claim alone, as ``verify`` checks it; failures."""
    start = time.perf_counter()
    net = _depth_network(width, depth)
    claim = {c.id: c for c in claims(net)}[claim_id.replace("[L]", f"[{net.L}]")]
    engine = Engine(lambda rng: net.sample_point(rng), points=points)
    if claim.projection is not None:
        ok = engine.compare(*claim.projection()).equal
    else:
        ok = all(engine.compare(lhs, rhs).equal for _, lhs, rhs in claim.elements())
    return time.perf_counter() - start, int(not ok)


def depth_series(repeats: int = 3, large: bool = False, points: int = 3) -> list[dict]:
    """sigmoid/BCE networks of width 2 and 16 and growing depth: every claim of ``verify``, and one claim
    of each kind alone; medians, min and max of interleaved runs, and the growth fitted over depth."""
    depths = {w: DEPTHS[w] + (LARGE_DEPTHS.get(w, ()) if large else ()) for w in DEPTHS}
    jobs = {}
    for width, ds in depths.items():
        for depth in ds:
            jobs[(width, depth, ALL_CLAIMS)] = lambda w=width, d=depth: _verify_all(w, d, points)
            for claim in DEPTH_CLAIMS:
                jobs[(width, depth, claim)] = lambda w=width, d=depth, c=claim: _check_claim(w, d, c, points)
    with _deep_recursion():
        runs = _interleaved(jobs, repeats)
    rows = []
    for (width, depth, claim), rs in runs.items():
        seconds = [r[0] for r in rs]
        rows.append({"series": "depth", "width": width, "depth": depth, "claim": claim,
                     "seconds": statistics.median(seconds), "min": min(seconds), "max": max(seconds),
                     "repeats": len(rs), "failures": max(r[1] for r in rs)})
    for row in rows:
        same = [r for r in rows if (r["width"], r["claim"]) == (row["width"], row["claim"])]
        row["growth"] = growth([r["depth"] for r in same], [r["seconds"] for r in same])
    return rows


def growth(depths, seconds, smallest: int = 4) -> float | None:
    """The exponent p of seconds ~ c depth^p, fitted by least squares on logarithms (depths >= smallest).

    >>> round(growth([4, 8, 16, 32], [1.0, 2.0, 4.0, 8.0]), 6), round(growth([4, 8, 16], [1.0, 4.0, 16.0]), 6)
    (1.0, 2.0)
    """
    points = [(math.log(d), math.log(s)) for d, s in zip(depths, seconds) if d >= smallest and s > 0]
    if len(points) < 2:
        return None
    mx, my = (sum(p[i] for p in points) / len(points) for i in (0, 1))
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def symbolic_text(results: list[dict]) -> str:
    rows = [r for r in results if r.get("series") != "depth"]
    lines = [f"{'layers':<14}{'parameters':>11}  {'mode':<14}{'seconds':>10}{'min':>9}{'max':>9}{'sympy s':>10}{'ratio':>8}  failures"]
    for r in rows:
        sp = f"{r['sympy_seconds']:.3f}" if r["sympy_seconds"] is not None else "-"
        ratio = f"{r['ratio_sympy']:.0f}x" if r["ratio_sympy"] is not None else "-"
        lines.append(
            f"{r['layers']:<14}{r['parameters']:>11}  {r['mode']:<14}{r['seconds']:>10.3f}{r['min']:>9.3f}{r['max']:>9.3f}"
            f"{sp:>10}{ratio:>8}  {r['failures']}"
        )
    lines.append(
        "seconds: median wall time (SymEngine) of interleaved runs, min and max beside it, to check every gradient "
        "against the recursion at 3 random 200-bit points; per-parameter: each parameter's derivative compared on "
        "its own (all of them from one reverse pass over J); directional: one comparison along a random direction, "
        "which checks all components at once; localize: per-parameter against a recursion with g' dropped, every "
        "failing parameter named with its counterexample (failures: how many); sympy s: per-parameter with SymPy alone"
    )
    depth = [r for r in results if r.get("series") == "depth"]
    if depth:
        lines += ["", depth_text(depth)]
    return "\n".join(lines)


def depth_text(rows: list[dict]) -> str:
    claims_ = list(dict.fromkeys(r["claim"] for r in rows))
    lines = [f"{'width':>5}{'depth':>7}  " + "".join(f"{c:>24}" for c in claims_)]
    for width, depth in dict.fromkeys((r["width"], r["depth"]) for r in rows):
        cells = {r["claim"]: r for r in rows if (r["width"], r["depth"]) == (width, depth)}
        lines.append(f"{width:>5}{depth:>7}  " + "".join(f"{_cell(cells[c]):>24}" for c in claims_))
    for width in dict.fromkeys(r["width"] for r in rows):
        fits = {r["claim"]: r["growth"] for r in rows if r["width"] == width}
        lines.append(f"{width:>5}{'p':>7}  " + "".join(f"{_power(fits[c]):>24}" for c in claims_))
    lines.append(
        "depth series: sigmoid/BCE networks [width] * (depth + 1), seconds to build the network and check (median "
        "(min-max) of interleaved runs, ! after a failure); verify (all): every claim of symbp verify; the others one "
        "claim alone on a fresh network; p: the fitted growth, seconds ~ depth^p over depths >= 4 (1 is linear)"
    )
    return "\n".join(lines)


def _cell(r) -> str:
    return f"{r['seconds']:.3f} ({r['min']:.3f}-{r['max']:.3f})" + ("!" if r["failures"] else "")


def _power(p) -> str:
    return "-" if p is None else f"{p:.2f}"


# --- kernels ------------------------------------------------------------------------------------
KERNEL_SHAPES = [([4, 8, 3], 32), ([64, 128, 10], 128), ([784, 256, 128, 10], 128), ([784, 1024, 1024, 10], 256)]


def _reference_step(params, X, Y, lr, L):
    """Hand-written NumPy backprop (sigmoid hidden, softmax output, cross-entropy): the baseline."""
    acts = [X]
    for l in range(1, L + 1):
        Z = acts[-1] @ params[f"W{l}"].T + params[f"b{l}"]
        if l < L:
            acts.append(1 / (1 + np.exp(-Z)))
        else:
            E = np.exp(Z - Z.max(axis=1, keepdims=True))
            acts.append(E / E.sum(axis=1, keepdims=True))
    N = X.shape[0]
    D = (acts[-1] - Y) / N
    new = {}
    for l in range(L, 0, -1):
        new[f"W{l}"] = params[f"W{l}"] - lr * (D.T @ acts[l - 1])
        new[f"b{l}"] = params[f"b{l}"] - lr * D.sum(axis=0)
        if l > 1:
            A = acts[l - 1]
            D = (D @ params[f"W{l}"]) * (A * (1 - A))
    return new


def _torch_setup(params, X, Y, dtype):
    # torch's OpenMP workers spin-wait between calls by default; interleaved with NumPy's BLAS threads on
    # two cores that spinning slows whichever contender runs next. Passive waiting keeps the rounds fair
    # (measured here: with spinning, torch alone at 64-128-10 varied from 1 ms to 90 ms).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        return None
    tdtype = getattr(torch, dtype)
    tp = {k: torch.tensor(v, dtype=tdtype, requires_grad=True) for k, v in params.items()}
    tX, tY = torch.tensor(X, dtype=tdtype), torch.tensor(Y, dtype=tdtype)
    L = len(params) // 2

    def step():
        A = tX
        for l in range(1, L + 1):
            Z = A @ tp[f"W{l}"].T + tp[f"b{l}"]
            A = torch.sigmoid(Z) if l < L else Z
        loss = -(tY * torch.log_softmax(A, dim=1)).sum() / tX.shape[0]
        grads = torch.autograd.grad(loss, list(tp.values()))
        with torch.no_grad():
            for p, g in zip(tp.values(), grads):
                p -= 0.1 * g

    return step


def _time(fn, min_seconds=0.05):
    """Seconds per call: as many calls as fill min_seconds, at least one."""
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / n


def gemm_rate(dtype: str, n: int = 1024, repeats: int = 5) -> float:
    """The machine's matrix-product rate in GFLOP/s (2 n^3 per n x n product), median of repeats."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    return 2 * n**3 / statistics.median(_time(lambda: A @ B, 0.05) for _ in range(repeats)) / 1e9


def kernels(repeats: int = 12) -> list[dict]:
    """One training step: generated kernels, hand-written NumPy and PyTorch, interleaved, medians."""
    results = []
    for dtype in ("float64", "float32"):
        gemm = gemm_rate(dtype)
        for layers, batch in KERNEL_SHAPES:
            module = load_kernels(generate(layers, "sigmoid", "softmax", "cross-entropy", dtype=dtype))
            params = module.init_params(0)
            rng = np.random.default_rng(1)
            X = rng.standard_normal((batch, layers[0])).astype(dtype)
            Y = np.eye(layers[-1], dtype=dtype)[rng.integers(0, layers[-1], batch)]
            L = len(layers) - 1
            torch_step = _torch_setup(params, X, Y, dtype)
            runs = {"generated": [], "numpy": [], "torch": []}
            steps = [lambda: module.step(params, X, Y, 0.1), lambda: _reference_step(params, X, Y, 0.1, L)]
            for warm in steps + ([torch_step] if torch_step else []):
                warm()  # first calls pay for page faults and thread start-up
            contenders = {"generated": steps[0], "numpy": steps[1]}
            if torch_step is not None:
                contenders["torch"] = torch_step
            orders = list(itertools.permutations(contenders))
            for r in range(repeats):
                # interleaved, each round in another order (every permutation in turn): drifts of a shared
                # machine, and threads a previous contender leaves spinning, fall on all of them alike
                for name in orders[r % len(orders)]:
                    runs[name].append(_time(contenders[name]))
            gen, ref = statistics.median(runs["generated"]), statistics.median(runs["numpy"])
            tor = statistics.median(runs["torch"]) if runs["torch"] else None
            flops = 6 * batch * sum(a * b for a, b in zip(layers, layers[1:]))
            results.append({
                "layers": "-".join(map(str, layers)), "batch": batch, "dtype": dtype,
                "generated_s": gen, "numpy_s": ref, "torch_s": tor,
                "ratio_numpy": gen / ref, "ratio_torch": gen / tor if tor else None,
                "gflops": flops / gen / 1e9, "gemm_gflops": gemm,
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") if tor else None,
            })
    return results


def kernels_text(results: list[dict]) -> str:
    head = f"{'layers':<18}{'batch':>6}{'dtype':>9}{'generated':>11}{'numpy':>10}{'torch':>10}{'/numpy':>8}{'/torch':>8}{'GFLOP/s':>9}{'gemm':>7}"
    lines = [head]
    for r in results:
        torch_s = f"{r['torch_s'] * 1e3:.3f}" if r["torch_s"] else "-"
        rt = f"{r['ratio_torch']:.2f}" if r["ratio_torch"] else "-"
        lines.append(
            f"{r['layers']:<18}{r['batch']:>6}{r['dtype']:>9}{r['generated_s'] * 1e3:>11.3f}{r['numpy_s'] * 1e3:>10.3f}"
            f"{torch_s:>10}{r['ratio_numpy']:>8.2f}{rt:>8}{r['gflops']:>9.1f}{r['gemm_gflops']:>7.0f}"
        )
    lines.append("times in ms per training step (median of interleaved runs); /numpy and /torch: generated time over "
                 "theirs (<= 1 is as fast or faster); GFLOP/s = 6 N sum n_(l-1) n_l / generated time; gemm: the "
                 "machine's 1024x1024 matrix-product rate in the same run")
    return "\n".join(lines)


# --- proofs ---------------------------------------------------------------------------------------
PROVE_PAIRINGS = [
    ("generic", "generic", "half-squared-error"), ("generic", "generic", "mse"), ("generic", "generic", "bce"),
    ("sigmoid", "sigmoid", "bce"), ("tanh", "softmax", "cross-entropy"), ("generic", "softmax", "cross-entropy"),
    ("relu", "identity", "mse"), ("generic", "sigmoid", "half-squared-error"), ("identity", "tanh", "mse"),
]


def prove_all(repeats: int = 3) -> list[dict]:
    """Every pairing in both forms, proved without the cross-check; medians of the total."""
    totals, rows = [], []
    for r in range(repeats):
        start = time.perf_counter()
        for form in ("explicit-bias", "bias-node"):
            for pairing in PROVE_PAIRINGS:
                t = time.perf_counter()
                ok = prove(*pairing, form=form).ok
                if r == 0:
                    rows.append({"pairing": "/".join(pairing), "form": form, "proved": ok, "seconds": time.perf_counter() - t})
        totals.append(time.perf_counter() - start)
    rows.append({"pairing": "all", "form": "both", "proved": all(r["proved"] for r in rows),
                 "seconds": statistics.median(totals), "repeats": repeats})
    return rows


def prove_text(rows: list[dict]) -> str:
    lines = [f"{'pairing':<40}{'form':<15}{'proved':<8}{'seconds':>8}"]
    lines += [f"{r['pairing']:<40}{r['form']:<15}{str(r['proved']):<8}{r['seconds']:>8.2f}" for r in rows]
    lines.append("the last row: median total over the repeats (goal: <= 10 s)")
    return "\n".join(lines)
