"""Applying a source to a model: load what fits, re-initialise the head, freeze by policy, split learning rates.

"Features" are the convolution and normalisation layers; the "head" is the dense (Linear) layers after them.
This matches what Keras users freeze as the conv base and what torchvision models call features vs classifier/fc.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.rundir.config import FREEZE_PATTERN

NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def load_matching(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> dict[str, Any]:
    """Copy every tensor whose name and shape match; tensors whose shape differs (a 1000-class head into a 10-class
    model) keep the model's fresh initialisation. Refuses a source that fits almost nothing: wrong architecture."""
    own = model.state_dict()
    loaded = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    replaced = sorted(k for k, v in state.items() if k in own and own[k].shape != v.shape)
    weights = [k for k in own if own[k].is_floating_point()]
    if len([k for k in loaded if k in weights]) < 0.5 * len(weights):
        sample = next(iter(state), "nothing")
        raise CnnlabError(
            f"--init-from {source}: only {len(loaded)} of the model's {len(own)} tensors match by name and "
            f"shape (the source starts with {sample!r}); use --model with the source's architecture"
        )
    model.load_state_dict(loaded, strict=False)
    return {"loaded": len(loaded), "replaced": replaced, "missing": sorted(set(own) - set(loaded) - set(replaced))}


def _leaves_with_params(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [
        (n, m)
        for n, m in model.named_modules()
        if not list(m.children()) and any(True for _ in m.parameters(recurse=False))
    ]


def freeze(model: nn.Module, policy: str) -> None:
    """none: train everything; features: train only the dense head; all-but-last:N: train the last N layers."""
    if not FREEZE_PATTERN.fullmatch(policy):
        raise CnnlabError(f"--freeze {policy!r} is not one of none, features, all-but-last:N (N >= 1)")
    leaves = _leaves_with_params(model)
    if policy == "none":
        trainable = {n for n, _ in leaves}
    elif policy == "features":
        trainable = {n for n, m in leaves if isinstance(m, nn.Linear)}
        if not trainable:
            raise CnnlabError("--freeze features: the model has no dense (Linear) head to train; use all-but-last:N")
    else:
        n = int(policy.split(":")[1])
        if n > len(leaves):
            raise CnnlabError(f"--freeze {policy}: the model has only {len(leaves)} layers with parameters")
        trainable = {name for name, _ in leaves[-n:]}
    for name, m in leaves:
        for p in m.parameters(recurse=False):
            p.requires_grad_(name in trainable)


@contextmanager
def frozen(model: nn.Module, policy: str) -> Iterator[nn.Module]:
    """The model with a freeze policy applied for the duration (`cnnlab summary RUN` shows trainable versus frozen
    parameters this way), its parameters' requires_grad restored afterwards."""
    before = [p.requires_grad for p in model.parameters()]
    if policy != "none":  # a fresh model trains what its builder trains (airbench keeps its norm scales fixed)
        freeze(model, policy)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), before):
            p.requires_grad_(flag)


def train_mode(model: nn.Module, freeze_bn: bool) -> None:
    """model.train(), but batch norm keeps its running statistics where its layer is frozen (as in Keras) or
    everywhere with freeze_bn, so a frozen backbone computes the same features it was trained with."""
    model.train()
    for m in model.modules():
        if isinstance(m, NORMS) and (freeze_bn or not any(p.requires_grad for p in m.parameters())):
            m.eval()


def parameter_groups(
    model: nn.Module, head_lr: float | None, bias_lr: float | None = None, decay_norm_bias: bool = True
) -> list[dict[str, Any]]:
    """Trainable parameters in optimiser groups: the dense head at `head_lr` when given; biases and normalisation
    weights at `bias_lr` when given and, with decay_norm_bias=False, without weight decay (as fast recipes train
    them: Goyal et al. 2017, airbench). With none of these, one group."""
    head = {id(p) for m in model.modules() if isinstance(m, nn.Linear) for p in m.parameters()}
    norms = (*NORMS, nn.GroupNorm, nn.LayerNorm)
    norm_bias = {
        id(p)
        for m in model.modules()
        for n, p in m.named_parameters(recurse=False)
        if n == "bias" or isinstance(m, norms)
    }
    special = bias_lr is not None or not decay_norm_bias
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for p in model.parameters():
        if p.requires_grad:
            key = (head_lr is not None and id(p) in head, special and id(p) in norm_bias)
            groups.setdefault(key, []).append(p)
    out = []
    for (in_head, is_norm_bias), params in sorted(groups.items()):
        group: dict[str, Any] = {"params": params}
        if in_head:
            group["lr"] = head_lr
        if is_norm_bias:
            if bias_lr is not None:
                group["lr"] = bias_lr
            if not decay_norm_bias:
                group["weight_decay"] = 0.0
        out.append(group)
    return out


def start_from(model: nn.Module, config: Any, load: bool = True) -> dict[str, Any] | None:
    """Apply `config.init_from` (when `load`; a resumed run has its weights already) and `config.freeze`.

    Returns what was done, for the run's metadata, or None for a run from scratch without freezing."""
    from cnnlab.transfer.sources import resolve_source

    info: dict[str, Any] | None = None
    if config.init_from:
        source = resolve_source(config.init_from)
        info = {"source": config.init_from}
        if load:
            info.update(load_matching(model, source.state_dict(), config.init_from))
    if config.freeze != "none":  # with none, the model trains what its builder trains
        freeze(model, config.freeze)
    if config.freeze != "none" or config.init_from:
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        info = {**(info or {}), "freeze": config.freeze, "frozen_params": frozen, "head_lr": config.head_lr}
    return info
