"""Optimisers, lr factors at chosen steps and the training loss with aux heads (train/optim.py), by hand (#18).

lr_factor(config, steps_per_epoch)(s) is the multiplier of the base lr for batch s (0-based), evaluated at
t = (s + 1) / steps_per_epoch epochs; the time schedule with decay_per="step" counts s itself. Each expected value
below is worked out in its comment; tests/test_schedules.py steps the same schedules through a LambdaLR.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.train.muon import Muon, orthogonalize
from cnnlab.train.optim import AUX_WEIGHT, loss_function, lr_factor, make_optimizer, make_scheduler, training_loss
from cnnlab.train.setup import RunConfig


def factors(steps: list[int], steps_per_epoch: int, **settings: object) -> list[float]:
    """The lr factor at each of `steps` for a run configured with `settings`."""
    f = lr_factor(RunConfig(**settings), steps_per_epoch)
    return [f(s) for s in steps]


def group(config: RunConfig) -> dict:
    """The single parameter group of the optimiser the config builds for one weight."""
    return make_optimizer([nn.Parameter(torch.zeros(1))], config).param_groups[0]


# schedule settings, steps per epoch, steps, factors at those steps
HAND = {
    # step_size 2, gamma 0.5, 1 batch an epoch: t = s + 1 = 1, 2, 3, 4, 5 -> floor(t / 2) = 0, 1, 1, 2, 2
    "step": (
        {"schedule": "step", "step_size": 2, "gamma": 0.5, "epochs": 10},
        1,
        [0, 1, 2, 3, 4],
        [1, 0.5, 0.5, 0.25, 0.25],
    ),
    # 0.5 ** t at t = 0.5 (1 / sqrt 2 = 0.7071068) and t = 2
    "exponential": ({"schedule": "exponential", "gamma": 0.5, "epochs": 10}, 2, [0, 3], [0.7071068, 0.25]),
    # Keras' decay per update: 1 / (1 + 0.5 s) at s = 0, 2, 6 (4 batches an epoch, t would be 0.25, 0.75, 1.75)
    "time-step": ({"schedule": "time", "decay": 0.5, "decay_per": "step"}, 4, [0, 2, 6], [1, 0.5, 0.25]),
    # per epoch: 1 / (1 + 0.5 t) at t = 0.25 (1 / 1.125 = 0.8888889), 1 (2/3), 2
    "time-epoch": ({"schedule": "time", "decay": 0.5, "decay_per": "epoch"}, 4, [0, 3, 7], [0.8888889, 2 / 3, 0.5]),
    # (1 + cos(pi t / 4)) / 2: t = 2 -> 0.5, t = 4 -> 0, and past the end (t = 6, 8) it stays at 0
    "cosine": ({"schedule": "cosine", "epochs": 4}, 1, [1, 3, 5, 7], [0.5, 0, 0, 0]),
    # 10 epochs, peak at t = 3: t = 1 -> 1/25 + (24/25) / 3 = 0.36; t = 3 -> 1; t = 7 -> 1e-4 + 0.9999 * (1 +
    # cos(4 pi / 7)) / 2 = 1e-4 + 0.9999 * (1 - 0.2225209) / 2 = 0.3888007; t = 10 and past it (13) -> 1e-4
    "onecycle": ({"schedule": "onecycle", "epochs": 10}, 1, [0, 2, 6, 9, 12], [0.36, 1, 0.3888007, 1e-4, 1e-4]),
    # 10 epochs, peak at t = 2.3: t = 1 -> 0.2 + 0.8 / 2.3 = 0.5478261; t = 2 -> 0.2 + 1.6 / 2.3 = 0.8956522;
    # t = 5 -> 1 - 0.93 * 2.7 / 7.7 = 0.6738961; t = 10 and past it (12) -> 0.07
    "triangle": (
        {"schedule": "triangle", "epochs": 10},
        1,
        [0, 1, 4, 9, 11],
        [0.5478261, 0.8956522, 0.6738961, 0.07, 0.07],
    ),
    # linear over 2 epochs of 4 batches: 1 - s / 8 at s = 0, 2, 7, and 0 past the end (s = 9)
    "linear": ({"schedule": "linear", "epochs": 2}, 4, [0, 2, 7, 9], [1, 0.75, 0.125, 0]),
    # constant: 1 whatever the step
    "constant": ({"schedule": "constant"}, 3, [0, 5, 100], [1, 1, 1]),
    # two epochs of warm-up on a constant lr, 2 batches an epoch: t / 2 at t = 0.5, 1, 1.5, then 1
    "warmup": ({"warmup_epochs": 2.0}, 2, [0, 1, 2, 3, 9], [0.25, 0.5, 0.75, 1, 1]),
    # half an epoch of warm-up, 4 batches an epoch: t / 0.5 at t = 0.25, then 1
    "short warmup": ({"warmup_epochs": 0.5}, 4, [0, 1, 2], [0.5, 1, 1]),
    # warm-up multiplies the schedule: step halves at t = 2; warm-up 4 epochs -> t = 1: 1/4, t = 2: 0.5 * 2/4
    "warmup x step": (
        {"schedule": "step", "step_size": 2, "gamma": 0.5, "warmup_epochs": 4.0},
        1,
        [0, 1],
        [0.25, 0.25],
    ),
}


@pytest.mark.parametrize("name", list(HAND))
def test_lr_factor_at_chosen_steps_by_hand(name: str) -> None:
    settings, per_epoch, steps, expected = HAND[name]
    assert factors(steps, per_epoch, **settings) == pytest.approx(expected, abs=1e-7)


def test_warm_up_reaches_exactly_the_base_lr_at_its_last_step() -> None:
    # t = 1 = warmup_epochs: the factor is exactly 1 (no 0.999999999 from rounding), and stays there
    assert factors([0, 1], 1, warmup_epochs=1.0) == [1.0, 1.0]
    assert factors([3], 4, warmup_epochs=1.0) == [1.0]


def test_make_scheduler_steps_a_lambda_lr_by_the_factor() -> None:
    # lr 0.2, 2 epochs of warm-up at 2 batches an epoch: 0.05, 0.1, 0.15, then 0.2
    config = RunConfig(optimizer="sgd", lr=0.2, warmup_epochs=2.0)
    opt = make_optimizer([nn.Parameter(torch.zeros(1))], config)
    sched = make_scheduler(opt, config, steps_per_epoch=2)
    assert isinstance(sched, torch.optim.lr_scheduler.LambdaLR)
    seen = []
    for _ in range(5):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.2])


def test_sgd_gets_lr_momentum_nesterov_and_weight_decay() -> None:
    sgd = make_optimizer(
        [nn.Parameter(torch.zeros(1))],
        RunConfig(optimizer="sgd", lr=0.05, momentum=0.8, nesterov=True, weight_decay=5e-4),
    )
    assert type(sgd) is torch.optim.SGD
    g = sgd.param_groups[0]
    assert (g["lr"], g["momentum"], g["nesterov"], g["weight_decay"]) == (0.05, 0.8, True, 5e-4)
    assert group(RunConfig(optimizer="sgd", momentum=0.9, nesterov=False))["nesterov"] is False
    # Nesterov needs momentum: without it the flag is dropped rather than torch refusing the optimiser
    plain = group(RunConfig(optimizer="sgd", momentum=0.0, nesterov=True))
    assert (plain["momentum"], plain["nesterov"]) == (0.0, False)


def test_adam_and_adamw_get_lr_and_weight_decay_and_adamw_defaults_to_0_01() -> None:
    adam = make_optimizer([nn.Parameter(torch.zeros(1))], RunConfig(optimizer="adam", lr=0.003, weight_decay=1e-4))
    assert type(adam) is torch.optim.Adam
    assert (adam.param_groups[0]["lr"], adam.param_groups[0]["weight_decay"]) == (0.003, 1e-4)
    assert group(RunConfig(optimizer="adam"))["weight_decay"] == 0.0  # Adam has no default decay
    adamw = make_optimizer([nn.Parameter(torch.zeros(1))], RunConfig(optimizer="adamw", lr=0.002))
    assert type(adamw) is torch.optim.AdamW
    assert (adamw.param_groups[0]["lr"], adamw.param_groups[0]["weight_decay"]) == (0.002, 0.01)  # Keras' default
    assert group(RunConfig(optimizer="adamw", weight_decay=0.05))["weight_decay"] == 0.05  # a given decay is kept


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_optimisers_use_the_fused_kernels_where_the_parameters_allow(name) -> None:
    """Fused on one CPU device (param-group dicts included), and the same update as PyTorch's per-parameter loop
    up to rounding; parameters the kernels cannot take (here on the meta device) get the loop, not an error."""
    config = RunConfig(optimizer=name, lr=0.01, momentum=0.9, weight_decay=1e-3)
    torch.manual_seed(0)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    start = a.weight.detach().clone()
    fused = make_optimizer([{"params": [a.weight]}, {"params": [a.bias], "weight_decay": 0.0}], config)
    assert fused.defaults["fused"] is True
    kind = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    loop = kind(
        [{"params": [b.weight]}, {"params": [b.bias], "weight_decay": 0.0}],
        **{k: v for k, v in fused.defaults.items() if k not in ("fused", "foreach", "decoupled_weight_decay")},
        foreach=False,
    )
    x = torch.randn(8, 4)
    for opt, net in ((fused, a), (loop, b)):
        for _ in range(3):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    torch.testing.assert_close(a.weight, b.weight)
    torch.testing.assert_close(a.bias, b.bias)
    assert not torch.equal(a.weight, start)  # it moved
    meta = make_optimizer(nn.Linear(2, 2, device="meta").parameters(), config)
    assert not meta.defaults.get("fused")


def test_loss_function_is_cross_entropy_with_the_label_smoothing() -> None:
    loss = loss_function(RunConfig(label_smoothing=0.2))
    assert isinstance(loss, nn.CrossEntropyLoss) and loss.label_smoothing == 0.2
    # smoothing 0.2 over 2 classes: target (0.9, 0.1); logits (ln 3, 0) give p = (0.75, 0.25):
    # -(0.9 ln 0.75 + 0.1 ln 0.25) = 0.3975994
    value = float(loss(torch.tensor([[math.log(3), 0.0]]), torch.tensor([0])))
    assert value == pytest.approx(-(0.9 * math.log(0.75) + 0.1 * math.log(0.25)))
    assert loss_function(RunConfig()).label_smoothing == 0.0


class Aux(nn.Module):
    """A stand-in for a model with aux heads; `aux_weight` None leaves the attribute out (GoogLeNet's 0.3 then)."""

    def __init__(self, aux_weight: float | None = None) -> None:
        super().__init__()
        if aux_weight is not None:
            self.aux_weight = aux_weight


# logits (0, 0) for class 0 cost ln 2; logits (ln 3, 0) cost -ln(3/4) = ln(4/3); logits (0, ln 3) cost ln 4
EVEN, GOOD, BAD = torch.zeros(1, 2), torch.tensor([[math.log(3), 0.0]]), torch.tensor([[0.0, math.log(3)]])
Y = torch.tensor([0])


def test_a_plain_output_is_its_own_loss_and_logits() -> None:
    loss, logits = training_loss(Aux(), nn.CrossEntropyLoss(), GOOD, Y)
    assert logits is GOOD
    assert float(loss) == pytest.approx(math.log(4 / 3))


def test_aux_heads_add_their_loss_times_the_models_aux_weight() -> None:
    assert AUX_WEIGHT == 0.3
    loss, logits = training_loss(Aux(), nn.CrossEntropyLoss(), (EVEN, GOOD), Y)
    assert logits is EVEN  # the reported accuracy is the main head's
    assert float(loss) == pytest.approx(math.log(2) + 0.3 * math.log(4 / 3))  # 0.7794185
    # Inception v3's 0.4, two heads (one missing: aux_logits switched off for it)
    loss, _ = training_loss(Aux(0.4), nn.CrossEntropyLoss(), (EVEN, GOOD, None, BAD), Y)
    assert float(loss) == pytest.approx(math.log(2) + 0.4 * (math.log(4 / 3) + math.log(4)))
    loss, _ = training_loss(Aux(0.4), nn.CrossEntropyLoss(), (EVEN, None), Y)
    assert float(loss) == pytest.approx(math.log(2))


def test_the_loss_of_half_precision_logits_is_computed_in_float32() -> None:
    for out in (GOOD.bfloat16(), (EVEN.bfloat16(), GOOD.bfloat16())):
        loss, _ = training_loss(Aux(), nn.CrossEntropyLoss(), out, Y)
        assert loss.dtype == torch.float32


def test_newton_schulz_brings_every_singular_value_near_one() -> None:
    torch.manual_seed(0)
    for shape in ((64, 216), (256, 2304), (300, 40)):  # wide, as conv filters are, and tall
        g = torch.randn(*shape) * torch.logspace(-1, 0, shape[1])  # singular values spread over 10x
        values = torch.linalg.svdvals(orthogonalize(g))
        assert orthogonalize(g).shape == shape and values.min() > 0.5 and values.max() < 1.25, values


def test_newton_schulz_is_indifferent_to_the_scale_and_iterates_on_the_wide_side() -> None:
    """A tiny update (a late, small gradient) is orthogonalised as well as a large one, since the matrix is
    normalised first; a tall matrix is iterated as its transpose, the smaller Gram matrix, so it gives exactly the
    transpose of its transpose's result, one by one or stacked."""
    torch.manual_seed(0)
    g = torch.randn(16, 72)
    values = torch.linalg.svdvals(orthogonalize(g * 1e-4))
    assert values.min() > 0.5 and values.max() < 1.25, values
    tall = torch.randn(3, 40, 12)
    assert torch.equal(orthogonalize(tall[0]), orthogonalize(tall[0].mT).mT)
    assert torch.equal(orthogonalize(tall), orthogonalize(tall.mT).mT)


def test_muon_defaults_to_nesterov_without_weight_decay() -> None:
    """Muon(params, lr, momentum) alone: Nesterov momentum (airbench94_muon's) and no weight decay."""
    muon = Muon(nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    assert muon.defaults == {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.0}


def test_muon_orthogonalises_filter_updates_and_steps_the_rest_as_sgd() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=True), nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    twin = copy.deepcopy(model)
    config = RunConfig(optimizer="muon", lr=0.05, momentum=0.85, nesterov=True, muon_momentum=0.6, weight_decay=1e-3)
    muon = make_optimizer(model.parameters(), config)
    sgd = torch.optim.SGD(list(twin.parameters())[1:], lr=0.05, momentum=0.85, nesterov=True, weight_decay=1e-3)
    assert [(g["muon"], g["momentum"], len(g["params"])) for g in muon.param_groups if g.get("muon")] == [
        (True, 0.6, 1)
    ]
    x, y = torch.randn(16, 3, 6, 6), torch.randint(0, 5, (16,))
    buf = torch.zeros_like(model[0].weight)
    for _ in range(3):
        with torch.no_grad():
            twin[0].weight.copy_(model[0].weight)  # the same filter, so the same gradients everywhere
        for net, opt in ((model, muon), (twin, sgd)):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
        before = model[0].weight.detach().clone()
        grad = model[0].weight.grad.clone()
        muon.step()
        sgd.step()
        # the filter: rescaled to norm sqrt(8), then moved by lr times a matrix of singular values near 1
        step = (before * 8**0.5 / before.norm() - model[0].weight).reshape(8, -1) / 0.05
        assert torch.linalg.svdvals(step).min() > 0.4 and torch.linalg.svdvals(step).max() < 1.25
        # exactly the per-tensor arithmetic, although the step goes over the group in foreach calls: Nesterov
        # momentum 0.6, no weight decay on a filter, the orthogonalised update after the rescaling
        buf.mul_(0.6).add_(grad)
        update = orthogonalize(grad.add(buf, alpha=0.6).reshape(8, -1)).view_as(before)
        assert torch.equal(model[0].weight, (before * (8**0.5 / before.norm())).add(update, alpha=-0.05))
        # everything else: exactly torch's SGD
        for a, b in zip(list(model.parameters())[1:], list(twin.parameters())[1:], strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


def test_filters_of_one_shape_are_orthogonalised_together_as_each_alone() -> None:
    """The batched Newton-Schulz (one stack per filter shape) is each matrix's own iteration: its own norm, its own
    products (to rounding: batched and single products may take different kernels); a stack normalised as a whole
    would shrink the updates of all but its largest member."""
    torch.manual_seed(0)
    for shape in ((8, 36), (12, 5)):  # wide, and tall (iterated transposed)
        stack = torch.randn(3, *shape) * torch.tensor([1.0, 10.0, 0.1])[:, None, None]
        together = orthogonalize(stack)
        for i in range(3):
            torch.testing.assert_close(together[i], orthogonalize(stack[i]), rtol=1e-5, atol=1e-6)
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 8, 3))
    muon = make_optimizer(model.parameters(), RunConfig(optimizer="muon", lr=0.05, muon_momentum=0.6, nesterov=True))
    nn.functional.mse_loss(model(torch.randn(2, 4, 5, 5)), torch.zeros(2, 8, 3, 3)).backward()
    filters = [m.weight for m in model]
    expected = []
    for f in filters:  # the first step's buffer is the gradient; Nesterov adds it again at momentum 0.6
        update = orthogonalize((f.grad * 1.6).reshape(f.shape[0], -1)).view_as(f)
        expected.append((f.detach() * (f.shape[0] ** 0.5 / f.detach().norm())).add(update, alpha=-0.05))
    muon.step()
    for f, e in zip(filters, expected, strict=True):
        torch.testing.assert_close(f.detach(), e, rtol=1e-5, atol=1e-6)


def test_muon_momentum_outside_0_1_is_refused() -> None:
    with pytest.raises(CnnlabError, match="^muon_momentum must be at least 0 and below 1"):
        RunConfig(optimizer="muon", muon_momentum=1.0).validate()


def test_adamw_takes_an_explicit_zero_weight_decay_and_the_run_records_what_it_used():
    """`--optimizer adamw --weight-decay 0` trained with 0.01 (an explicit 0 read as unset) while config.toml said
    0.0. Unset, each optimiser's default (AdamW's 0.01) is used and recorded; given, the value is used."""
    for optimizer, given, used in (
        ("adamw", None, 0.01),
        ("adamw", 0.0, 0.0),
        ("adamw", 0.05, 0.05),
        ("sgd", None, 0.0),
    ):
        config = RunConfig(optimizer=optimizer, weight_decay=given)
        assert make_optimizer([nn.Parameter(torch.zeros(1))], config).param_groups[0]["weight_decay"] == used
        assert config.validate().weight_decay == used and f"weight_decay = {used}" in config.to_toml()


def test_muon_passes_over_a_parameter_that_got_no_gradient() -> None:
    """A layer unused in a step (an aux head in eval, a branch skipped) has no .grad: it stays as it was."""
    w, u = torch.nn.Parameter(torch.randn(4, 3, 3, 3)), torch.nn.Parameter(torch.randn(5))
    opt = Muon([{"params": [w], "muon": True}, {"params": [u]}], lr=0.1, momentum=0.9)
    w.grad = torch.randn_like(w)
    before, w_before = u.detach().clone(), w.detach().clone()
    opt.step()
    assert torch.equal(u.detach(), before) and not torch.equal(w.detach(), w_before)
