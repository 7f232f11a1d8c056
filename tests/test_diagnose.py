"""The findings of train/diagnose.py on hand-built histories, gradient norms and ReLU outputs (#18).

Each check gets the inputs it takes in a run (per-epoch metrics, the epoch's largest gradient norm, one batch through
a model) for a healthy case and each unhealthy one, with values on both sides of every threshold, and the exact text
users see. Thresholds worked out by hand: at chance means accuracy within max(0.02, 3 standard errors of chance on
`samples` images, else a quarter of chance) of 1/K and loss within 3% of ln K; exploding means a norm above 1e3 (or
not finite) in an epoch whose loss is at least ln K; a ReLU layer is dead when at least 90% of its units (channels
of a conv output) are zero for every input. The advice follows the run's settings (Traits): a run already on Adam
is not told to use Adam, one with batch norm not told to add it.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
from torch import nn

from cnnlab.train.diagnose import (
    Traits,
    at_chance,
    by_heart,
    dead_relus,
    exploding,
    memorising,
    non_finite,
    overfitting,
    still_overfitting,
    vanishing,
)

LN10 = 2.302585092994046  # ln 10
LN4 = 1.3862943611198906  # ln 4

CAUSE_RAW = "inputs are raw 0-255 pixels, 255x the scale the network and learning rate expect (use --pixels unit)"
CAUSE_NORM = "inputs are not normalised to zero mean and unit variance (use --normalize)"
CAUSES_ALWAYS = (
    "the learning rate is too low to leave the initial plateau, or so high that the ReLUs died; "
    "a deep plain network (e.g. VGG16 without batch norm) starts in a flat region; "
    "labels may not match images (check the dataset and any task mapping)"
)
TRY = ". Try: run `cnnlab lr-find`, batch norm after each conv layer, Adam (--optimizer adam), --init he-normal."
TRY_NORM = ". Try: normalise inputs (--normalize), run `cnnlab lr-find`, batch norm after each conv layer, Adam " \
    "(--optimizer adam), --init he-normal."  # fmt: skip


def epoch(acc: float, loss: float, val: float | None = None) -> dict:
    """One epoch's metrics as the trainer records them (val_accuracy None when there is no validation split)."""
    return {"train_accuracy": acc, "train_loss": loss, "val_accuracy": val}


def stuck(acc: float, loss: float, num_classes: int, **kw: object) -> bool:
    """Whether two epochs with these train metrics are found stuck at chance (normalised unit pixels)."""
    return at_chance([epoch(acc, loss)] * 2, num_classes, normalized=True, **kw) is not None


def test_at_chance_names_the_last_epochs_figures_and_every_likely_cause() -> None:
    history = [epoch(0.5, 1.0), epoch(0.09, 2.29), epoch(0.11, 2.31)]  # only the last two are at chance
    found = at_chance(history, 10, normalized=False, pixels="raw")
    assert found == (
        "stuck at chance: accuracy 11.0% (chance 10.0%) and loss 2.3100 (ln 10 = 2.3026) for 2 epochs. Likely: "
        f"{CAUSE_RAW}; {CAUSE_NORM}; {CAUSES_ALWAYS}{TRY_NORM}"
    )


def test_the_figures_are_the_last_epochs_when_more_epochs_are_judged() -> None:
    history = [epoch(0.09, 2.29), epoch(0.10, 2.30), epoch(0.11, 2.31), epoch(0.12, 2.32)]
    found = at_chance(history, 10, normalized=True, min_epochs=3)
    assert found is not None
    assert found.startswith("stuck at chance: accuracy 12.0% (chance 10.0%) and loss 2.3200 (ln 10 = 2.3026) for 3 ")


@pytest.mark.parametrize(
    ("pixels", "normalized", "causes"),
    [
        ("raw", False, f"{CAUSE_RAW}; {CAUSE_NORM}; "),
        ("unit", False, f"{CAUSE_NORM}; "),
        ("raw", True, ""),  # standardising undoes the pixel scale
        ("unit", True, ""),
    ],
)
def test_the_pixel_and_normalisation_causes_appear_only_when_they_apply(
    pixels: str, normalized: bool, causes: str
) -> None:
    found = at_chance([epoch(0.25, LN4)] * 3, 4, normalized=normalized, pixels=pixels, min_epochs=3)
    assert found == (
        "stuck at chance: accuracy 25.0% (chance 25.0%) and loss 1.3863 (ln 4 = 1.3863) for 3 epochs. Likely: "
        f"{causes}{CAUSES_ALWAYS}{TRY if normalized else TRY_NORM}"
    )


def test_the_default_pixels_are_unit_scaled() -> None:
    found = at_chance([epoch(0.25, LN4)] * 2, 4, normalized=False)
    assert found is not None and CAUSE_NORM in found and CAUSE_RAW not in found


def test_at_chance_needs_min_epochs_of_history_and_two_classes() -> None:
    assert at_chance([epoch(0.1, LN10)], 10, normalized=True) is None  # one epoch, 2 needed by default
    assert at_chance([epoch(0.1, LN10)] * 2, 10, normalized=True) is not None
    assert at_chance([epoch(0.1, LN10)] * 2, 10, normalized=True, min_epochs=3) is None
    assert at_chance([epoch(0.1, LN10)] * 3, 10, normalized=True, min_epochs=3) is not None
    assert at_chance([epoch(1.0, 0.0)] * 5, 1, normalized=True) is None  # one class: no chance level
    # two classes is the smallest: chance 50%, ln 2 = 0.6931
    assert at_chance([epoch(0.5, math.log(2))] * 2, 2, normalized=True) is not None


def test_only_the_last_min_epochs_count() -> None:
    assert at_chance([epoch(0.9, 0.3), epoch(0.1, LN10), epoch(0.1, LN10)], 10, normalized=True) is not None
    assert at_chance([epoch(0.1, LN10), epoch(0.1, LN10), epoch(0.9, 0.3)], 10, normalized=True) is None
    assert at_chance([epoch(0.1, LN10), epoch(0.9, 0.3), epoch(0.1, LN10)], 10, normalized=True) is None


def test_validation_accuracy_is_judged_when_the_last_epoch_has_it() -> None:
    # train accuracy 90% but validation at chance: stuck (the net memorises noise)
    history = [epoch(0.9, LN10, 0.11), epoch(0.9, LN10, 0.1)]
    found = at_chance(history, 10, normalized=True)
    assert found is not None and found.startswith("stuck at chance: accuracy 10.0% (chance 10.0%)")
    # validation well above chance: not stuck, whatever the train accuracy
    assert at_chance([epoch(0.1, LN10, 0.1), epoch(0.1, LN10, 0.5)], 10, normalized=True) is None
    # the last epoch has no validation figure (None): the train accuracy is judged, in every recent epoch
    assert at_chance([epoch(0.1, LN10, 0.5), epoch(0.1, LN10, None)], 10, normalized=True) is not None
    assert at_chance([epoch(0.9, LN10, 0.5), epoch(0.9, LN10, None)], 10, normalized=True) is None
    mixed = [epoch(0.1, LN10, 0.5), epoch(0.1, LN10, 0.5), epoch(0.1, LN10, None)]
    assert at_chance(mixed, 10, normalized=True, min_epochs=3) is not None
    no_key = [{"train_accuracy": 0.1, "train_loss": LN10}] * 2
    assert at_chance(no_key, 10, normalized=True) is not None
    # validation only in the last epoch: the earlier one is judged by its train accuracy (no TypeError on None)
    assert at_chance([epoch(0.1, LN10, None), epoch(0.9, LN10, 0.1)], 10, normalized=True) is not None
    assert at_chance([epoch(0.5, LN10, None), epoch(0.9, LN10, 0.1)], 10, normalized=True) is None


def test_accuracy_tolerance_without_a_sample_count_is_a_quarter_of_chance() -> None:
    # 4 classes: chance 0.25, tolerance max(0.02, 0.25 * 0.25) = 0.0625 (exact in binary), on either side
    assert stuck(0.3125, LN4, 4) and stuck(0.1875, LN4, 4)
    assert not stuck(0.3126, LN4, 4) and not stuck(0.1874, LN4, 4)


def test_accuracy_tolerance_is_at_least_two_points() -> None:
    # 100 classes: a quarter of chance is 0.0025, raised to 0.02, so 0.01 + 0.02 = 0.03 (and 0) are at chance
    ln100 = 4.605170185988092
    assert stuck(0.03, ln100, 100) and stuck(0.0, ln100, 100)
    assert not stuck(0.031, ln100, 100)
    # 2 classes on 10,000 images: 3 * sqrt(0.25 / 10000) = 0.015, raised to 0.02
    assert stuck(0.519, math.log(2), 2, samples=10000) and not stuck(0.521, math.log(2), 2, samples=10000)


def test_accuracy_tolerance_on_a_sample_is_three_standard_errors() -> None:
    # 2 classes on 100 images: 3 * sqrt(0.5 * 0.5 / 100) = 3 * 0.05 = 0.15
    ln2 = math.log(2)
    assert stuck(0.64, ln2, 2, samples=100) and stuck(0.36, ln2, 2, samples=100)
    assert not stuck(0.66, ln2, 2, samples=100) and not stuck(0.34, ln2, 2, samples=100)
    # 10 classes on 900 images: 3 * sqrt(0.1 * 0.9 / 900) = 3 * 0.01 = 0.03
    assert stuck(0.129, LN10, 10, samples=900) and not stuck(0.131, LN10, 10, samples=900)
    # without samples the 10-class tolerance is 0.025: 0.129 is not at chance
    assert not stuck(0.129, LN10, 10)


def test_a_loss_from_97_percent_of_ln_k_up_is_no_better_than_guessing() -> None:
    # 10 classes: 0.97 ln 10 = 2.2335077; a loss above ln K (worse than guessing: a VGG16 predicting one class,
    # 2.43 in its second epoch) is as stuck as one at it, which the band of 3% either side let pass
    assert stuck(0.1, 0.97 * LN10, 10) and stuck(0.1, LN10, 10) and stuck(0.1, 2.4282, 10) and stuck(0.1, 9.0, 10)
    assert not stuck(0.1, math.nextafter(0.97 * LN10, 0), 10) and not stuck(0.1, 2.0, 10)


def test_non_finite_loss_message() -> None:
    assert non_finite(float("nan"), 0.01) == (
        "loss became nan at lr 0.01: training stopped and the last good checkpoint was kept. Likely: the learning "
        "rate is too high, or inputs are unnormalised. Try a 3-10x lower --lr, --warmup-epochs 1, or `cnnlab lr-find`."
    )
    assert "Likely: the learning rate is too high. Try" in non_finite(float("nan"), 0.01, normalized=True)
    assert non_finite(float("inf"), 3e-4).startswith("loss became inf at lr 0.0003: ")
    assert non_finite(float("nan"), 0.01, kept=False).startswith(
        "loss became nan at lr 0.01: training stopped and no epoch had ended, so no weights were kept and nothing was "
        "tested. Likely: "
    )


def explosion(norm: str, loss: str, k: int, ln_k: str) -> str:
    """The exploding-gradients finding with the figures as users see them."""
    return (
        f"exploding gradients: the gradient norm reached {norm} this epoch and the training loss, {loss}, is no "
        f"better than guessing (ln {k} = {ln_k}). Try a lower --lr, batch norm, or warm-up (--warmup-epochs)."
    )


def test_a_norm_above_1e3_in_an_epoch_no_better_than_guessing_is_exploding() -> None:
    assert exploding(5000.0, 2.5, 10) == explosion("5e+03", "2.5", 10, "2.3026")
    assert exploding(1000.5, 2.5, 10) == explosion("1e+03", "2.5", 10, "2.3026")  # just above the threshold
    assert exploding(1000.0, 2.5, 10) is None  # at it: not above
    assert exploding(5000.0, LN10, 10) is not None  # a loss of exactly ln 10 is no better than guessing
    assert exploding(5000.0, 2.30, 10) is None  # a little better than guessing: batch-norm nets learn like this
    assert exploding(20.0, 2.5, 10, threshold=10.0) == explosion("20", "2.5", 10, "2.3026")
    assert exploding(10.0, 2.5, 10, threshold=10.0) is None


def test_a_non_finite_norm_is_exploding_whatever_the_loss() -> None:
    assert exploding(float("inf"), 0.1, 10) == explosion("inf", "0.1", 10, "2.3026")
    assert exploding(float("nan"), 0.1, 10) == explosion("nan", "0.1", 10, "2.3026")


def test_fewer_than_two_classes_compare_the_loss_with_ln_2() -> None:
    # ln 2 = 0.6931: a loss of 0.7 is no better than guessing between two, 0.69 is
    assert exploding(5000.0, 0.7, 1) == explosion("5e+03", "0.7", 1, "0.6931")
    assert exploding(5000.0, 0.69, 1) is None
    assert exploding(5000.0, 0.7, 2) == explosion("5e+03", "0.7", 2, "0.6931")


class Fixed(nn.Module):
    """Outputs a fixed tensor whatever the input, and records whether it ran in training mode."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out = out
        self.ran_training: bool | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.ran_training = self.training
        return self.out


def relu_after(out: list, layers: int = 1) -> nn.Sequential:
    """A model whose ReLUs (named "1", "2", ...) see `out` (the first) and the ReLU of it (the others)."""
    return nn.Sequential(Fixed(torch.tensor(out, dtype=torch.float32)), *[nn.ReLU() for _ in range(layers)])


X = torch.zeros(2, 1)
TAIL = (
    ". Likely: a too-high learning rate pushed them negative, or a bad init. Try a lower --lr, --init he-normal, "
    "or LeakyReLU in a TOML network."
)


def test_a_dense_relu_is_dead_when_its_units_are_zero_for_every_input() -> None:
    # 2 inputs x 4 units: unit 0 fires for the first input only, units 1-3 never (one of them at exactly 0)
    out = [[1.0, 0.0, -1.0, -3.0], [-1.0, -2.0, -1.0, -3.0]]
    assert dead_relus(relu_after(out), X, threshold=0.75) == "dead ReLUs: 1 (75% of units never fire)" + TAIL
    assert dead_relus(relu_after(out), X, threshold=0.76) is None
    assert dead_relus(relu_after(out), X) is None  # 75% is below the default 90%
    everything_off = [[-1.0, 0.0, -1.0, -3.0], [-1.0, -2.0, -1.0, -3.0]]
    assert dead_relus(relu_after(everything_off), X) == "dead ReLUs: 1 (100% of units never fire)" + TAIL
    assert dead_relus(relu_after([[1.0, 1.0], [1.0, 1.0]]), X) is None  # healthy


def test_exactly_90_percent_dead_units_is_dead_at_the_default_threshold() -> None:
    # 9 of 10 units never fire: 0.9, at the default threshold (in float32 the fraction was 0.89999998 < 0.9 and the
    # layer went unreported); 8 of 10 is below it
    nine = [[1.0] + [-1.0] * 9]
    assert dead_relus(relu_after(nine), X) == "dead ReLUs: 1 (90% of units never fire)" + TAIL
    assert dead_relus(relu_after([[1.0, 1.0] + [-1.0] * 8]), X) is None


def test_a_conv_relu_counts_channels_that_are_zero_everywhere() -> None:
    # 2 inputs x 4 channels x 1 x 2 positions: channel 0 fires at the first position of the first input, channel 1
    # at the second position of the second input, channels 2 and 3 never: 2 of 4 channels are dead (50%), though
    # 6 of the 8 channel-positions never fire
    out = torch.full((2, 4, 1, 2), -1.0)
    out[0, 0, 0, 0] = 1.0
    out[1, 1, 0, 1] = 1.0
    model = nn.Sequential(Fixed(out), nn.ReLU())
    assert dead_relus(model, X, threshold=0.5) == "dead ReLUs: 1 (50% of units never fire)" + TAIL
    assert dead_relus(model, X, threshold=0.6) is None


def test_at_most_five_dead_layers_are_named() -> None:
    off = [[-1.0, -1.0]]
    five = dead_relus(relu_after(off, layers=5), X)
    assert five == "dead ReLUs: " + ", ".join(f"{i} (100% of units never fire)" for i in range(1, 6)) + TAIL
    six = dead_relus(relu_after(off, layers=6), X)
    assert six == "dead ReLUs: " + ", ".join(f"{i} (100% of units never fire)" for i in range(1, 6)) + " ..." + TAIL
    nested = nn.Sequential(OrderedDict(body=relu_after(off)))
    assert dead_relus(nested, X) == "dead ReLUs: body.1 (100% of units never fire)" + TAIL


@pytest.mark.parametrize("training", [True, False])
def test_the_batch_runs_in_eval_mode_and_the_model_is_left_as_it_was(training: bool) -> None:
    model = relu_after([[-1.0, -1.0]], layers=2)
    model.train(training)
    assert dead_relus(model, X) is not None
    assert model[0].ran_training is False
    assert model.training is training and all(m.training is training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())  # no hook left behind
    assert dead_relus(relu_after([[1.0, 1.0]]), X) is None  # and a later healthy model is not blamed


def test_the_advice_follows_the_runs_own_settings() -> None:
    """A VGG16 on Adam with normalised inputs was told to normalise its inputs and use Adam; a sigmoid net to use
    He init, which is for ReLUs."""
    history = [epoch(0.1, LN10)] * 2
    adam = at_chance(history, 10, True, traits=Traits(optimizer="adam", bn_model="vgg16_bn-cifar"))
    assert adam.endswith(". Try: run `cnnlab lr-find`, a batch-norm model (vgg16_bn-cifar), --init he-normal.")
    sigmoid = at_chance(history, 10, True, traits=Traits(relu=False, batch_norm=True, init="xavier-normal"))
    assert "sigmoid or tanh units saturate" in sigmoid and "VGG16 without batch norm" not in sigmoid
    assert sigmoid.endswith(". Try: run `cnnlab lr-find`, Adam (--optimizer adam), ReLU activations.")


def test_a_tiny_gradient_norm_in_an_epoch_no_better_than_guessing_is_vanishing() -> None:
    assert vanishing(1e-5, LN10, 10).startswith("vanishing gradients: the gradient norm was at most 1e-05 this epoch")
    assert vanishing(1e-3, LN10, 10) is None and vanishing(1e-5, 1.0, 10) is None  # at the threshold; learning
    assert vanishing(float("nan"), LN10, 10) is None


def row(e: int, train_acc: float, val_acc: float, val_loss: float) -> dict:
    return {"epoch": e, "train_accuracy": train_acc, "train_loss": 0.1, "val_accuracy": val_acc, "val_loss": val_loss}


def test_training_by_heart_with_validation_at_chance_is_memorising() -> None:
    """Shuffled labels: 100% on the training images, 12% on validation after 40 epochs, with nothing said but the
    stale `stuck at chance` of epoch 2. The finding needs the epoch before (at chance too, with lower training
    accuracy and validation loss): one epoch is no evidence of a growing gap."""
    before = row(39, 0.99, 0.11, 10.5)
    found = memorising([before, row(40, 1.0, 0.12, 11.0)], 10, samples=500)
    assert found.startswith("memorising: training accuracy 100.0% but validation 12.0% (chance 10.0%)")
    assert memorising([before, row(40, 0.89, 0.12, 11.0)], 10, 500) is None
    assert memorising([before, row(40, 1.0, 0.4, 2.0)], 10) is None
    assert memorising([row(40, 1.0, 0.12, 11.0)], 10, 500) is None  # one epoch alone
    assert by_heart(row(40, 1.0, 0.12, 11.0), 10, 500) and not by_heart(row(40, 0.89, 0.12, 11.0), 10, 500)


def test_validation_that_falls_to_chance_after_an_lr_jump_is_not_memorising() -> None:
    """`--schedule step --step-size 3 --gamma 100` on digits (sgd, lr 0.05): epoch 3's last update runs at lr 5,
    so its training accuracy, counted before that update, is 93.6% while validation, scored after it, fell from
    93.8% to 10.4%. That was said to be memorising; so is no gap that grew by validation falling, or without the
    validation loss rising, or with training accuracy falling."""
    jump = [row(2, 0.8903, 0.9375, 0.1953), row(3, 0.9359, 0.1042, 164.95)]
    assert by_heart(jump[-1], 10, 180) and memorising(jump, 10, 180) is None
    at_chance = row(2, 0.89, 0.11, 5.0)
    assert memorising([at_chance, row(3, 0.91, 0.10, 5.5)], 10, 180) is not None
    assert memorising([at_chance, row(3, 0.91, 0.10, 4.9)], 10, 180) is None  # validation loss fell
    assert memorising([row(2, 0.95, 0.11, 5.0), row(3, 0.91, 0.10, 5.5)], 10, 180) is None  # training fell


def test_a_validation_loss_rising_three_epochs_with_a_wide_gap_is_overfitting() -> None:
    rising = [row(1, 0.4, 0.3, 1.93), row(2, 0.5, 0.32, 1.95), row(3, 0.6, 0.31, 2.0), row(4, 0.71, 0.318, 2.15)]
    assert overfitting(rising) == (
        "overfitting: the validation loss has risen for 3 epochs (from 1.9300 at epoch 1 to 2.1500) while training "
        "accuracy, 71.0%, outruns validation's, 31.8%. Try: augmentation (--augment crop,flip), dropout or weight "
        "decay (--weight-decay), fewer epochs or early stopping (--patience 3), more training images."
    )
    assert overfitting(rising[1:]) is None  # two rises only
    assert overfitting([*rising[:3], row(4, 0.45, 0.318, 2.15)]) is None  # a gap of 13 points
    assert overfitting([*rising[:3], row(4, 0.71, 0.318, 1.99)]) is None  # fell again


def test_overfitting_once_found_holds_while_the_validation_loss_stays_above_its_lowest() -> None:
    """Shuffled digits labels (adam, 40 epochs): the validation loss rose from 2.31 to 6.60 with a dip now and
    then (3.52 at epoch 19, 3.46 at 20), which broke the three rises in a row, and "overfitting" was logged gone
    and back twice. It holds while the loss is 5% above its lowest and the gap 20 points or more, and ends when
    the run recovers: its validation loss back near the lowest, or validation accuracy catching up."""
    rising = [row(1, 0.4, 0.3, 1.93), row(2, 0.5, 0.32, 1.95), row(3, 0.6, 0.31, 2.0), row(4, 0.71, 0.318, 2.15)]
    dip = [*rising, row(5, 0.75, 0.3, 2.1)]
    assert overfitting(dip) is None and still_overfitting(dip)
    assert not still_overfitting([*rising, row(5, 0.75, 0.3, 2.02)])  # within 5% of 1.93
    assert not still_overfitting([*rising, row(5, 0.75, 0.6, 2.1)])  # a gap of 15 points
    assert not still_overfitting([row(1, 0.9, 0.1, 2.0)]) and not still_overfitting([])


def test_a_loss_far_above_chance_is_said_to_be_too_high_a_rate_not_too_low() -> None:
    """Adam at lr 1e4 on digits: accuracy at chance with a training loss of 9.5e12. The finding said "the learning
    rate is too low to leave the initial plateau, or so high that the ReLUs died" and advised Adam and He init; a
    loss three times ln K or more is outputs blown up by too high a rate, and says so."""
    history = [epoch(0.0935, 2.97e15, 0.104), epoch(0.0927, 9.48e12, 0.097)]
    found = at_chance(history, 10, normalized=True, samples=144)
    assert found is not None and "loss 9.48e+12, far above a guess's ln 10 = 2.3026" in found
    assert (
        "Likely: the learning rate is too high: the outputs have blown up" in found and "too low to leave" not in found
    )
    assert "Try: a 10-100x lower --lr" in found
    raw = at_chance(history, 10, normalized=False, pixels="raw", samples=144)
    assert "inputs are raw 0-255 pixels" in raw and "normalise inputs (--normalize)" in raw
    plateau = at_chance([epoch(0.1, 2.31, 0.1)] * 2, 10, normalized=True, samples=144)
    assert "too low to leave the initial plateau" in plateau and "blown up" not in plateau
