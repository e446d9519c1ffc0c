"""Fuzzing ``symbp check`` with generated derivation files: no crash, no hang, no code run, no false "holds".

Each file is one of six kinds: a mutation of a bundled derivation, an injection attempt in one field, huge
numbers, deep nesting, a value of the wrong type, or planted claims whose truth is known (true claims
and perturbed false ones: a tiny literal offset, a transposed vector, an index swap, a layer that does not
exist). Files are checked in batches by ``symbp check -j N --format json``; the run counts

- crashes: a batch whose exit code is not 0, 1 or 2, or whose stderr shows an internal error or a traceback;
- hangs: a claim whose time is past its budget (three steps of ``--budget`` each, plus a second), or a batch
  that runs past the sum of its claims' budgets;
- executions: a canary file that an injected payload would create, found after the run;
- false holds: a planted false claim (id starting ``false:``) with the verdict ``holds``.

With ``--codegen K`` it also runs ``symbp codegen`` on K files whose gradient claim carries an injected id
(quotes, backslashes, a NUL, a line separator) and imports each module written: none may fail to import or
run a payload.

Usage (from the repository root)::

    python tools/fuzz_derivations.py --files 10000 --jobs 2 --budget 2 --seed 1 --codegen 40

prints one line per batch and a summary; exit code 0 when every count is zero. The test suite runs a
smaller share of the same generator (``tests/test_fuzz.py``).
"""
from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CANARY = "FUZZ_CANARY"
KINDS = ("mutate", "inject", "huge", "deep", "types", "planted")

#: Python that would create the canary if anything ran it
PAYLOADS = [
    f'__import__("os").system("touch {CANARY}")',
    f"__import__('os').system('touch {CANARY}')",
    f'open("{CANARY}", "w")',
    f'exec("open(\\"{CANARY}\\", \\"w\\")")',
    f'eval("open(\\"{CANARY}\\", \\"w\\")")',
    f'(lambda: open("{CANARY}", "w"))()',
    f'x[1].__class__.__base__.__subclasses__()',
    f'[open("{CANARY}", "w") for k in (1,)]',
    f'f"{{open(\\"{CANARY}\\", \\"w\\")}}"',
    f'x[1] if open("{CANARY}", "w") else 0',
    f'breakpoint()',
    f'globals()["__builtins__"]',
    f'"""; open("{CANARY}", "w"); """',
    f'\\N{{LATIN SMALL LETTER A}}',
    f"{{x[1]: 1}}",
    f"x[1] := 3",
    f"import os",
    f"x[1]; open('{CANARY}', 'w')",
    f"sum(x[k], (k, 1, 2), key=open('{CANARY}', 'w'))",
    f"h[1](z[1,1]).__globals__",
]
HUGE = ["2**(2**62)", "10**10**10", "(10**9)**(10**9)", "1e309", "1e-400", "1e999", "1e99999", "9" * 1200,
        "x[1]**(10**9)", "(x[1] + 1)**(10**6)", "sum(x[1], (k, 1, 10**12))", "W[10**18,1,1]", "x[10**30]",
        "2**-(2**40)", "0**-1", "1/0", "0/0", "(-1)**(1/2)", "x[1]**(1/2)", "(-8)**(1/3)", "1e-999999",
        "10**(-10**8)", "x[1] / (x[1] - x[1])", "I(10**20, 10**20)", "n[10**9]", "W[10**5000,1,1]",
        "z[1,1/0]", "x[2**(2**62)]"]
TRUE = [  # (statement, ranges, form, shape): true for an explicit-bias sigmoid/bce network, one sample
    ("d(e)/d(b[L,j]) = a[L,j] - y[j]", "(j, 1, n[L])", "index", None),
    ("d(e)/d(W[L,j,k]) = (a[L,j] - y[j]) * a[L-1,k]", "(j, 1, n[L]), (k, 1, n[L-1])", "index", None),
    ("d(e)/d(z[l,j]) = gprime[l](z[l,j]) * sum(W[l+1,k,j] * d(e)/d(z[l+1,k]), (k, 1, n[l+1]))",
     "(l, 1, L-1), (j, 1, n[l])", "index", None),
    ("d(e)/d(W[l,j,k]) = d(e)/d(z[l,j]) * a[l-1,k]", "(l, 1, L), (j, 1, n[l]), (k, 1, n[l-1])", "index", None),
    ("d(e)/d(b[L]) = a[L] - y", "", "matrix", "n[L] x 1"),
    ("d(J)/d(W[L]) = (a[L] - y) @ T(a[L-1])", "", "matrix", "n[L] x n[L-1]"),
    ("0.1 + 0.2 = 0.3", "", "index", None),
    ("x[1] * 1.5 = x[1] * 3 / 2", "", "index", None),
]


def false_variants(rng: random.Random, statement, ranges, form, shape):
    """Perturbations of a true claim that are false (or errors): none of them may ever hold."""
    lhs, rhs = statement.split(" = ", 1)
    k = rng.choice([20, 40, 46, 60, 100, 200, 400, 999])
    out = [(f"{lhs} = ({rhs}) * (1 + 1e-{k})", ranges, form, shape),
           (f"{lhs} = {rhs} + 1e-{k}", ranges, form, shape)]
    if form == "matrix" and shape:
        rows, cols = shape.split(" x ")
        if rows != cols:
            out.append((f"{lhs} = T({rhs})", ranges, form, f"{cols} x {rows}"))
            out.append((f"{lhs} = T({rhs})", ranges, form, shape))
    if "W[L,j,k]" in lhs or "W[l,j,k]" in lhs:
        out.append((statement.replace("a[L-1,k]", "a[L-1,j]").replace("a[l-1,k]", "a[l-1,j]")
                    .replace("(k, 1, n[L-1])", "(k, 1, n[L-1])"), ranges.replace("n[L-1]", "n[L-1]"), form, shape))
    if "gprime[l]" in rhs:
        out.append((statement.replace("gprime[l](", "gprime[l+99]("), ranges, form, shape))
    if lhs.startswith("0.1"):
        out.append(("0.1 + 0.2 = 0.30000000000000004", ranges, form, shape))
    return [v for v in out if v[0] != statement]


def toml_string(text: str) -> str:
    """A TOML basic string holding ``text`` exactly."""
    return json.dumps(text, ensure_ascii=False)


def claim_toml(cid, statement, ranges="", form="index", shape=None, expect="holds", extra=""):
    lines = ["", "[[claim]]", f"id = {toml_string(cid)}", f"statement = {toml_string(statement)}",
             f"ranges = {toml_string(ranges)}", f"expect = {toml_string(expect)}"]
    if form != "index":
        lines.append(f"form = {toml_string(form)}")
    if shape:
        lines.append(f"shape = {toml_string(shape)}")
    return "\n".join(lines) + "\n" + extra


def header(archs="[[2, 2, 2]]", extra=""):
    return (f'title = "fuzz"\n[network]\nactivation = "sigmoid"\noutput = "sigmoid"\nloss = "bce"\n'
            f"architectures = {archs}\n{extra}")


def planted(rng: random.Random) -> str:
    text = header(rng.choice(["[[2, 2]]", "[[2, 3, 2]]", "[[3, 2, 2]]", "[[2, 2, 3, 2]]"]))
    for n, base in enumerate(rng.sample(TRUE, rng.randint(1, 3))):
        if base[1].startswith("(l, 1, L-1)") and "[[2, 2]]" in text:
            continue  # no hidden layer: the range would be empty
        text += claim_toml(f"true:{n}", *base)
        for m, variant in enumerate(false_variants(rng, *base)):
            text += claim_toml(f"false:{n}.{m}", *variant, expect="fails")
    return text


def inject(rng: random.Random) -> str:
    payload = rng.choice(PAYLOADS)
    field = rng.choice(["title", "id", "statement", "ranges", "note", "shape", "alias", "constant", "define",
                        "when", "activation", "rhs", "source"])
    base = TRUE[0]
    if field == "title":
        return header().replace('"fuzz"', toml_string(payload)) + claim_toml("c", *base)
    if field == "source":
        return f"source = {toml_string(payload)}\n" + header() + claim_toml("c", *base)
    if field == "id":
        return header() + claim_toml(payload, *TRUE[1])
    if field == "statement":
        return header() + claim_toml("c", payload)
    if field == "rhs":
        return header() + claim_toml("c", f"x[1] = {payload}")
    if field == "ranges":
        return header() + claim_toml("c", base[0], payload)
    if field == "note":
        return header() + claim_toml("c", *base, extra=f"note = {toml_string(payload)}\n")
    if field == "shape":
        return header() + claim_toml("c", "d(e)/d(b[L]) = a[L] - y", "", "matrix", payload)
    if field == "alias":
        return header(extra=f"aliases = {{ s = {toml_string(payload)} }}\n") + claim_toml("c", "s[1,1] = z[1,1]")
    if field == "constant":
        return header(extra=f"constants = [{toml_string(payload)}]\n") + claim_toml("c", *base)
    if field in ("define", "when"):
        case = (f'{{ when = {toml_string(payload)}, value = "1" }}' if field == "when"
                else f'{{ value = {toml_string(payload)} }}')
        return header() + f'\n[[define]]\nname = "q"\nindices = "l"\ncases = [{case}, {{ value = "0" }}]\n' + \
            claim_toml("c", "q[1] = 1")
    return header().replace('activation = "sigmoid"', f"activation = {toml_string(payload)}") + claim_toml("c", *base)


def huge(rng: random.Random) -> str:
    number = rng.choice(HUGE)
    where = rng.choice(["rhs", "index", "arch", "samples", "range"])
    if where == "arch":
        w = rng.choice([10**6, 10**9, 3000])
        return header(f"[[{w}, {w}]]") + claim_toml("c", "x[1] = x[1]")
    if where == "samples":
        return header(extra=f"samples = {rng.choice([10**9, 10**18, 5000])}\n") + claim_toml("c", "x[1] = x[1]")
    if where == "range":
        return header() + claim_toml("c", "x[1] = x[1]", f"(j, 1, {number})")
    if where == "index":
        return header() + claim_toml("c", f"z[1,{number}] = 1")
    return header() + claim_toml("c", f"x[1] = {number}", expect=rng.choice(["holds", "error", "fails"]))


def deep(rng: random.Random) -> str:
    n = rng.choice([50, 100, 200, 500, 1000, 3000])
    shape = rng.choice(["parens", "minus", "sum", "product", "deriv", "layers", "recursion", "power"])
    if shape == "layers":
        widths = ", ".join(["2"] * rng.choice([30, 60, 121]))
        return header(f"[[{widths}]]") + claim_toml("c", "d(e)/d(b[1,1]) = d(e)/d(z[1,1])")
    if shape == "recursion":
        return header() + ('\n[[define]]\nname = "q"\nindices = "l"\n'
                           'cases = [{ when = "l == 0", value = "1" }, { value = "q[l+1] + 1" }]\n') + \
            claim_toml("c", "x[1] = q[1]", expect="error")
    expr = {"parens": "(" * n + "x[1]" + ")" * n, "minus": "-" * n + "x[1]",
            "sum": " + ".join(["x[1]"] * n), "product": " * ".join(["x[1]"] * min(n, 300)),
            "deriv": "d(" * min(n, 60) + "e" + ")/d(x[1])" * min(n, 60),
            "power": "**".join(["x[1]"] * min(n, 50))}[shape]
    return header() + claim_toml("c", f"{n} * x[1] = {expr}", expect=rng.choice(["holds", "fails", "error"]))


WRONG = ["1", "1.5", "true", "[1, 2]", '["a"]', "{ a = 1 }", "1979-05-27", '""', "[[1]]", "-1", "0",
         '"\\u0000"', '"' + "x" * 300 + '"']


def types(rng: random.Random) -> str:
    key = rng.choice(["title", "activation", "output", "loss", "form", "layout", "samples", "assume",
                      "architectures", "aliases", "constants", "id", "statement", "ranges", "expect", "form_c",
                      "shape", "all_widths", "define", "cases", "formulation"])
    value = rng.choice(WRONG)
    net_keys = ("activation", "output", "loss", "form", "layout", "samples", "assume", "architectures",
                "aliases", "constants")
    if key == "title":
        return f"title = {value}\n[network]\n" + claim_toml("c", "x[1] = x[1]")
    if key in net_keys:
        return header().replace("architectures = [[2, 2, 2]]\n", "") + f"{key} = {value}\n" + \
            claim_toml("c", "x[1] = x[1]")
    if key in ("id", "statement", "ranges", "expect", "shape", "all_widths"):
        return header() + f"\n[[claim]]\n{key} = {value}\n" + \
            "".join(f'{k} = "{v}"\n' for k, v in (("id", "c"), ("statement", "x[1] = x[1]")) if k != key)
    if key == "form_c":
        return header() + claim_toml("c", "x[1] = x[1]") + f"form = {value}\n"
    if key == "formulation":
        return header() + f"[network.formulation]\nequations = {value}\nparameters = {value}\nfirst_layer = {value}\n" + \
            claim_toml("c", "x[1] = x[1]")
    if key == "define":
        return header() + f"\n[[define]]\nname = {value}\ncases = {value}\n" + claim_toml("c", "x[1] = x[1]")
    return header() + f'\n[[define]]\nname = "q"\nindices = {value}\ncases = [{value}]\n' + claim_toml("c", "q = 1")


def mutate(rng: random.Random) -> str:
    text = rng.choice(sorted((ROOT / "derivations").glob("*.toml"))).read_text(encoding="utf-8")
    lines = text.splitlines()
    # keep a small architecture so that a mutated file is quick to check
    lines = [re.sub(r"^architectures = .*", "architectures = [[2, 2, 2]]", l) for l in lines]
    for _ in range(rng.randint(1, 4)):
        k = rng.randrange(len(lines))
        action = rng.choice(["delete", "duplicate", "insert", "number", "swap"])
        if action == "delete":
            del lines[k]
        elif action == "duplicate":
            lines.insert(k, lines[k])
        elif action == "swap":
            j = rng.randrange(len(lines))
            lines[k], lines[j] = lines[j], lines[k]
        elif action == "number":
            lines[k] = re.sub(r"\b\d+\b", lambda m: rng.choice(["0", "-1", "99", "10**10**10", "1e400"]), lines[k], count=1)
        else:
            pos = rng.randint(0, len(lines[k]))
            token = rng.choice(list("[](),=\"' xyz0129_.+-*/@:;\\{}#") + ["__import__", "T(", "**", "1e-400", "\\N"])
            lines[k] = lines[k][:pos] + token + lines[k][pos:]
        if not lines:
            break
    return "\n".join(lines) + "\n"


GENERATORS = {"mutate": mutate, "inject": inject, "huge": huge, "deep": deep, "types": types, "planted": planted}
WEIGHTS = {"mutate": 3, "inject": 3, "huge": 2, "deep": 1, "types": 2, "planted": 4}


def derivation(seed: int, kind: str | None = None) -> tuple[str, str]:
    """The kind and text of the derivation file number ``seed`` (the same seed gives the same file)."""
    rng = random.Random(seed)
    kind = kind or rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    return kind, GENERATORS[kind](rng)


def check_batch(files, folder, budget, jobs, memory=1024, command=None):
    """Run ``symbp check`` on the files; (exit code, verdicts, stderr, seconds, limit)."""
    command = command or [sys.executable, "-m", "symbp"]
    claims = sum(max(1, (Path(folder) / f).read_text(encoding="utf-8", errors="replace").count("[[claim]]")) for f in files)
    limit = claims * 3 * budget + 10 * len(files) + 60  # every step of every claim at its budget, and start-up
    start = time.monotonic()
    try:
        r = subprocess.run([*command, "check", "--format", "json", "--budget", str(budget), "--memory", str(memory),
                            "-j", str(jobs), "--no-diagnosis", *map(str, files)],
                           cwd=folder, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired as exc:
        return None, [], (exc.stderr or b"").decode(errors="replace") if isinstance(exc.stderr, bytes) else "", limit, limit
    seconds = time.monotonic() - start
    try:
        verdicts = json.loads(r.stdout) if r.stdout.strip() else []
    except json.JSONDecodeError:
        verdicts = None
    return r.returncode, verdicts, r.stderr, seconds, limit


def judge(code, verdicts, stderr, seconds, limit, budget) -> dict:
    """The counts of one batch: crashes, hangs and false holds (executions are counted from the canary)."""
    out = {"crashes": 0, "hangs": 0, "false_holds": 0, "claims": 0, "planted_false": 0, "budget_hits": 0, "problems": []}
    if code is None:
        out["hangs"] += 1
        out["problems"].append(f"the batch ran past {limit:.0f} s")
        return out
    if code not in (0, 1, 2) or verdicts is None or "Traceback" in stderr or "internal error" in stderr:
        out["crashes"] += 1
        out["problems"].append(f"exit {code}: {stderr.strip()[-500:]}")
    for v in verdicts or []:
        out["claims"] += 1
        if v["seconds"] > 3 * budget + 1:
            out["hangs"] += 1
            out["problems"].append(f"{v.get('file')}: claim {v['id']} took {v['seconds']:.1f} s")
        if "time budget" in v.get("diagnosis", ""):
            out["budget_hits"] += 1
        out["planted_false"] += v["id"].startswith("false:")
        if v["id"].startswith("false:") and v["verdict"] == "holds":
            out["false_holds"] += 1
            out["problems"].append(f"{v.get('file')}: false claim {v['id']} holds: {v['statement']}")
    return out


def run(files: int, seed: int, budget: float, jobs: int, batch: int, keep: Path | None = None) -> dict:
    """Generate and check ``files`` files; the totals."""
    totals = {"files": 0, "claims": 0, "crashes": 0, "hangs": 0, "executions": 0, "false_holds": 0,
              "planted_false": 0, "budget_hits": 0, "kinds": {k: 0 for k in KINDS}, "problems": []}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="symbp-fuzz-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for first in range(0, files, batch):
            paths = []
            for n in range(first, min(first + batch, files)):
                kind, text = derivation(seed * 10**7 + n)
                totals["kinds"][kind] += 1
                path = folder / f"f{n:06d}_{kind}.toml"
                path.write_text(text, encoding="utf-8")
                paths.append(path.name)
            counts = judge(*check_batch(paths, folder, budget, jobs), budget=budget)
            for key in ("claims", "crashes", "hangs", "false_holds", "planted_false", "budget_hits"):
                totals[key] += counts[key]
            totals["problems"] += counts["problems"]
            totals["files"] += len(paths)
            canaries = list(folder.rglob(CANARY)) + list(Path.cwd().glob(CANARY))
            totals["executions"] = len(canaries)
            print(f"{totals['files']:6d} files, {totals['claims']:6d} claims, {time.monotonic() - start:7.0f} s: "
                  f"crashes {totals['crashes']}, hangs {totals['hangs']}, executions {totals['executions']}, "
                  f"false holds {totals['false_holds']} of {totals['planted_false']} planted, "
                  f"budget hits {totals['budget_hits']}", flush=True)
            if keep is None:
                for p in paths:
                    (folder / p).unlink()
    totals["seconds"] = round(time.monotonic() - start)
    return totals


ID_TAILS = ["", "\\N", '"', "'''", '"""', "\n", "\\", "\x00", "\u2028"]


def codegen_run(count: int, seed: int, folder: Path) -> dict:
    """``symbp codegen`` on files whose gradient claim has an injected id, then each module imported."""
    totals = {"codegen": 0, "crashes": 0, "executions": 0, "unimportable": 0, "problems": []}
    rng = random.Random(seed)
    for n in range(count):
        payload = PAYLOADS[n % len(PAYLOADS)] + rng.choice(ID_TAILS)
        source = folder / f"g{n:04d}.toml"
        source.write_text(header() + claim_toml(payload, *TRUE[1]), encoding="utf-8")
        module = f"kernels_{n:04d}"
        r = subprocess.run([sys.executable, "-m", "symbp", "codegen", source.name, "-o", f"{module}.py"], cwd=folder,
                           capture_output=True, text=True, timeout=600)
        totals["codegen"] += 1
        if r.returncode not in (0, 1, 2) or "Traceback" in r.stderr:
            totals["crashes"] += 1
            totals["problems"].append(f"codegen {source.name}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
            continue
        if r.returncode == 0:
            i = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=folder, capture_output=True, text=True)
            if i.returncode != 0:
                totals["unimportable"] += 1
                totals["problems"].append(f"{module}.py does not import: {i.stderr.strip()[-300:]}")
        totals["executions"] = len(list(folder.rglob(CANARY)))
    return totals


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=10_000, help="how many files (default: 10000)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default: 0)")
    p.add_argument("--budget", type=float, default=5.0, help="--budget of each check (default: 5)")
    p.add_argument("--jobs", type=int, default=2, help="files checked at a time (default: 2)")
    p.add_argument("--batch", type=int, default=100, help="files per symbp run (default: 100)")
    p.add_argument("--keep", type=Path, help="keep the generated files in this folder")
    p.add_argument("--codegen", type=int, default=0, metavar="K",
                   help="also run symbp codegen on K files with an injected claim id, and import each module")
    args = p.parse_args(argv)
    totals = run(args.files, args.seed, args.budget, args.jobs, args.batch, args.keep)
    bad = totals["crashes"] + totals["hangs"] + totals["executions"] + totals["false_holds"]
    if args.codegen:
        with tempfile.TemporaryDirectory(prefix="symbp-fuzz-codegen-") as tmp:
            generated = codegen_run(args.codegen, args.seed, Path(tmp))
        totals["problems"] += generated.pop("problems")
        totals["codegen"] = generated
        bad += generated["crashes"] + generated["executions"] + generated["unimportable"]
    for line in totals.pop("problems")[:50]:
        print("problem:", line)
    print(json.dumps(totals))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
