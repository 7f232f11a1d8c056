"""Applying a source to a model: load what fits, re-initialise the head, freeze by policy, split learning rates.

"Features" are the convolution and normalisation layers; the "head" is the dense (Linear) layers after them, or in a
network built on a zoo base (cnnlab.zoo.base) every layer after the base. This matches what Keras users freeze as
the conv base and what torchvision models call features vs classifier/fc.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.rundir.config import FREEZE_HELP, FREEZE_PATTERN, said_to_reader
from cnnlab.transfer.order import match_by_order
from cnnlab.zoo.base import BASE, base_of
from cnnlab.zoo.registry import is_spec_path

NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def load_matching(model: nn.Module, state: dict[str, torch.Tensor], source: str, match: str = "name") -> dict[str, Any]:
    """Copy every tensor whose name (`match="name"`) or position among its shape (`"order"`, cnnlab.transfer.order)
    and shape match; tensors whose shape differs (a 1000-class head into a 10-class model) keep the model's fresh
    initialisation. By name, a source that fits almost nothing is refused (wrong architecture); by order, one that
    fits nothing at all. A zoo model's tensors and a network's base are matched by name across the `base.` prefix."""
    own = model.state_dict()
    pairs = match_by_order(own, state) if match == "order" else _by_name(own, state)
    loaded = {t: state[k] for t, k in pairs.items() if own[t].shape == state[k].shape}
    replaced = sorted(t for t, k in pairs.items() if own[t].shape != state[k].shape)
    if match == "order" and not loaded:
        raise CnnlabError(
            said_to_reader(
                f"--init-from {source} --match order: none of the source's {len(state)} tensors has the shape of one "
                "of the model's; order matching grows a deeper net of the same family (vgg11 into vgg16)"
            )
        )
    weights = [k for k in own if own[k].is_floating_point()]
    if match == "name" and len([k for k in loaded if k in weights]) < 0.5 * len(weights):
        sample = next(iter(state), "nothing")
        raise CnnlabError(
            said_to_reader(
                f"--init-from {source}: only {len(loaded)} of the model's {len(own)} tensors match by name and "
                f"shape (the source starts with {sample!r}); use --model with the source's architecture, or "
                "--match order to map a shallower net of the same family by position"
            )
        )
    model.load_state_dict(loaded, strict=False)
    missing = sorted(set(own) - set(loaded) - set(replaced))
    base = base_of(model)  # a network's own head is new by design; its base, or a zoo model, is not
    info: dict[str, Any] = {
        "loaded": len(loaded),
        "replaced": replaced,
        "missing": missing,
        "not_in_source": [
            k for k in missing if own[k].is_floating_point() and (base is None or k.startswith(BASE + "."))
        ],
    }
    if match == "order":
        info["mapped"] = {pairs[t]: t for t in loaded}
    info["unused"] = len(state) - len(loaded) - len(replaced)
    return info


def _by_name(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> dict[str, str]:
    """{model name: source name} for equal names, or names equal but for the base prefix: torchvision's and a zoo
    run's `features.0.weight` is a network's `base.features.0.weight`, and the other way round. Which of the
    three holds is decided once for the whole model, not name by name: a head's own `bn1` (a network's layer
    names are its own) must not take a ResNet stem's `bn1` that belongs in `base.bn1`, nor give it back."""
    prefix = BASE + "."
    own_based, source_based = (any(k.startswith(prefix) for k in names) for names in (own, state))
    if own_based and not source_based:  # a zoo model's or torchvision's weights under a network's base
        pairs = {prefix + k: k for k in state}
    elif source_based and not own_based:  # a network's base, without its head, into the zoo model it is
        pairs = {k.removeprefix(prefix): k for k in state if k.startswith(prefix)}
    else:
        pairs = {k: k for k in state}
    return {target: k for target, k in pairs.items() if target in own}


def _leaves_with_params(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [
        (n, m)
        for n, m in model.named_modules()
        if not list(m.children()) and any(True for _ in m.parameters(recurse=False))
    ]


def freeze(model: nn.Module, policy: str) -> None:
    """none: train everything; features: train only the head (the layers after a network's zoo base, else the dense
    layers); all-but-last:N: train the last N layers with parameters; first:N: freeze the first N of them."""
    if not FREEZE_PATTERN.fullmatch(policy):
        raise CnnlabError(said_to_reader(f"--freeze {policy!r} is not one of {FREEZE_HELP}"))
    leaves = _leaves_with_params(model)
    base = base_of(model)
    if policy == "none":
        trainable = {n for n, _ in leaves}
    elif policy == "features" and base is not None:
        trainable = {n for n, _ in leaves if not n.startswith(BASE + ".")}
    elif policy == "features":
        trainable = {n for n, m in leaves if isinstance(m, nn.Linear)}
        if not trainable:
            raise CnnlabError(
                said_to_reader("--freeze features: the model has no dense (Linear) head to train; use all-but-last:N")
            )
        if len(trainable) == len(leaves):
            raise CnnlabError(
                said_to_reader(
                    "--freeze features: every layer with parameters is dense, so there are no feature layers to freeze "
                    "and the whole model would train; use all-but-last:N (first:N) to freeze the first dense layers"
                )
            )
    else:
        kind, _, count = policy.partition(":")
        n = int(count)
        if n > len(leaves) or (kind == "first" and n == len(leaves)):
            keep = "; first:N must leave at least one to train" if kind == "first" else ""
            raise CnnlabError(
                said_to_reader(f"--freeze {policy}: the model has only {len(leaves)} layers with parameters{keep}")
            )
        trainable = {name for name, _ in (leaves[-n:] if kind == "all-but-last" else leaves[n:])}
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
        info = {"source": config.init_from}
        if load:  # not resolved otherwise: a resumed run needs no source, which may have moved since
            source = resolve_source(config.init_from)
            info.update(load_matching(model, source.state_dict(), config.init_from, config.match))
            base = base_of(model)
            architecture = base.model_name if base is not None else config.model
            if source.model and source.model != architecture and not is_spec_path(source.model):
                info["made_for"] = source.model  # resnet34's weights in a resnet18: said, as they fit only in part
    if config.freeze != "none":  # with none, the model trains what its builder trains
        freeze(model, config.freeze)
    if config.freeze != "none" or config.init_from:
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        info = {**(info or {}), "freeze": config.freeze, "frozen_params": frozen, "head_lr": config.head_lr}
    return info
