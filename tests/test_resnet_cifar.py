"""The ResNet paper's CIFAR networks (He et al. 2016, sec. 4.2) and their plain twins, counted by hand."""

from __future__ import annotations

import pytest
import torch

from cnnlab import summarize
from cnnlab.zoo import create_model, model_info
from cnnlab.zoo.resnet_cifar import ShortcutA


def hand_params(n: int) -> int:
    """3x3 convs have no bias; every conv is followed by batch norm (2 parameters per channel)."""
    stem = 3 * 16 * 9 + 2 * 16  # 432 + 32
    stage1 = n * (2 * 16 * 16 * 9 + 2 * 2 * 16)  # n blocks of two 16->16 convs
    stage2 = (16 * 32 * 9 + 32 * 32 * 9 + 2 * 2 * 32) + (n - 1) * (2 * 32 * 32 * 9 + 2 * 2 * 32)
    stage3 = (32 * 64 * 9 + 64 * 64 * 9 + 2 * 2 * 64) + (n - 1) * (2 * 64 * 64 * 9 + 2 * 2 * 64)
    return stem + stage1 + stage2 + stage3 + 64 * 10 + 10


@pytest.mark.parametrize("depth, paper", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)])
def test_depths_and_parameters_match_the_paper(depth: int, paper: float) -> None:
    n = (depth - 2) // 6
    for name in (f"resnet{depth}", f"plain{depth}"):
        model = create_model(name)
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        assert len(convs) + 1 == depth  # 6n + 1 convs and the fc: option-A shortcuts add no layer
        params = sum(p.numel() for p in model.parameters())
        assert params == hand_params(n) and round(params / 1e6, 2 if depth < 110 else 1) == paper  # Table 6
    assert hand_params(3) == 269_722


def test_resnet20_macs_by_hand() -> None:
    # conv1 432*32*32; stage 1: six 16->16 convs (2,304 weights) on 32x32; stage 2: one 16->32 (4,608) and five
    # 32->32 (9,216) on 16x16; stage 3: one 32->64 (18,432) and five 64->64 (36,864) on 8x8; fc 640
    macs = 432 * 1024 + 6 * 2304 * 1024 + (4608 + 5 * 9216) * 256 + (18432 + 5 * 36864) * 64 + 640
    s = summarize("resnet20")
    assert s.macs == macs == 40_551_040 and s.output_shape == (10,)
    assert model_info("plain56").family == "resnet-cifar"


def test_option_a_shortcut_subsamples_and_pads_zero_channels() -> None:
    x = torch.randn(2, 16, 32, 32)
    out = ShortcutA(16, 32, 2)(x)
    assert out.shape == (2, 32, 16, 16)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2]) and not out[:, 16:].any()
    assert not list(ShortcutA(16, 32, 2).parameters())


def test_the_option_a_shortcut_row_has_its_stride_in_the_receptive_field() -> None:
    """Taking every second pixel doubles the jump, as a 1x1 window at stride 2 does; the size stays the input's (15
    after layer1's six 3x3 convs and the stem), and the block sums to 21 with a jump of 2."""
    rows = {r.name: r for r in summarize("resnet20").rows}
    short, block = rows["layer2.0.shortcut"], rows["layer2.0"]
    assert (short.rf.h.size, short.rf.h.jump, short.rf.h.start) == (15, 2, 0.5)
    assert (block.rf.h.size, block.rf.h.jump) == (21, 2) and short.output_shape == (32, 16, 16)
    assert short.formulas["output_shape"] == "floor((H + 2p - k)/s) + 1 = floor((32 + 2*0 - 1)/2) + 1 = 16"
    assert rows["layer3.0.shortcut"].rf.h.jump == 4


def test_plain_twin_has_the_same_weights_but_no_shortcut() -> None:
    """With every block's last batch-norm scale and shift at zero, a residual block passes relu(input) on, and a
    plain block outputs zeros: the shortcut is the only difference."""
    torch.manual_seed(0)
    res, plain = create_model("resnet20").eval(), create_model("plain20").eval()
    assert {k: v.shape for k, v in res.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    plain.load_state_dict(res.state_dict())
    x = torch.randn(2, 16, 32, 32).relu()
    for model in (res, plain):
        torch.nn.init.zeros_(model.layer1[0].bn2.weight)
    with torch.no_grad():
        assert torch.equal(res.layer1[0](x), x)
        assert not plain.layer1[0](x).any()
        image = torch.randn(1, 3, 32, 32)
        assert not torch.allclose(res(image), plain(image))
