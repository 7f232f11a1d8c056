"""An exponential moving average of the weights (Polyak averaging; airbench and timm's ModelEmaV2 keep one), built
on torch.optim.swa_utils.AveragedModel: after every optimiser step ema = decay * ema + (1 - decay) * weights, batch
norm statistics included. With --ema the average is what counts: it is evaluated, checkpointed as the run's
weights, tested and served; the raw weights are kept beside it so training resumes exactly.

With --lookahead the average is airbench's lookahead (Jordan 2024, github.com/KellerJordan/cifar10-airbench, after
Zhang et al. 2019, "Lookahead Optimizer: k steps forward, 1 step back"): every LOOKAHEAD_PERIOD steps the average
moves toward the weights and is then written back into them, its decay rising from 0 to decay**period as the cube
of the run's progress, so early training is not held back and the last steps settle on the slow weights."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

LOOKAHEAD_PERIOD = 5  # optimiser steps between two write-backs (airbench's)


class EMA:
    def __init__(self, model: nn.Module, decay: float, lookahead_steps: int | None = None) -> None:
        """`lookahead_steps`: the run's total optimiser steps, given for --lookahead (None: a plain average)."""
        self.decay, self.lookahead_steps = decay, lookahead_steps
        # a copy of the model and its count; `update` averages parameters and buffers itself (AveragedModel's own
        # update, and the use_buffers it reads, are never called)
        self.averaged = AveragedModel(model)
        self.averaged.eval()
        self.updates = 0  # n_averaged kept on the host too, so that no update reads the device

    @property
    def module(self) -> nn.Module:
        """The averaged copy of the model (same class and state-dict keys)."""
        return self.averaged.module

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Called after every optimiser step. It reads nothing back from the device (AveragedModel's own update
        tests its count on it, which on a GPU makes the host wait at every step), and averages as that update
        does: the weights copied at the first call, then ema = decay * ema + (1 - decay) * weights."""
        self.updates += 1
        self.averaged.n_averaged += 1
        if self.lookahead_steps is not None:
            self._lookahead(model)
            return
        slow, fast = _tensors(self.module), _tensors(model)
        if self.updates == 1:
            torch._foreach_copy_(slow, fast)
            return
        torch._foreach_lerp_(_floats(self.module), _floats(model), 1 - self.decay)
        for a, b in zip(slow, fast, strict=True):
            if not a.is_floating_point():  # a batch count: averaged and truncated, as AveragedModel does
                a.copy_(a * self.decay + b * (1 - self.decay))

    def _lookahead(self, model: nn.Module) -> None:
        if self.updates % LOOKAHEAD_PERIOD:
            return
        decay = self.decay**LOOKAHEAD_PERIOD * min(1.0, self.updates / self.lookahead_steps) ** 3
        slow, fast = _floats(self.module), _floats(model)
        torch._foreach_lerp_(slow, fast, 1 - decay)
        torch._foreach_copy_(fast, slow)

    def state_dict(self) -> dict[str, Any]:
        """How many updates were averaged (the tensors themselves are checkpointed as the run's weights)."""
        return {"n_averaged": self.averaged.n_averaged.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the update count (the averaged tensors come back with the checkpoint's weights)."""
        self.averaged.n_averaged.copy_(state["n_averaged"])
        self.updates = int(state["n_averaged"])


def _tensors(model: nn.Module) -> list[torch.Tensor]:
    """The parameters and buffers, in AveragedModel's order."""
    return [*model.parameters(), *model.buffers()]


def _floats(model: nn.Module) -> list[torch.Tensor]:
    """The parameters and floating-point buffers (batch-norm statistics, not its batch count), in a fixed order."""
    return [t for t in _tensors(model) if t.is_floating_point()]
