"""`cnnlab train --nproc N`: the same command run by N ranks on this machine (or on each of `--nnodes`
machines), launched through torchrun (torch.distributed.run) rather than by process management of our own.

On one machine it is exactly `python -m torch.distributed.run --standalone --nproc-per-node N -m cnnlab train
ARGS`; on several, torchrun's c10d rendezvous at `--rdzv-endpoint` with a bounded join timeout. The CPU threads
are split across the ranks (OMP_NUM_THREADS, unless set already). torchrun tears every rank down when one fails;
the run directory stays resumable (rank 0 publishes checkpoints atomically). See
https://pytorch.org/docs/stable/elastic/run.html.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnnlab.atomic import process_alive
from cnnlab.errors import CnnlabError, resume_option

BAD_INPUT = 2  # a rank's exit status for a CnnlabError, which that rank has printed already
INTERRUPTED = 130  # a rank's exit status for Ctrl-C (KeyboardInterrupt), as a shell gives 128 + SIGINT
LAUNCHER = "CNNLAB_LAUNCHER_PID"  # set for the ranks: the process they must not outlive


@dataclass(frozen=True)
class Launch:
    """Where the ranks run: `nproc` on each of `nnodes` machines meeting at `endpoint` (HOST:PORT) within
    `timeout` seconds."""

    nproc: int
    nnodes: int = 1
    endpoint: str | None = None
    timeout: float = 120.0

    def check(self) -> None:
        for flag, value in (("--nproc", self.nproc), ("--nnodes", self.nnodes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CnnlabError(f"{flag} must be a positive number, got {value!r}")
        if self.nnodes > 1 and not self.endpoint:
            raise CnnlabError("--nnodes above 1 needs --rdzv-endpoint HOST:PORT, the same on every machine")
        if self.endpoint and not re.fullmatch(r"[^\s:]+:[0-9]{1,5}", self.endpoint):
            raise CnnlabError(f"--rdzv-endpoint must be HOST:PORT, got {self.endpoint!r}")
        check_rendezvous(self.timeout)


RENDEZVOUS_MAX = 7 * 24 * 3600.0  # a week; 1e10 s overflowed the store's millisecond timeout and failed at once


def check_rendezvous(seconds: object) -> None:
    """A one-line error for a --rdzv-timeout that is no positive number of seconds up to RENDEZVOUS_MAX (1e300 s
    gave a traceback in torch.distributed, 1e10 s a timeout that never happened)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= RENDEZVOUS_MAX:
        raise CnnlabError(
            f"--rdzv-timeout must be a positive number of seconds up to {RENDEZVOUS_MAX:.0f} (a week), got {seconds!r}"
        )


def torchrun_args(where: Launch, argv: Sequence[str]) -> list[str]:
    """torchrun's argument list that runs `cnnlab train ARGV` as the ranks `where` describes."""
    where.check()
    if where.nnodes == 1 and not where.endpoint:
        meet = ["--standalone"]
    else:
        meet = ["--nnodes", str(where.nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", str(where.endpoint)]
        meet += ["--rdzv-id", "cnnlab", "--rdzv-conf", f"join_timeout={max(1, round(where.timeout))}"]
    ranks = ["--nproc-per-node", str(where.nproc), "--max-restarts", "0"]
    return [*meet, *ranks, "-m", "cnnlab", "train", *argv]


def parsed_torchrun_args(where: Launch, argv: Sequence[str]) -> argparse.Namespace:
    """torchrun's parsed arguments for torchrun_args: the ranks' own arguments are set after parsing, since
    torchrun's parser would take one of them for an abbreviation of its own (`--monitor` for --monitor-interval)."""
    from torch.distributed.run import get_args_parser

    *own, command = torchrun_args(where, [])  # [..., "-m", "cnnlab"] and "train"
    args = get_args_parser().parse_args(own)
    args.training_script_args = [command, *argv]
    return args


@contextmanager
def launcher_pid() -> Iterator[None]:
    """This process's id in the ranks' environment while they run (each ends with it: distributed.end_with_launcher),
    and only then: a process started later from this one is no rank of it."""
    before = os.environ.get(LAUNCHER)
    os.environ[LAUNCHER] = str(os.getpid())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(LAUNCHER, None)
        else:
            os.environ[LAUNCHER] = before


def threads_per_rank(nproc: int) -> int:
    """CPU threads for each rank: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // nproc)


RANK_LOGS = "cnnlab-ranks-"  # + the launcher's PID + a random part: the temporary folder of torchrun's error files


def _remove_abandoned_logs() -> None:
    """Remove the error-file folders that launchers killed outright (SIGKILL: no cleanup runs) left in the
    temporary folder, told apart from a live launcher's by the PID in their name."""
    for entry in Path(tempfile.gettempdir()).glob(f"{RANK_LOGS}*"):
        pid = entry.name[len(RANK_LOGS) :].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def launch(where: Launch, argv: Sequence[str]) -> int:
    """Run `cnnlab train ARGV` as the ranks `where` describes; 0 when every rank finished. A rank's bad-input
    error (printed by that rank) gives 2, and ranks that ended interrupted (status 130) a KeyboardInterrupt, as
    Ctrl-C of the launcher does; nodes that do not meet in time, or a rank that died otherwise (killed,
    crashed), are a one-line CnnlabError."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.run import run

    args = parsed_torchrun_args(where, argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads_per_rank(where.nproc)))
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")  # the ranks' C++ side would log every retry as a page
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed.elastic")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # and torchrun its failure report (each sets its level)
    _remove_abandoned_logs()
    logs = tempfile.TemporaryDirectory(prefix=f"{RANK_LOGS}{os.getpid()}-")  # torchrun's error files, gone at its end
    args.log_dir = logs.name  # (left to itself, torchrun leaves an empty /tmp/torchelastic_* tree every launch)
    try:
        with logs, launcher_pid():
            run(args)
    except SignalException as e:  # Ctrl-C or a kill: torchrun has stopped the ranks; the run stays resumable
        if e.sigval == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise CnnlabError(
            f"stopped by {signal.Signals(e.sigval).name}; the run keeps its last checkpoint, if it wrote one: "
            f"continue it with {resume_option()}"
        ) from None
    except RendezvousError as e:
        first = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise CnnlabError(
            f"the {where.nnodes} machines did not meet at {where.endpoint} within {where.timeout:g} s ({first}); "
            "start `cnnlab train` on every machine with the same --nnodes and --rdzv-endpoint, check the network, "
            "or raise --rdzv-timeout"
        ) from None
    except ChildFailedError as e:
        codes = {rank: failure.exitcode for rank, failure in e.failures.items()}
        if INTERRUPTED in codes.values() and all(c in (INTERRUPTED, -signal.SIGTERM) for c in codes.values()):
            raise KeyboardInterrupt from None  # a rank's Ctrl-C, which every rank took (Ranks.share): one line, 130
        causes = [(r, c) for r, c in sorted(codes.items()) if c != BAD_INPUT]
        if not causes or (BAD_INPUT in codes.values() and all(c == -signal.SIGTERM for _, c in causes)):
            return BAD_INPUT  # a rank's own error, printed by it; torchrun then stopped the others
        # torchrun ends the others with SIGTERM: the cause is the rank that ended another way, if any
        rank, code = next(((r, c) for r, c in causes if c != -signal.SIGTERM), causes[0])
        raise CnnlabError(
            f"rank {rank} {_ended(code)}, so torchrun stopped every rank; the run keeps its last checkpoint, if it "
            "wrote one: "
            f"continue it with {resume_option()}"
        ) from None
    return 0


def _ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"
