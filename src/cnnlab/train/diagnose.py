"""Explain why a run is stuck: at chance, non-finite loss, exploding gradients, dead ReLUs.

Each check returns a one-paragraph finding with likely causes and what to try, or None.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def at_chance(
    history: list[dict], num_classes: int, normalized: bool, pixels: str = "unit", samples: int = 0, min_epochs: int = 2
) -> str | None:
    """Accuracy near 1/K and loss near ln K after the first epochs: the network has learnt nothing.

    "Near" for accuracy is within three standard errors of chance on `samples` images (at least 2 points), so a
    small validation split does not hide a stuck run; the loss must be within 3% of ln K."""
    if len(history) < min_epochs or num_classes < 2:
        return None
    recent = history[-min_epochs:]
    chance, ln_k = 1.0 / num_classes, math.log(num_classes)
    acc_key = "val_accuracy" if recent[-1].get("val_accuracy") is not None else "train_accuracy"
    tolerance = max(0.02, 3 * math.sqrt(chance * (1 - chance) / samples) if samples else 0.25 * chance)
    # an epoch without the validation figure (a history that gained a validation split) is judged by its training one
    accuracy = [r["train_accuracy"] if r.get(acc_key) is None else r[acc_key] for r in recent]
    stuck = all(
        abs(a - chance) <= tolerance and abs(r["train_loss"] - ln_k) <= 0.03 * ln_k for a, r in zip(accuracy, recent)
    )
    if not stuck:
        return None
    causes = (
        ["inputs are raw 0-255 pixels, 255x the scale the network and learning rate expect (use --pixels unit)"]
        if pixels == "raw" and not normalized
        else []
    )  # standardising undoes the pixel scale
    causes += [] if normalized else ["inputs are not normalised to zero mean and unit variance (use --normalize)"]
    causes += [
        "the learning rate is too low to leave the initial plateau, or so high that the ReLUs died",
        "a deep plain network (e.g. VGG16 without batch norm) starts in a flat region",
        "labels may not match images (check the dataset and any task mapping)",
    ]
    return (
        f"stuck at chance: accuracy {recent[-1][acc_key]:.1%} (chance {chance:.1%}) and loss "
        f"{recent[-1]['train_loss']:.4f} (ln {num_classes} = {ln_k:.4f}) for {min_epochs} epochs. Likely: "
        + "; ".join(causes)
        + ". Try: normalise inputs, run `cnnlab lr-find`, use a _bn model or Adam, "
        "or --init he-normal."
    )


def non_finite(loss: float, lr: float, kept: bool = True) -> str:
    """`kept`: whether an epoch had ended (and its checkpoint holds good weights) before the loss went bad."""
    outcome = (
        "the last good checkpoint was kept"
        if kept
        else "no epoch had ended, so no weights were kept and nothing was tested"
    )
    return (
        f"loss became {loss} at lr {lr:g}: training stopped and {outcome}. Likely: the learning rate is too high, "
        "or inputs are unnormalised. Try a 3-10x lower --lr, --warmup-epochs 1, or `cnnlab lr-find`."
    )


def exploding(max_norm: float, train_loss: float, num_classes: int, threshold: float = 1e3) -> str | None:
    """A huge gradient norm in an epoch that did no better than guessing uniformly (loss at or above ln K).

    The norm alone misleads: weights followed by batch norm are scale-free, so their gradients can be large while
    the net learns well (airbench-style nets show 1e3-1e4 in their first steps and reach 99% on MNIST)."""
    ln_k = math.log(max(num_classes, 2))
    if math.isfinite(max_norm) and (max_norm <= threshold or train_loss < ln_k):
        return None
    return (
        f"gradient norm reached {max_norm:.3g} this epoch and the training loss, {train_loss:.4g}, is no better "
        f"than guessing (ln {num_classes} = {ln_k:.4f}): exploding gradients. Try a lower --lr, batch norm "
        "(a _bn model), or warm-up (--warmup-epochs)."
    )


@torch.no_grad()
def dead_relus(model: nn.Module, x: torch.Tensor, threshold: float = 0.9) -> str | None:
    """Run one batch and report ReLU layers whose outputs are zero for nearly every unit and input."""
    dead: list[str] = []
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, nn.ReLU):

            def hook(mod, inp, out, name=name):
                per_unit = (out <= 0).flatten(2).all(2).all(0) if out.dim() == 4 else (out <= 0).all(0)
                if per_unit.double().mean().item() >= threshold:
                    dead.append(f"{name} ({per_unit.double().mean().item():.0%} of units never fire)")

            handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    if not dead:
        return None
    return (
        "dead ReLUs: "
        + ", ".join(dead[:5])
        + (" ..." if len(dead) > 5 else "")
        + ". Likely: a too-high learning rate pushed them negative, or a bad init. Try a lower --lr, "
        "--init he-normal, or LeakyReLU in a TOML network."
    )
