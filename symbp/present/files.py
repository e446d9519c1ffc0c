"""Writing outputs: all of them or none, with the permissions the umask gives, and no temporary file left.

Each output is written to a hidden temporary file (``.NAME.XXXXXXXX.tmp``) in its own folder, so that a
run stopped half-way leaves nothing that looks like a result, and moved into place only when every
output of the run is complete: a parameter file never appears without its loss curve.
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path

from ..errors import UsageError


def check_writable(paths, force=False) -> list[Path]:
    """The paths, if each can be written: its folder exists and it is new (or ``force``); a UsageError otherwise."""
    out = []
    for path in map(Path, paths):
        if path.exists() and not force:
            raise UsageError(f"{path} exists; pass --force to replace it")
        if path.is_dir():
            raise UsageError(f"{path} is a folder; name a file")
        if not path.absolute().parent.is_dir():
            raise UsageError(f"{path}: the folder {path.parent} does not exist")
        out.append(path)
    return out


@contextmanager
def atomic_files(*paths, force=False):
    """Yield one hidden temporary path per output; move them all into place when the block ends normally.

    On any exception (or an interrupt) every temporary file is removed and no output is touched.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_files(folder / "a.txt", folder / "b.txt") as (a, b):
    ...     _ = a.write_text("1"), b.write_text("2")
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt', 'b.txt']
    """
    targets = check_writable(paths, force)
    temps, placed = [], []
    try:
        for path in targets:
            temps.append(_new_hidden(path))
        yield temps
        for tmp, path in zip(temps, targets):
            os.replace(tmp, path)
            placed.append(path)
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        for path in placed:  # a later output failed to move: none of them, rather than some
            path.unlink(missing_ok=True)
        raise


def write_atomic(path, text: str, force: bool = False) -> None:
    """Write ``text`` to ``path`` through a hidden temporary file; an existing file only with ``force``."""
    with atomic_files(path, force=force) as (tmp,):
        tmp.write_text(text, encoding="utf-8")


def _new_hidden(path: Path) -> Path:
    """A new empty hidden file next to ``path``, created with the umask's permissions (unlike mkstemp's 0600)."""
    while True:
        tmp = path.absolute().parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:  # an unwritable folder, a full disk, ...: said before any work is done
            raise UsageError(f"{path}: cannot write a file there ({exc.strerror or exc})") from None


__all__ = ["atomic_files", "check_writable", "write_atomic"]
