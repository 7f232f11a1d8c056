"""The training engine: one loop for every model and dataset, everything on the device, resumable to the bit on CPU.

`train(config, out)` writes a run directory (see cnnlab.train.run) and returns its summary.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from cnnlab.data import Augment, Dataset, DeviceLoader, load_dataset
from cnnlab.errors import CnnlabError
from cnnlab.train import diagnose
from cnnlab.train.checkpoint import load_meta, load_train_state, load_weights, save_checkpoint, write_text
from cnnlab.train.config import RunConfig
from cnnlab.transfer import parameter_groups, resolve_source, train_mode
from cnnlab.transfer.apply import start_from
from cnnlab.train.events import EventLog
from cnnlab.train.init import initialize
from cnnlab.train.optim import loss_function, make_optimizer, make_scheduler
from cnnlab.train.progress import Progress
from cnnlab.train.run import RunDir


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CnnlabError("--device cuda asked for, but no CUDA GPU is available; use --device cpu")
    return torch.device(name)


def prepare(config: RunConfig) -> tuple[Dataset, nn.Module, dict[str, Any]]:
    """Load the data and build the model so the two fit: classes, channels and image size.

    Also returns how images were adapted ({"source_shape", "mode"}), so predict can treat new images alike."""
    from cnnlab.zoo import create_model

    val = None if not config.val_split else (int(config.val_split) if config.val_split >= 1 else config.val_split)
    data = load_dataset(config.data, data_dir=config.data_dir, val=val, limit=config.limit, seed=config.seed)
    c_data = data.input_shape[0]
    with torch.device("meta"):
        probe = create_model(config.model, num_classes=data.num_classes, in_channels=config.input[0] if config.input else c_data)
    source = resolve_source(config.init_from) if config.init_from and not config.input else None  # only for the shape
    default = source.input_shape if source and source.input_shape else probe.input_size
    target = tuple(config.input) if config.input else tuple(default)
    options = {}
    if tuple(probe.input_size[1:]) != target[1:] and _takes_image_size(config.model) and target[1] == target[2]:
        options["image_size"] = target[1]  # size-specific models (mlp, mnist-cnn) are built for the asked input
    model = create_model(config.model, num_classes=data.num_classes, in_channels=target[0], **options)
    adaptation = {"source_shape": list(data.input_shape), "mode": None}
    if tuple(data.input_shape) != target:
        mode = config.resize
        if mode == "pad" and any(t < s for t, s in zip(target[1:], data.input_shape[1:])):
            mode = "resize"
        if mode == "pad" and any(t - s > 8 for t, s in zip(target[1:], data.input_shape[1:])):
            mode = "resize"  # padding an 8x8 digit to 32x32 would leave it a speck
        data = data.adapt(target, mode)
        adaptation["mode"] = mode
    return data, model, adaptation


def preprocessing(config: RunConfig, data: Dataset) -> dict[str, Any]:
    """DeviceLoader keyword arguments turning uint8 pixels into the model's inputs: scale, mean/std, memory layout."""
    scale = 1 / 255 if config.pixels == "unit" else 1.0
    return {"memory_format": memory_format(config), **_statistics(config, data, scale)}


def memory_format(config: RunConfig) -> torch.memory_format:
    return torch.channels_last if config.channels_last else torch.contiguous_format


def _autocast(config: RunConfig, device: torch.device) -> torch.autocast:
    """bf16 autocast for the training forward pass (the loss is taken in fp32); disabled for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")


def _statistics(config: RunConfig, data: Dataset, scale: float) -> dict[str, Any]:
    if not config.normalize:
        return {"scale": scale}
    source = resolve_source(config.init_from) if config.init_from else None
    if config.norm_stats == "source" and not (source and source.mean):
        raise CnnlabError(f"--norm-stats source: {config.init_from} carries no mean/std; use --norm-stats dataset")
    if source and source.mean and config.norm_stats != "dataset":
        return {"scale": scale, "mean": source.mean, "std": source.std}  # preprocessing travels with the weights
    return {"scale": scale, "mean": data.mean, "std": data.std}


def augmentation(config: RunConfig) -> Augment:
    return Augment(crop_padding=4 if "crop" in (config.augment or []) else 0, hflip="flip" in (config.augment or []))


def _takes_image_size(name: str) -> bool:
    import inspect

    from cnnlab.zoo.registry import is_spec_path, model_info

    return not is_spec_path(name) and "image_size" in inspect.signature(model_info(name).builder).parameters


@torch.no_grad()
def evaluate(model: nn.Module, loader: DeviceLoader, loss_fn: nn.Module) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, predictions) over a loader, in eval mode."""
    model.eval()
    total, correct, loss_sum, preds = 0, 0, 0.0, []
    for x, y in loader:
        out = model(x)
        loss_sum += loss_fn(out, y).item() * len(y)
        p = out.argmax(1)
        correct += (p == y).sum().item()
        total += len(y)
        preds.append(p.cpu())
    if total == 0:
        return float("nan"), float("nan"), torch.empty(0, dtype=torch.long)
    return loss_sum / total, correct / total, torch.cat(preds)


def _check_resume(run: RunDir, config: RunConfig) -> None:
    old = run.config()
    d = old.first_difference(config)
    if d:
        raise CnnlabError(f"--resume: {d} is {getattr(config, d)!r} but the run in {run.path} used {getattr(old, d)!r}; "
                          "resume with the run's settings (only epochs, patience, gl-alpha, data-dir, device may change)")


def train(config: RunConfig, out: str | Path, resume: bool = False,
          log: Callable[[str], None] | None = None, progress: bool | None = None,
          stop_after: int | None = None, on_epoch: Callable[[dict[str, Any]], str | None] | None = None,
          ) -> dict[str, Any] | None:
    """Train `config` into run directory `out`; with resume=True continue it from its last checkpoint.

    `on_epoch(row)` is called after each epoch's checkpoint with its metrics row (as in metrics.csv); it may raise
    to stop the run (a tuner pruning a trial does), leaving a resumable run directory, or return a reason (a
    string) to end it there as an early stop would, with the best checkpoint tested and a summary written.

    `stop_after=N` stops after epoch N as an interruption would (checkpoints written, no summary, returns None),
    so the run can be resumed later.
    """
    config.validate()
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    run = RunDir(Path(out))
    if resume:
        if not run.exists():
            raise CnnlabError(f"--resume: {run.path} is not a run directory; start the run without --resume")
        _check_resume(run, config)
    elif run.exists() and (run.checkpoints / "last.safetensors").exists():
        raise CnnlabError(f"{run.path} already holds a run; use --resume to continue it or another --out")
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    data, model, adaptation = prepare(config)
    initialize(model, config.init, config.init_std)
    transfer = start_from(model, config, load=not resume)
    if config.init_from and not resume:
        log(f"init from {config.init_from}: {transfer['loaded']} tensors loaded"
            + (f", head re-initialised ({', '.join(transfer['replaced'])})" if transfer["replaced"] else ""))
        for warning in resolve_source(config.init_from).mismatches(config.pixels, config.normalize, config.norm_stats):
            log("warning: " + warning)
    model.to(device, memory_format=memory_format(config))
    net = torch.compile(model) if config.compile else model
    autocast = _autocast(config, device)
    normalize = preprocessing(config, data)
    scale = normalize["scale"]
    augment = augmentation(config)
    train_loader = DeviceLoader(data.train_x, data.train_y, batch_size=config.batch_size, augment=augment,
                                shuffle=True, device=device, seed=config.seed, **normalize)
    val_loader = DeviceLoader(data.val_x, data.val_y, batch_size=512, shuffle=False, device=device, **normalize)
    test_loader = DeviceLoader(data.test_x, data.test_y, batch_size=512, shuffle=False, device=device, **normalize)
    if len(train_loader) == 0:
        raise CnnlabError(f"{config.data}: the training split is empty; lower --val-split or raise --limit")
    loss_fn = loss_function(config)
    optimizer = make_optimizer(parameter_groups(model, config.head_lr), config)
    scheduler = make_scheduler(optimizer, config, len(train_loader))
    has_val = len(data.val_y) > 0
    monitor = config.monitor if has_val or not config.monitor.startswith("val") else config.monitor.replace("val", "train")
    maximize = monitor.endswith("accuracy")
    state: dict[str, Any] = {"epoch": 0, "best": None, "best_epoch": 0, "bad_epochs": 0, "e_opt": None,
                             "train_seconds": 0.0}
    history: list[dict[str, Any]] = []
    if resume:
        ts = load_train_state(run.checkpoints / "last.state.pt")
        load_weights(run.checkpoints / "last.safetensors", model)
        optimizer.load_state_dict(ts["optimizer"])
        scheduler.load_state_dict(ts["scheduler"])
        train_loader.load_state_dict(ts["loader"])
        torch.set_rng_state(ts["torch_rng"])
        state.update(ts["engine"])
        history = run.metrics()[: state["epoch"]]
        transfer = load_meta(run.checkpoints / "last.json").get("transfer") or transfer
        log(f"resuming {run.path} after epoch {state['epoch']}")
    else:
        run.path.mkdir(parents=True, exist_ok=True)
        write_text(run.config_path, config.to_toml())
    meta_base = {"model": config.model, "classes": data.classes, "input_shape": list(data.input_shape),
                 "mean": list(normalize["mean"]) if "mean" in normalize else None,
                 "std": list(normalize["std"]) if "std" in normalize else None,
                 "dataset": data.name, "adapt": adaptation, "scale": scale,
                 "transfer": transfer}
    bar = Progress(len(train_loader), enabled=progress)
    findings: list[str] = []
    stop_reason = "completed"
    with EventLog(run.path, state["epoch"] + 1) as events:
        for epoch in range(state["epoch"] + 1, config.epochs + 1):
            train_mode(model, config.freeze_bn)
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            seen, max_norm, bad_loss = 0, 0.0, None
            bar.start(epoch, config.epochs)
            for i, (x, y) in enumerate(train_loader):
                with autocast:
                    out = net(x)
                    loss = loss_fn(out.float(), y)
                if not torch.isfinite(loss):
                    bad_loss = loss.item()
                    break
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm = nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
                max_norm = max(max_norm, norm.item()) if i % 10 == 0 or not math.isfinite(max_norm) else max_norm
                optimizer.step()
                scheduler.step()
                loss_sum += loss.detach() * len(y)
                correct += (out.argmax(1) == y).sum()
                seen += len(y)
                if bar.wants_update(i + 1):
                    bar.update(i + 1, loss_sum.item() / seen, correct.item() / seen)
            bar.finish()
            if bad_loss is not None:
                findings.append(diagnose.non_finite(bad_loss, optimizer.param_groups[0]["lr"]))
                log("diagnosis: " + findings[-1])
                stop_reason = "non-finite loss"
                if (run.checkpoints / "last.safetensors").exists():
                    load_weights(run.checkpoints / "last.safetensors", model)
                break
            val_loss, val_acc, _ = evaluate(model, val_loader, loss_fn) if has_val else (None, None, None)
            seconds = time.perf_counter() - t0
            state["train_seconds"] += seconds
            row = {"epoch": epoch, "train_loss": loss_sum.item() / seen, "train_accuracy": correct.item() / seen,
                   "val_loss": val_loss, "val_accuracy": val_acc, "lr": optimizer.param_groups[0]["lr"], "seconds": round(seconds, 3)}
            history.append(row)
            log(_epoch_line(row, config.epochs))
            value = row[monitor]
            improved = state["best"] is None or (value > state["best"] if maximize else value < state["best"])
            if improved:
                state["best"], state["best_epoch"], state["bad_epochs"] = value, epoch, 0
            else:
                state["bad_epochs"] += 1
            gl = None
            if config.gl_alpha is not None and has_val:
                state["e_opt"] = val_loss if state["e_opt"] is None else min(state["e_opt"], val_loss)
                gl = 100 * (val_loss / state["e_opt"] - 1) if state["e_opt"] > 0 else 0.0
            new = [diagnose.at_chance(history, data.num_classes, config.normalize, config.pixels,
                                      len(data.val_y) if has_val else len(data.train_y)), diagnose.exploding(max_norm)]
            if epoch == 1 or findings:
                probe_x = next(iter(DeviceLoader(data.train_x[:256], data.train_y[:256], batch_size=256, shuffle=False,
                                                 device=device, **normalize)))[0]
                new.append(diagnose.dead_relus(model, probe_x))
            for finding in new:  # one finding of each kind per run: the first time it shows
                if finding and finding.split(":")[0] not in {f.split(":")[0] for f in findings}:
                    findings.append(finding)
                    log("diagnosis: " + finding)
            state["epoch"] = epoch
            meta = {**meta_base, "epoch": epoch, "metrics": row}
            if improved:
                save_checkpoint(run.checkpoints, "best", model, meta)
            train_state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                           "loader": train_loader.state_dict(), "torch_rng": torch.get_rng_state(), "engine": dict(state)}
            save_checkpoint(run.checkpoints, "last", model, meta, train_state)
            run.write_metrics(history)
            events.log(row)
            if on_epoch is not None and (reason := on_epoch(row)):
                stop_reason = reason
                break
            if stop_after is not None and epoch >= stop_after and epoch < config.epochs:
                log(f"stopped after epoch {epoch}; continue with --resume")
                return None
            if config.patience is not None and state["bad_epochs"] >= config.patience:
                stop_reason = f"early stop: {monitor} did not improve for {config.patience} epochs"
                break
            if gl is not None and gl > config.gl_alpha:
                stop_reason = f"early stop: generalisation loss GL = {gl:.1f} > {config.gl_alpha}"
                break
    if stop_reason != "completed":
        log(stop_reason)
    return _finish(run, config, model, data, train_loader, test_loader, loss_fn, history, state, stop_reason, findings,
                   transfer)


def _finish(run: RunDir, config: RunConfig, model: nn.Module, data: Dataset, train_loader: DeviceLoader,
            test_loader: DeviceLoader, loss_fn: nn.Module, history: list[dict], state: dict, stop_reason: str,
            findings: list[str], transfer: dict[str, Any] | None) -> dict[str, Any]:
    """Evaluate the best checkpoint on the test split and write summary.json."""
    best = run.checkpoints / "best.safetensors"
    if best.exists():
        load_weights(best, model)
    model.to(train_loader.device)
    test_loss, test_acc, _ = evaluate(model, test_loader, loss_fn)
    best_row = next((r for r in history if r["epoch"] == state["best_epoch"]), history[-1] if history else {})
    params = sum(p.numel() for p in model.parameters())
    summary = {
        "model": config.model, "data": config.data, "classes": data.classes,
        "test_accuracy": None if math.isnan(test_acc) else test_acc, "test_loss": None if math.isnan(test_loss) else test_loss,
        "train_accuracy": best_row.get("train_accuracy"), "val_accuracy": best_row.get("val_accuracy"),
        "train_loss": best_row.get("train_loss"), "val_loss": best_row.get("val_loss"),
        "best_epoch": state["best_epoch"], "epochs_run": state["epoch"], "train_seconds": round(state["train_seconds"], 3),
        "params": params, "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "frozen_params": sum(p.numel() for p in model.parameters() if not p.requires_grad),
        "train_size": len(data.train_y), "val_size": len(data.val_y), "test_size": len(data.test_y),
        "input_shape": list(data.input_shape), "stopped": stop_reason, "diagnosis": findings,
        "transfer": transfer,
    }
    import json

    write_text(run.summary_path, json.dumps(summary, indent=2))
    return summary


def _epoch_line(row: dict, epochs: int) -> str:
    val = (f" val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.2%}" if row["val_loss"] is not None else "")
    return (f"epoch {row['epoch']}/{epochs}: loss {row['train_loss']:.4f} acc {row['train_accuracy']:.2%}{val} "
            f"lr {row['lr']:.3g} ({row['seconds']:.1f}s)")
