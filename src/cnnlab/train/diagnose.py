"""Explain why a run is stuck: at chance, non-finite loss, exploding or vanishing gradients, dead ReLUs, and a
network that memorises its training images or overfits them.

Each check returns a one-paragraph finding with likely causes and what to try, or None; the advice is for the run
as it was set up (its optimiser, normalisation, activations and batch norm: `Traits`), not a fixed list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

STUCK = "stuck at chance"  # the kind of at_chance's finding
MEMORISING = "memorising"  # and of memorising's
OVERFITTING = "overfitting"  # and of overfitting's
LOSS_AT_CHANCE = 0.97  # a training loss at least this share of ln K is no better than guessing (above it: worse)
BLOWN_UP = 3  # a training loss over this many times ln K at chance: outputs blown up by too high a rate, not a plateau


@dataclass(frozen=True)
class Traits:
    """What the advice depends on: the run's input scaling and optimiser, and its network's make-up."""

    normalized: bool = True
    pixels: str = "unit"
    optimizer: str = "sgd"
    relu: bool = True  # the network has ReLUs (He init suits it; sigmoid or tanh nets saturate instead)
    batch_norm: bool = False
    bn_model: str | None = None  # a zoo model like this one with batch norm (vgg16-cifar: vgg16_bn-cifar)
    init: str = "default"


def kind(finding: str) -> str:
    """What a finding is about ("stuck at chance"): its text before the first colon."""
    return finding.split(":")[0]


def dated(finding: str, until: dict[str, int]) -> str:
    """The finding as a run's summary keeps it: with the last epoch it held where it later went away."""
    k = kind(finding)
    return finding if k not in until else f"{k} (until epoch {until[k]}){finding[len(k) :]}"


def at_chance(
    history: list[dict],
    num_classes: int,
    normalized: bool,
    pixels: str = "unit",
    samples: int = 0,
    min_epochs: int = 2,
    traits: Traits | None = None,
) -> str | None:
    """Accuracy near 1/K and loss no better than guessing after the first epochs: the network has learnt nothing.

    "Near" for accuracy is within three standard errors of chance on `samples` images (at least 2 points), so a
    small validation split does not hide a stuck run; the loss must be at least 97% of ln K (above it is worse
    than guessing, as a VGG16 that predicts one class gets: still stuck)."""
    if len(history) < min_epochs or num_classes < 2:
        return None
    traits = traits or Traits(normalized=normalized, pixels=pixels)
    recent = history[-min_epochs:]
    chance, ln_k = 1.0 / num_classes, math.log(num_classes)
    acc_key = "val_accuracy" if recent[-1].get("val_accuracy") is not None else "train_accuracy"
    tolerance = _near_chance(chance, samples)
    # an epoch without the validation figure (a history that gained a validation split) is judged by its training one
    accuracy = [r["train_accuracy"] if r.get(acc_key) is None else r[acc_key] for r in recent]
    stuck = all(
        abs(a - chance) <= tolerance and r["train_loss"] >= LOSS_AT_CHANCE * ln_k for a, r in zip(accuracy, recent)
    )
    if not stuck:
        return None
    loss = recent[-1]["train_loss"]
    if loss > BLOWN_UP * ln_k:  # outputs blown up by too high a rate: "too low" would send the user the wrong way
        return (
            f"{STUCK}: accuracy {recent[-1][acc_key]:.1%} (chance {chance:.1%}) and loss {loss:.4g}, far above a "
            f"guess's ln {num_classes} = {ln_k:.4f}, for {min_epochs} epochs. Likely: "
            + "; ".join(
                [
                    "the learning rate is too high: the outputs have blown up (a rate too low to learn leaves the "
                    "loss near ln K)",
                    *(c for c in _causes(traits) if c.startswith("inputs")),  # raw or unscaled pixels blow them up too
                ]
            )
            + ". Try: a 10-100x lower --lr, `cnnlab lr-find`, --warmup-epochs 1"
            + ("" if traits.normalized else ", normalise inputs (--normalize)")
            + ("" if traits.batch_norm else ", batch norm")
            + "."
        )
    return (
        f"{STUCK}: accuracy {recent[-1][acc_key]:.1%} (chance {chance:.1%}) and loss "
        f"{loss:.4f} (ln {num_classes} = {ln_k:.4f}) for {min_epochs} epochs. Likely: "
        + "; ".join(_causes(traits))
        + ". Try: "
        + ", ".join(_tries(traits))
        + "."
    )


def learning(history: list[dict], num_classes: int, samples: int = 0) -> bool:
    """Whether the last epoch's accuracy (validation's where there is one) is above chance by more than noise:
    what ends "stuck at chance", rather than its loss dipping under 97% of ln K for an epoch while the accuracy
    stays at chance (such a run was said to be no longer stuck seven times in 60 epochs)."""
    if not history or num_classes < 2:
        return False
    last, chance = history[-1], 1.0 / num_classes
    accuracy = last["val_accuracy"] if last.get("val_accuracy") is not None else last["train_accuracy"]
    return accuracy > chance + _near_chance(chance, samples)


def _near_chance(chance: float, samples: int) -> float:
    """How far an accuracy may be from chance and still be chance: three standard errors on `samples` images (a
    quarter of chance without a count), at least 2 points."""
    return max(0.02, 3 * math.sqrt(chance * (1 - chance) / samples) if samples else 0.25 * chance)


def _causes(t: Traits) -> list[str]:
    causes = (
        ["inputs are raw 0-255 pixels, 255x the scale the network and learning rate expect (use --pixels unit)"]
        if t.pixels == "raw" and not t.normalized
        else []
    )  # standardising undoes the pixel scale
    causes += [] if t.normalized else ["inputs are not normalised to zero mean and unit variance (use --normalize)"]
    causes += [
        "the learning rate is too low to leave the initial plateau, or so high that the ReLUs died"
        if t.relu
        else "the learning rate is too low to leave the initial plateau, or too high",
    ]
    if not t.batch_norm:
        causes.append("a deep plain network (e.g. VGG16 without batch norm) starts in a flat region")
    if not t.relu:
        causes.append("sigmoid or tanh units saturate, and their gradients vanish through many layers")
    causes.append("labels may not match images (check the dataset and any task mapping)")
    return causes


def _tries(t: Traits) -> list[str]:
    tries = [] if t.normalized else ["normalise inputs (--normalize)"]
    tries.append("run `cnnlab lr-find`")
    if not t.batch_norm:
        tries.append(f"a batch-norm model ({t.bn_model})" if t.bn_model else "batch norm after each conv layer")
    if t.optimizer not in ("adam", "adamw"):
        tries.append("Adam (--optimizer adam)")
    if t.relu and not t.init.startswith("he"):
        tries.append("--init he-normal")
    if not t.relu:
        tries.append("ReLU activations")
    return tries


def non_finite(
    loss: float, lr: float, kept: bool = True, normalized: bool = False, what: str = "loss", detail: str = ""
) -> str:
    """`kept`: whether an epoch had ended (and its checkpoint holds good weights) before the loss went bad;
    `normalized`: whether the inputs were standardised (then unnormalised inputs are no cause); `what`: the loss
    that went bad ("the validation loss of epoch 3": weights that overflow in eval mode, not checkpointed), or "the
    gradient norm" of several ranks whose losses stayed finite; `detail`: on which ranks, said after the lr."""
    ended = "no earlier epoch had ended" if what.startswith("the validation") else "no epoch had ended"
    outcome = (
        "the last good checkpoint was kept" if kept else f"{ended}, so no weights were kept and nothing was tested"
    )
    likely = "the learning rate is too high" + ("" if normalized else ", or inputs are unnormalised")
    return (
        f"{what} became {loss} at lr {lr:g}{detail}: training stopped and {outcome}. Likely: {likely}. Try a 3-10x lower "
        "--lr, --warmup-epochs 1, or `cnnlab lr-find`."
    )


def exploding(max_norm: float, train_loss: float, num_classes: int, threshold: float = 1e3) -> str | None:
    """A huge gradient norm in an epoch that did no better than guessing uniformly (loss at or above ln K).

    The norm alone misleads: weights followed by batch norm are scale-free, so their gradients can be large while
    the net learns well (airbench-style nets show 1e3-1e4 in their first steps and reach 99% on MNIST)."""
    ln_k = math.log(max(num_classes, 2))
    if math.isfinite(max_norm) and (max_norm <= threshold or train_loss < ln_k):
        return None
    return (
        f"exploding gradients: the gradient norm reached {max_norm:.3g} this epoch and the training loss, "
        f"{train_loss:.4g}, is no better than guessing (ln {num_classes} = {ln_k:.4f}). Try a lower --lr, batch "
        "norm, or warm-up (--warmup-epochs)."
    )


def vanishing(max_norm: float, train_loss: float, num_classes: int, threshold: float = 1e-3) -> str | None:
    """A tiny gradient norm in an epoch no better than guessing: the updates cannot move the network (deep sigmoid
    or tanh stacks, or a plain deep net started in a flat region)."""
    ln_k = math.log(max(num_classes, 2))
    if not math.isfinite(max_norm) or max_norm >= threshold or train_loss < LOSS_AT_CHANCE * ln_k:
        return None
    return (
        f"vanishing gradients: the gradient norm was at most {max_norm:.3g} this epoch and the training loss, "
        f"{train_loss:.4g}, no better than guessing (ln {num_classes} = {ln_k:.4f}). Likely: saturating sigmoid or "
        "tanh layers, or a deep plain network. Try ReLU activations, batch norm, or a residual network (resnet)."
    )


def memorising(history: list[dict], num_classes: int, samples: int = 0) -> str | None:
    """Training accuracy of 90% or more while validation stays at chance: the network learns the training images
    by heart and nothing that carries over, which is what shuffled labels give.

    Found only on two epochs' evidence of a gap that grows: validation at chance in both, training accuracy rising
    to 90% or more and the validation loss rising. One epoch is no evidence: an lr that jumps at an epoch's last
    update (`--schedule step --gamma 100`) leaves that epoch's training accuracy, counted before it, at 93.6% while
    validation, scored after it, falls from 93.8% to chance. Once found, `by_heart` keeps it."""
    rows = [r for r in history if r.get("val_accuracy") is not None and r.get("val_loss") is not None]
    if len(rows) < 2:
        return None
    before, last = rows[-2:]
    if not (
        by_heart(last, num_classes, samples)
        and _at_chance(before["val_accuracy"], num_classes, samples)
        and last["train_accuracy"] > before["train_accuracy"]
        and last["val_loss"] > before["val_loss"]
    ):
        return None
    chance = 1.0 / max(num_classes, 2)
    return (
        f"{MEMORISING}: training accuracy {last['train_accuracy']:.1%} but validation {last['val_accuracy']:.1%} "
        f"(chance {chance:.1%}): the network learns the training images by heart and nothing that carries over. "
        "Likely: labels that do not match the images (shuffled, or a wrong labels file), or validation images "
        "unlike the training ones. Try: look at a few training images with their labels (the report's image grid)."
    )


def by_heart(row: dict, num_classes: int, samples: int = 0) -> bool:
    """Whether an epoch has training accuracy of 90% or more with validation at chance: what keeps "memorising"
    once found, since a net at 100% on its training images has no accuracy left to rise."""
    val = row.get("val_accuracy")
    return val is not None and row["train_accuracy"] >= 0.9 and _at_chance(val, num_classes, samples)


def _at_chance(accuracy: float, num_classes: int, samples: int) -> bool:
    chance = 1.0 / max(num_classes, 2)
    return abs(accuracy - chance) <= _near_chance(chance, samples)


def overfitting(history: list[dict], rising: int = 3, gap: float = 0.2) -> str | None:
    """The validation loss rising for `rising` epochs in a row while training accuracy outruns validation's by
    `gap` or more: past its best epoch the network fits its training images more and the rest less. Once found,
    `still_overfitting` keeps it."""
    rows = [r for r in history if r.get("val_loss") is not None and r.get("val_accuracy") is not None]
    if len(rows) < rising + 1:
        return None
    tail = rows[-(rising + 1) :]
    losses = [r["val_loss"] for r in tail]
    last = tail[-1]
    if not all(b > a for a, b in zip(losses, losses[1:])) or last["train_accuracy"] - last["val_accuracy"] < gap:
        return None
    best = min(rows, key=lambda r: r["val_loss"])
    return (
        f"{OVERFITTING}: the validation loss has risen for {rising} epochs (from {best['val_loss']:.4f} at epoch "
        f"{best['epoch']} to {last['val_loss']:.4f}) while training accuracy, {last['train_accuracy']:.1%}, "
        f"outruns validation's, {last['val_accuracy']:.1%}. Try: augmentation (--augment crop,flip), dropout or "
        "weight decay (--weight-decay), fewer epochs or early stopping (--patience 3), more training images."
    )


def still_overfitting(history: list[dict], gap: float = 0.2, margin: float = 0.05) -> bool:
    """Whether the last epoch still shows the overfitting once found: its validation loss more than `margin` (5%)
    above the lowest so far, and training accuracy ahead of validation's by `gap` or more. Three rises in a row
    found it, but a long run that overfits has epochs whose validation loss dips a little: digits with shuffled
    labels (40 epochs, validation loss from 2.31 to 6.60) was said "no longer so" and "back" twice each."""
    rows = [r for r in history if r.get("val_loss") is not None and r.get("val_accuracy") is not None]
    if not rows:
        return False
    last, lowest = rows[-1], min(r["val_loss"] for r in rows)
    return last["val_loss"] > lowest * (1 + margin) and last["train_accuracy"] - last["val_accuracy"] >= gap


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
