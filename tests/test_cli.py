import json
import subprocess
import sys

import pytest

from symbp.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "symbp", *args], capture_output=True, text=True)


def test_verify_text_exit_0(capsys):
    assert main(["verify", "--layers", "3,4,2", "--activation", "sigmoid", "--output", "sigmoid", "--loss", "bce"]) == 0
    out = capsys.readouterr().out
    assert "delta[2]" in out and "claims hold" in out and "fails" not in out


def test_verify_json_fields(capsys):
    assert main(["verify", "--layers", "2,2,2", "--form", "bias-node", "--samples", "2", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"id", "statement", "verdict", "method", "seconds"} <= set(data[0])
    assert all(d["verdict"] == "holds" for d in data)


def test_failure_exit_1_with_counterexample(capsys):
    code = main(["verify", "--layers", "2,3", "--output", "softmax", "--loss", "cross-entropy", "--format", "json"])
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    failed = [d for d in data if d["verdict"] == "fails"]
    assert failed and "counterexample" in failed[0]
    assert main(["verify", "--layers", "2,3", "--output", "softmax", "--loss", "cross-entropy", "--assume", "sum-y-is-1"]) == 0


def test_mutation_from_the_command_line(capsys):
    assert main(["verify", "--layers", "2,2,2", "--mutate", "not-transposed"]) == 1
    assert "smallest failing architecture tried" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--activation", "swash"], "argument --activation: invalid choice: 'swash'"),
        (["--activation", "softmax"], "invalid choice: 'softmax'"),
        (["--loss", "cross-entropy", "--output", "identity"], "does not fit output activation 'identity'"),
        (["--layers", "3,0,2"], "width must be a whole number >= 1"),
        (["--layers", "3,a"], "comma-separated"),
        (["--samples", "0"], "expected a whole number >= 1"),
    ],
)
def test_bad_input_one_line_exit_2(args, message):
    r = run("verify", *args)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.stderr
