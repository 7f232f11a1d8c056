"""`cnnlab train --nproc N`: the same command run by N ranks on this machine, launched through torchrun
(torch.distributed.run) rather than by process management of our own.

It is exactly `python -m torch.distributed.run --standalone --nproc-per-node N -m cnnlab train ARGS`, with the
CPU threads split across the ranks (OMP_NUM_THREADS, unless set already). torchrun tears every rank down when one
fails; the run directory stays resumable (rank 0 publishes checkpoints atomically). See
https://pytorch.org/docs/stable/elastic/run.html.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence

from cnnlab.errors import CnnlabError

BAD_INPUT = 2  # a rank's exit status for a CnnlabError, which that rank has printed already


def torchrun_args(nproc: int, argv: Sequence[str]) -> list[str]:
    """torchrun's argument list that runs `cnnlab train ARGV` as `nproc` ranks on this machine."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise CnnlabError(f"--nproc must be a positive number of processes, got {nproc!r}")
    return ["--standalone", "--nproc-per-node", str(nproc), "--max-restarts", "0", "-m", "cnnlab", "train", *argv]


def threads_per_rank(nproc: int) -> int:
    """CPU threads for each rank: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // nproc)


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run `cnnlab train ARGV` as `nproc` ranks; 0 when every rank finished. A rank's bad-input error (printed by
    that rank) gives 2; a rank that died otherwise (killed, crashed) is a one-line CnnlabError."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(torchrun_args(nproc, argv))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads_per_rank(nproc)))
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # its failure report is a page
    try:
        run(args)
    except ChildFailedError as e:
        codes = {rank: failure.exitcode for rank, failure in e.failures.items()}
        if all(code == BAD_INPUT for code in codes.values()):
            return BAD_INPUT
        rank, code = next((r, c) for r, c in sorted(codes.items()) if c != BAD_INPUT)
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        raise CnnlabError(
            f"rank {rank} of {nproc} {how}, so torchrun stopped every rank; the run keeps its last checkpoint: "
            "continue it with --resume"
        ) from None
    return 0
