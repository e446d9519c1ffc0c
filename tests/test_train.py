import numpy as np
import pytest

from symbp.cli import main
from symbp.train import DataError, load_data, train


def test_training_reduces_the_loss_on_the_bundled_data():
    params, history, report = train(load_data(), [4, 8, 3], epochs=15, lr=0.5, batch_size=32)
    assert history[-1] < 0.5 * history[0]
    assert report["heldout_accuracy"] > 0.8 and report["train_rows"] == 240 and report["heldout_rows"] == 60


@pytest.mark.parametrize(
    "text, args, message",
    [
        ("a,b\nx,1\n", {}, "column 'a': 'x' is not a number"),
        ("a,b\nnan,1\n", {}, "is not a finite number"),
        ("a,b\n1,2\n", {"label_column": "c"}, "no column named 'c'"),
        ("a,b\n1,2,3\n", {}, "3 cells, the header has 2"),
        ("a\n", {}, "at least one data row"),
    ],
)
def test_bad_csv(tmp_path, text, args, message):
    f = tmp_path / "d.csv"
    f.write_text(text)
    with pytest.raises(DataError, match=message):
        load_data(f, **args)


def test_bad_splits_and_shapes(tmp_path):
    f = tmp_path / "d.csv"
    rows = "\n".join(f"{i},{i % 2},{'a' if i % 2 else 'b'}" for i in range(20))
    f.write_text("x1,x2,label\n" + rows + "\n5,5,c\n")
    data = load_data(f)
    with pytest.raises(DataError, match="features but --layers starts with 3"):
        train(data, [3, 2], epochs=1)
    with pytest.raises(DataError, match="appears only in the held-out split|classes but --layers"):
        train(data, [2, 2], epochs=1, seed=0, holdout=0.5)


def test_label_not_seen_in_training(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("x,label\n" + "\n".join(f"{i},a" for i in range(9)) + "\n1,zzz\n")
    data = load_data(f)
    for seed in range(50):  # find a split that puts the lone label in the held-out part
        order = np.random.default_rng(seed).permutation(10)
        if 9 in order[:2]:
            break
    with pytest.raises(DataError, match="'zzz' appears only in the held-out split"):
        train(data, [1, 2], epochs=1, seed=seed)


def test_npz(tmp_path):
    f = tmp_path / "d.npz"
    np.savez(f, X=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]))
    assert load_data(f).X.shape == (4, 2)
    np.savez(f, A=np.zeros(2))
    with pytest.raises(DataError, match="arrays named X and y"):
        load_data(f)


def test_train_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "5", "--batch-size", "32", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "split: 240 train / 60 held out" in out and "held-out accuracy" in out
    saved = np.load(tmp_path / "params.npz")
    assert saved["W1"].shape == (8, 4) and list(saved["classes"]) == ["setosa_like", "versi_like", "virgi_like"]
    assert (tmp_path / "params_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["train", "--epochs", "1"]) == 2  # refuses to overwrite
    bad = tmp_path / "bad.csv"
    bad.write_text("a,label\nq,1\n")
    assert main(["train", "--data", str(bad), "--out", "other.npz"]) == 2
    assert "'q' is not a number" in capsys.readouterr().err
    assert not (tmp_path / "other.npz").exists()
