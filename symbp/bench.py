"""Benchmarks: medians measured in one run, with the ratios between them."""
from __future__ import annotations

import statistics
import time

from . import recursions as rec
import symengine as se

from .direct import directional_derivative, loss_gradient
from .equivalence import Engine
from .network import Network

SYMBOLIC_SIZES = {"small": [2, 2, 2, 1], "1k": [10, 30, 20, 10], "10k": [30, 100, 60, 20]}


def _verify_gradients(net: Network, points: int) -> tuple[float, int]:
    """Seconds to differentiate J by every parameter and check each against the recursion."""
    start = time.perf_counter()
    direct = loss_gradient(net)
    closed = rec.gradient(net)
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


MODES = {"per-parameter": _verify_gradients, "directional": _verify_directional}


def _sympy_gradients(net: Network, points: int) -> float:
    """The same work with SymPy alone: differentiate by every parameter, evaluate both sides at 60 digits."""
    import random

    import sympy

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
    """Verify every gradient of sigmoid/BCE networks; SymPy alone on the small one for the ratio."""
    results = []
    small = Network(SYMBOLIC_SIZES["small"], "sigmoid", "sigmoid", "bce")
    se_runs = [_verify_gradients(small, points) for _ in range(repeats)]
    sp_runs = [_sympy_gradients(small, points) for _ in range(repeats)]
    se_small, sp_small = (statistics.median(r[0] for r in runs) for runs in (se_runs, sp_runs))
    results.append(_row(small, "per-parameter", se_runs, sp_small / se_small, sp_small))
    plan = [("1k", "per-parameter"), ("1k", "directional"), ("10k", "directional")]
    if large:
        plan.append(("10k", "per-parameter"))
    for key, mode in plan:
        net = Network(SYMBOLIC_SIZES[key], "sigmoid", "sigmoid", "bce")
        n = 1 if (key, mode) == ("10k", "per-parameter") else repeats
        results.append(_row(net, mode, [MODES[mode](net, points) for _ in range(n)]))
    return results


def _row(net, mode, runs, ratio=None, sympy_seconds=None):
    return {
        "layers": net.architecture, "parameters": len(net.params), "mode": mode, "engine": "symengine",
        "seconds": statistics.median(r[0] for r in runs), "repeats": len(runs),
        "sympy_seconds": sympy_seconds, "ratio_sympy": ratio, "failures": max(r[1] for r in runs),
    }


def symbolic_text(results: list[dict]) -> str:
    lines = [f"{'layers':<14}{'parameters':>11}  {'mode':<14}{'seconds':>10}{'sympy s':>10}{'ratio':>8}  failures"]
    for r in results:
        sp = f"{r['sympy_seconds']:.3f}" if r["sympy_seconds"] is not None else "-"
        ratio = f"{r['ratio_sympy']:.0f}x" if r["ratio_sympy"] is not None else "-"
        lines.append(
            f"{r['layers']:<14}{r['parameters']:>11}  {r['mode']:<14}{r['seconds']:>10.3f}{sp:>10}{ratio:>8}  {r['failures']}"
        )
    lines.append(
        "seconds: median wall time (SymEngine) to check every gradient against the recursion at 3 random "
        "200-bit points; per-parameter: J differentiated by each parameter; directional: J differentiated "
        "once along random directions, which checks all components at once; sympy s: per-parameter with SymPy alone"
    )
    return "\n".join(lines)
