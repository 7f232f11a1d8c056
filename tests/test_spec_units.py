"""Network files (zoo/spec.py) built straight from small TOML texts: the options each layer takes, the defaults a
file may leave out, the models' names, sizes and memory count, and the whole one-line refusal of each bad file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.zoo.blocks import BasicConv2d, Residual
from cnnlab.zoo.spec import Conv2dSame, _build, build_from_toml, load_spec
from tests.conftest import write_toml

CONV = '[[layers]]\ntype = "conv"\nfilters = 4\n'


def build(tmp_path: Path, text: str, **kwargs) -> nn.Module:
    return build_from_toml(write_toml(tmp_path / "net.toml", text), **kwargs)


def refusal(tmp_path: Path, text: str) -> str:
    """The error of building `text` as net.toml, with the file's path taken off the front."""
    path = write_toml(tmp_path / "net.toml", text)
    with pytest.raises(CnnlabError) as e:
        build_from_toml(path)
    message = str(e.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message[len(path) + 2 :]


def test_a_file_without_input_or_name_is_a_32x32_rgb_net_named_after_the_file(tmp_path: Path) -> None:
    """No `input`: 3x32x32 images, as CIFAR-10's; no `name`: the file's own name is the model's."""
    model = build_from_toml(write_toml(tmp_path / "tiny-net.toml", CONV))
    assert model.input_size == (3, 32, 32) and model.model_name == "tiny-net"


def test_conv_options_out_channels_and_dilation(tmp_path: Path) -> None:
    """`out_channels` is PyTorch's word for filters; a dilation of 2 spreads a 3x3 kernel over 5x5 pixels."""
    model = build(
        tmp_path, 'input = [1, 9, 9]\n[[layers]]\ntype = "conv"\nout_channels = 6\nkernel = 3\ndilation = 2\n'
    )
    assert model(torch.zeros(1, 1, 9, 9)).shape == (1, 6, 5, 5)


def test_tensorflow_same_padding_pads_each_axis_by_its_own_size(tmp_path: Path) -> None:
    """A 3x3 conv at stride 2 with Keras' 'same' on a 5x8 input: one row above and below, no column on the left
    and one on the right, as TensorFlow pads."""
    model = build(tmp_path, f'input = [1, 5, 8]\n{CONV}kernel = 3\nstride = 2\npadding = "same"\n')
    conv = model[0]
    assert isinstance(conv, Conv2dSame)
    x = torch.randn(1, 1, 5, 8)
    want = F.conv2d(F.pad(x, (0, 1, 1, 1)), conv.weight, conv.bias, stride=2)
    assert torch.allclose(conv(x), want, atol=1e-6) and want.shape[-2:] == (3, 4)


def test_an_inception_module_with_batchnorm_normalises_every_conv(tmp_path: Path) -> None:
    """batchnorm = true builds GoogLeNet's conv, batch norm, ReLU units (BasicConv2d) in every branch."""
    text = (
        'input = [4, 8, 8]\n[[layers]]\ntype = "inception"\nch1x1 = 2\nch3x3red = 2\nch3x3 = 2\nch5x5red = 2\n'
        "ch5x5 = 2\npool_proj = 2\nbatchnorm = true\n"
    )
    units = [m for m in build(tmp_path, text).modules() if isinstance(m, BasicConv2d)]
    assert len(units) == 6


def test_a_residual_block_without_activation_adds_nothing_after_the_sum(tmp_path: Path) -> None:
    """No `activation` in a residual block: its output is body(x) + x, negative values kept."""
    text = 'input = [2, 4, 4]\n[[layers]]\ntype = "residual"\nlayers = [{type = "conv", filters = 2, padding = 1}]\n'
    block = build(tmp_path, text)[0]
    assert isinstance(block, Residual)
    x = -torch.ones(1, 2, 4, 4)
    assert torch.allclose(block(x), block.body(x) + x)


def test_a_layer_too_large_for_its_input_keeps_its_own_channel_count(tmp_path: Path) -> None:
    """A 5x5 conv of 8 filters on a declared 3x3 input builds (the summary names the layer); the batch norm after
    it is sized for its 8 channels, so the net runs on larger images."""
    text = f'input = [3, 3, 3]\n{CONV.replace("4", "8")}kernel = 5\n[[layers]]\ntype = "batchnorm"\n'
    model = build(tmp_path, text).eval()
    assert model[1].num_features == 8 and model(torch.zeros(1, 3, 9, 9)).shape == (1, 8, 5, 5)


def test_the_memory_estimate_counts_every_layers_output(tmp_path: Path) -> None:
    """The values a net's layers output for one image, summed over its layers: 4x6x6 + 4x3x3 + 36 + 10."""
    spec = load_spec(
        "n.toml",
        f'input = [1, 8, 8]\n{CONV}\n[[layers]]\ntype = "maxpool"\n[[layers]]\ntype = "flatten"\n'
        '[[layers]]\ntype = "dense"\n',
    )
    _, activations = _build(spec, "n.toml", (1, 8, 8), 10)
    assert activations == 144 + 36 + 36 + 10


def test_a_net_too_large_for_memory_says_what_to_shrink(tmp_path: Path) -> None:
    """A dense layer of 2**30 units on 2**20 inputs: refused before allocating, with what to make smaller."""
    text = 'input = [1, 1024, 1024]\n[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\nunits = 1073741824\n'
    path = write_toml(tmp_path / "big.toml", text)
    with pytest.raises(CnnlabError) as e:
        build_from_toml(path)
    assert re.fullmatch(
        rf"{re.escape(path)} at input 1x1024x1024: needs .+ GB for parameters and activations, this machine has .+ "
        "of memory; use fewer filters or units, or a smaller input",
        str(e.value),
    )


def test_a_net_whose_layer_outputs_alone_exceed_memory_is_refused(tmp_path: Path) -> None:
    """A 1x1 conv of one filter on 2**20 x 2**20 pixels: two parameters, but outputs no machine holds."""
    text = 'input = [1, 1048576, 1048576]\n[[layers]]\ntype = "conv"\nfilters = 1\nkernel = 1\n'
    path = write_toml(tmp_path / "wide.toml", text)
    with pytest.raises(CnnlabError, match=r"at input 1x1048576x1048576: needs 4,398\.0 GB for parameters and act"):
        build_from_toml(path)


def test_a_kept_copy_builds_when_the_file_is_gone(tmp_path: Path) -> None:
    """A run rebuilds its network from the text it kept: the path it names need not exist any more."""
    model = build_from_toml(tmp_path / "gone.toml", text=f"input = [1, 6, 6]\n{CONV}")
    assert model.input_size == (1, 6, 6) and model.model_name == "gone"
    with pytest.raises(CnnlabError) as e:
        load_spec(tmp_path / "gone.toml", 'name = "x"\n')
    assert str(e.value) == (
        f"{tmp_path / 'gone.toml'}: no [[layers]] found; a network file lists its layers as [[layers]] tables"
    )


def test_a_shipped_network_is_named_by_net_prefix() -> None:
    """net:lenet-like is examples/nets/lenet-like.toml."""
    assert build_from_toml("net:lenet-like").model_name == "lenet-like"


def test_a_network_file_that_is_not_there_names_itself() -> None:
    """A missing file is called a network file, with what to give instead."""
    with pytest.raises(CnnlabError) as e:
        build_from_toml("no/such/net.toml")
    assert str(e.value) == (
        "network file 'no/such/net.toml' not found; give a zoo model name (`cnnlab models`) or a path to a .toml file"
    )


def test_errors_on_the_meta_device_still_name_the_file(tmp_path: Path) -> None:
    """Built on the meta device (as a search space's template is checked), a bad layer names the file."""
    with torch.device("meta"):
        assert refusal(tmp_path, '[[layers]]\ntype = "conv"\n') == "layers[1]: missing option 'filters'"


def test_a_zoo_base_takes_its_models_input_size_by_default(tmp_path: Path) -> None:
    """base = "alexnet" without `input`: AlexNet's 3x227x227."""
    model = build(tmp_path, 'base = "alexnet"\n[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\n')
    assert model.input_size == (3, 227, 227)


def one_layer(tmp_path: Path, layer: str, input_size: str = "[4, 8, 8]") -> nn.Module:
    return build(tmp_path, f"input = {input_size}\n[[layers]]\n{layer}\n")[0]


@pytest.mark.parametrize(
    "layer, check",
    [
        (
            'type = "conv"\nfilters = 4',
            lambda m: m.kernel_size == (3, 3) and m.padding == (0, 0) and m.bias is not None,
        ),
        ('type = "conv"\nfilters = 4\npadding = "valid"', lambda m: m.padding == (0, 0)),
        ('type = "conv"\nfilters = 4\npadding = [1, 2]', lambda m: m.padding == (1, 2)),
        ('type = "conv"\nfilters = 4\ngroups = 2\nbias = false', lambda m: m.groups == 2 and m.bias is None),
        ('type = "conv"\nfilters = 4\nstride = [1, 2]\npadding = "same"', lambda m: isinstance(m, Conv2dSame)),
        ('type = "maxpool"', lambda m: m.kernel_size == 2 and m.stride == 2 and m.padding == 0 and not m.ceil_mode),
        ('type = "maxpool"\nkernel = 3\nceil_mode = true', lambda m: m.kernel_size == 3 and m.ceil_mode),
        ('type = "avgpool"\nsize = 3\npadding = "valid"', lambda m: isinstance(m, nn.AvgPool2d) and m.padding == 0),
        ('type = "avgpool"\nsize = 3\npadding = 1', lambda m: m.padding == 1),
        ('type = "adaptive-avgpool"', lambda m: isinstance(m, nn.AdaptiveAvgPool2d)),
        ('type = "adaptive-maxpool"', lambda m: isinstance(m, nn.AdaptiveMaxPool2d)),
        ('type = "dropout"', lambda m: m.p == 0.5),
        ('type = "dropout"\nrate = 0', lambda m: m.p == 0),
    ],
)
def test_each_layers_options_and_defaults(tmp_path: Path, layer: str, check) -> None:
    """What a layer table builds, with the defaults a file may leave out (3x3 kernels, 2x2 pools, rate 0.5)."""
    assert check(one_layer(tmp_path, layer))


def test_dense_layers_options_and_defaults(tmp_path: Path) -> None:
    """A dense layer: num_classes units unless told, bias unless `bias = false`, one input from a 1x1x1 image;
    a batch norm after it takes its eps."""
    model = build(
        tmp_path,
        'input = [1, 1, 1]\n[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\nunits = 6\nbias = false\n'
        '[[layers]]\ntype = "batchnorm"\neps = 1e-3\n[[layers]]\ntype = "dense"\n',
    )
    assert (model[1].in_features, model[1].out_features, model[1].bias) == (1, 6, None)
    assert model[2].eps == 1e-3 and model[3].out_features == 10 and model[3].bias is not None


def test_a_naive_inception_module_needs_no_pool_projection(tmp_path: Path) -> None:
    """naive = true: the pool branch passes its input channels through; 4 + 2 + 2 + 4 channels out."""
    m = one_layer(tmp_path, 'type = "inception"\nnaive = true\nch1x1 = 2\nch3x3 = 2\nch5x5 = 2')
    assert m(torch.zeros(1, 4, 8, 8)).shape == (1, 10, 8, 8)


def test_layer_names_made_up_for_hyphenated_activations(tmp_path: Path) -> None:
    """A conv with activation leaky-relu: its layers are conv1 and leaky_relu1."""
    model = build(tmp_path, 'input = [1, 4, 4]\n[[layers]]\ntype = "conv"\nfilters = 2\nactivation = "leaky-relu"\n')
    assert [name for name, _ in model.named_children()] == ["conv1", "leaky_relu1"]


@pytest.mark.parametrize("size", [(8, 7), (7, 8), (8, 8)])
def test_same_pooling_pads_only_the_side_that_needs_it(tmp_path: Path, size: tuple[int, int]) -> None:
    """A 2x2 'same' max pool at stride 2 on 8x7 pads one column, on 7x8 one row: 4x4 out; a 1x1 window at
    stride 1 pads nothing."""
    text = f'input = [1, {size[0]}, {size[1]}]\n[[layers]]\ntype = "maxpool"\nsize = 2\npadding = "same"\n'
    assert build(tmp_path, text)(torch.zeros(1, 1, *size)).shape == (1, 1, 4, 4)
    one = build(tmp_path, text.replace("size = 2", "size = 1\nstride = 1"))
    assert one(torch.zeros(1, 1, *size)).shape == (1, 1, *size)


def test_same_average_pooling_averages_the_covered_pixels_of_every_image_and_channel(tmp_path: Path) -> None:
    """A 3x3 'same' average pool on a batch of 3 images of 3 channels of ones: every output is 1, corners too."""
    model = build(tmp_path, 'input = [3, 5, 5]\n[[layers]]\ntype = "avgpool"\nsize = 3\nstride = 2\npadding = "same"\n')
    assert torch.equal(model(torch.ones(3, 3, 5, 5)), torch.ones(3, 3, 3, 3))


def test_residual_blocks_nested_too_deep_are_refused(tmp_path: Path) -> None:
    """Residual blocks in residual blocks: 32 levels build, 33 are refused by depth, not by Python's recursion
    limit."""

    def nested(levels: int) -> str:
        layer = '{type = "relu"}'
        for _ in range(levels - 1):
            layer = f'{{type = "residual", layers = [{layer}]}}'
        return f'input = [1, 2, 2]\n[[layers]]\ntype = "residual"\nlayers = [{layer}]\n'

    path = write_toml(tmp_path / "deep.toml", nested(33))
    with pytest.raises(CnnlabError) as e:
        build_from_toml(path)
    assert str(e.value) == f"{path}: residual blocks nested more than 32 deep; flatten the network"
    model = build(tmp_path, nested(32))
    assert sum(isinstance(m, Residual) for m in model.modules()) == 32


def test_a_zoo_base_under_a_head(tmp_path: Path) -> None:
    """base = "alexnet" with a dense head: AlexNet's conv part first, then the file's layers."""
    model = build(
        tmp_path, 'base = "alexnet"\ninput = [3, 128, 128]\n[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\n'
    )
    assert list(dict(model.named_children()))[0] == "base" and model(torch.zeros(1, 3, 128, 128)).shape == (1, 10)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[layers]]\nfilters = 4\n", "layers[1]: unknown layer type ''; use one of "),
        (f'{CONV}name = "a.b"\n', "layers[1]: name must be text without dots (e.g. \"conv1\"), got 'a.b'"),
        (f"{CONV}kernal = 3\nstrid = 1\n", "layers[1]: unknown option(s) kernal, strid for a conv layer"),
        (f'{CONV}bias = "yes"\n', "layers[1]: bias must be true or false, got 'yes'"),
        (
            '[[layers]]\ntype = "inception"\nch1x1 = 0\nch3x3 = 0\nch5x5 = 0\npool_proj = 0\n',
            "layers[1]: an inception module needs a branch: ch1x1, ch3x3, ch5x5 and pool_proj are 0",
        ),
        ('[[layers]]\ntype = "residual"\n', "layers[1].layers: expected a list of layer tables ([[layers]] entries)"),
        (
            'keep = "features"\n' + CONV,
            "keep = 'features' without a base; add base = \"vgg16\" (or another zoo model)",
        ),
        (
            '[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\nunits = 1\n[[layers]]\ntype = "softmax"\n',
            "layers: a softmax over one unit is always 1; end a one-unit (binary) head with sigmoid",
        ),
        ("layers = 3\n", "layers: expected a list of layer tables ([[layers]] entries)"),
        (
            '[[layers]]\ntype = "maxpool"\nactivation = "relu"\n',
            "layers[1]: unknown option(s) activation for a maxpool layer",
        ),
        (
            f'{CONV}activation = "swish"\n',
            "layers[1]: unknown activation 'swish'; use one of relu, leaky-relu, elu, gelu, tanh, sigmoid, softmax, identity",
        ),
        ('[[layers]]\ntype = "dropout"\nrate = 1.0\n', "layers[1]: dropout rate must be in [0, 1), got 1.0"),
        (
            '[[layers]]\ntype = "batchnorm"\neps = 0\n',
            "layers[1]: batchnorm eps must be a positive number (Keras' is 1e-3), got 0.0",
        ),
        ('[[layers]]\ntype = "batchnorm"\neps = nan\n', "layers[1]: eps must be a number, got nan"),
        (f"{CONV}groups = 2\n", "layers[1]: groups=2 must divide both input channels (3) and filters (4)"),
        (
            f"{CONV}padding = -1\n",
            'layers[1]: padding must be a non-negative integer, [height, width], "same" or "valid", got -1',
        ),
        ('[[layers]]\ntype = "conv"\nfilters = 2147483648\n', "layers[1]: filters must be below 2**31, got 2147483648"),
        (
            f"{CONV}kernel = [1, 2147483648]\n",
            "layers[1]: kernel must be an integer >= 1 or a list [height, width] of two such integers, got [1, 2147483648]",
        ),
        (
            '[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\nunits = 2147483648\n',
            'layers[2]: units must be a positive integer below 2**31 or "num_classes", got 2147483648',
        ),
        (
            '[[layers]]\ntype = "inception"\nch1x1 = 0\nch3x3 = 1\nch5x5 = 0\npool_proj = 0\n',
            "layers[1]: missing option 'ch3x3red'",
        ),
        (
            '[[layers]]\ntype = "residual"\nlayers = []\n',
            "layers[1]: a residual block needs at least one layer in its layers = [...]",
        ),
        (
            '[[layers]]\ntype = "residual"\nlayers = [{type = "conv"}]\n',
            "layers[1].layers[1]: missing option 'filters'",
        ),
        (
            '[[layers]]\ntype = "residual"\nactivation = "swish"\nlayers = [{type = "relu"}]\n',
            "layers[1]: unknown activation 'swish'; use one of relu, leaky-relu, elu, gelu, tanh, sigmoid, softmax, identity",
        ),
        (
            '[[layers]]\ntype = "residual"\nlayers = [{type = "relu"}]\nshortcut = [{type = "conv"}]\n',
            "layers[1].shortcut[1]: missing option 'filters'",
        ),
        ("input = [2, 1, 1]\n" + CONV.replace("4", "5") + "kernel = 1\n", None),
        (
            '[[layers]]\ntype = "bogus"\n',
            "layers[1]: unknown layer type 'bogus'; use one of adaptive-avgpool, adaptive-maxpool, avgpool, batchnorm, conv, dropout, elu, flatten, gelu, identity, inception, leaky-relu, linear, lrn, maxpool, relu, residual, sigmoid, softmax, tanh",
        ),
        ("[[layers]\n", None),
        ("layers = []\n", "layers is empty; a network needs at least one [[layers]] table"),
    ],
    ids=[
        "no-type",
        "dotted-name",
        "two-unknown-options",
        "bool",
        "no-branch",
        "residual-no-layers",
        "keep",
        "head",
        "not-a-list",
        "pool-activation",
        "unknown-activation",
        "dropout-1",
        "eps-0",
        "eps-nan",
        "groups",
        "padding",
        "filters-2**31",
        "kernel-2**31",
        "units-2**31",
        "reduction-missing",
        "empty-residual",
        "residual-body",
        "residual-activation",
        "residual-shortcut",
        "input-twice",
        "unknown-type",
        "not-toml",
        "no-layers",
    ],
)
def test_bad_network_files_are_refused_whole(tmp_path: Path, text: str, message: str) -> None:
    """Each refusal names the layer and says what to do, whole."""
    got = refusal(tmp_path, "input = [3, 8, 8]\n" + text)  # a second input, or a key or TOML error: named only
    assert message is None or (got.startswith(message) if message.endswith("use one of ") else got == message)


def test_an_unknown_top_level_key_names_the_file_and_the_close_one(tmp_path: Path) -> None:
    """`inputs` for `input`: the file, the key meant and every key a network file takes."""
    path = write_toml(tmp_path / "net.toml", "inputs = [3, 8, 8]\n" + CONV)
    with pytest.raises(CnnlabError) as e:
        build_from_toml(path)
    assert str(e.value) == (
        f"unknown key 'inputs' in {path}: did you mean 'input'? (accepted: name, input, num_classes, base, keep, "
        "layers)"
    )


def test_a_residual_block_whose_body_changes_its_shape_needs_a_projection(tmp_path: Path) -> None:
    """A 1x1 conv of 4 filters on 2x1x1 images: body 4x1x1, shortcut 2x1x1, named with the fix."""
    body = 'layers = [{type = "conv", filters = 4, kernel = 1}]'
    got = refusal(tmp_path, f'input = [2, 1, 1]\n[[layers]]\ntype = "residual"\n{body}\n')
    assert got == (
        "layers[1]: residual body gives 4x1x1 but the shortcut gives 2x1x1; add a shortcut projection (e.g. a 1x1 "
        "conv with the same stride)"
    )


HEAD = '[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\n'


def test_a_zoo_base_keeps_its_features_unless_told_to_keep_its_pool_too(tmp_path: Path) -> None:
    """keep left out: resnet18-cifar's base stops before its global pool (512x4x4 into the head on 32x32 images),
    and on one-channel images its first conv takes one channel; keep = "before-classifier": the pool too (512)."""
    features = build(tmp_path, f'base = "resnet18-cifar"\ninput = [1, 32, 32]\n{HEAD}')
    pooled = build(tmp_path, f'base = "resnet18-cifar"\nkeep = "before-classifier"\n{HEAD}')
    assert (features.base.keep, features[-1].in_features) == ("features", 512 * 4 * 4)
    assert (pooled.base.keep, pooled[-1].in_features) == ("before-classifier", 512)
    first = [m for m in features.base.modules() if isinstance(m, nn.Conv2d)][0]
    assert first.in_channels == 1 and features(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            f'base = "resnet18-cifar"\nkeep = "all"\n{HEAD}',
            "keep = 'all' is not one of features, before-classifier",
        ),
        *[
            (
                f'base = "resnt18-cifar"\n{given}{HEAD}',
                "base 'resnt18-cifar' is not a zoo model; did you mean resnet18-cifar, resnet152-cifar, "
                "resnet101-cifar? (`cnnlab models` lists them)",
            )
            for given in ("", "input = [3, 32, 32]\n")  # its input size is asked for first where none is given
        ],
        (f"num_classes = {2**31}\n{HEAD}", f"num_classes must be a positive integer below 2**31, got {2**31}"),
        (
            '[[layers]]\ntype = "inception"\nch1x1 = 2\nch3x3red = 2\nch3x3 = 2\nch5x5red = 2\nch5x5 = 2\n',
            "layers[1]: missing option 'pool_proj'",  # only a naive module passes its pool branch through
        ),
    ],
)
def test_bad_bases_and_sizes_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    assert refusal(tmp_path, text) == message


def test_a_file_that_names_its_network_gives_the_model_that_name(tmp_path: Path) -> None:
    assert build_from_toml(write_toml(tmp_path / "net.toml", f'name = "mine"\n{HEAD}')).model_name == "mine"


def test_a_network_kept_by_a_run_is_built_from_its_text_when_the_file_is_gone(tmp_path: Path) -> None:
    """A run keeps its network's text: rebuilt from it, the file (here a shipped name that no longer ships) is not
    read, and the model is named after it as the run named it."""
    model = build_from_toml("net:gone-since", text="input = [1, 4, 4]\n" + HEAD)
    assert model.model_name == "gone-since" and model(torch.zeros(1, 1, 4, 4)).shape == (1, 10)


def test_a_layer_after_an_impossible_shape_keeps_the_channels(tmp_path: Path) -> None:
    """A second 2x2 pool of a 2x2 image leaves nothing: the shape is kept as 3x0x0 (summary then says which layer
    shrank it away), so the batch norm after it is still built for the 3 channels."""
    text = 'input = [3, 2, 2]\n[[layers]]\ntype = "maxpool"\n[[layers]]\ntype = "maxpool"\n[[layers]]\ntype = "batchnorm"\n'
    assert build(tmp_path, text)[2].num_features == 3


def test_a_file_declares_the_network_a_run_kept_whatever_its_comments_and_layout(tmp_path) -> None:
    """What a resume asks of a network file named again: the same values are the same network; another value, a
    file that is no TOML now or one that is gone is not."""
    from cnnlab.zoo.spec import same_network

    kept = "input = [1, 8, 8]\n" + CONV
    path = write_toml(tmp_path / "net.toml", "# a comment\ninput = [ 1, 8, 8 ]\n\n" + CONV.replace(" = ", "="))
    assert same_network(path, kept)
    assert not same_network(path, kept.replace("filters = 4", "filters = 5"))
    assert not same_network(path, "input = [")  # the kept text cannot be read: not known to be the same
    write_toml(tmp_path / "net.toml", "input = [")
    assert not same_network(path, kept)
    assert not same_network(tmp_path / "gone.toml", kept)
