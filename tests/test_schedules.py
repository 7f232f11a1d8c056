"""Schedules, optimisers, label smoothing and initialisation against values worked out by hand (#18).

A schedule is stepped once per batch and its lr for batch s (0-based) is the base lr times the factor at
t = (s + 1) / steps_per_epoch epochs, so the first batch of warm-up already learns. Here lr = 0.1, 4 epochs of 2 batches.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnlab.train.init import initialize
from cnnlab.train.optim import loss_function, make_optimizer, make_scheduler
from cnnlab.train.setup import RunConfig


def lrs(**settings) -> list[float]:
    config = RunConfig(lr=0.1, epochs=4, optimizer="sgd", **settings)
    opt = make_optimizer(nn.Linear(2, 2).parameters(), config)
    sched = make_scheduler(opt, config, steps_per_epoch=2)
    out = []
    for _ in range(8):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


HAND = {
    # step: halved after every epoch (t = 1, 2, 3 reached on batches 1, 3, 5)
    "step": (
        {"schedule": "step", "step_size": 1, "gamma": 0.5},
        [0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125, 0.00625],
    ),
    # exponential: 0.1 * 0.5 ** t, t = 0.5, 1, ..., 4
    "exponential": (
        {"schedule": "exponential", "gamma": 0.5},
        [0.1 * 0.5**0.5, 0.05, 0.1 * 0.5**1.5, 0.025, 0.1 * 0.5**2.5, 0.0125, 0.1 * 0.5**3.5, 0.00625],
    ),
    # cosine: 0.05 * (1 + cos(pi t / 4)): cos(pi/8) = 0.92388, cos(pi/4) = 0.70711, cos(3 pi/8) = 0.38268, ...
    "cosine": (
        {"schedule": "cosine"},
        [0.0961940, 0.0853553, 0.0691342, 0.05, 0.0308658, 0.0146447, 0.0038060, 0.0],
    ),
    # one-cycle: from 0.1/25 up to 0.1 at t = 1.2 (30% of 4 epochs), then cosine down to 0.1e-4 at t = 4:
    # t = 0.5: 0.004 + 0.096 * 0.5 / 1.2 = 0.044; t = 1: 0.084; t = 1.5: 1e-5 + (0.1 - 1e-5) * (1 + cos(pi 0.3/2.8)) / 2
    "onecycle": ({"schedule": "onecycle"}, [0.044, 0.084, 0.0971944, 0.0811764, 0.0556027, 0.0283130, 0.0076730, 1e-5]),
    # one epoch of linear warm-up in front of a constant lr: t = 0.5 is half-way
    "warmup": ({"warmup_epochs": 1.0}, [0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]),
}


@pytest.mark.parametrize("name", list(HAND))
def test_schedules_give_the_learning_rates_worked_out_by_hand(name: str) -> None:
    settings, expected = HAND[name]
    assert lrs(**settings) == pytest.approx(expected, abs=1e-7)  # the hand values are rounded to 7 decimals


def test_nesterov_adamw_and_label_smoothing_are_what_they_say() -> None:
    """One SGD step by hand: Nesterov's update is g + momentum * v (v = g on the first step), so lr 0.1 and
    momentum 0.9 move a weight with gradient 1 by 0.19 where plain momentum moves it by 0.1."""
    for nesterov, moved in ((True, 0.19), (False, 0.1)):
        w = nn.Parameter(torch.zeros(1))
        opt = make_optimizer([w], RunConfig(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=nesterov))
        w.sum().backward()
        opt.step()
        assert float(w.detach()) == pytest.approx(-moved)
    adamw = make_optimizer([nn.Parameter(torch.zeros(1))], RunConfig(optimizer="adamw"))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["weight_decay"] == 0.01  # Keras' default
    # Label smoothing 0.1 over 4 classes: target 0.925 on the true class, 0.025 elsewhere; equal logits give ln 4
    # whatever the smoothing, and logits (ln 3, 0, 0, 0) give -(0.925 ln 0.5 + 3 * 0.025 ln (1/6)).
    loss = loss_function(RunConfig(label_smoothing=0.1))
    assert float(loss(torch.zeros(1, 4), torch.tensor([0]))) == pytest.approx(math.log(4))
    by_hand = -(0.925 * math.log(0.5) + 0.075 * math.log(1 / 6))
    assert float(loss(torch.tensor([[math.log(3), 0.0, 0, 0]]), torch.tensor([0]))) == pytest.approx(by_hand)


@pytest.mark.parametrize(
    ("scheme", "std", "bound"),
    [
        ("normal", 0.01, None),
        ("xavier-uniform", math.sqrt(2 / (400 + 300)), math.sqrt(6 / (400 + 300))),
        ("xavier-normal", math.sqrt(2 / (400 + 300)), None),
        ("he-normal", math.sqrt(2 / 400), None),
        ("he-uniform", math.sqrt(2 / 400), math.sqrt(6 / 400)),
        ("zeros", 0.0, None),
    ],
)
def test_each_initialisation_scheme_has_its_statistics(scheme: str, std: float, bound: float | None) -> None:
    """Glorot: var = 2 / (fan_in + fan_out), uniform on +-sqrt(6 / (fan_in + fan_out)); He: var = 2 / fan_in
    (fan_in = 400 for a 300x400 linear layer); biases start at zero. 120,000 draws pin the std to about 0.3%."""
    torch.manual_seed(0)
    layer = nn.Linear(400, 300)
    initialize(layer, scheme, std=0.01)
    w = layer.weight.detach()
    assert float(w.std()) == pytest.approx(std, rel=0.01, abs=1e-9)
    assert abs(float(w.mean())) < 0.05 * std + 1e-9
    if bound is not None:
        assert float(w.abs().max()) <= bound + 1e-9 and float(w.abs().max()) > 0.99 * bound
    assert torch.equal(layer.bias.detach(), torch.zeros(300))
