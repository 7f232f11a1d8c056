"""`meta_device()`: the zoo built for its shapes with the initialisers skipped is the zoo `torch.device("meta")` builds,
and LeNet-5's in-place arithmetic (which keeps TorchDynamo out of a meta build) draws the numbers it always drew."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from cnnlab.resources import shipped
from cnnlab.zoo import create_model, list_models
from cnnlab.zoo.lenet import C3_TABLE, EuclideanRBF, PartialConv2d
from cnnlab.zoo.meta import meta_device

NAMES = list_models() + [f"net:{name}" for name in shipped("net")]


def layout(model: nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype, bool, str]]:
    """Every parameter and buffer: name, shape, dtype, whether it trains, device."""
    tensors = [(n, t, t.requires_grad) for n, t in model.named_parameters()]
    tensors += [(n, t, False) for n, t in model.named_buffers()]
    return [(n, tuple(t.shape), t.dtype, grad, t.device.type) for n, t, grad in tensors]


def test_every_model_has_the_layout_a_plain_meta_build_gives() -> None:
    for name in NAMES:
        with torch.device("meta"):
            plain = create_model(name)
        with meta_device():
            fast = create_model(name)
        assert layout(fast) == layout(plain), name
        assert fast.input_size == plain.input_size, name
        assert {t.device.type for t in fast.state_dict().values()} == {"meta"}, name


def test_fills_are_skipped_only_on_the_meta_device() -> None:
    cpu = torch.zeros(3)
    with meta_device():
        meta = nn.init.kaiming_normal_(torch.empty(4, 3))
        assert torch.get_default_device().type == "meta"
        nn.init.ones_(cpu)  # a real tensor is filled as always
        cpu.add_(1)
    assert meta.is_meta and meta.shape == (4, 3)
    assert torch.equal(cpu, torch.full((3,), 2.0))
    assert torch.get_default_device().type == "cpu"


def test_lenet5_draws_the_numbers_of_its_out_of_place_formula() -> None:
    torch.manual_seed(7)
    c3 = PartialConv2d(6, C3_TABLE, 5)
    torch.manual_seed(7)
    fan_in = torch.tensor([len(inputs) * 25 for inputs in C3_TABLE for _ in inputs], dtype=torch.float32)
    expected = (torch.rand(len(fan_in), 5, 5) * 2 - 1) * (1.0 / fan_in).sqrt().view(-1, 1, 1)
    assert torch.equal(c3.weight.data, expected)
    g = torch.Generator().manual_seed(1998)
    assert torch.equal(EuclideanRBF(84, 10).centres, torch.randint(0, 2, (10, 84), generator=g).float() * 2 - 1)


def test_building_the_zoo_on_the_meta_device_leaves_torchdynamo_unimported() -> None:
    """Its import is 2 s of `cnnlab models`; the TOML networks' shape propagation still imports it, so zoo only."""
    code = (
        "import sys, torch\n"
        "from cnnlab.zoo import create_model, list_models\n"
        "from cnnlab.zoo.meta import meta_device\n"
        "with meta_device():\n"
        "    for name in list_models(): create_model(name)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("name", ["lenet5", "resnet18"])
def test_a_real_build_after_a_meta_one_is_initialised(name: str) -> None:
    with meta_device():
        create_model(name)
    torch.manual_seed(0)
    model = create_model(name)
    weights = [p for p in model.parameters() if p.dim() > 1]
    assert all(p.device.type == "cpu" and p.abs().sum() > 0 for p in weights)
