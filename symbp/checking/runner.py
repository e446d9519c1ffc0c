"""Checking derivation files in worker processes: a budget of time and memory that holds whatever the work.

A derivation file is untrusted input: a claim such as ``x[1] = 2**(2**62)`` makes an arithmetic library
fault, ``(10**9)**(10**9)`` asks it for gigabytes, a deep network runs for minutes inside C code that no
signal can interrupt. So each file is loaded and checked in a worker process of its own, with its
address space limited where the platform allows (``resource.RLIMIT_AS``), and the parent waits for each
step of each claim no longer than the budget. A claim past its budget, or one whose check brings the
worker down, gets an ``error`` verdict saying so; the worker is replaced and the remaining claims are
checked in the new one. Several files are checked in parallel, one worker each. Nothing here uses
signals, so it works off the main thread and on every platform.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import wait

from .check import Checker
from .derivation import load
from ..errors import SymbpError
from ..verdicts import Verdict

try:  # POSIX only: elsewhere the memory limit is not available and only the time budget holds
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None

_STACK = 512 * 2**20  # the worker's checking thread: deep networks recurse deeply
_RECURSION = 20_000


@dataclass(frozen=True)
class Limits:
    """What one claim may use: ``seconds`` for each of its steps, ``memory_mb`` of address space per worker.

    ``memory_mb = 0`` leaves memory unlimited (as it is where the platform has no ``resource`` module).
    """

    seconds: float = 120.0
    memory_mb: int = 4096


@dataclass
class FileResult:
    """What checking one file gave: its verdicts, or why it could not be read, or a bug met on the way."""

    path: str
    title: str = ""
    verdicts: list = field(default_factory=list)
    error: str = ""  # the file cannot be read or checked as written: one line naming the file, the line and the claim
    internal: str = ""  # a bug in symbp met while checking this file: one line


def check_files(paths, options=None, limits=Limits(), jobs=1, on_verdict=None) -> list[FileResult]:
    """Check each file in a worker process of its own, ``jobs`` files at a time; results in the order given.

    ``options`` are :class:`~symbp.checking.check.Checker`'s; ``on_verdict(verdict)`` is called as each
    claim is done (from a helper thread when ``jobs > 1``).

    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "d.toml"
    >>> _ = f.write_text('title = "t"\\n[network]\\narchitectures = [[2, 2]]\\n[[claim]]\\nid = "big"\\n'
    ...                  'statement = "x[1] = 2**(2**62)"\\n[[claim]]\\nid = "w"\\n'
    ...                  'statement = "d(e)/d(b[1,j]) = a[1,j] - y[j]"\\nranges = "(j, 1, 2)"\\n')
    >>> [(v.id, v.verdict) for v in check_files([f], limits=Limits(seconds=20))[0].verdicts]
    [('big', 'error'), ('w', 'holds')]
    """
    paths = [str(p) for p in paths]
    if jobs <= 1 or len(paths) <= 1:
        return [check_file(p, options, limits, on_verdict) for p in paths]
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # each thread only waits on its worker process
        return list(pool.map(lambda p: check_file(p, options, limits, on_verdict), paths))


def check_file(path, options=None, limits=Limits(), on_verdict=None) -> FileResult:
    """Load and check one derivation file in worker processes (see :func:`check_files`)."""
    result, count, start = FileResult(str(path)), None, 0
    while count is None or start < count:
        worker = _Worker(str(path), options or {}, start, limits)
        try:
            count = worker.drive(result, on_verdict)
        finally:
            worker.stop()
        if len(result.verdicts) == start and start < count:  # a worker that stopped before its first claim
            result.internal = result.internal or f"{path}: the worker stopped before claim {start + 1} without a verdict"
            break
        start = len(result.verdicts)
    return result


class _Worker:
    """One worker process and the parent's side of its pipe."""

    def __init__(self, path, options, start, limits: Limits):
        self.path, self.limits = path, limits
        ctx = multiprocessing.get_context(_start_method())
        if ctx.get_start_method() == "forkserver":
            ctx.set_forkserver_preload([__name__])  # workers start with symbp already imported
        self.conn, child = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=work, args=(child, path, options, start, limits.memory_mb), daemon=True)
        self.process.start()
        child.close()

    def receive(self):
        """The worker's next message; "overran" past the budget, "died" when the worker stopped."""
        deadline = time.monotonic() + self.limits.seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return ("overran",)
            if wait([self.conn, self.process.sentinel], timeout=left):
                try:
                    return self.conn.recv() if self.conn.poll() else ("died",)
                except (EOFError, OSError):
                    return ("died",)

    def drive(self, result: FileResult, on_verdict):
        """Collect verdicts until the worker is done, overruns or stops; the number of claims (0 if unread)."""
        count, pending, step, started = None, None, None, time.monotonic()
        while True:
            kind, *body = self.receive()
            if kind in ("overran", "died", "internal"):
                why = {"overran": self.budget_text, "died": self.death_text}.get(kind, lambda: f"met an internal error: {body[0]}")()
                if kind == "internal":
                    result.internal = result.internal or f"{self.path}: {body[0]}"
                if count is None:  # reading the file went wrong
                    result.error = result.error or (f"{self.path}: cannot be read: it {why}" if kind != "internal" else "")
                    return 0
                if pending is not None:
                    _deliver(result, cut_short(pending, step, why, time.monotonic() - started), on_verdict)
                return count
            if kind == "loaded":
                result.title, count = body
            elif kind == "invalid":
                result.error = body[0]
                return 0
            elif kind == "begin":
                (pending, step), started = body, time.monotonic()
            elif kind == "verdict":
                _deliver(result, body[0], on_verdict)
                pending = None
            elif kind == "done":
                return count

    def budget_text(self) -> str:
        return f"took longer than the time budget of {self.limits.seconds:g} s (see --budget)"

    def death_text(self) -> str:
        self.process.join(5)
        code = self.process.exitcode
        limit = f"{self.limits.memory_mb} MB, see --memory" if self.limits.memory_mb and resource else "none"
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            why = {"SIGFPE": "an arithmetic fault, such as a number too large for the arithmetic library",
                   "SIGABRT": "the arithmetic library gave up, usually for lack of memory",
                   "SIGSEGV": "a crash in a C library, usually an expression nested too deeply",
                   "SIGKILL": "killed, usually by the system for lack of memory"}.get(name, "stopped by a signal")
            return f"stopped the checking process ({name}: {why}; memory limit: {limit})"
        return f"stopped the checking process (exit code {code}; memory limit: {limit})"

    def stop(self):
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


def _deliver(result, verdict, on_verdict):
    result.verdicts.append(verdict)
    if on_verdict is not None:
        on_verdict(verdict)


def cut_short(pending: Verdict, step: str, why: str, seconds: float) -> Verdict:
    """The verdict of a claim whose ``step`` did not finish, ``why`` saying what happened.

    Deciding it: an error. Explaining a failure: the failure without a likely fix. Proving it for every
    width: not proved.
    """
    if step == "decide":
        pending.diagnosis = f"claim {pending.id} {why}"
    elif step == "widths":
        pending.widths_detail += f" the proof {why}"
    pending.seconds += seconds
    return pending


def _start_method() -> str:
    """forkserver where there is one (fast, and safe with threads), spawn elsewhere."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _limit_memory(memory_mb: int) -> None:
    if resource is None or not memory_mb:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))


def work(conn, path, options, start, memory_mb):
    """The worker process: load the file, then check its claims from ``start`` on, reporting each step."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # a C library's own complaint ("GNU MP: ...") is not for the user
    _limit_memory(memory_mb)
    sys.setrecursionlimit(_RECURSION)
    sys.set_int_max_str_digits(0)  # an index such as 10**5000 is named in its error (shortened), not a crash
    threading.stack_size(_STACK)  # the recursion limit above needs a deep stack: check in a thread that has one
    thread = threading.Thread(target=_work, args=(conn, path, options, start, memory_mb))
    thread.start()
    thread.join()
    conn.close()


def _work(conn, path, options, start, memory_mb):
    try:
        try:
            d = load(path)
        except SymbpError as exc:
            conn.send(("invalid", str(exc)))
            return
        except (RecursionError, MemoryError) as exc:
            conn.send(("invalid", f"{path}: cannot be read: "
                                  + ("an expression is nested too deeply" if isinstance(exc, RecursionError) else "out of memory")))
            return
        checker = Checker(d, **options)
        conn.send(("loaded", d.title, len(d.claims)))
        for claim in d.claims[start:]:
            pending = _pending(checker, claim)
            conn.send(("begin", pending, "decide"))
            try:
                verdict = checker.decide(claim)
            except MemoryError:  # the worker may be in a poor state: report, and let the parent start a new one
                conn.send(("verdict", cut_short(pending, "decide", f"ran out of memory (limit: {memory_mb} MB, "
                                                                    "see --memory)", 0.0)))
                return
            if verdict.verdict in ("fails", "error") and checker.diagnose:
                conn.send(("begin", Verdict(**vars(verdict)), "explain"))
                checker.explain(claim, verdict)
            if claim.all_widths and verdict.verdict == "holds":
                pending = Verdict(**vars(verdict))
                pending.widths = "not provable"
                pending.widths_detail = f"checked only at {checker.sizes_text(claim)}; not proved for every width:"
                conn.send(("begin", pending, "widths"))
            checker.prove_widths(claim, verdict)
            conn.send(("verdict", verdict))
        conn.send(("done",))
    except Exception as exc:  # a bug in symbp: said as such, never a verdict
        conn.send(("internal", internal_error_text(exc)))


def _pending(checker, claim) -> Verdict:
    """The verdict a claim gets if deciding it does not finish: an error."""
    v = Verdict(claim.id, claim.statement, "error", "", 0.0, file=checker.d.path, line=claim.line,
                expected=claim.expect, note=claim.note)
    if claim.all_widths:
        v.widths, v.widths_detail = "not provable", f"not tried: at {checker.sizes_text(claim)} the claim is an error"
    return v


def internal_error_text(exc: BaseException) -> str:
    """One line for a bug: the exception and where in symbp it was raised.

    >>> try:
    ...     {}["k"]
    ... except KeyError as exc:
    ...     internal_error_text(exc).startswith("KeyError: 'k' (at ")
    True
    """
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "symbp" in f.filename] or \
        traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}{where}"


__all__ = ["FileResult", "Limits", "check_file", "check_files", "cut_short", "internal_error_text", "work"]
