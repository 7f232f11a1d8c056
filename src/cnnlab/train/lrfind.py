"""LR range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", sec. 3.3): raise the learning
rate exponentially over a hundred or so steps and watch the loss. The suggestion skips the first tenth of the sweep,
as fastai's lr_find does: there the lr is too small to move the model and a drop of the loss is batch noise."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnlab.errors import CnnlabError, option
from cnnlab.rundir import RunConfig
from cnnlab.rundir.config import validated
from cnnlab.train.allocator import freed_memory_kept
from cnnlab.train.optim import training_loss
from cnnlab.train.setup import setup

SWEEP = (1e-7, 10.0)  # the lrs swept between by default (`cnnlab lr-find`'s)
MIN_STEPS = 30  # fewer: at 20 steps (0.4 decades each) the smoothed loss lags the sweep and the suggestion was
# the sweep's first lr on two of three seeds (mnist-cnn, 600 digits, SGD); from 30 on it agreed with 100 steps'
MAX_STEPS = 10_000  # more: the lr's factor per step rounds towards 1 and the sweep would run for hours
SKIP = 0.1  # the first tenth of the steps is not searched for a descent (fastai skips it too)


@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]  # exponentially smoothed
    suggestion: float | None  # steepest descent of the smoothed loss before its lowest point; None: it never fell
    min_loss_lr: float

    def render(self, rows: int = 12) -> str:
        step = max(len(self.lrs) // rows, 1)
        lines = [f"{'lr':>10}  {'loss':>8}"]
        lines += [f"{lr:>10.2e}  {loss:>8.4f}" for lr, loss in list(zip(self.lrs, self.losses))[::step]]
        if self.suggestion is None:
            lines.append(
                "no suggestion: the loss did not fall after the first tenth of the sweep; try more --steps or "
                "--limit, or look for the cause in the data or the model (`cnnlab train` says why a run is stuck)"
            )
        else:
            lines.append(
                f"suggested lr: {self.suggestion:.2e} (steepest loss descent); "
                f"loss was lowest at {self.min_loss_lr:.2e}, a safe lr is about a tenth of that"
            )
        return "\n".join(lines)


def check_sweep(start: float, end: float, steps: int) -> None:
    """A one-line refusal of a sweep that cannot run or cannot suggest: bounds not 0 < start < end (finite), or a
    step count outside MIN_STEPS..MAX_STEPS."""
    if not (isinstance(start, int | float) and isinstance(end, int | float) and 0 < start < end < math.inf):
        raise CnnlabError(f"the lr sweep needs 0 < start < end, both finite; got start={start!r}, end={end!r}")
    if not isinstance(steps, int) or isinstance(steps, bool) or not MIN_STEPS <= steps <= MAX_STEPS:
        raise CnnlabError(
            f"{option('steps')} must be a whole number from {MIN_STEPS} to {MAX_STEPS:,}, got {steps!r}: the smoothed loss the "
            "suggestion reads needs dozens of updates (100 by default)"
        )


def lr_find(config: RunConfig, start: float = SWEEP[0], end: float = SWEEP[1], steps: int = 100) -> LRFindResult:
    """Run the range test on a fresh model; stops early once the loss explodes (4x its minimum)."""
    check_sweep(start, end, steps)
    validated(config, "lr_find")
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
    # plateau it may settle on (below the 4x stop) must not pass for a descent; nor the noise of the first steps
    bottom = min(range(len(finite)), key=lambda i: finite[i][1]) if finite else 0
    slopes = [(finite[i + 1][1] - finite[i][1], finite[i][0]) for i in range(max(int(steps * SKIP), 1), bottom)]
    suggestion = min(slopes)[1] if slopes and min(slopes)[0] < 0 else None
    min_loss_lr = finite[bottom][0] if finite else start
    return LRFindResult(lrs, losses, suggestion, min_loss_lr)
