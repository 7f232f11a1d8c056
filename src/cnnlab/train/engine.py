"""The training engine: one loop for every model and dataset, everything on the device, resumable to the bit on CPU.

`train(config, out)` writes a run directory (cnnlab.rundir) and returns its summary. It reads as its phases:
set-up (setup.py), resume, epochs (train an epoch, evaluate, stop rules, checkpoint), finish (test, summary).

Under torchrun every rank runs `train` (distributed.py): all ranks train their slice of each batch through DDP;
rank 0 alone opens the run directory, evaluates, applies the stop rules, diagnoses, checkpoints and tests, and
shares each outcome with the others (`Ranks.share`), so that every rank stops at the same epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.data import DeviceLoader
from cnnlab.errors import CnnlabError, OtherRankError, resume_option
from cnnlab.failpoint import failpoint
from cnnlab.rundir import RunConfig, RunSummary, RunWriter, load_state
from cnnlab.rundir.batches import BatchLog
from cnnlab.rundir.config import lowest_val_loss, validated
from cnnlab.train import diagnose
from cnnlab.train.allocator import freed_memory_kept
from cnnlab.train.callbacks import Callback, EpochFunction
from cnnlab.train.distributed import RENDEZVOUS_TIMEOUT, Ranks, join
from cnnlab.train.optim import training_loss
from cnnlab.train.precision import autocast
from cnnlab.train.progress import Progress, default_log, live_callbacks
from cnnlab.train.setup import Setup, pick_device, setup
from cnnlab.train.tta import logits as tta_logits
from cnnlab.transfer import train_mode

NON_FINITE = "non-finite loss"  # the summary's `stopped` of a run whose loss went NaN or infinite


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DeviceLoader, loss_fn: nn.Module, tta: str = "none", precision: str = "fp32"
) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, predictions) over a loader, in eval mode, with logits averaged over `tta` views.

    The forward passes run in `precision`, the run's (bf16 autocast for a bf16 run, as Keras' mixed_bfloat16
    policy and Lightning's bf16-mixed evaluate too: where bf16 trains faster it scores faster); the loss is taken
    in fp32. The sums stay on the device until the end (in float64, as a Python float would add them), so a GPU
    is not made to wait for the host at every batch."""
    model.eval()
    total, preds = 0, []
    loss_sum = torch.zeros((), dtype=torch.float64, device=loader.device)
    correct = torch.zeros((), dtype=torch.long, device=loader.device)
    for x, y in loader:
        with autocast(x.device.type, precision):
            out = tta_logits(model, x, tta)
        out = out.float()
        loss_sum += loss_fn(out, y).double() * len(y)
        p = out.argmax(1)
        correct += (p == y).sum()
        total += len(y)
        preds.append(p)
    if total == 0:
        return float("nan"), float("nan"), torch.empty(0, dtype=torch.long)
    return loss_sum.item() / total, correct.item() / total, torch.cat(preds).cpu()


@dataclass
class State:
    """What the loop carries from epoch to epoch; checkpointed with every epoch, restored on resume."""

    epoch: int = 0
    best: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    e_opt: float | None = None  # lowest validation loss so far (Prechelt's GL)
    train_seconds: float = 0.0
    findings: list[str] = field(default_factory=list)
    until: dict[str, int] = field(default_factory=dict)  # a finding's kind -> the last epoch it held, once gone
    absent: dict[str, int] = field(default_factory=dict)  # a finding's kind -> epochs in a row it has not held
    history: list[dict[str, Any]] = field(default_factory=list)

    def engine_state(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "history"}


class Interrupted(Exception):
    """`stop_after` reached: the run stops as a killed one would, resumable, with no summary."""


def train(
    config: RunConfig,
    out: str | Path,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
    progress: bool | None = None,
    stop_after: int | None = None,
    on_epoch: Callable[[dict[str, Any]], str | None] | None = None,
    callbacks: Sequence[Callback] = (),
    rendezvous_timeout: float = RENDEZVOUS_TIMEOUT,
) -> RunSummary | None:
    """Train `config` into run directory `out`; with resume=True continue it from its last complete checkpoint.
    Returns the run's summary (a dict; in Jupyter it shows as a table with the curves).

    `callbacks` watch or steer the run (see callbacks.Callback); `on_epoch(row)` is the same as a callback's
    on_epoch_end. In Jupyter, unless progress=False, a notebook bar and live loss/accuracy curves show the run.
    `stop_after=N` stops after epoch N as an interruption would (checkpoint written, no summary,
    returns None), so the run can be resumed later. Started by torchrun, the process joins the other ranks
    (waiting at most `rendezvous_timeout` seconds for them) and every rank returns the same summary; callbacks
    run on rank 0."""
    validated(config, "train")
    ranks = join(pick_device(config.device), rendezvous_timeout)
    try:
        with freed_memory_kept():  # no page faults for each step's activations (allocator.py)
            return _train(ranks, config, out, resume, log, progress, stop_after, on_epoch, callbacks)
    except RuntimeError as e:
        if ranks.lost(e):  # another rank died: torchrun names it and stops this one too
            raise OtherRankError(f"rank {ranks.rank} lost the other ranks: {str(e).splitlines()[0]}") from e
        raise
    finally:
        ranks.leave()


def _train(
    ranks: Ranks,
    config: RunConfig,
    out: str | Path,
    resume: bool,
    log: Callable[[str], None] | None,
    progress: bool | None,
    stop_after: int | None,
    on_epoch: Callable[[dict[str, Any]], str | None] | None,
    callbacks: Sequence[Callback],
) -> RunSummary | None:
    if not ranks.main:
        log, progress, callbacks, on_epoch = (lambda _: None), False, (), None  # rank 0 speaks for the run
    log = log or default_log()
    callbacks = [*callbacks, *([EpochFunction(on_epoch)] if on_epoch else []), *live_callbacks(out, progress)]
    writer, config = _open_writer(ranks, out, config, resume)
    try:
        point = ranks.share(lambda: resume_point(writer))  # before set-up, and before the writer writes anything
        s = setup(config, log=log, ranks=ranks, resuming=point["meta"] if point else None)
        ranks.share(lambda: writer.start(config, log) and None)  # its checkpoint is `point`: not broadcast again
        state = State() if point is None else restore(s, point, log)
        for cb in callbacks:
            cb.on_setup(s)
        stopped = point["stopped"] if point else None
        if stopped is None:
            stopped = run_epochs(s, state, writer, callbacks, progress, stop_after, log)
        if stopped != "completed":
            log(stopped)
        return RunSummary(ranks.share(finish, s, state, writer, stopped), out)
    except Interrupted:
        return None
    except BaseException as e:
        if writer is not None:
            if isinstance(e, KeyboardInterrupt) and writer.resumable():  # Ctrl-C, or a notebook's interrupt
                log(f"interrupted: {writer.path} keeps its last checkpoint; continue it with {resume_option()}")
            writer.abandon()
        raise
    finally:
        if writer is not None:
            writer.close()


def _open_writer(ranks: Ranks, out: str | Path, config: RunConfig, resume: bool) -> tuple[RunWriter | None, RunConfig]:
    """Rank 0 locks and checks the run directory (the only rank that ever touches it); the others learn whether
    that worked and get None. Every rank gets the settings to train with (RunWriter.config: the run's spelling of
    what `config` names in other words)."""
    opened: list[RunWriter] = []

    def open_run_dir() -> RunConfig:
        opened.append(RunWriter.open(out, config, resume))
        return opened[0].config

    config = ranks.share(open_run_dir)
    return (opened[0] if opened else None), config


def _check_loop_state(writer: RunWriter, engine: dict[str, Any]) -> None:
    """Refuse a checkpoint whose loop state (`engine`) this version does not know (written by a newer cnnlab):
    State(**...) failed on it with a TypeError."""
    if unknown := sorted(set(engine) - {f.name for f in fields(State)}):
        raise CnnlabError(
            f"{writer.path}'s checkpoint was written by a newer cnnlab (its loop state holds {', '.join(unknown)}); "
            "resume it with that version, or start a new run from its weights"
        )


def resume_point(writer: RunWriter) -> dict[str, Any] | None:
    """Everything a resume needs from the last checkpoint, read once (by rank 0, verified, before the writer
    cleans or rewrites anything, so that a refusal here changes no byte) and shared with every rank, so ranks on
    other machines need no access to the run directory. None: the run starts from scratch."""
    last = writer.resume_from()
    if last is None:
        return None
    train_state = last.train_state()
    _check_loop_state(writer, train_state["engine"])
    return {
        "run": str(last.folder.parent.parent),
        "epoch": last.epoch,
        "meta": last.meta,
        "weights": last.weights,
        "training": last.training_weights(),
        "train_state": train_state,
        "transfer": last.meta.get("transfer"),
        "history": last.metrics[: last.epoch],
        "stopped": writer.stop,  # None where new stop rules let a run one ended go on
        "stopped_finding": writer.store.stopped_finding(),
    }


def restore(s: Setup, point: dict[str, Any], log: Callable[[str], None]) -> State:
    """The resume phase: weights, optimiser, schedule, data order, RNG and loop state as the checkpoint left them.

    The data order is counted in global batches, so a run may resume with another number of ranks; each rank
    takes back its own RNG state when the number is the same (rank 0's otherwise)."""
    ts = point["train_state"]
    _load(s, point["training"], point["weights"], point["run"])
    if s.ema is not None:
        s.ema.load_state_dict(ts["ema"])
    s.optimizer.load_state_dict(ts["optimizer"])
    s.scheduler.load_state_dict(ts["scheduler"])
    schedule_from_here(s.scheduler)
    s.train_loader.load_state_dict(ts["loader"])
    rngs = ts.get("torch_rng_ranks", [])
    torch.set_rng_state(rngs[s.ranks.rank] if len(rngs) == s.ranks.world else ts["torch_rng"])
    s.transfer = point["transfer"] or s.transfer
    s.meta["transfer"] = s.transfer
    log(f"resuming {point['run']} after epoch {point['epoch']}")
    state = State(**{**ts["engine"], "history": point["history"]})
    if state.e_opt is None:
        state.e_opt = lowest_val_loss(state.history)
    if (said := point.get("stopped_finding")) and said not in state.findings:
        state.findings.append(said)  # why it stopped after that checkpoint: its summary says it again
    return state


def schedule_from_here(scheduler: torch.optim.lr_scheduler.LambdaLR) -> None:
    """Each group's lr as this run's schedule gives it where the checkpoint left off: the stored number again when
    the run resumes with the epochs it was saved with (LambdaLR's own expression), and the new schedule's when
    --epochs changed, where the stored lr, the old schedule's (0 at the end of a finished cosine), drove the first
    update after resuming."""
    for group, base, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["lr"] = base * factor(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]  # what get_last_lr() says


def run_epochs(
    s: Setup,
    state: State,
    writer: RunWriter,
    callbacks: list[Callback],
    progress: bool | None,
    stop_after: int | None,
    log: Callable[[str], None],
) -> str:
    """Epochs until the last one or a stop rule; returns why the run stopped."""
    config, ranks = s.config, s.ranks
    bar = Progress(len(s.train_loader), enabled=progress)
    on_batch = None
    if state.epoch < config.epochs and ranks.main:
        writer.open_events(state.epoch + 1)
        if config.log_every:
            on_batch = _batch_rows(writer.open_batches(s.scheduler.last_epoch + 1), bar, len(s.train_loader), log)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        t0 = time.perf_counter()
        stats = train_epoch(s, epoch, bar, on_batch)
        if stats.bad_loss is not None:
            return ranks.share(_diverged, s, state, writer, stats.bad_loss, log, None, stats.bad_what, stats.bad_detail)
        rngs = ranks.gather(torch.get_rng_state())
        seconds = time.perf_counter() - t0
        shared, stopped = ranks.share(end_epoch, s, state, writer, callbacks, epoch, stats, seconds, rngs, log)
        vars(state).update(vars(shared))  # the other ranks take rank 0's account of the run
        if stopped is not None:
            return stopped
        if stop_after is not None and stop_after <= epoch < config.epochs:
            log(f"stopped after epoch {epoch}; continue with {resume_option()}")
            raise Interrupted
    return "completed"


def end_epoch(
    s: Setup,
    state: State,
    writer: RunWriter,
    callbacks: list[Callback],
    epoch: int,
    stats: EpochStats,
    train_seconds: float,
    rngs: list[torch.Tensor],
    log: Callable[[str], None],
) -> tuple[State, str | None]:
    """Rank 0's part of an epoch's end: evaluate, stop rules, diagnosis, checkpoint, callbacks. Returns the loop
    state and why the run stops here (None: it goes on). A non-finite validation loss ends the run as a training
    loss does (`_diverged`): that epoch is neither checkpointed, diagnosed nor recorded."""
    t0 = time.perf_counter()
    val_loss, val_acc, _ = (
        evaluate(s.counted, s.val_loader, s.loss_fn, s.config.tta, s.precision) if s.has_val else (None,) * 3
    )
    seconds = train_seconds + time.perf_counter() - t0
    row = {
        "epoch": epoch,
        "train_loss": stats.loss,
        "train_accuracy": stats.accuracy,
        "val_loss": val_loss,
        "val_accuracy": val_acc,
        "lr_first": stats.lr_first,
        "lr_last": stats.lr_last,
        "seconds": round(seconds, 3),
    }
    log(_epoch_line(row, s.config.epochs))
    if val_loss is not None and not math.isfinite(val_loss):  # weights that score NaN are no checkpoint to resume
        return state, _diverged(s, state, writer, val_loss, log, stats.lr_last, f"the validation loss of epoch {epoch}")
    state.train_seconds += seconds
    state.history.append(row)
    improved, stopped = stop_rules(s.config, state, row, s.config.monitored(s.has_val))
    _diagnose(s, state, stats.max_norm, log)
    state.epoch = epoch
    writer.events.log(row)  # before the checkpoint: a resume purges events past the last published epoch
    checkpoint(s, state, writer, row, improved, stopped, rngs)
    for cb in callbacks:  # every callback sees every epoch (a tuner reports each one)
        if (reason := cb.on_epoch_end(row)) and stopped is None:
            stopped = reason
            writer.store.mark_stopped(reason)
    return state, stopped


def checkpoint(
    s: Setup,
    state: State,
    writer: RunWriter,
    row: dict[str, Any],
    best: bool,
    stopped: str | None,
    rngs: list[torch.Tensor],
) -> None:
    """The checkpoint phase: everything a resume needs, published as one set (cnnlab.rundir.checkpoint). `rngs`
    are the ranks' torch RNG states (dropout draws differ between ranks), kept beside rank 0's when there are
    several."""
    train_state = {
        "optimizer": s.optimizer.state_dict(),
        "scheduler": s.scheduler.state_dict(),
        "loader": s.train_loader.state_dict(),
        "torch_rng": rngs[0],
        **({"torch_rng_ranks": rngs} if len(rngs) > 1 else {}),
        "engine": state.engine_state(),
        **({"ema": s.ema.state_dict()} if s.ema is not None else {}),
    }
    writer.publish(
        state.epoch,
        s.counted,
        train_state,
        {**s.meta, "epoch": state.epoch, "metrics": row},
        state.history,
        best=best,
        stopped=stopped,
        training=s.model if s.ema is not None else None,
    )


def _load(s: Setup, training: dict[str, torch.Tensor], weights: dict[str, torch.Tensor], what: str) -> None:
    """Put a checkpoint's weights back: the trained weights into the model, and with --ema the average too."""
    load_state(s.model, training, what)
    if s.ema is not None:
        load_state(s.ema.module, weights, what)


@dataclass
class EpochStats:
    """What one pass over the training data measured."""

    loss: float
    accuracy: float
    max_norm: float  # the largest gradient norm seen
    bad_loss: float | None  # the non-finite loss that ended the epoch early, if one did
    lr_first: float  # the learning rate of the epoch's first update
    lr_last: float  # and of its last
    bad_what: str = "loss"  # what `bad_loss` is the value of: the loss, or the gradient norm of several ranks
    bad_detail: str = ""  # which ranks, and their losses, for the diagnosis (`_skipped`)


def train_step(
    s: Setup, x: torch.Tensor, y: torch.Tensor, check_loss: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One update on a batch, every phase of it (forward in the run's precision, backward scaled by this rank's share
    of the batch, gradient norm, optimiser, schedule, EMA); bench/compute_floor.py times exactly this.
    Returns (loss, logits, gradient norm); the norm is None when nothing was updated: a non-finite loss on one
    process, or a non-finite gradient norm (the same on every rank, so all of them skip together) on several,
    where a rank whose own loss is non-finite makes its gradients NaN (`_backward_seed`) so that the others see it.
    check_loss=False leaves the loss unread (the caller checks it later), so a GPU need not stop for the host."""
    single = s.ranks.world == 1
    with s.autocast():
        loss, out = training_loss(s.model, s.loss_fn, s.net(x), y)
    if single and check_loss and not torch.isfinite(loss):
        return loss, out, None
    s.optimizer.zero_grad(set_to_none=True)
    share = s.train_loader.share
    if single:
        (loss if share == 1.0 else loss * share).backward()
    else:
        loss.backward(_backward_seed(loss, share))
    norm = nn.utils.get_total_norm([p.grad for p in s.model.parameters() if p.grad is not None])
    if not single and not torch.isfinite(norm):
        return loss, out, None
    s.optimizer.step()
    s.scheduler.step()
    if s.ema is not None:
        s.ema.update(s.model)
    return loss, out, norm


def _backward_seed(loss: torch.Tensor, share: float) -> torch.Tensor:
    """The gradient a rank's backward starts from: its share of the batch, which is what backward() of
    `loss * share` starts the graph with (the same gradients to the bit), or NaN where this rank's loss is not
    finite. A loss can overflow to inf while its gradients stay finite (the mean's sum overflows; the softmax's
    gradient is bounded): averaged with the other ranks' they would train on, where one process stops. NaN
    gradients reach every rank through DDP's all-reduce, so the gradient-norm check each rank makes anyway stops
    all of them at this batch, with no collective and no host read added to a step: 0 * loss + share is share
    exactly for a finite loss and NaN for an infinite or NaN one (two scalar ops, ~13 us a step on the CPU, where
    torch.where on isfinite took ~36 us)."""
    return (loss.detach() * 0).add_(share)


def loss_read_every(device: torch.device) -> int:
    """How often one process reads its loss to stop at a non-finite one: every step on the CPU, where reading costs
    nothing; every 10 steps on a GPU, where each read makes the host wait for the device and so stops the queue of
    kernels that keeps it busy (the weights of the steps in between are never kept: a non-finite loss ends the run
    on its last checkpoint)."""
    return 1 if device.type == "cpu" else 10


def train_epoch(
    s: Setup, epoch: int, bar: Progress, on_batch: Callable[[dict[str, Any]], None] | None = None
) -> EpochStats:
    """One pass over the training data, its figures over all ranks; every --log-every batches `on_batch` gets the
    means since its last row (rank 0's share of each batch). With several ranks a non-finite loss on any of them
    is seen in the averaged gradients (that rank's are made NaN, `_backward_seed`), which every rank shares, so
    that all of them stop at the same batch, as one process stops at its own non-finite loss."""
    train_mode(s.model, s.config.freeze_bn)
    loader, single = s.train_loader, s.ranks.world == 1
    read_every = loss_read_every(s.device) if single else 1
    pending = None  # whether a loss since the last read was non-finite, kept on the device (read_every > 1)
    loss_sum = torch.zeros((), device=s.device)
    correct = torch.zeros((), device=s.device, dtype=torch.long)
    max_norm = torch.zeros((), device=s.device)  # kept on the device too: read once, at the epoch's end
    seen = 0
    lr_first = lr = s.optimizer.param_groups[0]["lr"]

    def stopped(bad: float, what: str = "loss", detail: str = "") -> EpochStats:
        """The epoch ended early on the non-finite value `bad` of `what` (`detail`: on which ranks)."""
        return EpochStats(math.nan, math.nan, max_norm.item(), bad, lr_first, lr, what, detail)

    every = s.config.log_every if on_batch else None
    window = (0.0, 0, 0)  # loss sum, correct and seen at the last batch row
    bar.start(epoch, s.config.epochs)
    try:
        for i, (x, y) in enumerate(loader):
            step_lr = s.optimizer.param_groups[0]["lr"]
            loss, out, norm = train_step(s, x, y, check_loss=read_every == 1)
            if norm is None:
                return stopped(loss.item()) if single else stopped(*_skipped(s, loss))
            if read_every > 1:
                now_bad = ~torch.isfinite(loss.detach())
                pending = now_bad if pending is None else pending | now_bad
                if i % read_every == 0 and pending.item():
                    return stopped(loss.item())
            max_norm = torch.maximum(max_norm, norm.detach())  # a NaN norm stays NaN
            lr = step_lr
            loss_sum += loss.detach() * len(y)
            correct += (out.argmax(1) == y).sum()
            seen += len(y)
            failpoint("batch")
            if every and (i + 1) % every == 0:
                now = (loss_sum.item(), correct.item(), seen)
                n = now[2] - window[2]
                on_batch(
                    {
                        "epoch": epoch,
                        "batch": i + 1,
                        "step": s.scheduler.last_epoch,
                        "loss": (now[0] - window[0]) / n,
                        "accuracy": (now[1] - window[1]) / n,
                        "lr": lr,
                    }
                )
                window = now
            if bar.wants_update(i + 1):
                bar.update(i + 1, loss_sum.item() / seen, correct.item() / seen)
    finally:
        bar.finish()
    if pending is not None and pending.item():
        return stopped(loss.item())
    loss_total, correct_total, seen_total = s.ranks.sum(loss_sum, correct, seen)
    return EpochStats(loss_total / seen_total, correct_total / seen_total, max_norm.item(), None, lr_first, lr)


def _skipped(s: Setup, loss: torch.Tensor) -> tuple[float, str, str]:
    """Why several ranks skipped a batch together, their averaged gradients' norm not being finite, as the value,
    what it is of, and on which ranks, for the diagnosis: a rank's non-finite loss (`_backward_seed`), or, with
    every rank's loss finite, the gradients themselves (an lr of 1e17 on Adam overflowed the norm with losses of
    ~2e36); the diagnosis said "loss became 2.08e+36" for that, which was no non-finite loss."""
    losses = s.ranks.each(loss.item())
    bad = [r for r, value in enumerate(losses) if not math.isfinite(value)]
    if bad:
        names = ", ".join(map(str, bad[:-1])) + " and " + str(bad[-1]) if len(bad) > 1 else str(bad[0])
        return losses[bad[0]], "loss", f" (on rank{'s' if len(bad) > 1 else ''} {names} of {len(losses)})"
    norm = nn.utils.get_total_norm([p.grad for p in s.model.parameters() if p.grad is not None]).item()
    each = ", ".join(f"{value:.4g} on rank {r}" for r, value in enumerate(losses))
    return norm, "the gradient norm", f" while the loss stayed finite on every rank ({each})"


def _batch_rows(
    batches: BatchLog, bar: Progress, per_epoch: int, log: Callable[[str], None]
) -> Callable[[dict[str, Any]], None]:
    """Where --log-every rows go: the run's batch CSV and TensorBoard, and a line when no progress bar shows."""

    def row(r: dict[str, Any]) -> None:
        batches.log(r)
        if not bar.enabled:
            log(
                f"epoch {r['epoch']} batch {r['batch']}/{per_epoch}: loss {r['loss']:.4f} "
                f"acc {r['accuracy']:.2%} lr {r['lr']:.3g}"
            )

    return row


def stop_rules(config: RunConfig, state: State, row: dict[str, Any], monitor: str) -> tuple[bool, str | None]:
    """Whether `row` improves on the best so far, and the early-stopping reason if the run should end here. The
    state is brought up to date before any rule is asked (E_opt too when patience ends the run), so the checkpoint
    of the epoch a rule stopped at is the one a run without that rule has there, and a resume that switches the
    rule off goes on from it as that run does."""
    value = row[monitor]
    maximize = monitor.endswith("accuracy")
    improved = state.best is None or (value > state.best if maximize else value < state.best)
    if improved:
        state.best, state.best_epoch, state.bad_epochs = value, row["epoch"], 0
    else:
        state.bad_epochs += 1
    if row["val_loss"] is not None:  # kept without --gl-alpha too, which a resume may add
        state.e_opt = row["val_loss"] if state.e_opt is None else min(state.e_opt, row["val_loss"])
    return improved, config.early_stop(state.bad_epochs, state.e_opt, row["val_loss"], monitor)


GONE_AFTER = 2  # epochs in a row a finding must be absent to count as gone (one epoch's dip is noise)


def _diagnose(s: Setup, state: State, max_norm: float, log: Callable[[str], None]) -> None:
    """One finding of each kind per run, the first time it shows, and when it went away or came back (`_track`).
    ReLUs are probed every epoch (one batch of 256 images through the model): a VGG16 whose units die in its
    second epoch sat at 10% with nothing said."""
    data, loss = s.data, state.history[-1]["train_loss"]
    samples = len(data.val_y) if s.has_val else len(data.train_y)
    new = [
        diagnose.at_chance(
            state.history,
            data.num_classes,
            s.config.normalize,
            s.config.pixels,
            samples,
            traits=traits(s),
        ),
        diagnose.exploding(max_norm, loss, data.num_classes),
        diagnose.vanishing(max_norm, loss, data.num_classes),
        diagnose.memorising(state.history, data.num_classes, samples),
        diagnose.overfitting(state.history),
    ]
    probe = DeviceLoader(
        data.train_x[:256], data.train_y[:256], batch_size=256, shuffle=False, device=s.device, **s.normalize
    )
    new.append(diagnose.dead_relus(s.model, next(iter(probe))[0]))
    epoch, now = state.history[-1]["epoch"], {diagnose.kind(f) for f in new if f}
    if not diagnose.learning(state.history, data.num_classes, samples):
        now.add(diagnose.STUCK)  # only an accuracy that leaves chance ends it, not one epoch's lower loss
    if diagnose.by_heart(state.history[-1], data.num_classes, samples):
        now.add(diagnose.MEMORISING)  # found on two epochs' evidence, kept while the epoch shows it
    if diagnose.still_overfitting(state.history):
        now.add(diagnose.OVERFITTING)  # found on three rising epochs, kept while the loss stays above its lowest
    for finding in new:
        if finding and diagnose.kind(finding) not in {diagnose.kind(f) for f in state.findings}:
            state.findings.append(finding)
            log("diagnosis: " + finding)
    _track(state, now, epoch, log)


def _track(state: State, now: set[str], epoch: int, log: Callable[[str], None]) -> None:
    """A finding absent GONE_AFTER epochs in a row is gone (logged, and dated in the summary: a net stuck for two
    epochs that then learns is not reported stuck); one that returns is back."""
    for kind in (diagnose.kind(f) for f in state.findings):
        if kind in now:
            state.absent.pop(kind, None)
            if state.until.pop(kind, None) is not None:
                log(f"diagnosis: {kind}: back at epoch {epoch}")
            continue
        state.absent[kind] = state.absent.get(kind, 0) + 1
        if state.absent[kind] == GONE_AFTER and kind not in state.until:
            state.until[kind] = epoch - GONE_AFTER
            log(f"diagnosis: {kind}: no longer so since epoch {epoch - GONE_AFTER + 1}")


def traits(s: Setup) -> diagnose.Traits:
    """What the diagnosis' advice depends on, read from the run's settings and its model."""
    from cnnlab.zoo.registry import is_spec_path, list_models

    modules = list(s.model.modules())
    name = s.config.model
    base, dash, rest = name.partition("-")
    variant = f"{base}_bn{dash}{rest}"
    return diagnose.Traits(
        normalized=s.config.normalize,
        pixels=s.config.pixels,
        optimizer=s.config.optimizer,
        relu=any(isinstance(m, nn.ReLU) for m in modules),
        batch_norm=any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in modules),
        bn_model=variant if not is_spec_path(name) and variant in list_models() else None,
        init=s.config.init,
    )


def _diverged(
    s: Setup,
    state: State,
    writer: RunWriter,
    bad_loss: float,
    log: Callable[[str], None],
    lr: float | None = None,
    what: str = "loss",
    detail: str = "",
) -> str:
    """A non-finite loss (`what`, at `lr`: the current one unless given; `detail`: on which ranks), or the gradient
    norm of several ranks: say why, go back to the last good checkpoint and end the run there."""
    last = writer.store.load("last")
    lr = s.optimizer.param_groups[0]["lr"] if lr is None else lr
    kept, normalized = last is not None, s.config.normalize
    state.findings.append(diagnose.non_finite(bad_loss, lr, kept, normalized, what, detail))
    log("diagnosis: " + state.findings[-1])
    if last is not None:
        _load(s, last.training_weights(), last.weights, str(last.folder))
        writer.store.mark_stopped(NON_FINITE, state.findings[-1])
    return NON_FINITE


def finish(s: Setup, state: State, writer: RunWriter, stopped: str) -> dict[str, Any]:
    """The finish phase: test the best checkpoint and write the run's summary."""
    best = writer.store.load("best")
    if best is not None:
        load_state(s.counted, best.weights, str(best.folder))
    s.counted.to(s.device)
    failpoint("final-test")
    if best is None and stopped == NON_FINITE:  # diverged in epoch 1: the model holds no weights worth a test
        test_loss = test_acc = math.nan
    else:
        test_loss, test_acc, _ = evaluate(s.counted, s.test_loader, s.loss_fn, s.config.tta, s.precision)
    best_row = next(
        (r for r in state.history if r["epoch"] == state.best_epoch), state.history[-1] if state.history else {}
    )
    model, data = s.model, s.data
    summary = {
        "model": s.config.model,
        "data": s.config.data,
        "classes": data.classes,
        "test_accuracy": None if math.isnan(test_acc) else test_acc,
        "test_loss": None if math.isnan(test_loss) else test_loss,
        "train_accuracy": best_row.get("train_accuracy"),
        "val_accuracy": best_row.get("val_accuracy"),
        "train_loss": best_row.get("train_loss"),
        "val_loss": best_row.get("val_loss"),
        "best_epoch": state.best_epoch,
        "epochs_run": state.epoch,
        "train_seconds": round(state.train_seconds, 3),
        "params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "frozen_params": sum(p.numel() for p in model.parameters() if not p.requires_grad),
        "train_size": len(data.train_y),
        "val_size": len(data.val_y),
        "test_size": len(data.test_y),
        "precision": s.precision,
        "input_shape": list(data.input_shape),
        "stopped": stopped,
        "diagnosis": [diagnose.dated(f, state.until) for f in state.findings],
        "transfer": s.transfer,
    }
    writer.write_summary(summary)
    return summary


def _epoch_line(row: dict, epochs: int) -> str:
    val = f" val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.2%}" if row["val_loss"] is not None else ""
    return (
        f"epoch {row['epoch']}/{epochs}: loss {row['train_loss']:.4f} acc {row['train_accuracy']:.2%}{val} "
        f"{_lr_text(row)} ({row['seconds']:.1f}s)"
    )


def _lr_text(row: dict) -> str:
    first, last = row["lr_first"], row["lr_last"]
    return f"lr {last:.3g}" if f"{first:.3g}" == f"{last:.3g}" else f"lr {first:.3g} to {last:.3g}"
