"""Warm workers for local runs (``local.warm_workers``): each job forks from one process that
has already imported torch, pandas, matplotlib and minarch, instead of importing them itself.

A stage job of a small sweep is a few seconds of work, and starting Python with those
imports costs 1.3-1.8 s of CPU per job (``benchmarks/reports/quick_config.md``). With warm
workers on, the Snakefile starts ``serve`` when a local run starts (``start``; never for a
cluster's jobs, which run elsewhere) and stops it when the run ends. A job script's first
statement, ``delegate()``, then connects to it, and the job runs in a fresh fork of the
server, with the job's own arguments, working directory, environment and standard streams
(passed over the socket), while the job's own process waits, forwards signals to it and
exits with its status. Everything below ``delegate()`` in the script runs once, in the fork.

The fork runs only code identical to the files on disk: the server records a hash of every
minarch module it imported, and refuses a job when one of them changed since (an edit during
a run), when the job imports another checkout's minarch or runs another Python, or when its
thread variables differ from the server's; the job then runs in its own process, as without
warm workers, with one line saying why. No server, or none answering, means the same,
silently. A fork computes what its own process would, bit for bit: the server computes
nothing before forking (no torch op, no CUDA, no random numbers drawn), loaded its libraries
with a job's thread variables (``THREAD_VARIABLES``), and the job sets its torch threads
itself (``minarch.jobs.setup_torch``). Snakemake's benchmark files of a delegated job measure
its time, not its CPU or memory (those are the fork's, outside the job's process tree).

Before it forks each job, the server makes the calls it was started with (``start(hold=)``):
functions that keep, in their module, what every job would otherwise compute again, for the
forks to inherit. The Snakefile passes ``minarch.data.hold_splits`` for each dataset of the
run (its verified, normalised splits, held from the first job after the cache exists: about
0.2 GB for MNIST, 0.7 GB for CIFAR-10, shared by the forks) and ``minarch.provenance.closure``
of every stage's entry modules (the parsed modules behind the code versions). They must run
no torch op and draw no random number, and be cheap when nothing changed; one that raises is
reported in one line and not called again.

Only the standard library is imported here: the job's process should stay light.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import minarch

SOCKET_ENV = "MINARCH_WARM_SOCKET"  # set for the jobs of a run with warm workers
_IN_FORK_ENV = "MINARCH_WARM_FORK"  # set in a fork: its delegate() does nothing
# The last line of a forked job's log (written by its monitor, so that the job's code, and
# with it the stage's code version, is the same with and without warm workers)
FORK_NOTE = "minarch.warm: this job ran in a fork of the warm worker server"
# What the job scripts import (torch through minarch.models); the rest comes from disk as usual.
PRELOAD = (
    "torch",
    "pandas",
    "pyarrow.parquet",
    "yaml",
    "snakemake.script",
    "snakemake.logging",
    "minarch.jobs",
    "minarch.blockjob",
    "minarch.stages",
    "minarch.quantize",
    "minarch.origin",
    "minarch.plots",  # matplotlib, on its Agg backend
    "minarch.tables",
    "minarch.confidence",
    "minarch.comparison",
    "minarch.phase1",
)
_HEADER = struct.Struct("!I")
# What a job's process passes on to its fork. One it ignores stays ignored in the fork as well:
# Snakemake starts local jobs with SIGINT ignored, so that Ctrl-C lets running jobs finish,
# and a fork must not turn it into a KeyboardInterrupt.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
# What Snakemake's shell() sets for a job of n threads. Libraries read them once, when they
# load (numpy's and scipy's OpenBLAS start their threads then), so the server is started
# with a job's values and serves only jobs with the same values.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")  # fmt: skip


def file_hash(path: str | os.PathLike) -> str:
    """sha256 of a file's content ("missing" when it cannot be read)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "missing"


def _source_hashes() -> dict[str, str]:
    """The content hash of the file of every minarch module imported in this process."""
    return {
        module.__file__: file_hash(module.__file__)
        for name, module in list(sys.modules.items())
        if (name == "minarch" or name.startswith("minarch.")) and getattr(module, "__file__", None)
    }


def stale(recorded: dict[str, str]) -> str | None:
    """The first of the ``recorded`` files whose content is no longer what was recorded."""
    return next((path for path, digest in recorded.items() if file_hash(path) != digest), None)


# ---------------------------------------------------------------------------------------------
# The job's side


def delegate() -> None:
    """Run this job in a fork of the run's warm worker server and exit with its status; return
    (and let the job run here) when there is no server, in a fork, or when the server
    refuses (another Python, another checkout, files changed since it started)."""
    path = os.environ.get(SOCKET_ENV)
    if not path or os.environ.get(_IN_FORK_ENV):
        return
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return
    job = getattr(sys.modules.get("__main__"), "snakemake", None)  # the preamble's, if any
    request = json.dumps(
        {
            "log": os.path.abspath(job.log[0]) if job is not None and job.log else None,
            "argv": sys.argv,
            "script": os.path.abspath(sys.argv[0]),
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "executable": sys.executable,
            "package": os.path.realpath(minarch.__file__),
            "ignored": [int(n) for n in SIGNALS if signal.getsignal(n) == signal.SIG_IGN],
        }
    ).encode()
    try:
        socket.send_fds(connection, [_HEADER.pack(len(request))], [0, 1, 2])
        connection.sendall(request)
        reader = connection.makefile("r", encoding="utf-8")
        first = reader.readline().split(" ", 1)
    except OSError:
        connection.close()
        return
    if first[0] != "pid":  # refused (or the server went away): run here
        if first[0] == "refused":
            print(f"minarch: warm worker refused this job ({first[1].strip()}); it runs in its own process",
                  file=sys.stderr, flush=True)  # fmt: skip
        connection.close()
        return
    pid = int(first[1])

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in SIGNALS:
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, forward)
    last = reader.readline().split()
    if last[:1] == ["exit"]:
        os._exit(int(last[1]))
    print(f"minarch: warm worker {pid} ended without a status", file=sys.stderr, flush=True)
    os._exit(1)


# ---------------------------------------------------------------------------------------------
# The server's side


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    header, fds, _flags, _address = socket.recv_fds(connection, _HEADER.size, 3)
    if len(header) != _HEADER.size or len(fds) != 3:
        raise OSError("incomplete request")
    (size,) = _HEADER.unpack(header)
    data = bytearray()
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise OSError("incomplete request")
        data += chunk
    return json.loads(data), fds


def _refusal(request: dict, recorded: dict[str, str]) -> str | None:
    if request["executable"] != sys.executable:
        return f"it runs {request['executable']}, the server {sys.executable}"
    if request["package"] != os.path.realpath(minarch.__file__):
        return f"its minarch is {request['package']}, the server's {os.path.realpath(minarch.__file__)}"
    theirs = {k: request["env"].get(k) for k in THREAD_VARIABLES}
    if theirs != (ours := {k: os.environ.get(k) for k in THREAD_VARIABLES}):
        return f"its thread settings {theirs} are not the server's {ours}"  # fixed when libraries load
    if changed := stale(recorded):
        return f"{changed} changed since the server started"
    return None


def _run_in_fork(request: dict, fds: list[int]) -> None:
    """The forked job: its streams, directory, environment and arguments, then its script
    as ``__main__``; never returns."""
    code = 1
    try:
        os.setpgid(0, 0)  # signals reach it through its job's process only (forward)
        for signum in SIGNALS:  # as Python starts with what the job's process inherited
            if signum in request["ignored"]:
                signal.signal(signum, signal.SIG_IGN)
            else:
                signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[_IN_FORK_ENV] = "1"
        sys.argv = list(request["argv"])
        import runpy

        runpy.run_path(request["script"], run_name="__main__")
        code = 0
    except SystemExit as done:
        if done.code is None:
            code = 0
        elif isinstance(done.code, int):
            code = done.code
        else:
            print(done.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            import logging

            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _note_in_log(log: str | None) -> None:
    """Say in the job's log that it ran in a fork (``benchmarks/calibration.py`` reads it)."""
    if log:
        try:
            with open(log, "a") as handle:
                handle.write(f"{FORK_NOTE}\n")
        except OSError:
            pass


def _status(waited: int) -> int:
    """A shell's exit status for a wait status: the code, or 128 + the signal that killed it."""
    if os.WIFSIGNALED(waited):
        return 128 + os.WTERMSIG(waited)
    return os.waitstatus_to_exitcode(waited)


def _attend(connection: socket.socket, recorded: dict[str, str]) -> None:
    """One job, in a fork of the server (the job's monitor): check the request, fork the job,
    tell the job's process its pid, and its exit status when it ends; kill the job when its
    process goes away first. Never returns."""
    # signals reach the job through its own process (forward); the monitor must stay to
    # report the job's status, and the server's SIGTERM handler would make it exit
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        request, fds = _receive(connection)
        if refusal := _refusal(request, recorded):
            connection.sendall(f"refused {refusal}\n".encode())
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            connection.close()
            _run_in_fork(request, fds)
        for fd in fds:
            os.close(fd)
        connection.sendall(f"pid {pid}\n".encode())
        try:
            ended = os.pidfd_open(pid)
        except (AttributeError, OSError):
            ended = None
        while True:
            readable, _, _ = select.select([connection] + ([ended] if ended is not None else []), [], [],
                                           None if ended is not None else 0.2)  # fmt: skip
            done, waited = os.waitpid(pid, os.WNOHANG)
            if done:
                _note_in_log(request["log"])
                try:
                    connection.sendall(f"exit {_status(waited)}\n".encode())
                except OSError:
                    pass
                os._exit(0)
            if connection in readable and not connection.recv(1):  # the job's process is gone
                try:
                    os.killpg(pid, signal.SIGKILL)  # the job and anything it started
                except ProcessLookupError:  # it has not made its process group yet
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os._exit(0)
    except BaseException:
        traceback.print_exc()
        os._exit(1)


def _reap(block: bool = False) -> None:
    """Wait for the monitors that have ended: their CPU time (their jobs' included) then counts
    in this process's children's, and so in Snakemake's (``getrusage``, ``time``)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _hold(calls: list) -> None:
    """Make the ``hold`` calls, ``[["module:function", {keyword: value}], ...]``, in place: one
    that cannot be imported or raises is reported in one line and dropped."""
    for call in list(calls):
        target, keywords = call
        try:
            module, _, name = target.partition(":")
            getattr(importlib.import_module(module), name)(**keywords)
        except Exception as error:
            calls.remove(call)
            print(f"minarch: the warm worker server stops calling {target}({keywords}): "
                  f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)  # fmt: skip


def serve(path: str, parent: int, hold: list | None = None) -> None:
    """Import ``PRELOAD``, listen at ``path``, print ``ready`` and fork a monitor per job until
    SIGTERM or until ``parent`` (the Snakemake process) is gone, making the ``hold`` calls
    before each fork."""
    for name in PRELOAD:
        importlib.import_module(name)
    calls = [list(call) for call in hold or []]
    recorded = _source_hashes()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Ctrl-C is Snakemake's to handle (its jobs ignore it too); the server ends with the run
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(1.0)
    print("ready", flush=True)
    try:
        while os.getppid() == parent:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                _reap()
                continue
            connection.settimeout(None)
            _hold(calls)
            if os.fork() == 0:
                listener.close()
                _attend(connection, recorded)
            connection.close()
            _reap()
    finally:
        _reap(block=True)
        listener.close()
        try:
            os.unlink(path)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# The Snakefile's side


class Server:
    """A running server: ``start`` makes one, ``stop`` ends it."""

    def __init__(self, process: subprocess.Popen, folder: str):
        self.process, self.folder = process, folder

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for leftover in Path(self.folder).glob("*"):
            leftover.unlink(missing_ok=True)
        os.rmdir(self.folder)
        os.environ.pop(SOCKET_ENV, None)


def start(threads: int = 1, timeout: float = 60.0, hold: list | tuple = ()) -> Server | None:
    """Start a server for this process's jobs of ``threads`` threads and point them at it
    (``SOCKET_ENV`` in this process's environment, which Snakemake's local jobs inherit);
    ``hold``: the calls it makes before each fork, ``("module:function", {keyword: value})``
    with JSON values (see the module docstring). None, with a line on stderr, when it does
    not come up: the jobs then run in their own processes."""
    env = {k: v for k, v in os.environ.items() if k != SOCKET_ENV} | {k: str(threads) for k in THREAD_VARIABLES}
    folder = None
    try:
        folder = tempfile.mkdtemp(prefix="minarch-warm-")
        path = os.path.join(folder, "socket")
        process = subprocess.Popen(
            [sys.executable, "-m", "minarch.warm", path, str(os.getpid()), json.dumps([list(c) for c in hold])],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
        )
    except OSError as error:
        if folder is not None:
            os.rmdir(folder)
        print(f"minarch: warm workers could not start ({error}); jobs start their own processes", file=sys.stderr)
        return None
    server = Server(process, folder)
    started = time.monotonic()
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else ""
    if line.strip() != "ready":
        server.stop()
        print(f"minarch: warm workers did not start within {time.monotonic() - started:.0f} s; "
              "jobs start their own processes", file=sys.stderr)  # fmt: skip
        return None
    os.environ[SOCKET_ENV] = path
    return server


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]) if len(sys.argv) > 3 else None)
