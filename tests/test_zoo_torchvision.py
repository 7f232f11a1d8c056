"""The AlexNet, VGG, GoogLeNet, Inception v3 and ResNet families against torchvision: parameter counts, state-dict keys, outputs.

Big models are built on the meta device where only shapes matter; numeric checks use small inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torchvision
from torch import nn

from cnnlab.zoo import create_model, list_models, model_info

FAMILIES = ("alexnet", "vgg", "googlenet", "inception_v3", "resnet")
OUR_MODELS = [name for name in list_models() if model_info(name).family in FAMILIES]

tvm = torchvision.models
# Our registered name (+ options) -> the torchvision builder with the same layout (weights=None: no network).
TV_TWINS: dict[str, tuple[dict, Callable[..., nn.Module]]] = {
    "alexnet-tv": ({}, lambda **kw: tvm.alexnet(weights=None, **kw)),
    **{
        name: ({}, lambda name=name, **kw: getattr(tvm, name)(weights=None, **kw))
        for name in ("vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")
        + ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
    },
    "googlenet": ({}, lambda **kw: tvm.googlenet(weights=None, aux_logits=False, init_weights=True, **kw)),
    "googlenet+aux": (
        {"aux_logits": True},
        lambda **kw: tvm.googlenet(weights=None, aux_logits=True, init_weights=True, **kw),
    ),
    "inception_v3": ({}, lambda **kw: tvm.inception_v3(weights=None, aux_logits=False, init_weights=False, **kw)),
    "inception_v3+aux": (
        {"aux_logits": True},
        lambda **kw: tvm.inception_v3(weights=None, aux_logits=True, init_weights=False, **kw),
    ),
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def ours(key: str, **kwargs) -> nn.Module:
    options, _ = TV_TWINS[key]
    return create_model(key.split("+")[0], **options, **kwargs)


def theirs(key: str, **kwargs) -> nn.Module:
    return TV_TWINS[key][1](**kwargs)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("alexnet", 62_378_344),
        ("alexnet-tv", 61_100_840),
        ("vgg16", 138_357_544),
        ("googlenet", 6_624_904),
        ("inception_v3", 23_834_568),
        ("resnet18", 11_689_512),
        ("resnet50", 25_557_032),
    ],
)
def test_parameter_counts_at_1000_classes(name: str, expected: int) -> None:
    with torch.device("meta"):
        assert n_params(create_model(name)) == expected


def test_resnet18_cifar_parameter_count() -> None:
    with torch.device("meta"):
        model = create_model("resnet18-cifar", num_classes=10)
    assert n_params(model) == 11_173_962
    assert isinstance(model.maxpool, nn.Identity)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)


@pytest.mark.parametrize("key", list(TV_TWINS))
def test_same_keys_shapes_and_count_as_torchvision(key: str) -> None:
    with torch.device("meta"):
        mine, tv = ours(key, num_classes=1000), theirs(key)
    mine_sd, tv_sd = mine.state_dict(), tv.state_dict()
    assert list(mine_sd) == list(tv_sd)
    assert {k: v.shape for k, v in mine_sd.items()} == {k: v.shape for k, v in tv_sd.items()}
    assert n_params(mine) == n_params(tv)


@pytest.mark.parametrize("key", ["resnet18", "resnet50", "vgg11_bn", "vgg11", "alexnet-tv", "googlenet"])
def test_torchvision_state_dict_gives_same_outputs(key: str) -> None:
    torch.manual_seed(0)
    tv = theirs(key, num_classes=10).eval()
    # Give BN layers non-trivial running statistics so eval-mode normalisation is actually compared.
    for m in tv.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    mine = ours(key, num_classes=10)
    mine.load_state_dict(tv.state_dict(), strict=True)
    mine.eval()
    x = torch.randn(2, 3, 64, 64)  # every model here accepts 64x64 (adaptive pools)
    with torch.no_grad():
        expected, got = tv(x), mine(x)
    assert expected.abs().max().item() > 1e-3  # a real signal, so the tolerance below means something
    assert (got - expected).abs().max().item() <= 1e-5


def test_googlenet_aux_heads_match_torchvision_in_train_mode() -> None:
    torch.manual_seed(0)
    tv = theirs("googlenet+aux", num_classes=10).train()
    mine = ours("googlenet+aux", num_classes=10).train()
    mine.load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.manual_seed(1)  # same dropout masks: both draw them in the order aux1, aux2, main
        expected = tv(x)
        torch.manual_seed(1)
        got = mine(x)
    assert got._fields == ("logits", "aux_logits2", "aux_logits1")
    for a, b in zip(got, expected):
        assert a.shape == (2, 10)
        assert (a - b).abs().max().item() <= 1e-5
    with torch.no_grad():
        assert mine.eval()(x).shape == (2, 10)  # eval mode: logits only


def test_inception_v3_matches_torchvision_in_eval_and_train_mode() -> None:
    """Eval mode at 75x75 (the smallest input the network takes), train mode with the aux head at the paper's
    299x299, where the head sees Mixed_6e's 17x17 grid (5x5 after its 5/3 pool); two images because train-mode batch
    norm needs more than one value per channel after the head's 5x5 conv. Ours is built on the meta device and
    takes torchvision's tensors (assign=True): its truncated-normal init of 27 M weights would only cost time."""
    torch.manual_seed(0)
    tv = theirs("inception_v3+aux", num_classes=10).eval()
    for m in tv.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    with torch.device("meta"):
        mine = ours("inception_v3+aux", num_classes=10)
    assert mine.input_size == (3, 299, 299)
    mine.load_state_dict({k: v.clone() for k, v in tv.state_dict().items()}, strict=True, assign=True)
    assert n_params(mine) == n_params(tv)
    x = torch.randn(2, 3, 75, 75)
    with torch.no_grad():
        expected, got = tv(x), mine.eval()(x)
        assert expected.abs().max().item() > 1e-3
        assert (got - expected).abs().max().item() <= 1e-5
        x = torch.randn(2, 3, 299, 299)
        torch.manual_seed(1)  # the same dropout mask for both (the aux head has no dropout)
        expected = tv.train()(x)
        torch.manual_seed(1)
        got = mine.train()(x)
    assert got._fields == ("logits", "aux_logits")
    for a, b in zip(got, expected):
        assert a.shape == (2, 10)
        assert (a - b).abs().max().item() <= 1e-4


def test_inception_v3_parameter_count_with_aux_head() -> None:
    with torch.device("meta"):
        model = create_model("inception_v3", aux_logits=True)
    assert n_params(model) == 27_161_264  # torchvision's figure for Inception_V3_Weights, aux head included


def test_cifar_variants_keep_trunk_keys() -> None:
    with torch.device("meta"):
        resnet, resnet_cifar = create_model("resnet50"), create_model("resnet50-cifar")
        vgg, vgg_cifar = create_model("vgg16_bn"), create_model("vgg16_bn-cifar")
    assert list(resnet.state_dict()) == list(resnet_cifar.state_dict())
    features = [k for k in vgg.state_dict() if k.startswith("features.")]
    assert features == [k for k in vgg_cifar.state_dict() if k.startswith("features.")]
    assert [m.__class__ for m in vgg_cifar.classifier] == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert vgg_cifar.classifier[0].in_features == 512 and vgg_cifar.classifier[3].out_features == 10


def test_families_are_all_registered() -> None:
    expected = {"alexnet", "alexnet-tv", "googlenet", "inception_v3"}
    for base in ("vgg11", "vgg13", "vgg16", "vgg19"):
        expected |= {base, f"{base}_bn", f"{base}-cifar", f"{base}_bn-cifar"}
    expected |= {"vgg11-lrn", "vgg11-lrn-cifar", "vgg16c", "vgg16c-cifar"}  # the paper's A-LRN and C
    for depth in (18, 34, 50, 101, 152):
        expected |= {f"resnet{depth}", f"resnet{depth}-cifar"} | ({f"resnet{depth}-v1"} if depth >= 50 else set())
    assert set(OUR_MODELS) == expected


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_resnet_v1_moves_the_stride_to_the_first_1x1_with_the_same_weights(depth: int) -> None:
    with torch.device("meta"):
        v1, v15, tv = create_model(f"resnet{depth}-v1"), create_model(f"resnet{depth}"), theirs(f"resnet{depth}")
    assert {k: v.shape for k, v in v1.state_dict().items()} == {k: v.shape for k, v in tv.state_dict().items()}
    assert n_params(v1) == n_params(v15) == n_params(tv)
    first = v1.layer2[0]
    assert first.conv1.stride == (2, 2) and first.conv2.stride == (1, 1)
    assert v15.layer2[0].conv1.stride == (1, 1) and v15.layer2[0].conv2.stride == (2, 2)
    assert all(b.conv1.stride == (1, 1) for b in v1.layer2[1:])  # only each stage's first block strides
    assert v1.layer1[0].conv1.stride == (1, 1)  # layer1 keeps the resolution


def test_resnet_v1_loads_a_torchvision_state_dict_strictly() -> None:
    v1 = create_model("resnet50-v1")
    v1.load_state_dict(theirs("resnet50").state_dict(), strict=True)
    assert v1.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.parametrize("name", OUR_MODELS)
def test_builds_with_any_classes_and_channels(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name, num_classes=7, in_channels=1).eval()
        assert model.input_size[0] == 1
        out = model(torch.empty(1, *model.input_size))
    assert out.shape == (1, 7)


def test_naive_googlenet_builds_and_runs() -> None:
    with torch.device("meta"):
        naive = create_model("googlenet", inception="naive").eval()
        reduction = create_model("googlenet")
        out = naive(torch.empty(1, 3, 224, 224))
    assert out.shape == (1, 1000)
    # Without 1x1 reductions every pool branch passes its input on, so widths and weights pile up.
    assert naive.fc.in_features == 4944
    assert n_params(naive) > 10 * n_params(reduction)
    assert not isinstance(naive.inception3a.branch2, nn.Sequential)


def test_vgg_configs_a_lrn_and_c_parameter_counts() -> None:
    """The VGG paper's Table 2 gives A and A-LRN 133 M parameters and C 134 M; exact counts at 1000 classes.

    3x3 convs, (9*C_in + 1)*C_out each:
      3->64: 28*64 = 1,792; 64->64: 577*64 = 36,928; 64->128: 577*128 = 73,856; 128->128: 1,153*128 = 147,584;
      128->256: 1,153*256 = 295,168; 256->256: 2,305*256 = 590,080; 256->512: 2,305*512 = 1,180,160;
      512->512: 4,609*512 = 2,359,808
    fully connected: (25,088 + 1)*4,096 = 102,764,544; (4,096 + 1)*4,096 = 16,781,312; (4,096 + 1)*1,000 = 4,097,000;
      together 123,642,856
    A: 1,792 + 73,856 + 295,168 + 590,080 + 1,180,160 + 3*2,359,808 = 9,220,480 conv; + 123,642,856 = 132,863,336
    A-LRN: A plus one LRN layer, which has no parameters: 132,863,336
    B: A + 36,928 (second 64) + 147,584 (second 128) = 9,404,992 conv; 133,047,848 in all
    C: B + 1x1 convs (C_in + 1)*C_out: 257*256 = 65,792 and 513*512 = 262,656 twice = 591,104; 133,638,952
    """
    conv3 = {"3-64": 28 * 64, "64-64": 577 * 64, "64-128": 577 * 128, "128-128": 1_153 * 128}
    conv3 |= {"128-256": 1_153 * 256, "256-256": 2_305 * 256, "256-512": 2_305 * 512, "512-512": 4_609 * 512}
    fc = 25_089 * 4_096 + 4_097 * 4_096 + 4_097 * 1_000
    a = sum(conv3[k] for k in ("3-64", "64-128", "128-256", "256-256", "256-512")) + 3 * conv3["512-512"] + fc
    b = a + conv3["64-64"] + conv3["128-128"]
    c = b + 257 * 256 + 2 * 513 * 512
    assert (fc, a, b, c) == (123_642_856, 132_863_336, 133_047_848, 133_638_952)
    with torch.device("meta"):
        models = {name: create_model(name) for name in ("vgg11", "vgg11-lrn", "vgg13", "vgg16c")}
    counts = {name: n_params(m) for name, m in models.items()}
    assert counts == {"vgg11": a, "vgg11-lrn": a, "vgg13": b, "vgg16c": c}
    assert round(a / 1e6) == 133 and round(c / 1e6) == 134  # Table 2
    # A-LRN: the LRN sits right after the first conv's ReLU, with AlexNet's settings
    lrn = models["vgg11-lrn"].features[2]
    assert isinstance(models["vgg11-lrn"].features[1], nn.ReLU)
    assert isinstance(lrn, nn.LocalResponseNorm) and (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)
    # C: a 1x1 conv (stride 1, no padding needed) + ReLU closes each of the last three stages, 16 weight layers
    convs = [m for m in models["vgg16c"].features if isinstance(m, nn.Conv2d)]
    assert len(convs) + 3 == 16
    ones = [(i, m.out_channels) for i, m in enumerate(convs) if m.kernel_size == (1, 1)]
    assert ones == [(6, 256), (9, 512), (12, 512)]
    assert all(m.stride == (1, 1) and m.padding == (0, 0) for m in convs if m.kernel_size == (1, 1))
    feats = list(models["vgg16c"].features)
    assert all(isinstance(feats[feats.index(m) + 2], nn.MaxPool2d) for m in convs if m.kernel_size == (1, 1))
    with torch.device("meta"):
        out = models["vgg16c"].eval()(torch.empty(1, 3, 224, 224))
    assert out.shape == (1, 1000)
