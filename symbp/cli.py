"""The command line. Exit codes: 0 every verdict as expected, 1 one is not, 2 bad input (one line on stderr),
3 an internal error (a bug in symbp: one line asking for a report); no Python traceback reaches the user."""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from . import __version__, bench
from .calculus.prove import prove, to_text as proof_text
from .calculus.recursions import MUTATIONS
from .checking.derivation import load
from .checking.runner import FileResult, Limits, check_file, check_files, internal_error_text
from .checking.verify import cross_check, derived, verify
from .errors import DerivationError, SymbpError, UsageError
from .kernels.codegen import claims_against_plan, generate
from .model.activations import ACTIVATIONS
from .model.formulations import FORMS, LAYOUTS, get_formulation
from .model.losses import ASSUMPTIONS, LOSSES, get_loss
from .model.network import Network, check_layers
from .present.files import atomic_files, write_atomic
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
    c.add_argument("--budget", type=_seconds, default=Limits.seconds, metavar="SECONDS",
                   help="seconds each step of a claim may take before the claim is an error (default: 120)")
    c.add_argument("--memory", type=_megabytes, default=Limits.memory_mb, metavar="MB",
                   help="memory of the process checking a file, where the platform can limit it; 0: no limit "
                        "(default: 4096)")
    c.add_argument("-j", "--jobs", type=_positive, default=1, metavar="N", help="check N files at a time (default: 1)")
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
    t.add_argument("--lr", type=_rate, default=0.5, help="learning rate, a finite number > 0 (default: 0.5)")
    t.add_argument("--batch-size", type=_positive, default=None, help="minibatch size (default: the whole training split)")
    t.add_argument("--seed", type=int, default=0, help="(default: 0)")
    t.add_argument("--holdout", type=_fraction, default=0.2, help="held-out fraction, in [0, 1) (default: 0.2)")
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


def _number(convert, accept, wanted):
    """An argparse type: ``convert`` the text, and refuse it unless ``accept`` holds, saying what was ``wanted``."""
    def read(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
        return value
    return read


_positive = _number(int, lambda v: v >= 1, "a whole number >= 1")
_seconds = _number(float, lambda v: math.isfinite(v) and v > 0, "a number of seconds > 0")
_megabytes = _number(int, lambda v: v >= 0, "a whole number of megabytes >= 0")
_rate = _number(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
_fraction = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def _progress(items):
    if not sys.stderr.isatty():
        return items
    return tqdm(items, desc="claims", unit="claim", leave=False)


class InternalError(Exception):
    """A bug in symbp met in a worker process, already said in one line."""


#: the sizes refused up front: every parameter is a symbol of the symbolic network (about 400 bytes each)
MAX_PARAMETERS = 10_000_000


def _fits(widths, what="--layers") -> list[int]:
    """The layer widths, if a network of that size can be built; a one-line error otherwise."""
    count = sum(a * b + b for a, b in zip(widths, widths[1:]))
    if count > MAX_PARAMETERS:
        raise UsageError(f"{what} {','.join(map(str, widths))} has {count:,} parameters; symbp builds every one as "
                         f"a symbol and handles at most {MAX_PARAMETERS:,}")
    return widths


def _verify(args) -> int:
    net = Network(_fits(check_layers(args.layers)), args.activation, args.output, args.loss, args.form, args.layout,
                  args.samples)
    report = verify(net, args.assume, args.mutate, points=args.points, seed=args.seed, verbose=args.verbose,
                    progress=_progress)
    print(to_json(report) if args.format == "json" else to_text(report, args.verbose))
    return 0 if report.ok else 1


def _derivation_files(paths) -> list:
    """The files to check, in order, with a one-line error in place of each path that names none."""
    if not paths:
        bundled = Path(__file__).resolve().parent.parent / "derivations"
        if not bundled.is_dir():
            bundled = Path.cwd() / "derivations"
        if not bundled.is_dir():
            raise UsageError("no bundled derivations/ folder found here; name the files to check")
        paths = [str(bundled)]
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(p.glob("*.toml")) or [f"{p}: no .toml derivation files in this folder"])
        else:
            out.append(p if p.is_file() else f"{p}: no such file or folder")
    return out


def _check(args) -> int:
    sizes = [_fits(check_layers(s), "--sizes") for s in args.sizes]
    entries = _derivation_files(args.paths)
    files = [e for e in entries if isinstance(e, Path)]
    options = {"sizes": sizes or None, "fast": args.fast, "points": args.points, "seed": args.seed,
               "diagnose": not args.no_diagnosis}
    with tqdm(desc="claims", unit="claim", leave=False, disable=not sys.stderr.isatty()) as bar:
        results = iter(check_files(files, options, Limits(args.budget, args.memory), jobs=args.jobs,
                                   on_verdict=lambda v: bar.update()))
    results = [next(results) if isinstance(e, Path) else FileResult(str(e), error=e) for e in entries]
    problems = [r.error for r in results if r.error]
    internal = [r.internal for r in results if r.internal]
    checked = [r for r in results if not r.error]
    verdicts = [v for r in checked for v in r.verdicts]
    if checked:
        print(check_json(verdicts) if args.format == "json" else
              "\n\n".join(check_text(r.title, r.path, r.verdicts) for r in checked))
    for line in problems:
        print(f"symbp: error: {line}", file=sys.stderr)
    if internal:
        raise InternalError("; ".join(internal))
    if problems:
        return 2
    return 0 if all(v.as_expected for v in verdicts) else 1


def _codegen(args) -> int:
    note = ""
    spec = {"activation": args.activation, "output": args.output, "loss": args.loss, "form": args.form}
    layers = args.layers
    if args.derivation:
        checked = check_file(args.derivation)
        if checked.error:
            raise DerivationError(checked.error)
        if checked.internal:
            raise InternalError(checked.internal)
        d, verdicts = load(args.derivation), checked.verdicts
        wrong = [v for v in verdicts if not v.as_expected]
        if wrong:
            print(f"symbp: error: {d.path}: claim {wrong[0].id} is {wrong[0].verdict}, the file expects "
                  f"{wrong[0].expected}; nothing written", file=sys.stderr)
            return 1
        spec = {k: d.network[k] for k in ("activation", "output", "loss", "form", "layout")}
        spec["formulation"] = d.formulation
        layers = layers or ",".join(map(str, max(d.architectures, key=len)))
        note = f"from {d.path}: {len(verdicts)} claims checked as expected"
        smallest = _fits(min(d.architectures, key=lambda a: (sum(a), len(a))), f"{d.path}: the architecture")
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
    source = generate(_fits(check_layers(layers)), dtype=args.dtype, source_note=note, **spec)
    write_atomic(args.output_file, source, force=args.force)
    print(f"wrote {args.output_file}")
    return 0


def _train(args) -> int:
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UsageError(f"--out must end in .npz, got {out}")
    plot = Path(args.plot) if args.plot else out.with_name(out.stem + "_loss.png")
    if plot.absolute() == out.absolute():
        raise UsageError(f"--plot and --out name the same file, {out}")
    layers = _fits(check_layers(args.layers))
    with atomic_files(out, plot, force=args.force) as (out_tmp, plot_tmp):  # an unwritable path fails before training
        data = load_data(args.data, args.label_column)
        params, history, report = train(
            data, layers, args.activation, args.output, args.loss, args.form, args.epochs, args.lr,
            args.batch_size, args.seed, args.holdout, progress=_epoch_progress,
        )
        for path, tmp, write in ((out, out_tmp, lambda f: save_params(f, params, report)),
                                 (plot, plot_tmp, lambda f: plot_loss(f, history))):
            try:
                with open(tmp, "wb") as f:
                    write(f)
            except OSError as exc:  # a full disk, a quota: neither file is written
                raise UsageError(f"{path}: cannot write it ({exc.strerror or exc}); nothing written") from None
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
    """Run one command; every failure is one line on stderr and an exit code (see the module docstring)."""
    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            _parser().print_help()
            return 2
        commands = {"verify": _verify, "check": _check, "codegen": _codegen, "train": _train, "prove": _prove,
                    "derive": _derive,
                    "bench": _bench}
        with _terminate_as_exit():
            code = commands[args.command](args)
            sys.stdout.flush()  # a closed pipe shows here, inside the handlers below, not at exit
        return code
    except SymbpError as exc:
        print(f"symbp: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `symbp verify | head`: the reader has gone; end quietly, as a Unix tool does
        _silence_stdout()
        return 141
    except OSError as exc:  # a file that cannot be written or read: the environment, not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"symbp: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("symbp: error: out of memory; try smaller --layers", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symbp: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in symbp: said as such, with its own exit code
        text = str(exc) if isinstance(exc, InternalError) else internal_error_text(exc)
        print(f"symbp: internal error: {text}; this is a bug in symbp, please report it with the command and "
              "the input that caused it", file=sys.stderr)
        return 3


@contextmanager
def _terminate_as_exit():
    """SIGTERM raises SystemExit, so that temporary files and worker processes are cleaned up on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _silence_stdout():
    """Point stdout at the null device so that the interpreter's last flush does not complain either."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout without a file descriptor
        pass


if __name__ == "__main__":
    sys.exit(main())
