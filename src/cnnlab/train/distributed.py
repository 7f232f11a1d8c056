"""Data-parallel training across processes: the process group torchrun's ranks join, and the few collective steps
the engine needs (rank 0 decides, the others follow; training statistics summed over ranks).

torchrun (torch.distributed.run) starts one process per rank and tells each its place through the environment
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT); `join` reads it and initialises the default process
group the way PyTorch's DDP tutorial does (env:// rendezvous; gloo on the CPU, NCCL on GPUs). Without those
variables, or with WORLD_SIZE=1, training is a single process and none of this costs anything.

Rendezvous and training get different timeouts: the default group is created with the short `rendezvous` timeout,
so a rank that cannot reach the others fails within it, and training collectives run on a second group with
PyTorch's default (30 minutes), since the other ranks wait in a broadcast while rank 0 evaluates and checkpoints.
The wait for rank 0's first decode of the data, hours for a large image folder, runs on a third group, gloo's, with
a week's timeout (DATA_TIMEOUT): a rank that dies or is interrupted still ends it at once, as in any collective.

See https://pytorch.org/docs/stable/distributed.html (init_process_group, new_group, broadcast_object_list) and
https://pytorch.org/docs/stable/elastic/run.html (torchrun's environment variables).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from cnnlab.errors import CnnlabError, OtherRankError
from cnnlab.native_output import silenced
from cnnlab.orphans import die_with_parent
from cnnlab.train.launch import LAUNCHER, check_rendezvous

T = TypeVar("T")
RENDEZVOUS_TIMEOUT = 120.0  # seconds a rank waits for the others to join (cnnlab train --rdzv-timeout)
TRAINING_TIMEOUT = timedelta(minutes=30)  # PyTorch's default for collectives once every rank has joined
# The ranks' wait while one decodes the data (rank 0 first, then each other rank reading its cache, or decoding too
# on another machine): not a limit on the decode, only on a machine that vanishes without closing its connections.
DATA_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Ranks:
    """This process's place among the ranks training one run; `Ranks()` is a single process."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    group: Any = None  # the training process group (None: the single process)
    owned: bool = False  # whether `join` set the process group up (and `leave` tears it down)
    waiting: Any = None  # the process group of the wait for the data, with DATA_TIMEOUT

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes the run directory, evaluates and decides."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """The rank's device: on GPUs each local rank takes its own (cuda:LOCAL_RANK)."""
        if self.world > 1 and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def share(self, fn: Callable[..., T], *args: Any, slow: bool = False) -> T:
        """Run `fn(*args)` on rank 0 and give its result (or its error, as OtherRankError) to every rank; an
        interrupt there (Ctrl-C) interrupts every rank, each ending as interrupted (status 130), not as failed.
        `slow`: a step that can take rank 0 hours (loading the data), which the others wait for on the `waiting`
        group rather than in the training collectives' 30 minutes."""
        if self.world == 1:
            return fn(*args)
        group = self.waiting if slow else self.group
        box: list[Any] = [None]
        if self.main:
            try:
                box[0] = ("ok", fn(*args))
            except BaseException as e:
                self._tell_failure(e, group)
                raise
        dist.broadcast_object_list(box, src=0, group=group)
        kind, value = box[0]
        if kind == "interrupt":
            raise KeyboardInterrupt
        if kind == "error":
            raise OtherRankError(value)
        return value

    def _tell_failure(self, e: BaseException, group: Any) -> None:
        """Rank 0's failure `e`, handed to the others; where they are gone already (killed), that cannot be done
        and must not take the place of `e`, rank 0's own error and the one to say."""
        kind = "interrupt" if isinstance(e, KeyboardInterrupt) else "error"
        try:
            dist.broadcast_object_list([(kind, str(e) or type(e).__name__)], src=0, group=group)
        except RuntimeError:  # gloo's and NCCL's errors (dist.DistError among them) for a peer gone
            pass

    def lost(self, error: BaseException) -> bool:
        """Whether `error` is a collective failing because another rank went away (killed, crashed)."""
        text = str(error).lower()
        return self.world > 1 and isinstance(error, RuntimeError) and ("peer" in text or "connection" in text)

    def gathered(self) -> None:
        """Wait, on the `waiting` group, until every rank has its data: one decoding it itself (another machine's
        rank, or any with an unwritable cache) may take longer than the training collectives wait."""
        if self.world > 1:
            dist.barrier(group=self.waiting)

    def sum(self, *values: torch.Tensor | float) -> list[float]:
        """The sums over ranks of a few numbers (epoch statistics)."""
        if self.world == 1:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        dist.all_reduce(t, group=self.group)
        return t.tolist()

    def each(self, value: float) -> list[float]:
        """Every rank's `value`, in rank order, on every rank (which rank's loss went bad): the sums over ranks of
        slots where each rank puts its own value and the others 0 (0 + inf is inf, 0 + NaN is NaN)."""
        return self.sum(*(value if r == self.rank else 0.0 for r in range(self.world)))

    def gather(self, obj: T) -> list[T] | None:
        """Every rank's `obj`, in rank order, on rank 0 (None elsewhere)."""
        if self.world == 1:
            return [obj]
        out: list[Any] | None = [None] * self.world if self.main else None
        dist.gather_object(obj, out, dst=0, group=self.group)
        return out

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module the loop calls: DistributedDataParallel around `model` (which keeps the weights), so that
        backward() averages the gradients over ranks; `model` itself with one process."""
        if self.world == 1:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids, process_group=self.group)

    def leave(self) -> None:
        """Tear the process group down (at the end of `train`, on every rank) if `join` set it up."""
        if self.owned and dist.is_initialized():
            dist.destroy_process_group()


def env_rank() -> int:
    """This process's rank as torchrun set it (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0"))


def end_with_launcher() -> None:
    """A rank started by `cnnlab train --nproc` dies with that process (cnnlab.orphans); ranks started otherwise
    (torchrun by hand, other machines' launchers) are left as they are."""
    launcher = os.environ.get(LAUNCHER)
    if launcher is not None:
        die_with_parent(int(launcher))


def join(device: torch.device, rendezvous: float = RENDEZVOUS_TIMEOUT) -> Ranks:
    """Join the ranks torchrun started (a single process outside torchrun): gloo on the CPU, NCCL on GPUs. A rank
    that cannot reach the rendezvous within `rendezvous` seconds raises a one-line CnnlabError."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    end_with_launcher()
    if not dist.is_available():
        raise CnnlabError("this PyTorch build has no torch.distributed; train with one process")
    check_rendezvous(rendezvous)
    rank, local_rank = env_rank(), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        try:
            with silenced(2):  # PyTorch logs every failed connection attempt as a page of stack frames
                dist.init_process_group(backend, timeout=timedelta(seconds=rendezvous))
            group = dist.new_group(backend=backend, timeout=TRAINING_TIMEOUT)
            waiting = dist.new_group(backend="gloo", timeout=DATA_TIMEOUT)  # on GPUs too: it moves no tensors
        except (RuntimeError, ValueError, dist.DistError) as e:
            where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
            first = (str(e).splitlines() or [type(e).__name__])[0][:160]
            raise CnnlabError(
                f"rank {rank} of {world} could not join the others at {where} within {rendezvous:g} s ({first}); "
                "start every rank, check --rdzv-endpoint (MASTER_ADDR:MASTER_PORT) and the network, "
                "or raise --rdzv-timeout"
            ) from None
        return Ranks(rank, world, local_rank, group, owned=True, waiting=waiting)
    world_group = dist.group.WORLD  # the caller set the process group up itself, with the timeout it chose
    return Ranks(rank, world, local_rank, world_group, waiting=world_group)


def check_sync_bn(sync_bn: bool, world: int, device: torch.device) -> None:
    """--sync-bn with several processes needs GPUs: PyTorch's SyncBatchNorm runs on CUDA only."""
    if sync_bn and world > 1 and device.type != "cuda":
        raise CnnlabError("--sync-bn needs GPUs: PyTorch's SyncBatchNorm runs on CUDA only; drop --sync-bn on the CPU")


def sync_batch_norm(model: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module:
    """`model` with every batch norm computing its statistics over the global batch (SyncBatchNorm). The weights
    keep their names, so checkpoints load either way; one process has nothing to synchronise."""
    check_sync_bn(True, ranks.world, device)
    if ranks.world == 1:
        return model
    return nn.SyncBatchNorm.convert_sync_batchnorm(model, process_group=ranks.group)
