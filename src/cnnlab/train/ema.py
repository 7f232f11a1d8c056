"""An exponential moving average of the weights (Polyak averaging; airbench and timm's ModelEmaV2 keep one), built
on torch.optim.swa_utils.AveragedModel: after every optimiser step ema = decay * ema + (1 - decay) * weights, batch
norm statistics included. With --ema the average is what counts: it is evaluated, checkpointed as the run's
weights, tested and served; the raw weights are kept beside it so training resumes exactly."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class EMA:
    def __init__(self, model: nn.Module, decay: float) -> None:
        self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.averaged.eval()

    @property
    def module(self) -> nn.Module:
        """The averaged copy of the model (same class and state-dict keys)."""
        return self.averaged.module

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.averaged.update_parameters(model)

    def state_dict(self) -> dict[str, Any]:
        """How many updates were averaged (the tensors themselves are checkpointed as the run's weights)."""
        return {"n_averaged": self.averaged.n_averaged.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the update count (the averaged tensors come back with the checkpoint's weights)."""
        self.averaged.n_averaged.copy_(state["n_averaged"])
