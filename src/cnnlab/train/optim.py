"""Optimisers and learning-rate schedules. Schedules are per step, written as factors of the base lr over
fractional epochs t, so any of them resumes exactly from a LambdaLR state dict."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cnnlab.rundir import RunConfig
from cnnlab.train.muon import Muon


def make_optimizer(params, config: RunConfig) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov, weight decay), Muon for conv filters (cnnlab.train.muon), Adam or AdamW from the
    run config. SGD, Adam and AdamW run PyTorch's fused kernels where every parameter allows them: one pass over
    all parameters per step instead of one op per parameter and per term, which on the CPU took Adam's share of a
    batch-32 step from a quarter to under a fifth (#12)."""
    params = list(params)
    wd = config.decay_used()
    fused = {"fused": True} if _fusable(params) else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov and config.momentum > 0,
            weight_decay=wd,
            **fused,
        )
    if config.optimizer == "muon":
        groups = _muon_groups(params, config.muon_momentum)
        return Muon(groups, config.lr, config.momentum, nesterov=config.nesterov, weight_decay=wd)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=wd, **fused)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=wd, **fused)


def _muon_groups(params: list, muon_momentum: float) -> list[dict[str, Any]]:
    """Each group split in two: its conv filters for Muon (at the group's lr, with --muon-momentum) and the rest
    for SGD (the group's lr, --momentum and weight decay)."""
    out = []
    for group in params if params and isinstance(params[0], dict) else [{"params": params}]:
        filters = [p for p in group["params"] if p.ndim == 4]
        rest = [p for p in group["params"] if p.ndim != 4]
        if filters:
            out.append({**group, "params": filters, "muon": True, "momentum": muon_momentum})
        if rest:
            out.append({**group, "params": rest})
    return out


def _fusable(params: list) -> bool:
    """Whether the fused kernels take these parameters (tensors or param-group dicts): all floating point, on one
    CPU or CUDA device."""
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    devices = {t.device for t in tensors}
    return (
        len(devices) == 1
        and next(iter(devices)).type in ("cpu", "cuda")
        and all(t.is_floating_point() for t in tensors)
    )


def lr_factor(config: RunConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the base lr for the update that follows `step` updates. Schedules are written over t = epochs
    done (fractional, counted to the end of the coming update); the time schedule with --decay-per step counts
    the updates themselves, as Keras' `decay` and InverseTimeDecay(decay_steps=1) do (the first update at lr0)."""
    e = config.epochs

    def base(t: float, step: int) -> float:
        s = config.schedule
        if s == "step":
            return config.gamma ** math.floor(t / config.step_size)
        if s == "exponential":
            return config.gamma**t
        if s == "time":
            return 1.0 / (1.0 + config.decay * (step if config.decay_per == "step" else t))
        if s == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(t / e, 1.0)))
        if s == "onecycle":  # 30% warm-up from lr/25 (torch OneCycleLR's default), then cosine down to lr/1e4
            peak = 0.3 * e
            if t < peak:
                return 1 / 25 + (1 - 1 / 25) * t / peak
            return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * min((t - peak) / (e - peak), 1.0)))
        if s == "linear":  # airbench94_muon's: from the base lr straight down, the last update at 1/steps of it
            return max(0.0, 1.0 - step / (e * steps_per_epoch))
        if s == "triangle":  # airbench's: linear from 0.2 up to 1 at 23% of training, then down to 0.07
            peak = 0.23 * e
            if t < peak:
                return 0.2 + 0.8 * t / peak
            return 1.0 + (0.07 - 1.0) * min((t - peak) / (e - peak), 1.0)
        return 1.0

    w = config.warmup_epochs

    def factor(step: int) -> float:
        t = (step + 1) / steps_per_epoch
        return base(t, step) * (min(1.0, (t + 1e-9) / w) if w > 0 else 1.0)

    return factor


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: RunConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepped once per batch."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config, steps_per_epoch))


def loss_function(config: RunConfig) -> nn.Module:
    return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)


AUX_WEIGHT = 0.3  # GoogLeNet's: "the losses of the auxiliary classifiers were weighted by 0.3" (Szegedy et al. 2014)


def training_loss(
    model: nn.Module, loss_fn: nn.Module, out: torch.Tensor | tuple, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, main logits) of a train-mode forward. A model with aux heads (googlenet or inception_v3 with
    aux_logits=true) returns a tuple whose first field is the logits; each aux head's loss is added with the model's
    `aux_weight` (GoogLeNet 0.3, Inception v3 0.4), so the heads train and the reported accuracy is the main head's."""
    if not isinstance(out, tuple):
        return loss_fn(out.float(), y), out
    logits, *aux = out
    weight = float(getattr(model, "aux_weight", AUX_WEIGHT))
    loss = loss_fn(logits.float(), y)
    for head in aux:
        if head is not None:
            loss = loss + weight * loss_fn(head.float(), y)
    return loss, logits
