"""Real `cnnlab` processes without paying for the imports each time: a launcher process imports torch, TorchDynamo
and the CLI once, then forks a child per command (the idea of multiprocessing's forkserver, and of Android's
zygote).

Each child is a process of its own (pid, environment, working folder, output files), runs `cnnlab.cli.main` as
`python -m cnnlab` does and dies of a real SIGKILL where a crash test kills it; it only skips the 4-5 s of imports
every fresh interpreter spends, which the crash tests would pay fifty times. The launcher computes nothing
before forking: torch's OpenMP pool is first made in the child, and the one other thread the imports start
(OpenBLAS's, loaded with numpy) is shut down by OpenBLAS itself around a fork. The other CLI tests start
`python -m cnnlab` itself.

Protocol, one JSON object a line: the test writes {"args", "env", "cwd", "out", "err"}; the launcher answers
{"pid"} once the child runs and {"returncode"} when it has ended (negative: killed by that signal).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 600  # seconds a command may take, as subprocess.run(timeout=600) allowed


def serve() -> None:
    """The launcher's loop: a child per request line on stdin; its pid, then how it ended, on stdout."""
    import tensorboard.summary.writer.record_writer  # noqa: F401  (a run's event log)
    import torch._dynamo  # noqa: F401  (torch.optim imports it on a first step; so does a meta-device summary)

    import cnnlab.train.engine  # noqa: F401
    from cnnlab.cli import main

    replies = sys.stdout
    for line in sys.stdin:
        replies.flush()
        pid = os.fork()
        if pid == 0:
            _become(main, json.loads(line))
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


def _become(main: Callable[[list[str]], int], request: dict) -> None:
    """The child: the command's folder, environment and files, then `main`, then exit as the interpreter would."""
    import atexit
    import traceback

    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if threads := request["env"].get("OMP_NUM_THREADS"):
            import torch

            torch.set_num_threads(int(threads))  # a fresh interpreter's torch reads it at start; this one forked
        for fd, path in ((0, os.devnull), (1, request["out"]), (2, request["err"])):
            flags = os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            opened = os.open(path, flags, 0o644)
            os.dup2(opened, fd)
            os.close(opened)
        sys.argv = ["cnnlab", *request["args"]]
        try:
            code = main(request["args"])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
        except BaseException:
            traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        atexit._run_exitfuncs()  # what a normal exit runs: coverage.py saves the child's data here
        os._exit(code)


@dataclass
class Completed:
    """What subprocess.run returns, as far as the tests read it."""

    returncode: int
    stdout: str
    stderr: str


class Launcher:
    """One launcher process; `run` and `start` stand in for subprocess.run and subprocess.Popen."""

    def __init__(self) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="cnnlab-launcher-"))
        self.count = 0
        self.unread: Child | None = None  # a child whose ending has not been read yet
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from tests.launcher import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )

    def start(self, args: list[str], env: dict[str, str]) -> Child:
        self._settle()
        self.count += 1
        out, err = self.scratch / f"{self.count}.out", self.scratch / f"{self.count}.err"
        request = {"args": [str(a) for a in args], "env": env, "cwd": os.getcwd(), "out": str(out), "err": str(err)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        self.unread = Child(self, self._reply()["pid"], out, err)
        return self.unread

    def run(self, args: list[str], env: dict[str, str]) -> Completed:
        return self.start(args, env).wait()

    def _reply(self, pid: int | None = None) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        if not ready and pid is not None:
            os.kill(pid, signal.SIGKILL)
            raise TimeoutError(f"cnnlab did not end within {TIMEOUT} s")
        line = self.proc.stdout.readline()
        assert line, f"the launcher ended (status {self.proc.poll()})"
        return json.loads(line)

    def _settle(self) -> None:
        """End and read the child a failed test left between start and wait, so one failure does not put every later
        reply one behind (each test would read the one before's)."""
        if self.unread is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.unread.pid, signal.SIGKILL)
            self._ended(self.unread.pid)  # killed this early, it may not have made its output files

    def _ended(self, pid: int) -> int:
        """The exit status of the child started last (negative: killed by that signal)."""
        code = self._reply(pid)["returncode"]
        self.unread = None
        return code

    def close(self) -> None:
        self._settle()
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        shutil.rmtree(self.scratch, ignore_errors=True)


@dataclass
class Child:
    """A command the launcher started: its pid, to kill it, and `wait` for how it ended."""

    launcher: Launcher
    pid: int
    out: Path
    err: Path

    def wait(self) -> Completed:
        code = self.launcher._ended(self.pid)
        return Completed(code, self.out.read_text(), self.err.read_text())
