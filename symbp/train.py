"""Training with generated kernels: data loading with clear errors, minibatch SGD, a loss curve."""
from __future__ import annotations

import csv
import linecache
import math
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .kernels.codegen import generate
from .errors import SymbpError, UsageError
from .model.losses import get_loss

BUNDLED = Path(__file__).parent / "data" / "blobs.csv"


class DataError(UsageError):
    """A data file that cannot be used as given."""


class TrainingError(SymbpError, ArithmeticError):
    """A training run that cannot go on: the loss is no longer a finite number."""


@dataclass
class Data:
    X: np.ndarray
    labels: np.ndarray  # class names (classification) or numbers (regression)
    source: str


def load_data(path=None, label_column=None) -> Data:
    """A CSV (header row) or NPZ (arrays X and y) file; the bundled example without a path."""
    path = Path(path) if path else BUNDLED
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    if path.suffix == ".npz":
        return _load_npz(path)
    if path.suffix != ".csv":
        raise DataError(f"{path}: expected a .csv or .npz file")
    return _load_csv(path, label_column)


def _load_npz(path) -> Data:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "X" not in f or "y" not in f:
                raise DataError(f"{path}: an .npz needs arrays named X and y, found {', '.join(f.files) or 'none'}")
            X, y = np.asarray(f["X"]), np.asarray(f["y"])
    except (OSError, ValueError, EOFError) as exc:  # not a zip, a pickled object array, a truncated file, ...
        raise DataError(f"{path}: cannot read the .npz file: {' '.join(str(exc).split())[:200]}") from None
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise DataError(f"{path}: X must be (N, features) and y (N,), got {X.shape} and {y.shape}")
    for name, a in (("X", X), ("y", y)):
        if np.iscomplexobj(a):
            raise DataError(f"{path}: {name} holds complex numbers; symbp trains on real data only")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.bool_) or not np.all(np.isfinite(X)):
        raise DataError(f"{path}: X must hold finite numbers")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        raise DataError(f"{path}: y holds a value that is not a finite number")
    return Data(X.astype(np.float64), y, str(path))


def _load_csv(path, label_column) -> Data:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the CSV file: {exc}") from None
    if len(rows) < 2:
        raise DataError(f"{path}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    label = label_column or ("label" if "label" in header else header[-1])
    if label not in header:
        raise DataError(f"{path}: no column named {label!r}; columns: {', '.join(header)}")
    li = header.index(label)
    X, y = [], []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"{path}:{n}: {len(row)} cells, the header has {len(header)}")
        values = []
        for c, cell in enumerate(row):
            if c == li:
                continue
            try:
                v = float(cell)
            except ValueError:
                raise DataError(f"{path}:{n}: column {header[c]!r}: {cell!r} is not a number") from None
            if not math.isfinite(v):
                raise DataError(f"{path}:{n}: column {header[c]!r}: {cell!r} is not a finite number")
            values.append(v)
        X.append(values)
        y.append(row[li].strip())
    if not X:
        raise DataError(f"{path}: expected a header row and at least one data row")
    return Data(np.array(X, dtype=np.float64), np.array(y), str(path))


def load_kernels(source: str):
    """A module made from generated kernel source, in memory: no file is written, nothing is left behind.

    The source is what :func:`symbp.kernels.codegen.generate` printed (never text from a user's file).

    >>> load_kernels("def f(x):\\n    return 2 * x\\n").f(3)
    6
    """
    name = f"symbp_kernels_{abs(hash(source)):x}"
    filename = f"<{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # readable tracebacks
    module = types.ModuleType(name)
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def train(data: Data, layers, activation="sigmoid", output="softmax", loss="cross-entropy", form="explicit-bias",
          epochs=50, lr=0.5, batch_size=None, seed=0, holdout=0.2, progress=None, dtype="float64"):
    """Train with generated kernels; returns (params, history, report dict)."""
    layers = list(layers)
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise UsageError(f"--lr must be a finite number > 0, got {lr}")
    if (output or get_loss(loss).default_output) == "softmax" and layers[-1] == 1:
        raise UsageError("softmax over one output is always 1 and cannot learn; end --layers with 2 or more")
    if data.X.shape[1] != layers[0]:
        raise DataError(f"{data.source}: {data.X.shape[1]} features but --layers starts with {layers[0]}")
    classify = loss in ("cross-entropy", "bce")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.X))
    n_hold = int(round(holdout * len(order)))
    if len(order) - n_hold < 1:
        raise DataError(f"{data.source}: too few rows ({len(order)}) to train")
    train_idx, hold_idx = order[n_hold:], order[:n_hold]
    if classify:
        classes = sorted(set(data.labels[train_idx].tolist()))
        unseen = sorted(set(data.labels[hold_idx].tolist()) - set(classes))
        if unseen:
            raise DataError(f"{data.source}: label {unseen[0]!r} appears only in the held-out split, never in training")
        if len(classes) < 2:
            raise DataError(f"{data.source}: the training split has one class ({classes[0]!r}); a classifier needs "
                            "at least two to learn anything")
        if len(classes) != layers[-1]:
            raise DataError(f"{data.source}: {len(classes)} classes but --layers ends with {layers[-1]}")
        index = {c: k for k, c in enumerate(classes)}
        Y = np.eye(len(classes))[[index[c] for c in data.labels.tolist()]]
    else:
        if layers[-1] != 1:
            raise DataError("regression trains one output: end --layers with 1")
        try:
            Y = data.labels.astype(np.float64)[:, None]
        except (ValueError, TypeError):
            raise DataError(f"{data.source}: the label column must be numeric for {loss}") from None
        if not np.all(np.isfinite(Y)):
            raise DataError(f"{data.source}: a label is not a finite number ({loss} needs finite targets)")
        classes = None
    X = data.X.astype(dtype)
    Y = Y.astype(dtype)
    mean, std = X[train_idx].mean(axis=0), X[train_idx].std(axis=0) + 1e-12
    X = (X - mean) / std
    kernels = load_kernels(generate(layers, activation, output, loss, form, dtype))
    params = kernels.init_params(seed)
    Xt, Yt = X[train_idx], Y[train_idx]
    batch = batch_size or len(Xt)
    history = []
    epochs_iter = range(epochs) if progress is None else progress(range(epochs))
    for epoch in epochs_iter:
        perm = rng.permutation(len(Xt))
        with np.errstate(all="ignore"):  # an overflow shows as a non-finite loss, refused below
            for start in range(0, len(Xt), batch):
                idx = perm[start:start + batch]
                params = kernels.step(params, Xt[idx], Yt[idx], lr)
            history.append(float(kernels.loss(params, Xt, Yt)))
        if not math.isfinite(history[-1]):
            raise TrainingError(f"the training loss became {history[-1]} in epoch {epoch + 1}: the steps diverge; "
                                f"try a smaller --lr than {lr:g}")
        if hasattr(epochs_iter, "set_postfix"):
            epochs_iter.set_postfix(loss=f"{history[-1]:.4f}")
    report = {"train_rows": int(len(train_idx)), "heldout_rows": int(len(hold_idx)), "final_loss": history[-1]}
    if len(hold_idx):
        out = kernels.forward(params, X[hold_idx])
        if classify:
            report["heldout_accuracy"] = float(np.mean(out.argmax(axis=1) == Y[hold_idx].argmax(axis=1)))
        else:
            report["heldout_mse"] = float(np.mean((out - Y[hold_idx]) ** 2))
    report["classes"] = classes
    report["normalization"] = {"mean": mean, "std": std}
    return params, history, report


def save_params(file, params, report):
    """The parameters, the input normalization and the class names as an .npz (to a path or an open file)."""
    extra = {"input_mean": report["normalization"]["mean"], "input_std": report["normalization"]["std"]}
    if report.get("classes") is not None:
        extra["classes"] = np.array(report["classes"])
    np.savez(file, **params, **extra)


def plot_loss(file, history):
    """The training loss per epoch as a PNG, drawn with matplotlib's object API (no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # here: matplotlib is slow to import
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(range(1, len(history) + 1), history)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_title("symbp train")
    fig.tight_layout()
    fig.savefig(file, format="png")


__all__ = ["Data", "DataError", "TrainingError", "load_data", "load_kernels", "plot_loss", "save_params", "train"]
