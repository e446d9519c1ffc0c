"""Untrusted input: every reproducer of issue 11, kept. A file never runs code, never kills the process,
never gets a false "holds"; the command line never shows a traceback."""
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from symbp import cli
from symbp.checking.check import Checker, check
from symbp.checking.derivation import load
from symbp.checking.runner import Limits, check_files
from symbp.cli import main
from symbp.errors import DerivationError
from symbp.present.files import atomic_files
from symbp.train import Data, TrainingError, load_data, load_kernels, plot_loss, train

ROOT = Path(__file__).resolve().parent.parent
HEADER = 'title = "t"\n[network]\narchitectures = [[2, 2]]\n'


def claim(statement, cid="c", ranges="", expect="holds", extra=""):
    return f"\n[[claim]]\nid = '{cid}'\nstatement = '{statement}'\nranges = '{ranges}'\nexpect = '{expect}'\n{extra}"


def write(tmp_path, body, name="d.toml", header=HEADER):
    f = tmp_path / name
    f.write_text(header + body)
    return f


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symbp", *args], capture_output=True, text=True, cwd=cwd)


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# --- 1. nothing from a file reaches generated code unescaped ----------------------------------------------
INJECTION = 'x"""; __import__("os").system("touch PWNED"); """ \\N'
GRADIENT = "d(J)/d(W[l,j,k]) = 1/m * samplesum(d(e)/d(z[l,j]) * a[l-1,k], (i, 1, m))"


def test_a_claim_id_cannot_inject_code_into_codegen_output(tmp_path):
    f = write(tmp_path, claim(GRADIENT, INJECTION, "(l, 1, L), (j, 1, n[l]), (k, 1, n[l-1])"),
              name='we"ird\\name.toml')
    out = tmp_path / "kernels.py"
    assert main(["codegen", str(f), "-o", str(out)]) == 0
    probe = "import kernels, sys; sys.stdout.write(kernels.__doc__)"
    r = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr  # the module imports (a raw \N would be a syntax error)
    assert not (tmp_path / "PWNED").exists()  # and importing it ran nothing
    assert INJECTION in r.stdout and str(f) in r.stdout  # the id and the path are there, as text


# --- 2. a budget that holds whatever the work ------------------------------------------------------------
CRASHERS = [
    ("x[1] = 2**(2**62)", "SIGFPE"),  # killed the whole process with SIGFPE
    ("x[1] = 10**10**10", "stopped the checking process"),  # GMP abort or a 6 GB allocation
    ("x[1] = (10**9)**(10**9)", "stopped the checking process"),
    ("x[1] = 1/0", "a division by zero"),
    ("x[1] = (-1)**(1/2)", "an imaginary number"),
    ("x[1] = x[1]**(1/2) + 1", "not a real number at a random point"),
    ("z[1,1/0] = 1", "an index cannot be computed"),
    ("W[10**5000,1,1] = 1", "W[100000"),  # an index too long to print: named, shortened
]


def test_claims_that_crashed_the_process_are_errors_and_the_rest_are_checked(tmp_path):
    body = "".join(claim(s, f"c{k}", expect="error") for k, (s, _) in enumerate(CRASHERS))
    f = write(tmp_path, body + claim("d(e)/d(b[1,j]) = a[1,j] - y[j]", "after", "(j, 1, 2)"))
    (result,) = check_files([f], {"diagnose": False}, Limits(seconds=60, memory_mb=1024))
    assert not result.error and not result.internal
    *crashed, after = result.verdicts
    for v, (statement, why) in zip(crashed, CRASHERS):
        assert v.statement == statement and v.verdict == "error" and why in v.diagnosis, (statement, v.diagnosis)
    assert after.verdict == "holds"


def test_a_claim_past_its_budget_is_an_error_naming_it_even_off_the_main_thread(tmp_path):
    widths = ", ".join(["2"] * 121)  # a 120-layer architecture: minutes inside SymEngine
    f = write(tmp_path, claim("d(e)/d(b[1,1]) = d(e)/d(z[1,1])", extra=f"architectures = [[{widths}]]\n")
              + claim("d(e)/d(b[1,j]) = a[1,j] - y[j]", "next", "(j, 1, 2)"))
    results = []
    t = threading.Thread(target=lambda: results.extend(check_files([f], limits=Limits(seconds=5))))
    t.start()
    t.join()
    slow, following = results[0].verdicts
    assert slow.verdict == "error" and slow.diagnosis == "claim c took longer than the time budget of 5 s (see --budget)"
    assert following.verdict == "holds"


def test_checking_needs_no_alarm_signal(tmp_path, monkeypatch):
    monkeypatch.delattr(signal, "SIGALRM", raising=False)  # as on Windows
    f = write(tmp_path, claim("d(e)/d(b[1,j]) = a[1,j] - y[j]", ranges="(j, 1, 2)"))
    assert [v.verdict for v in check(load(f))] == ["holds"]
    assert [v.verdict for v in check_files([f])[0].verdicts] == ["holds"]


def test_parallel_files_give_the_same_verdicts_in_the_same_order(tmp_path, capsys):
    files = [str(p) for p in sorted((ROOT / "derivations").glob("00[34]*.toml"))]
    assert main(["check", "--fast", "--format", "json", *files]) == 0
    one = capsys.readouterr().out
    assert main(["check", "--fast", "--format", "json", "-j", "2", *files]) == 0
    two = capsys.readouterr().out
    strip = re.compile(r'"seconds": [0-9.e-]+')
    assert strip.sub("", one) == strip.sub("", two)


def test_sizes_that_cannot_fit_are_refused_up_front():
    r = run("codegen", "--layers", "4,100000,100000,3", "-o", "k.py")
    assert r.returncode == 2 and "10,000,900,003 parameters" in one_line(r.stderr)


# --- 3. no traceback: one line, exit 2 for bad input, 3 for a bug ------------------------------------------
def test_one_bad_file_does_not_hide_the_others(tmp_path, capsys):
    good = write(tmp_path, claim("d(e)/d(b[1,j]) = a[1,j] - y[j]", ranges="(j, 1, 2)"), name="good.toml")
    bad = write(tmp_path, claim("x[1] = 1"), name="bad.toml", header=HEADER + 'activation = ["sigmoid"]\n')
    assert main(["check", str(bad), str(good), str(tmp_path / "missing.toml")]) == 2
    out, err = capsys.readouterr()
    assert "good.toml: t" in out and "1 of 1 verdicts as expected" in out
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"symbp: error: {bad}:4: unknown activation")
    assert lines[1] == f"symbp: error: {tmp_path / 'missing.toml'}: no such file or folder"


def test_malformed_values_are_one_line_errors(tmp_path):
    cases = [
        (claim("x[1] = 1e1001"), "the number '1e1001' is out of range"),
        (claim("x[1] = " + "1" * 1001), "the number is out of range"),
        (claim("x[1] = " + "(" * 300 + "1" + ")" * 300), "cannot read"),
        (claim("x[1] = 1", extra="architectures = [[2, true]]\n"), "architectures must be"),
    ]
    for body, message in cases:
        f = write(tmp_path, body)
        with pytest.raises(DerivationError) as exc:
            load(f)
        text = str(exc.value)
        assert text.startswith(f"{f}:") and message in text and "\n" not in text and len(text) < 400, text
    for header in ('activation = ["sigmoid"]', 'form = 3', 'loss = {a = 1}', 'assume = [1]'):
        f = write(tmp_path, claim("x[1] = 1"), header=HEADER + header + "\n")
        with pytest.raises(DerivationError, match=re.escape(f"{f}:4:")):
            load(f)


def test_a_definition_that_never_reaches_its_base_case_is_an_error(tmp_path):
    define = '\n[[define]]\nname = "q"\nindices = "l"\ncases = [{ when = "l == 0", value = "1" }, { value = "q[l+1]" }]\n'
    f = write(tmp_path, define + claim("x[1] = q[1]", expect="error"))
    (result,) = check_files([f])
    (v,) = result.verdicts
    assert v.verdict == "error" and "base case is never reached" in v.diagnosis


def test_a_sum_of_500_terms_is_checked(tmp_path):
    f = write(tmp_path, claim("500 * x[1] = " + " + ".join(["x[1]"] * 500))
              + claim("x[1] = " + " + ".join(["x[1]"] * 500), "wrong", expect="fails"))
    (result,) = check_files([f], {"diagnose": False})
    assert [v.verdict for v in result.verdicts] == ["holds", "fails"]


@pytest.mark.parametrize("args, message", [
    (["check", "--budget", "-1"], "argument --budget: expected a number of seconds > 0, got '-1'"),
    (["check", "--budget", "inf"], "expected a number of seconds > 0"),
    (["check", "--memory", "-5"], "expected a whole number of megabytes >= 0"),
    (["check", "-j", "0"], "expected a whole number >= 1"),
    (["train", "--lr", "nan"], "argument --lr: expected a finite number > 0, got 'nan'"),
    (["train", "--holdout", "1"], "argument --holdout: expected a number in [0, 1)"),
])
def test_bad_options_are_one_line_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert message in one_line(capsys.readouterr().err)


def test_an_internal_error_is_said_as_a_bug_with_exit_3(monkeypatch, capsys):
    def bug(args):
        return {}["missing"]

    monkeypatch.setattr(cli, "_verify", bug)
    assert main(["verify"]) == 3
    line = one_line(capsys.readouterr().err)
    assert line.startswith("symbp: internal error: KeyError: 'missing' (at cli.py:")
    assert "this is a bug in symbp, please report it" in line


def test_generic_hidden_with_relu_output_verifies(capsys):
    assert main(["verify", "--activation", "generic", "--output", "relu", "--loss", "half-squared-error"]) == 0


def test_a_closed_pipe_ends_quietly():
    p = subprocess.Popen([sys.executable, "-m", "symbp", "verify", "--verbose", "--layers", "16,16,16", "--format", "json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(1)
    p.stdout.close()  # as `| head -c 1` does, with 110 kB (more than a pipe holds) still to come
    _, err = p.communicate()
    assert err == b"" and p.returncode == 141


# --- 4. soundness -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("statement, verdict", [
    ("x[1] = x[1] * 1.00000000000000000001", "fails"),  # was "holds, exact": the literal went through a double
    ("x[1] = x[1] + 1e-400", "fails"),  # below the numeric test's resolution: decided exactly
    ("0.1 + 0.2 = 0.3", "holds"),  # exact decimals (false in doubles)
    ("x[1] = x[1] + 1e309 - 1e309", "holds"),  # beyond a double's range, and exact
    ("1e-400 = 0", "fails"),
    ("x[1] = x[1] * (1 + 1e-60)", "fails"),  # a relative difference of 1e-60, a nonzero polynomial
    ("W[1,1,1] * x[1] = W[1,1,1] * x[1] * (1 + 1e-60) + 0 * gprime[1](z[1,1])", "fails"),
    ("x[1] = gprime[99](x[1])", "error"),  # a layer that does not exist
])
def test_literals_are_exact_and_layers_range_checked(tmp_path, statement, verdict):
    (v,) = check(load(write(tmp_path, claim(statement))))
    assert v.verdict == verdict, (v.verdict, v.diagnosis)
    if verdict == "error":
        assert "layer 99 does not exist" in v.diagnosis


def test_declared_shapes_are_strict_so_a_planted_transpose_never_holds(tmp_path):
    """Seed 003 declares the shape of each matrix claim; T() on either side must not survive."""
    text = (ROOT / "derivations" / "003_sigmoid_342.toml").read_text()
    statements = re.findall(r'^statement = "(d\(C\)/d\([^"]*?\)) = ([^"]*)"\nshape = "(\d+ x \d+)"', text, re.M)
    assert len(statements) >= 7
    planted = 0
    for lhs, rhs, shape in statements:
        for mutant in (f"{lhs} = T({rhs})", f"T({lhs}) = {rhs}"):
            f = write(tmp_path, "", header=text.split("[[claim]]")[0])
            f.write_text(f.read_text() + f'\n[[claim]]\nid = "m"\nform = "matrix"\nstatement = "{mutant}"\nshape = "{shape}"\n')
            (v,) = check(load(f), diagnose=False)
            assert v.verdict != "holds", mutant
            planted += 1
    assert planted == 2 * len(statements)


# --- 5. training refuses what cannot be trained honestly --------------------------------------------------
def blobs(labels, features=2):
    rng = np.random.default_rng(0)
    return Data(rng.standard_normal((len(labels), features)), np.asarray(labels), "test data")


@pytest.mark.parametrize("labels, kwargs, message", [
    ([0.5] * 19 + [np.nan], {"loss": "mse", "output": "identity"}, "not a finite number"),
    ([0.5] * 19 + [np.inf], {"loss": "mse", "output": "identity"}, "not a finite number"),
    (["a"] * 20, {"loss": "bce", "output": "sigmoid"}, "one class ('a')"),
    (["a"] * 20, {}, "softmax over one output is always 1"),
])
def test_training_refuses_what_cannot_learn(labels, kwargs, message):
    layers = [2, 1]
    with pytest.raises(Exception, match=re.escape(message)):
        train(blobs(labels), layers, epochs=1, **kwargs)


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), 0.0, -1.0])
def test_training_refuses_a_learning_rate_that_is_not_a_finite_positive_number(lr):
    with pytest.raises(Exception, match="lr must be a finite number > 0"):
        train(load_data(), [4, 8, 3], epochs=1, lr=lr)


def test_a_diverging_loss_stops_training_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = "\n".join(f"{i},{1e3 * i}" for i in range(40))
    (tmp_path / "r.csv").write_text("x,label\n" + rows + "\n")
    with pytest.raises(TrainingError, match="the training loss became"):
        train(load_data(tmp_path / "r.csv"), [1, 1], "identity", "identity", "mse", epochs=200, lr=1000.0)
    assert main(["train", "--data", "r.csv", "--layers", "1,1", "--activation", "identity", "--output", "identity",
                 "--loss", "mse", "--lr", "1000", "--epochs", "200"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_complex_data_is_refused(tmp_path):
    np.savez(tmp_path / "c.npz", X=np.ones((10, 2)) + 1j, y=np.arange(10) % 2)
    with pytest.raises(Exception, match="X holds complex numbers"):
        load_data(tmp_path / "c.npz")


@pytest.mark.parametrize("text, rows", [("a,b,label\n1,2,x\n\n3,4,y\n\n", 2), ("a,label\n\n\n", 0)])
def test_blank_lines_in_a_csv(tmp_path, text, rows):
    (tmp_path / "d.csv").write_text(text)
    if rows:
        assert load_data(tmp_path / "d.csv").X.shape == (rows, 2)
    else:
        with pytest.raises(Exception, match="at least one data row"):
            load_data(tmp_path / "d.csv")


# --- 6. files -----------------------------------------------------------------------------------------------
def test_train_writes_both_files_with_the_umask_and_leaves_no_temporary_anything(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(private_tmp))
    old = os.umask(0o022)
    try:
        assert main(["train", "--epochs", "2"]) == 0
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.npz", "params_loss.png", "tmp"]
    assert [p.stat().st_mode & 0o777 for p in (tmp_path / "params.npz", tmp_path / "params_loss.png")] == [0o644, 0o644]
    assert list(private_tmp.iterdir()) == []  # no kernels folder, no temporary file


def test_outputs_are_checked_before_training_and_written_as_a_pair(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--out", "missing/p.npz"]) == 2
    assert "missing/p.npz: the folder missing does not exist" in one_line(capsys.readouterr().err)
    (tmp_path / "a_file").write_text("")
    assert main(["train", "--plot", "a_file/loss.png"]) == 2
    assert "a_file/loss.png: the folder a_file does not exist" in one_line(capsys.readouterr().err)

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "plot_loss", fail)  # the plot fails after the parameters were written
    assert main(["train", "--epochs", "1"]) == 2
    assert one_line(capsys.readouterr().err) == ("symbp: error: params_loss.png: cannot write it (No space left on "
                                                 "device); nothing written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # neither output, no hidden temporary file


def test_temporary_files_are_hidden_and_removed_on_an_interrupt(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_files(tmp_path / "a.npz", tmp_path / "b.png") as temps:
            assert all(t.name.startswith(".") and t.parent == tmp_path for t in temps)
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_codegen_output_has_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["codegen", "--layers", "2,2", "-o", str(tmp_path / "k.py")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "k.py").stat().st_mode & 0o777 == 0o644 and [p.name for p in tmp_path.iterdir()] == ["k.py"]


def test_plotting_leaves_the_callers_matplotlib_alone(tmp_path):
    probe = ("import sys; from symbp.train import plot_loss; plot_loss(sys.argv[1], [3, 2, 1]); "
             "print('matplotlib.pyplot' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "l.png")], capture_output=True, text=True)
    assert r.stdout.strip() == "False" and (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"


def test_kernels_are_loaded_without_a_file():
    assert not hasattr(load_kernels("X = 1\n"), "__file__")
