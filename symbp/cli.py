"""The command line: ``symbp verify`` and ``symbp bench``. Bad input: one line on stderr, exit code 2."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from . import __version__, bench
from .calculus.prove import prove, to_text as proof_text
from .calculus.recursions import MUTATIONS
from .checking.check import Checker, check
from .checking.derivation import load
from .checking.verify import cross_check, derived, verify
from .errors import SymbpError, UsageError
from .kernels.codegen import claims_against_plan, generate, write_atomic
from .model.activations import ACTIVATIONS
from .model.formulations import FORMS, LAYOUTS, get_formulation
from .model.losses import ASSUMPTIONS, LOSSES, get_loss
from .model.network import Network, check_layers
from .present.report import check_json, check_text, derived_text, to_json, to_text
from .train import load_data, plot_loss, save_params, train


_HIDDEN = [n for n, a in ACTIVATIONS.items() if a.hidden_ok]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, no usage dump
        self.exit(2, f"symbp: error: {message} (see 'symbp {self.prog.split()[-1]} --help')\n" if " " in self.prog else f"symbp: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="symbp", description="A symbolic derivation checker for backpropagation.")
    p.add_argument("--version", action="version", version=f"symbp {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    v = sub.add_parser("verify", help="verify the standard backpropagation recursions for one network",
                       description="Check every closed-form delta recursion and gradient of a network against "
                                   "direct differentiation of its loss. Exit code 0: all hold; 1: a claim fails; 2: bad input.")
    v.add_argument("--layers", default="3,4,2", help="layer widths from input to output (default: 3,4,2)")
    v.add_argument("--activation", default="sigmoid", choices=_HIDDEN,
                   help="hidden activation (default: sigmoid)")
    v.add_argument("--output", default=None, choices=list(ACTIVATIONS),
                   help="output activation (default: sigmoid for bce, softmax for cross-entropy, else identity)")
    v.add_argument("--loss", default="bce", choices=list(LOSSES), help="loss (default: bce)")
    v.add_argument("--form", default="explicit-bias", choices=list(FORMS), help="formulation (default: explicit-bias)")
    v.add_argument("--layout", default="output-by-input", choices=list(LAYOUTS),
                   help="weight layout of the explicit-bias form (default: output-by-input)")
    v.add_argument("--samples", type=_positive, default=1, help="number of samples m; the loss is their mean (default: 1)")
    v.add_argument("--assume", action="append", default=[], choices=list(ASSUMPTIONS),
                   help="an assumption the claims may use (repeatable)")
    v.add_argument("--mutate", choices=list(MUTATIONS), help="check a deliberately wrong recursion instead (for teaching and testing)")
    v.add_argument("--points", type=_positive, default=3, help="random points of the numeric test (default: 3)")
    v.add_argument("--seed", type=int, default=0, help="seed of the random points (default: 0)")
    v.add_argument("--format", default="text", choices=["text", "json"], help="output format (default: text)")
    v.add_argument("--verbose", action="store_true", help="one verdict per parameter and node as well")

    c = sub.add_parser("check", help="check the claims of derivation files",
                       description="Check every claim of derivation files (TOML, see derivations/README.md) against "
                                   "direct differentiation. Exit code 0: every verdict as the file expects; 1: one is "
                                   "not; 2: unreadable input.")
    c.add_argument("paths", nargs="*", metavar="PATH", help="derivation files or folders (default: the bundled derivations/)")
    c.add_argument("--sizes", action="append", default=[], metavar="WIDTHS",
                   help="check every claim at these layer widths instead of the file's (repeatable), e.g. 3,4,2")
    c.add_argument("--fast", action="store_true", help="use the randomized check only (no symbolic expansion)")
    c.add_argument("--budget", type=float, default=120.0, help="seconds one claim may take before it is an error (default: 120)")
    c.add_argument("--points", type=_positive, default=3, help="random points of the numeric test (default: 3)")
    c.add_argument("--seed", type=int, default=0, help="seed of the random points (default: 0)")
    c.add_argument("--no-diagnosis", action="store_true", help="do not search for a likely fix of failing claims")
    c.add_argument("--format", default="text", choices=["text", "json"], help="output format (default: text)")

    g = sub.add_parser("codegen", help="write NumPy training kernels from the verified recursions",
                       description="Check the batch recursion for this kind of network against direct "
                                   "differentiation, then write a standalone NumPy module with init_params, forward, "
                                   "loss, gradients and step.")
    g.add_argument("derivation", nargs="?", metavar="DERIVATION.toml",
                   help="take the network from a derivation file whose claims all check as expected; the "
                        "printed gradients must equal the file's own gradient claims")
    _network_options(g, layers_default=None)
    g.add_argument("--dtype", default="float64", choices=["float64", "float32"], help="(default: float64)")
    g.add_argument("-o", "--output-file", required=True, metavar="FILE", help="the module to write")
    g.add_argument("--force", action="store_true", help="replace an existing file")

    t = sub.add_parser("train", help="train a network with generated kernels",
                       description="Minibatch gradient descent with generated kernels on a CSV or NPZ file "
                                   "(default: a small bundled example), a held-out split, a loss-curve PNG.")
    t.add_argument("--data", metavar="FILE", help="a .csv with a header row or an .npz with X and y (default: bundled)")
    t.add_argument("--label-column", metavar="NAME", help="the CSV column holding the labels (default: label, else the last)")
    _network_options(t, layers_default="4,8,3", loss_default="cross-entropy")
    t.add_argument("--epochs", type=_positive, default=50, help="(default: 50)")
    t.add_argument("--lr", type=float, default=0.5, help="learning rate (default: 0.5)")
    t.add_argument("--batch-size", type=_positive, default=None, help="minibatch size (default: the whole training split)")
    t.add_argument("--seed", type=int, default=0, help="(default: 0)")
    t.add_argument("--holdout", type=float, default=0.2, help="held-out fraction (default: 0.2)")
    t.add_argument("--out", default="params.npz", help="parameters file (default: params.npz)")
    t.add_argument("--plot", default=None, help="loss-curve PNG (default: the --out name with _loss.png)")
    t.add_argument("--force", action="store_true", help="replace existing output files")

    pr = sub.add_parser("prove", help="prove the recursion for every width and depth",
                        description="Prove the backpropagation recursion for all widths (symbolic integers) and all "
                                    "depths (induction over one generic layer): base case, induction step, gradients. "
                                    "Exit code 0: proved; 1: a step is refused.")
    pr.add_argument("--activation", default="generic", choices=_HIDDEN,
                    help="hidden activation (default: generic, which proves it for every differentiable activation)")
    pr.add_argument("--output", default=None, choices=list(ACTIVATIONS), help="output activation (default: by loss)")
    pr.add_argument("--loss", default="half-squared-error", choices=list(LOSSES), help="(default: half-squared-error)")
    pr.add_argument("--form", default="explicit-bias", choices=list(FORMS), help="(default: explicit-bias)")
    pr.add_argument("--mutate", choices=list(MUTATIONS), help="try to prove a deliberately wrong recursion")
    pr.add_argument("--no-cross-check", action="store_true", help="skip the check at concrete sizes")
    pr.add_argument("--format", default="text", choices=["text", "json"], help="output format (default: text)")

    de = sub.add_parser("derive", help="derive the recursion of a formulation, check it and prove it",
                        description="Derive the backpropagation recursion of a formulation from its forward equations "
                                    "(a built-in form, or a derivation file's [network.formulation]), check it against "
                                    "direct differentiation at concrete sizes and prove it for every width and depth. "
                                    "Exit code 0: it holds and is proved; 1: it is not.")
    de.add_argument("derivation", nargs="?", metavar="DERIVATION.toml",
                    help="take the formulation, activations, loss and architectures from a derivation file")
    de.add_argument("--form", default="explicit-bias", choices=list(FORMS), help="(default: explicit-bias)")
    de.add_argument("--layout", default="output-by-input", choices=list(LAYOUTS), help="(default: output-by-input)")
    de.add_argument("--activation", default="sigmoid", choices=_HIDDEN, help="hidden activation (default: sigmoid)")
    de.add_argument("--output", default=None, choices=list(ACTIVATIONS), help="output activation (default: by loss)")
    de.add_argument("--loss", default="bce", choices=list(LOSSES), help="(default: bce)")
    de.add_argument("--sizes", action="append", default=[], metavar="WIDTHS",
                    help="architectures to check at (repeatable; default: the file's, else 3,4,2 and 2,3,3,2)")
    de.add_argument("--assume", action="append", default=[], choices=list(ASSUMPTIONS))
    de.add_argument("--no-proof", action="store_true", help="check at the sizes only")
    de.add_argument("--format", default="text", choices=["text", "json"], help="output format (default: text)")

    b = sub.add_parser("bench", help="benchmarks", description="Benchmarks with medians and ratios from one run.")
    b.add_argument("suite", choices=["symbolic", "kernels", "prove"], help="which benchmark")
    b.add_argument("--large", action="store_true", help="also the 10,000-parameter network (minutes)")
    b.add_argument("--repeats", type=_positive, default=3, help="repeats for the medians (default: 3)")
    b.add_argument("--format", default="text", choices=["text", "json"])
    return p


def _network_options(p, layers_default, loss_default="bce"):
    p.add_argument("--layers", default=layers_default, help="layer widths from input to output, e.g. 784,128,10")
    p.add_argument("--activation", default="sigmoid", choices=[n for n in _HIDDEN if not ACTIVATIONS[n].generic],
                   help="hidden activation (default: sigmoid)")
    p.add_argument("--output", default=None, choices=[n for n, a in ACTIVATIONS.items() if not a.generic],
                   help="output activation (default: sigmoid for bce, softmax for cross-entropy, else identity)")
    p.add_argument("--loss", default=loss_default, choices=list(LOSSES), help=f"(default: {loss_default})")
    p.add_argument("--form", default="explicit-bias", choices=list(FORMS), help="(default: explicit-bias)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _progress(items):
    if not sys.stderr.isatty():
        return items
    return tqdm(items, desc="claims", unit="claim", leave=False)


def _verify(args) -> int:
    net = Network(args.layers, args.activation, args.output, args.loss, args.form, args.layout, args.samples)
    report = verify(net, args.assume, args.mutate, points=args.points, seed=args.seed, verbose=args.verbose,
                    progress=_progress)
    print(to_json(report) if args.format == "json" else to_text(report, args.verbose))
    return 0 if report.ok else 1


def _derivation_files(paths) -> list:
    if not paths:
        bundled = Path(__file__).resolve().parent.parent / "derivations"
        if not bundled.is_dir():
            bundled = Path.cwd() / "derivations"
        if not bundled.is_dir():
            raise UsageError("no bundled derivations/ folder found here; name the files to check")
        paths = [str(bundled)]
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.toml"))
            if not found:
                raise UsageError(f"{p}: no .toml derivation files in this folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise UsageError(f"{p}: no such file or folder")
    return files


def _check(args) -> int:
    sizes = [check_layers(s) for s in args.sizes]
    derivations = [load(f) for f in _derivation_files(args.paths)]  # every file is read before any output
    results, texts = [], []
    for d in derivations:
        checker = Checker(d, sizes=sizes or None, fast=args.fast, points=args.points, seed=args.seed,
                          budget=args.budget, diagnose=not args.no_diagnosis)
        verdicts = [checker.check(c) for c in _progress(d.claims)]
        results.extend(verdicts)
        texts.append(check_text(d.title, d.path, verdicts))
    print(check_json(results) if args.format == "json" else "\n\n".join(texts))
    return 0 if all(v.as_expected for v in results) else 1


def _codegen(args) -> int:
    note = ""
    spec = {"activation": args.activation, "output": args.output, "loss": args.loss, "form": args.form}
    layers = args.layers
    if args.derivation:
        d = load(args.derivation)
        verdicts = check(d)
        wrong = [v for v in verdicts if not v.as_expected]
        if wrong:
            print(f"symbp: error: {d.path}: claim {wrong[0].id} is {wrong[0].verdict}, the file expects "
                  f"{wrong[0].expected}; nothing written", file=sys.stderr)
            return 1
        spec = {k: d.network[k] for k in ("activation", "output", "loss", "form", "layout")}
        spec["formulation"] = d.formulation
        layers = layers or ",".join(map(str, max(d.architectures, key=len)))
        note = f"from {d.path}: {len(verdicts)} claims checked as expected"
        smallest = min(d.architectures, key=lambda a: (sum(a), len(a)))
        agree = claims_against_plan(d, smallest)
        wrong = [v for v in agree if v.verdict != "holds"]
        if wrong:
            print(f"symbp: error: {d.path}: the kernels' gradients differ from claim {wrong[0].id} at "
                  f"{'-'.join(map(str, smallest))} ({', '.join(wrong[0].counterexample.elements)}); nothing written",
                  file=sys.stderr)
            return 1
        if agree:
            note += (f"; the printed gradients equal the file's own claims {', '.join(v.id for v in agree)}, element by "
                     f"element at {'-'.join(map(str, smallest))}")
        else:
            note += "; the file states no gradient of J by a parameter: the kernels follow symbp's verified recursion"
    if layers is None:
        raise UsageError("codegen needs --layers (or a derivation file)")
    source = generate(check_layers(layers), dtype=args.dtype, source_note=note, **spec)
    write_atomic(args.output_file, source, force=args.force)
    print(f"wrote {args.output_file}")
    return 0


def _train(args) -> int:
    if not 0 <= args.holdout < 1:
        raise UsageError(f"--holdout must be in [0, 1), got {args.holdout}")
    out = Path(args.out)
    plot = Path(args.plot) if args.plot else out.with_name(out.stem + "_loss.png")
    for path in (out, plot):
        if path.exists() and not args.force:
            raise UsageError(f"{path} exists; pass --force to replace it")
    data = load_data(args.data, args.label_column)
    params, history, report = train(
        data, check_layers(args.layers), args.activation, args.output, args.loss, args.form, args.epochs, args.lr,
        args.batch_size, args.seed, args.holdout, progress=_epoch_progress,
    )
    save_params(out, params, report, force=args.force)
    plot_loss(plot, history, force=args.force)
    held = report.get("heldout_accuracy", report.get("heldout_mse"))
    what = "accuracy" if "heldout_accuracy" in report else "mse"
    print(f"data: {data.source}; split: {report['train_rows']} train / {report['heldout_rows']} held out")
    print(f"loss: {history[0]:.4f} after epoch 1, {history[-1]:.4f} after epoch {len(history)}")
    if held is not None and report["heldout_rows"]:
        print(f"held-out {what}: {held:.4f}")
    print(f"wrote {out} and {plot}")
    return 0


def _epoch_progress(items):
    return tqdm(items, desc="epochs", unit="epoch", disable=not sys.stderr.isatty())


def _prove(args) -> int:
    output = args.output or get_loss(args.loss).default_output
    proof = prove(args.activation, output, args.loss, args.form, args.mutate)
    if not args.no_cross_check:
        proof.cross_check = cross_check(proof, args.mutate)
    print(json.dumps(proof.to_dict(), indent=2) if args.format == "json" else proof_text(proof))
    return 0 if proof.ok else 1


def _derive(args) -> int:
    sizes = [check_layers(s) for s in args.sizes]
    if args.derivation:
        d = load(args.derivation)
        s = d.network
        result = derived(d.formulation, s["activation"], s["output"], s["loss"], sizes or d.architectures, s["samples"],
                         s["assume"], s["layout"], proof=not args.no_proof)
    else:
        formulation = get_formulation(args.form, args.layout)
        default = [[3, 4, 2], [2, 3, 3, 2]] if not formulation.equal_widths else [[2, 3, 3, 3, 2]]
        result = derived(formulation, args.activation, args.output, args.loss, sizes or default, 2, args.assume,
                         args.layout, proof=not args.no_proof)
    print(json.dumps(result.to_dict(), indent=2) if args.format == "json" else derived_text(result))
    return 0 if result.ok else 1


def _bench(args) -> int:
    if args.suite == "prove":
        results = bench.prove_all(repeats=args.repeats)
        print(json.dumps(results, indent=2) if args.format == "json" else bench.prove_text(results))
        return 0
    if args.suite == "kernels":
        results = bench.kernels(repeats=args.repeats)
        print(json.dumps(results, indent=2) if args.format == "json" else bench.kernels_text(results))
        return 0
    results = bench.symbolic(repeats=args.repeats, large=args.large)
    print(json.dumps(results, indent=2) if args.format == "json" else bench.symbolic_text(results))
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 2
    try:
        commands = {"verify": _verify, "check": _check, "codegen": _codegen, "train": _train, "prove": _prove,
                    "derive": _derive,
                    "bench": _bench}
        return commands[args.command](args)
    except SymbpError as exc:
        print(f"symbp: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
