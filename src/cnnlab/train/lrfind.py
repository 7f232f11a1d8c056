"""LR range test (Smith 2015): raise the learning rate exponentially over a few hundred steps and watch the loss."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnlab.rundir import RunConfig
from cnnlab.train.allocator import freed_memory_kept
from cnnlab.train.optim import training_loss
from cnnlab.train.setup import setup


@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]  # exponentially smoothed
    suggestion: float  # steepest descent of the smoothed loss before its lowest point
    min_loss_lr: float

    def render(self, rows: int = 12) -> str:
        step = max(len(self.lrs) // rows, 1)
        lines = [f"{'lr':>10}  {'loss':>8}"]
        lines += [f"{lr:>10.2e}  {loss:>8.4f}" for lr, loss in list(zip(self.lrs, self.losses))[::step]]
        lines.append(
            f"suggested lr: {self.suggestion:.2e} (steepest loss descent); "
            f"loss was lowest at {self.min_loss_lr:.2e}, a safe lr is about a tenth of that"
        )
        return "\n".join(lines)


def lr_find(config: RunConfig, start: float = 1e-7, end: float = 10.0, steps: int = 100) -> LRFindResult:
    """Run the range test on a fresh model; stops early once the loss explodes (4x its minimum)."""
    config.validate()
    s = setup(config)  # the engine's own set-up phase: the same data, model, loader and optimiser a run would get
    model, loader, optimizer, loss_fn = s.net, s.train_loader, s.optimizer, s.loss_fn
    s.model.train()
    factor = (end / start) ** (1 / max(steps - 1, 1))
    lrs, losses, smooth, best = [], [], 0.0, math.inf
    with freed_memory_kept():  # as in a run: each step reuses the last one's memory (allocator.py)
        step = 0
        while step < steps:
            for x, y in loader:
                lr = start * factor**step
                for g in optimizer.param_groups:
                    g["lr"] = lr
                with s.autocast():
                    loss, _ = training_loss(s.model, loss_fn, model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = loss.item()
                smooth = 0.98 * smooth + 0.02 * value
                corrected = smooth / (1 - 0.98 ** (step + 1))  # bias-corrected moving average, as in Adam
                lrs.append(lr)
                losses.append(corrected)
                best = min(best, corrected)
                step += 1
                if step >= steps or not math.isfinite(corrected) or corrected > 4 * best:
                    step = steps
                    break
    finite = [(lr, l) for lr, l in zip(lrs, losses) if math.isfinite(l)]
    # the steepest descent on the way down to the lowest loss: past it the loss has blown up, and the noise of a
    # plateau it may settle on (below the 4x stop) must not pass for a descent
    bottom = min(range(len(finite)), key=lambda i: finite[i][1]) if finite else 0
    slopes = [(finite[i + 1][1] - finite[i][1], finite[i][0]) for i in range(bottom)]
    suggestion = min(slopes)[1] if slopes else config.lr
    min_loss_lr = finite[bottom][0] if finite else config.lr
    return LRFindResult(lrs, losses, suggestion, min_loss_lr)
