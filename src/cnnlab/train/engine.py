"""The training engine: one loop for every model and dataset, everything on the device, resumable to the bit on CPU.

`train(config, out)` writes a run directory (cnnlab.rundir) and returns its summary. It reads as its phases:
set-up (setup.py), resume, epochs (train an epoch, evaluate, stop rules, checkpoint), finish (test, summary).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.data import DeviceLoader
from cnnlab.failpoint import failpoint
from cnnlab.rundir import Checkpoint, RunConfig, RunSummary, RunWriter, load_state
from cnnlab.rundir.batches import BatchLog
from cnnlab.train import diagnose
from cnnlab.train.callbacks import Callback, EpochFunction
from cnnlab.train.optim import training_loss
from cnnlab.train.progress import Progress, default_log, live_callbacks
from cnnlab.train.setup import Setup, setup
from cnnlab.train.tta import logits as tta_logits
from cnnlab.transfer import train_mode


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DeviceLoader, loss_fn: nn.Module, tta: str = "none"
) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, predictions) over a loader, in eval mode, with logits averaged over `tta` views."""
    model.eval()
    total, correct, loss_sum, preds = 0, 0, 0.0, []
    for x, y in loader:
        out = tta_logits(model, x, tta)
        loss_sum += loss_fn(out, y).item() * len(y)
        p = out.argmax(1)
        correct += (p == y).sum().item()
        total += len(y)
        preds.append(p.cpu())
    if total == 0:
        return float("nan"), float("nan"), torch.empty(0, dtype=torch.long)
    return loss_sum / total, correct / total, torch.cat(preds)


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
) -> RunSummary | None:
    """Train `config` into run directory `out`; with resume=True continue it from its last complete checkpoint.
    Returns the run's summary (a dict; in Jupyter it shows as a table with the curves).

    `callbacks` watch or steer the run (see callbacks.Callback); `on_epoch(row)` is the same as a callback's
    on_epoch_end. In Jupyter, unless progress=False, a notebook bar and live loss/accuracy curves show the run.
    `stop_after=N` stops after epoch N as an interruption would (checkpoint written, no summary,
    returns None), so the run can be resumed later."""
    config.validate()
    log = log or default_log()
    callbacks = [*callbacks, *([EpochFunction(on_epoch)] if on_epoch else []), *live_callbacks(out, progress)]
    writer = RunWriter.open(out, config, resume)
    try:
        s = setup(config, load_source=not writer.resumable(), log=log)
        last = writer.start(config, log)
        state = State() if last is None else restore(s, last, log)
        for cb in callbacks:
            cb.on_setup(s)
        stopped = writer.store.stopped() if last else None
        if stopped is None:
            stopped = run_epochs(s, state, writer, callbacks, progress, stop_after, log)
        if stopped != "completed":
            log(stopped)
        return RunSummary(finish(s, state, writer, stopped), writer.path)
    except Interrupted:
        return None
    except BaseException:
        writer.abandon()
        raise
    finally:
        writer.close()


def restore(s: Setup, last: Checkpoint, log: Callable[[str], None]) -> State:
    """The resume phase: weights, optimiser, schedule, data order, RNG and loop state as the checkpoint left them."""
    ts = last.train_state()
    _load(s, last)
    if s.ema is not None:
        s.ema.load_state_dict(ts["ema"])
    s.optimizer.load_state_dict(ts["optimizer"])
    s.scheduler.load_state_dict(ts["scheduler"])
    s.train_loader.load_state_dict(ts["loader"])
    torch.set_rng_state(ts["torch_rng"])
    s.transfer = last.meta.get("transfer") or s.transfer
    s.meta["transfer"] = s.transfer
    log(f"resuming {last.folder.parent.parent} after epoch {last.epoch}")
    return State(**{**ts["engine"], "history": last.metrics[: last.epoch]})


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
    config = s.config
    bar = Progress(len(s.train_loader), enabled=progress)
    on_batch = None
    if state.epoch < config.epochs:
        writer.open_events(state.epoch + 1)
        if config.log_every:
            on_batch = _batch_rows(writer.open_batches(s.scheduler.last_epoch + 1), bar, len(s.train_loader), log)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        t0 = time.perf_counter()
        stats = train_epoch(s, epoch, bar, on_batch)
        if stats.bad_loss is not None:
            return _diverged(s, state, writer, stats.bad_loss, log)
        val_loss, val_acc, _ = (
            evaluate(s.counted, s.val_loader, s.loss_fn, s.config.tta) if s.has_val else (None, None, None)
        )
        seconds = time.perf_counter() - t0
        state.train_seconds += seconds
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
        state.history.append(row)
        log(_epoch_line(row, config.epochs))
        improved, stopped = stop_rules(config, state, row, _monitor(s))
        _diagnose(s, state, stats.max_norm, log)
        state.epoch = epoch
        writer.events.log(row)  # before the checkpoint: a resume purges events past the last published epoch
        checkpoint(s, state, writer, row, improved, stopped)
        for cb in callbacks:  # every callback sees every epoch (a tuner reports each one)
            if (reason := cb.on_epoch_end(row)) and stopped is None:
                stopped = reason
                writer.store.mark_stopped(reason)
        if stopped is not None:
            return stopped
        if stop_after is not None and stop_after <= epoch < config.epochs:
            log(f"stopped after epoch {epoch}; continue with --resume")
            raise Interrupted
    return "completed"


def checkpoint(s: Setup, state: State, writer: RunWriter, row: dict[str, Any], best: bool, stopped: str | None) -> None:
    """The checkpoint phase: everything a resume needs, published as one set (cnnlab.rundir.checkpoint)."""
    train_state = {
        "optimizer": s.optimizer.state_dict(),
        "scheduler": s.scheduler.state_dict(),
        "loader": s.train_loader.state_dict(),
        "torch_rng": torch.get_rng_state(),
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


def _load(s: Setup, checkpoint: Checkpoint) -> None:
    """Put a checkpoint's weights back: the trained weights into the model, and with --ema the average too."""
    load_state(s.model, checkpoint.training_weights(), str(checkpoint.folder))
    if s.ema is not None:
        load_state(s.ema.module, checkpoint.weights, str(checkpoint.folder))


@dataclass
class EpochStats:
    """What one pass over the training data measured."""

    loss: float
    accuracy: float
    max_norm: float  # the largest gradient norm seen
    bad_loss: float | None  # the non-finite loss that ended the epoch early, if one did
    lr_first: float  # the learning rate of the epoch's first update
    lr_last: float  # and of its last


def train_epoch(
    s: Setup, epoch: int, bar: Progress, on_batch: Callable[[dict[str, Any]], None] | None = None
) -> EpochStats:
    """One pass over the training data; every --log-every batches `on_batch` gets the means since its last row."""
    train_mode(s.model, s.config.freeze_bn)
    loss_sum = torch.zeros((), device=s.device)
    correct = torch.zeros((), device=s.device, dtype=torch.long)
    seen, max_norm = 0, 0.0
    lr_first = lr = s.optimizer.param_groups[0]["lr"]
    every = s.config.log_every if on_batch else None
    window = (0.0, 0, 0)  # loss sum, correct and seen at the last batch row
    bar.start(epoch, s.config.epochs)
    try:
        for i, (x, y) in enumerate(s.train_loader):
            with s.autocast():
                loss, out = training_loss(s.model, s.loss_fn, s.net(x), y)
            if not torch.isfinite(loss):
                return EpochStats(math.nan, math.nan, max_norm, loss.item(), lr_first, lr)
            s.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = nn.utils.clip_grad_norm_(s.model.parameters(), float("inf"))
            max_norm = max(max_norm, norm.item()) if i % 10 == 0 or not math.isfinite(max_norm) else max_norm
            lr = s.optimizer.param_groups[0]["lr"]
            s.optimizer.step()
            s.scheduler.step()
            if s.ema is not None:
                s.ema.update(s.model)
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
    return EpochStats(loss_sum.item() / seen, correct.item() / seen, max_norm, None, lr_first, lr)


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


def _monitor(s: Setup) -> str:
    monitor = s.config.monitor
    return monitor if s.has_val or not monitor.startswith("val") else monitor.replace("val", "train")


def stop_rules(config: RunConfig, state: State, row: dict[str, Any], monitor: str) -> tuple[bool, str | None]:
    """Whether `row` improves on the best so far, and the early-stopping reason if the run should end here."""
    value = row[monitor]
    maximize = monitor.endswith("accuracy")
    improved = state.best is None or (value > state.best if maximize else value < state.best)
    if improved:
        state.best, state.best_epoch, state.bad_epochs = value, row["epoch"], 0
    else:
        state.bad_epochs += 1
    if config.patience is not None and state.bad_epochs >= config.patience:
        return improved, f"early stop: {monitor} did not improve for {config.patience} epochs"
    if config.gl_alpha is not None and row["val_loss"] is not None:
        state.e_opt = row["val_loss"] if state.e_opt is None else min(state.e_opt, row["val_loss"])
        gl = 100 * (row["val_loss"] / state.e_opt - 1) if state.e_opt > 0 else 0.0
        if gl > config.gl_alpha:
            return improved, f"early stop: generalisation loss GL = {gl:.1f} > {config.gl_alpha}"
    return improved, None


def _diagnose(s: Setup, state: State, max_norm: float, log: Callable[[str], None]) -> None:
    """One finding of each kind per run, the first time it shows."""
    data = s.data
    new = [
        diagnose.at_chance(
            state.history,
            data.num_classes,
            s.config.normalize,
            s.config.pixels,
            len(data.val_y) if s.has_val else len(data.train_y),
        ),
        diagnose.exploding(max_norm, state.history[-1]["train_loss"], data.num_classes),
    ]
    if state.epoch == 0 or state.findings:
        probe = DeviceLoader(
            data.train_x[:256], data.train_y[:256], batch_size=256, shuffle=False, device=s.device, **s.normalize
        )
        new.append(diagnose.dead_relus(s.model, next(iter(probe))[0]))
    for finding in new:
        if finding and finding.split(":")[0] not in {f.split(":")[0] for f in state.findings}:
            state.findings.append(finding)
            log("diagnosis: " + finding)


def _diverged(s: Setup, state: State, writer: RunWriter, bad_loss: float, log: Callable[[str], None]) -> str:
    """A non-finite loss: say why, go back to the last good checkpoint and end the run there."""
    state.findings.append(diagnose.non_finite(bad_loss, s.optimizer.param_groups[0]["lr"]))
    log("diagnosis: " + state.findings[-1])
    last = writer.store.load("last")
    if last is not None:
        _load(s, last)
        writer.store.mark_stopped("non-finite loss")
    return "non-finite loss"


def finish(s: Setup, state: State, writer: RunWriter, stopped: str) -> dict[str, Any]:
    """The finish phase: test the best checkpoint and write the run's summary."""
    best = writer.store.load("best")
    if best is not None:
        load_state(s.counted, best.weights, str(best.folder))
    s.counted.to(s.device)
    failpoint("final-test")
    test_loss, test_acc, _ = evaluate(s.counted, s.test_loader, s.loss_fn, s.config.tta)
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
        "diagnosis": state.findings,
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
