"""The airbench zoo family and patch whitening of a first conv, the latter on real CIFAR-10 and MNIST images."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from cnnlab import summarize
from cnnlab.data import load_dataset
from cnnlab.data.augment import to_inputs
from cnnlab.errors import CnnlabError, cli_voice
from cnnlab.train.whiten import whiten_first_conv, whitening_filters
from cnnlab.zoo import create_model, list_models, model_info
from cnnlab.zoo.airbench import Airbench
from tests.conftest import shared_dataset


def conv(c_in: int, c_out: int, k: int = 3) -> int:
    """Weights of a bias-free k x k conv."""
    return c_in * c_out * k * k


def block(c_in: int, c_out: int) -> int:
    """An airbench block: two bias-free 3x3 convs and two batch norms (scale + shift each)."""
    return conv(c_in, c_out) + 2 * c_out + conv(c_out, c_out) + 2 * c_out


def airbench_params(c: int, widths: tuple[int, int, int], classes: int = 10) -> int:
    """Whitening conv 2x2 with 2*c*4 filters and a bias, three blocks, bias-free linear head."""
    w0 = 2 * c * 2 * 2
    return (
        conv(c, w0, 2)
        + w0
        + block(w0, widths[0])
        + block(widths[0], widths[1])
        + block(*widths[1:])
        + widths[2] * classes
    )


# ------------------------------------------------------------------------------------------------- the models


@pytest.mark.parametrize(
    ("name", "expected", "frozen"),
    [
        # 312 + 50,944 + 738,304 + 1,180,672 + 2,560; frozen: the batch-norm scales, 2 * (64 + 256 + 256)
        ("airbench-cifar", 288 + 24 + 50_944 + 738_304 + 1_180_672 + 2_560, 2 * (64 + 256 + 256)),
        # 312 + 50,944 + 221,696 + 295,424 + 1,280 (airbench93's widths)
        ("airbench-cifar-m", 312 + 50_944 + 221_696 + 295_424 + 1_280, 2 * (64 + 128 + 128)),
        # 312 + 16,256 + 55,552 + 221,696 + 1,280
        ("airbench-cifar-s", 312 + 16_256 + 55_552 + 221_696 + 1_280, 2 * (32 + 64 + 128)),
        # whiten 1*8*2*2 + 8 = 40; blocks 7,008 + 31,296 + 124,800; head 96*10
        ("mnist-fast", 40 + 7_008 + 31_296 + 124_800 + 960, 2 * (24 + 48 + 96)),
    ],
)
def test_registered_models_build_with_hand_counted_parameters(name: str, expected: int, frozen: int) -> None:
    info = model_info(name)
    assert name in list_models("*") and info.family == "airbench"
    model = create_model(name)
    widths = {
        "airbench-cifar": (64, 256, 256),
        "airbench-cifar-m": (64, 128, 128),
        "airbench-cifar-s": (32, 64, 128),
        "mnist-fast": (24, 48, 96),
    }[name]
    assert expected == airbench_params(info.input_size[0], widths)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert sum(p.numel() for p in model.parameters() if not p.requires_grad) == frozen
    assert isinstance(model.whiten, nn.Conv2d) and model.whiten.kernel_size == (2, 2) and model.whiten.padding == (0, 0)
    assert model.whiten.out_channels == 2 * info.input_size[0] * 4
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(3, *info.input_size))
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    assert model.input_size == info.input_size


def test_state_dict_keys_and_options() -> None:
    model = create_model("airbench-cifar-s", num_classes=7, widths=(8, 16, 32), scale=0.5)
    keys = list(model.state_dict())
    assert keys[:2] == ["whiten.weight", "whiten.bias"] and keys[-1] == "fc.weight"
    assert "block1.conv1.weight" in keys and "block3.norm2.running_var" in keys and "fc.bias" not in keys
    assert sum(p.numel() for p in model.parameters()) == airbench_params(3, (8, 16, 32), classes=7)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    assert model.scale.scale == 0.5
    # the first filters of every 3x3 conv start as the identity (airbench's implicit residual)
    w = model.block2.conv1.weight
    assert w[0, 0, 1, 1] == 1 and w[0, 0].sum() == 1 and w[0, 1:].abs().sum() == 0
    for bad in ((8, 16), (8, 0, 16), (8.0, 16, 32)):
        # 8.0 is refused by the option check (each an integer), the others by the builder
        with pytest.raises(
            CnnlabError, match="widths must be (three positive integers|a comma-separated list, each an)"
        ):
            create_model("airbench-cifar", widths=bad)


def test_relu_activation_keeps_the_weights_and_changes_only_the_nonlinearity(capsys) -> None:
    from cnnlab.cli import main

    torch.manual_seed(0)
    gelu = create_model("airbench-cifar-s", widths=(8, 16, 32))
    torch.manual_seed(0)
    relu = create_model("airbench-cifar-s", widths=(8, 16, 32), activation="relu")
    kinds = lambda m: [type(a).__name__ for n, a in m.named_modules() if n.endswith("act")]
    assert kinds(gelu) == ["GELU"] * 4 and kinds(relu) == ["ReLU"] * 4  # after the whitening and in each block
    a, b = gelu.state_dict(), relu.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(gelu.eval()(x), relu.eval()(x))
    with pytest.raises(CnnlabError, match="option activation must be one of gelu, relu, got tanh"):
        create_model("mnist-fast", activation="tanh")
    with pytest.raises(CnnlabError, match="activation must be one of gelu, relu, got 'tanh'"):
        Airbench(activation="tanh")  # the class itself, used without the registry
    code = main(["summary", "airbench-cifar", "--option", "activation=swish"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "option activation must be one of gelu, relu, got swish" in err


def test_whiten_stride_two_tiles_the_image_with_the_same_weights(capsys) -> None:
    from cnnlab.cli import main

    torch.manual_seed(0)
    one = create_model("airbench-cifar-s", widths=(8, 16, 32))
    torch.manual_seed(0)
    two = create_model("airbench-cifar-s", widths=(8, 16, 32), whiten_stride=2)
    a, b = one.state_dict(), two.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():  # the same 2x2 patches, every other one: they tile the image without overlap
        assert torch.equal(two.whiten(x), one.whiten(x)[:, :, ::2, ::2])
    assert two(x).shape == (2, 10)
    # 32 -> 16 after the whitening conv, then 8, 4 and 2 after the blocks' pools
    s = summarize("airbench-cifar-s", (3, 32, 32), options={"widths": [8, 16, 32], "whiten_stride": 2})
    macs = (
        24 * 3 * 4 * 16 * 16
        + 8 * 24 * 9 * 16 * 16
        + 8 * 8 * 9 * 8 * 8
        + 16 * 8 * 9 * 8 * 8
        + 16 * 16 * 9 * 4 * 4
        + 32 * 16 * 9 * 4 * 4
        + 32 * 32 * 9 * 2 * 2
        + 32 * 10
    )
    assert s.macs == macs and s.params == sum(p.numel() for p in one.parameters())
    with pytest.raises(CnnlabError, match="option whiten_stride must be one of 1, 2, got 3"):
        create_model("airbench-cifar", whiten_stride=3)
    with pytest.raises(CnnlabError, match=r"whiten_stride must be 1 or 2 \(the whitening conv is 2x2\), got 0"):
        Airbench(whiten_stride=0)  # the class itself, used without the registry
    code = main(["summary", "airbench-cifar-s", "--option", "whiten_stride=2", "--input", "3,12,12"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "block3.pool" in err and "use a larger input" in err


def test_the_class_alone_builds_airbench94_and_refuses_bad_settings_in_one_line() -> None:
    """`Airbench()` as a notebook calls it, without the registry: airbench94's net for RGB images and 10 classes."""
    net = Airbench()
    assert net.whiten.in_channels == 3 and net.whiten.stride == (1, 1) and net.fc.out_features == 10
    assert [b.conv1.out_channels for b in (net.block1, net.block2, net.block3)] == [64, 256, 256]
    assert type(net.act) is nn.GELU and net.scale.scale == 1 / 9
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 6 and all(m.eps == 1e-12 and m.momentum == 0.4 for m in norms)
    from cnnlab.zoo.airbench import AirbenchBlock

    block = AirbenchBlock(8, 16)  # a block alone: airbench's GELU and eps too
    assert type(block.act) is nn.GELU and block.norm1.eps == block.norm2.eps == 1e-12
    assert Airbench(widths=(1, 1, 1))(torch.randn(2, 3, 16, 16)).shape == (2, 10)  # a width of 1 is a width
    assert Airbench(scale=2).scale.scale == 2.0
    for bad in (0, -1.0, True, "2", None):
        with pytest.raises(CnnlabError, match=rf"^scale must be a positive number, got {bad!r}$"):
            Airbench(scale=bad)
    for bad in (64, "64,256,256", None):
        with pytest.raises(CnnlabError, match=r"^widths must be three positive integers \(one per block\), got "):
            Airbench(widths=bad)
    for bad in (0, 1, -1e-5, True, "1e-5"):
        with pytest.raises(CnnlabError, match=rf"^bn_eps must be a number between 0 and 1, got {bad!r}$"):
            Airbench(eps=bad)


def test_batch_norm_eps_is_an_option_with_the_digits_default_for_mnist_fast() -> None:
    def eps(model: nn.Module) -> set[float]:
        return {m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)}

    assert eps(create_model("airbench-cifar-s")) == {1e-12} and eps(create_model("mnist-fast")) == {1e-5}
    assert eps(create_model("airbench-cifar-m", bn_eps=1e-3)) == {1e-3}


def test_summary_of_airbench_cifar_matches_hand_counts() -> None:
    s = summarize("airbench-cifar", (3, 32, 32))
    assert s.params == 1_972_792 and s.trainable_params == 1_972_792 - 1_152
    assert s.output_shape[-1] == 10
    # conv MACs = out channels * in channels * k*k * output pixels; pools come before the 2nd conv of a block
    macs = (
        24 * 3 * 4 * 31 * 31  # whiten: 32 -> 31
        + 64 * 24 * 9 * 31 * 31  # block1.conv1 at 31x31, then pool to 15
        + 64 * 64 * 9 * 15 * 15
        + 256 * 64 * 9 * 15 * 15  # block2.conv1 at 15x15, pool to 7
        + 256 * 256 * 9 * 7 * 7
        + 256 * 256 * 9 * 7 * 7  # block3.conv1 at 7x7, pool to 3
        + 256 * 256 * 9 * 3 * 3
        + 256 * 10  # fc
    )
    assert s.macs == macs == 118_147_360
    mnist = summarize("mnist-fast", (1, 28, 28))  # 28 -> 27 -> 13 -> 6 -> 3 -> global max
    assert mnist.output_shape[-1] == 10


# ------------------------------------------------------------------------------------------------- whitening


@pytest.fixture(scope="module")
def cifar_inputs() -> torch.Tensor:
    d = load_dataset(f"folder:{shared_dataset('cifar10-jpg.tar.gz')}", limit=500)
    return to_inputs(d.train_x, 1 / 255, d.mean, d.std)


def output_covariance(layer: nn.Conv2d, x: torch.Tensor, channels: int) -> torch.Tensor:
    """Covariance of the first `channels` outputs over every position: the conv's outputs on all its patches."""
    with torch.no_grad():
        y = layer(x)[:, :channels]
    return torch.cov(y.permute(1, 0, 2, 3).reshape(channels, -1).double())


def test_whitened_outputs_have_identity_covariance_on_cifar(cifar_inputs: torch.Tensor) -> None:
    model = create_model("airbench-cifar")
    layer = whiten_first_conv(model, cifar_inputs, eps=1e-9)
    assert layer is model.whiten
    cov = output_covariance(layer, cifar_inputs, 12)
    assert torch.allclose(cov, torch.eye(12, dtype=cov.dtype), atol=1e-3)
    w = layer.weight
    assert torch.equal(w[12:], -w[:12]) and torch.count_nonzero(layer.bias) == 0

    # with the default eps, direction i has variance lambda_i / (lambda_i + eps), still uncorrelated
    whiten_first_conv(model, cifar_inputs)
    patches = cifar_inputs.unfold(2, 2, 1).unfold(3, 2, 1)  # N, C, 31, 31, 2, 2
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 12).double()
    eigenvalues = torch.linalg.eigvalsh(torch.cov(patches.T)).flip(0)
    cov = output_covariance(layer, cifar_inputs, 12)
    assert torch.allclose(cov.diag(), eigenvalues / (eigenvalues + 5e-4), atol=1e-3)
    assert (cov - torch.diag(cov.diag())).abs().max() < 1e-3
    assert cov.diag()[:6].min() > 0.95  # the strong directions are at unit variance


def test_a_stride_2_whitening_conv_whitens_the_patches_it_takes(cifar_inputs: torch.Tensor) -> None:
    """With whiten_stride=2 the covariance comes from the tiling patches alone, so the conv's own outputs are
    decorrelated with unit variance; the sliding conv's filters (from every patch) used at stride 2 would not be."""
    x = cifar_inputs[:200]
    model = create_model("airbench-cifar-s", whiten_stride=2)
    cov = output_covariance(whiten_first_conv(model, x, eps=1e-9), x, 12)
    assert torch.allclose(cov, torch.eye(12, dtype=cov.dtype), atol=1e-3)
    sliding = whiten_first_conv(create_model("airbench-cifar-s"), x, eps=1e-9).weight
    assert not torch.allclose(model.whiten.weight, sliding, atol=1e-3)  # other statistics, other filters
    tiled = nn.Conv2d(3, 24, 2, stride=2, bias=False)
    tiled.weight.data.copy_(sliding)
    off = output_covariance(tiled, x, 12)
    assert not torch.allclose(off, torch.eye(12, dtype=off.dtype), atol=1e-3)


def test_whitening_is_deterministic_and_freezes_or_trains(cifar_inputs: torch.Tensor) -> None:
    frozen, trained = create_model("airbench-cifar-s"), create_model("airbench-cifar-s")
    a = whiten_first_conv(frozen, cifar_inputs)
    b = whiten_first_conv(trained, cifar_inputs, trainable=True)
    assert torch.equal(a.weight, b.weight)
    assert torch.equal(whitening_filters(cifar_inputs, a), a.weight)  # the filters alone, at the same default eps
    assert not a.weight.requires_grad and not a.bias.requires_grad
    assert b.weight.requires_grad and b.bias.requires_grad
    loss = frozen(cifar_inputs[:16]).logsumexp(1).sum()
    loss.backward()
    assert a.weight.grad is None and a.bias.grad is None and frozen.fc.weight.grad is not None


def test_fewer_filters_than_patch_dims_get_the_leading_directions(cifar_inputs: torch.Tensor) -> None:
    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 6, 2), act=nn.ReLU(), flat=nn.Flatten()))
    layer = whiten_first_conv(model, cifar_inputs, eps=1e-9)
    cov = output_covariance(layer, cifar_inputs, 6)
    assert torch.allclose(cov, torch.eye(6, dtype=cov.dtype), atol=1e-3)
    with pytest.raises(CnnlabError, match="at most 12 filters or exactly 24"):
        whiten_first_conv(nn.Sequential(nn.Conv2d(3, 16, 2)), cifar_inputs)


def test_mnist_fast_whitens_on_digits() -> None:
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "cnnlab" / "cache"  # the suite's cache (conftest), not shared/
    d = load_dataset("mnist", data_dir=shared_dataset("mnist").parent, cache_dir=cache, limit=300)
    x = to_inputs(d.train_x, 1 / 255, d.mean, d.std)
    model = create_model("mnist-fast")
    layer = whiten_first_conv(model, x, eps=1e-9)
    cov = output_covariance(layer, x, 4)
    assert torch.allclose(cov, torch.eye(4, dtype=cov.dtype), atol=1e-3)
    assert model(x[:5]).shape == (5, 10)


def test_grey_images_copied_to_three_channels_get_no_filter_scaled_by_one_over_sqrt_eps() -> None:
    """Copies of one channel vary in 4 of the 12 directions of a 2x2x3 patch; the other 8 have no variance, and a
    filter 1/sqrt(eps) = 45 times a direction in which R, G and B cancel gives, in bf16, rounding noise 45 times
    the pixels. Each takes the filter of a direction with variance, the four in turn, so the whitening conv's
    outputs in bf16 stay the fp32 ones to bf16's precision."""
    grey = torch.rand(200, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    x = (grey.expand(-1, 3, -1, -1) - 0.5) / 0.3
    conv = nn.Conv2d(3, 24, 2)
    w = whitening_filters(x, conv).reshape(24, 12)
    assert torch.equal(w[4:12], w[[0, 1, 2, 3, 0, 1, 2, 3]]) and torch.equal(w[12:], -w[:12])
    assert w.norm(dim=1).max() < 5  # 45 * sqrt(3) before
    with torch.no_grad():
        conv.weight.copy_(w.reshape(conv.weight.shape))
        conv.bias.zero_()
        exact = conv(x)
        with torch.autocast("cpu", torch.bfloat16):
            rounded = conv(x).float()
    assert (rounded - exact).abs().max() < 0.02 * exact.abs().max()
    # the same at any pixel scale: the threshold is relative to the largest direction's variance
    scaled = whitening_filters(x * 1000, conv).reshape(24, 12)
    assert torch.equal(scaled[4:12], scaled[[0, 1, 2, 3, 0, 1, 2, 3]])
    # flat grey images (one level each) vary in one direction only, the mean: every filter is that one's
    flat = grey[:, :, :1, :1].expand(-1, 3, 12, 12)
    w = whitening_filters(flat, nn.Conv2d(3, 24, 2)).reshape(24, 12)
    assert torch.equal(w[1:12], w[:1].expand(11, -1)) and torch.allclose(w[0], w[0, 0].expand(12))
    # images of one colour have no direction with variance: all take the first one's (finite) filter
    w = whitening_filters(torch.ones(20, 3, 4, 4), nn.Conv2d(3, 24, 2)).reshape(24, 12)
    assert torch.isfinite(w).all() and torch.equal(w[1:12], w[:1].expand(11, -1))
    # colour images vary in every direction: each keeps its own filter, as before
    rgb = torch.randn(200, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    w = whitening_filters(rgb, nn.Conv2d(3, 24, 2)).reshape(24, 12)
    assert torch.linalg.matrix_rank(w[:12].double()) == 12


def test_refusals_are_one_line_errors() -> None:
    x = torch.randn(4, 1, 28, 28)
    with pytest.raises(CnnlabError, match=r"^whiten needs a model whose first layer is a conv; mlp has no Conv2d"):
        whiten_first_conv(create_model("mlp"), x)
    linear_first = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 3 * 8 * 8), nn.Unflatten(1, (3, 8, 8)), nn.Conv2d(3, 8, 3)
    )
    with pytest.raises(
        CnnlabError, match=r"^whiten needs a model whose first layer is a conv; Sequential starts with Linear$"
    ):
        whiten_first_conv(linear_first, x)
    model = create_model("mnist-fast")
    with pytest.raises(CnnlabError, match=r"at least 4 patches .* 1 image\(s\) of 2x2 give 1: pass more"):
        whiten_first_conv(model, torch.randn(1, 1, 2, 2))
    with pytest.raises(CnnlabError, match="model inputs"):
        whiten_first_conv(model, torch.zeros(4, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(CnnlabError, match="3 channel"):
        whiten_first_conv(model, torch.randn(4, 3, 28, 28))


def test_a_conv_of_any_kernel_dilation_and_stride_whitens_the_patches_it_takes() -> None:
    """A 2x3 kernel, dilated (1, 2) and strided (2, 1): the patches are the conv's own, each axis with its own
    size, so its outputs come out decorrelated with unit variance (every square kernel would hide a swapped axis)."""
    torch.manual_seed(0)
    x = torch.randn(64, 2, 13, 11)
    x[:, 1] += 0.5 * x[:, 0]  # correlated channels, and neighbouring pixels correlated below
    x = x + 0.8 * x.roll(1, dims=2) + 0.3 * x.roll(1, dims=3)
    conv = nn.Conv2d(2, 12, (2, 3), stride=(2, 1), dilation=(1, 2), bias=False)
    whiten_first_conv(nn.Sequential(conv), x, eps=1e-9)
    cov = output_covariance(conv, x, 12)
    assert torch.allclose(cov, torch.eye(12, dtype=cov.dtype), atol=1e-3)
    assert conv.weight.shape == (12, 2, 2, 3) and whitening_filters(x, conv).dtype == conv.weight.dtype


def test_whitening_statistics_are_exact_far_from_zero() -> None:
    """Raw pixels near 200 with a spread of 1: E[xx^T] - mean mean^T cancels about 40,000 against 1, which float32
    sums would lose; they are accumulated in float64."""
    torch.manual_seed(0)
    x = 200 + torch.randn(400, 1, 10, 10)
    conv = nn.Conv2d(1, 4, 2, bias=False)
    whiten_first_conv(nn.Sequential(conv), x, eps=1e-9)
    cov = output_covariance(conv, x, 4)
    assert torch.allclose(cov, torch.eye(4, dtype=cov.dtype), atol=1e-3)


def test_as_many_filters_as_patch_values_and_as_few_patches_as_values() -> None:
    """A conv with exactly D = C*k*k filters gets every direction; D patches are the fewest that estimate a D x D
    covariance, one fewer is refused, and images smaller than the kernel give none."""
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 4, 2, bias=False)
    whiten_first_conv(nn.Sequential(conv), torch.randn(4, 1, 2, 2))  # 4 images of one 2x2 patch each
    assert conv.weight.shape == (4, 1, 2, 2) and torch.isfinite(conv.weight).all()
    with pytest.raises(CnnlabError, match=r"^whitening needs at least 4 patches of 2x2 .* 3 image\(s\) of 2x2 give 3"):
        whiten_first_conv(nn.Sequential(conv), torch.randn(3, 1, 2, 2))
    with pytest.raises(CnnlabError, match=r"^whitening needs at least 4 patches of 2x2 .* 50 image\(s\) of 1x1 give 0"):
        whiten_first_conv(nn.Sequential(conv), torch.randn(50, 1, 1, 1))
    wide = nn.Conv2d(1, 8, (1, 3), bias=False)
    with pytest.raises(CnnlabError, match=r"^whitening needs at least 3 patches of 1x3 .* 1 image\(s\) of 1x3 give 1"):
        whiten_first_conv(nn.Sequential(wide), torch.randn(1, 1, 1, 3))
    with pytest.raises(
        CnnlabError,
        match=r"^whitening fills a conv with at most 3 filters or exactly 6 \(\+/- pairs\) for 1x1x3 patches; this one "
        r"has 8: use whiten='none', or a model built for it \(the airbench nets\)$",
    ):
        whiten_first_conv(nn.Sequential(wide), torch.randn(4, 1, 5, 5))
    with cli_voice(), pytest.raises(CnnlabError, match=r"8: use --whiten none, or a model built for it"):
        whiten_first_conv(nn.Sequential(wide), torch.randn(4, 1, 5, 5))


@pytest.mark.parametrize(
    "images, eps, text",
    [
        ([[0.0]], 5e-4, "whitening needs a batch of images (N, C, H, W), got list"),
        (torch.zeros(4, 28, 28), 5e-4, "whitening needs a batch of images (N, C, H, W), got (4, 28, 28)"),
        (torch.full((4, 1, 28, 28), float("nan")), 5e-4, "whitening images contain NaN or infinite values"),
        (
            torch.zeros(4, 1, 28, 28, dtype=torch.uint8),
            5e-4,
            "whitening needs model inputs (float, normalised), got torch.uint8 pixels: convert them the way "
            "training batches are converted (cnnlab.data.augment.to_inputs)",
        ),
        (torch.randn(4, 1, 28, 28), 0, "whitening eps must be a positive number, got 0"),
        (torch.randn(4, 1, 28, 28), -1e-3, "whitening eps must be a positive number, got -0.001"),
        (torch.randn(4, 1, 28, 28), True, "whitening eps must be a positive number, got True"),
        (torch.randn(4, 1, 28, 28), "1e-3", "whitening eps must be a positive number, got '1e-3'"),
    ],
)
def test_bad_whitening_inputs_are_named_in_one_line(images, eps, text) -> None:
    with pytest.raises(CnnlabError) as err:
        whiten_first_conv(create_model("mnist-fast"), images, eps=eps)
    assert str(err.value) == text


def test_a_grouped_first_conv_is_refused() -> None:
    grouped = nn.Sequential(nn.Conv2d(4, 8, 3, groups=2))
    with pytest.raises(CnnlabError) as err:
        whiten_first_conv(grouped, torch.randn(8, 4, 9, 9))
    assert str(err.value) == "whiten needs an ungrouped first conv; Sequential's has groups=2"  # a Python caller's
    with cli_voice(), pytest.raises(CnnlabError) as err:
        whiten_first_conv(grouped, torch.randn(8, 4, 9, 9))
    assert str(err.value) == "--whiten needs an ungrouped first conv; Sequential's has groups=2"


def test_the_airbench_nets_forward_is_the_layout_it_follows() -> None:
    """Jordan's airbench94: GELU after the whitening conv, then each block pools after its first conv and only then
    normalises (batch norm momentum 0.6 in airbench's sense, 0.4 in PyTorch's): the first block's input and its
    first norm's running mean after one training batch, recomputed from the layers themselves."""
    import torch.nn.functional as F

    from cnnlab.zoo import create_model

    torch.manual_seed(0)
    model = create_model("airbench-cifar-s").train()
    seen: dict[str, torch.Tensor] = {}
    hook = model.block1.register_forward_pre_hook(lambda _, inputs: seen.setdefault("x", inputs[0].detach().clone()))
    x = torch.randn(4, 3, 32, 32)
    model(x)
    hook.remove()
    block = model.block1
    with torch.no_grad():
        assert torch.equal(seen["x"], F.gelu(model.whiten(x)))
        want = 0.4 * block.pool(block.conv1(seen["x"])).mean((0, 2, 3))
    assert block.norm1.momentum == 0.4 and torch.allclose(block.norm1.running_mean, want, rtol=0, atol=1e-6)
