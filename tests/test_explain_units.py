"""Grad-CAM, Grad-CAM++, the deletion check and feature maps on nets built in the test: maps worked by hand, the
layer each explains, batches, and every refusal; nothing trained, so mutation testing can run them once per mutant
(scripts/mutation.py). tests/test_explain.py checks the same on a CNN trained on real MNIST."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab.errors import CnnlabError, cli_voice
from cnnlab.explain.deletion import deletion_check
from cnnlab.explain.gradcam import conv_layers, find_conv_layer, grad_cam
from cnnlab.zoo import create_model
from tests.conftest import TOML_NET, write_toml


def test_gradcam_and_gradcam_plus_plus_match_maps_computed_by_hand():
    """A 1x1 conv copies two input planes into maps A0, A1 (2x2); a linear layer scores class 0 with gradient
    g0 = [[1, 0], [0, 1]] on A0 and g1 = [[0, -2], [4, 0]] on A1.
    Grad-CAM: weights are the mean gradients (1/2, 1/2), so the map is (A0 + A1) / 2 = [[2.5, 1], [1.5, 2.5]],
    scaled to a maximum of 1.
    Grad-CAM++: alpha = g^2 / (2 g^2 + sum(A) g^3) where g > 0: 1/12 at A0's two ones (sum A0 = 10), 16/352 = 1/22 at
    A1's 4 (sum A1 = 5); weights sum(alpha * relu(g)) = 1/6 and 2/11, so the map is A0/6 + 2 A1/11 =
    [[59, 22], [33, 56]] / 66.
    Class 1 scores with -g: Grad-CAM's weights are (-1/2, -1/2) and the rectified map is zero; Grad-CAM++ keeps
    only positive gradients: A0 gets none, A1's 2 gets alpha 4/48 = 1/12, weight 1/6, so the map is A1 / 4 =
    [[1, 0], [0, 0.25]] after scaling."""
    net = nn.Sequential(nn.Conv2d(2, 2, 1, bias=False), nn.Flatten(), nn.Linear(8, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2)[:, :, None, None])
        w0 = torch.tensor([1.0, 0, 0, 1, 0, -2, 4, 0])
        net[2].weight.copy_(torch.stack([w0, -w0]))
    x = torch.tensor([[[[1.0, 2], [3, 4]], [[4, 0], [0, 1]]]])
    cam = grad_cam(net, x, method="gradcam")
    assert cam.targets.tolist() == [0] and cam.layer == "0"  # logit 0 is 1 + 4 = 5, logit 1 is -5
    assert torch.allclose(cam.probabilities, torch.softmax(torch.tensor([[5.0, -5.0]]), 1))
    assert torch.allclose(cam.heatmaps[0], torch.tensor([[2.5, 1], [1.5, 2.5]]) / 2.5)
    plus = grad_cam(net, x, target=0, method="gradcam++")
    assert torch.allclose(plus.heatmaps[0], torch.tensor([[59.0, 22], [33, 56]]) / 59)
    assert torch.equal(grad_cam(net, x, target=1).heatmaps, torch.zeros(1, 2, 2))
    other = grad_cam(net, x, target=1, method="gradcam++")
    assert torch.allclose(other.heatmaps[0], torch.tensor([[1.0, 0], [0, 0.25]]))


@pytest.mark.parametrize("model", ["toml", "resnet18-cifar", "lenet5"])
def test_gradcam_works_in_batches_on_zoo_and_toml_models(tmp_path, model):
    torch.manual_seed(0)
    net = create_model(write_toml(tmp_path / "net.toml", TOML_NET) if model == "toml" else model, num_classes=10)
    net.eval()
    x = torch.randn(5, *net.input_size)
    whole = grad_cam(net, x, batch_size=64)
    pieces = grad_cam(net, x, batch_size=2)
    assert whole.heatmaps.shape == (5, *net.input_size[1:])
    assert torch.allclose(whole.heatmaps, pieces.heatmaps, atol=1e-4)
    assert whole.layer == list(conv_layers(net))[-2 if model == "lenet5" else -1]  # lenet5's c5 gives 1x1 maps
    with pytest.raises(CnnlabError) as e:
        find_conv_layer(net, "nope")
    assert "conv layers: " + ", ".join(conv_layers(net)) in str(e.value)


def test_deletion_metric_rewards_a_map_of_the_evidence():
    """A toy classifier that only looks at the top-left quarter: its true map deletes the evidence first."""

    def probabilities(p: torch.Tensor) -> torch.Tensor:
        evidence = p[:, 0, :4, :4].mean((1, 2)) / 25
        return torch.softmax(torch.stack([evidence, torch.zeros_like(evidence)], 1), 1)

    pixels = torch.full((3, 1, 8, 8), 255.0)
    true_map = torch.zeros(3, 8, 8)
    true_map[:, :4, :4] = 1
    targets = torch.zeros(3, dtype=torch.long)
    good = deletion_check(probabilities, pixels, true_map, targets, steps=16)
    assert torch.allclose(good.fractions, torch.linspace(0, 1, 17))
    assert torch.all(good.saliency[:, 4:] == 0.5)  # the evidence is gone after a quarter of the pixels
    assert torch.all(good.saliency_auc < good.random_auc)
    again = deletion_check(probabilities, pixels, true_map, targets, steps=16)
    assert torch.equal(again.random, good.random)  # the random baseline is seeded
    # by each image's pixels: an image's numbers do not depend on its place among others (they did: the streams
    # were drawn in list order)
    mixed = torch.cat([torch.full((1, 1, 8, 8), 128.0), pixels[:1]])
    moved = deletion_check(probabilities, mixed, true_map[:2], targets[:2], steps=16)
    assert torch.equal(moved.random[1], good.random[0]) and torch.equal(moved.saliency[1], good.saliency[0])
    # brightest first: on a black image with the evidence bright, the ink order finds it as the true map does
    dark = torch.zeros(1, 1, 8, 8)
    dark[:, :, :4, :4] = 255
    ink = deletion_check(probabilities, dark, torch.rand(1, 8, 8), targets[:1], steps=16)
    assert torch.all(ink.bright[:, 4:] == 0.5) and ink.bright_auc < ink.random_auc


def test_deletion_curves_start_undeleted_step_exactly_and_draw_by_seed_and_fill():
    """The curve's first point is the untouched image and each step deletes exactly its share (a step that took one
    pixel too many passed); brightest first means farthest from the fill, white deleted last on a white fill; and
    the random baseline's seed is its seed."""

    def probabilities(p: torch.Tensor) -> torch.Tensor:
        evidence = p[:, 0, :4, :4].mean((1, 2)) / 25
        return torch.softmax(torch.stack([evidence, torch.zeros_like(evidence)], 1), 1)

    pixels, targets = torch.full((1, 1, 8, 8), 255.0), torch.zeros(1, dtype=torch.long)
    evidence_first = torch.zeros(1, 8, 8)
    evidence_first[:, :4, :4] = 1
    r = deletion_check(probabilities, pixels, evidence_first, targets, steps=16)
    assert r.saliency[0, 0] == probabilities(pixels)[0, 0]  # nothing deleted yet
    four_gone = pixels.clone()
    four_gone.view(-1)[[0, 1, 2, 3]] = 0  # step 1 of 16 is 4 of the 64 pixels, all evidence, whichever 4 they are
    assert torch.isclose(r.saliency[0, 1], probabilities(four_gone)[0, 0], rtol=0, atol=1e-6)
    assert not torch.equal(
        deletion_check(probabilities, pixels, torch.rand(1, 8, 8), targets, steps=16, seed=0).random,
        deletion_check(probabilities, pixels, torch.rand(1, 8, 8), targets, steps=16, seed=1).random,
    )

    def on_white(p: torch.Tensor) -> torch.Tensor:  # the evidence is the dark quarter's darkness
        return probabilities(255 - p)

    white = torch.full((1, 1, 8, 8), 255.0)
    white[:, :, :4, :4] = 0
    ink = deletion_check(on_white, white, torch.rand(1, 8, 8), targets, steps=16, fill=255)
    assert torch.all(ink.bright[:, 4:] == 0.5)  # the black quarter, farthest from a white fill, went first


def test_feature_maps_are_taken_before_an_inplace_layer_changes_them_and_scaled_per_channel():
    """A ReLU(inplace=True) after the hooked conv rewrote its maps unless they were copied; and each channel is
    scaled to its own range, so a channel 100x as strong shows the same picture."""
    from cnnlab.explain.features import feature_grid, feature_maps

    conv = torch.nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(-1)
    assert feature_maps(torch.nn.Sequential(conv, torch.nn.ReLU(inplace=True)), torch.ones(1, 1, 3, 3), "0").min() == -1
    a = torch.linspace(0, 1, 64).view(8, 8)
    assert np.array_equal(
        np.asarray(feature_grid(torch.stack([a, 100 * a]))), np.asarray(feature_grid(torch.stack([a, a])))
    )


def test_grad_cam_from_python_refuses_a_batch_size_below_one():
    with pytest.raises(CnnlabError, match="^batch_size must be at least 1"):
        grad_cam(create_model("lenet5"), torch.zeros(1, 1, 32, 32), batch_size=0)


def test_gradcam_passes_over_layers_of_1x1_maps():
    """LeNet-5's last conv layer, C5, turns 5x5 maps into 1x1: its Grad-CAM would be one value over the image (a
    flat overlay). By default Grad-CAM takes C3 (10x10), and C5 asked for by name is refused in one line."""
    from cnnlab.explain.gradcam import explained_layer, map_shapes

    torch.manual_seed(0)
    model = create_model("lenet5").eval()
    x = torch.randn(3, 1, 32, 32)
    sizes = {name: shape[1:] for name, shape in map_shapes(model, x).items() if name in conv_layers(model)}
    assert sizes == {"c1": (28, 28), "c3": (10, 10), "c5": (1, 1)}
    assert explained_layer(model, x, None)[0] == "c3" and explained_layer(model, x, "c1")[0] == "c1"
    cam = grad_cam(model, x)
    assert cam.layer == "c3" and cam.heatmaps.shape == (3, 32, 32)
    assert (cam.heatmaps.amax((1, 2)) > cam.heatmaps.amin((1, 2))).all()  # a map, not one value
    with pytest.raises(CnnlabError, match=r"^layer 'c5' gives 1x1 maps, so its Grad-CAM would be one value over the "):
        grad_cam(model, x, "c5")
    assert not any(m._forward_hooks for m in model.modules())  # the size probe's hooks are gone


def test_an_inception_nets_default_layer_is_its_last_block_and_blocks_can_be_named():
    """GoogLeNet's last conv layer is inception5b's pool branch, 128 of the 1,024 channels the block joins: the
    default explained an eighth of the last features (a weakly trained net's maps correlated about 0 with the
    block's). The default is the joining block now; any block with maps can be named, as a residual block."""
    from cnnlab.explain.gradcam import explained_layer

    torch.manual_seed(0)
    for name, block in (("googlenet", "inception5b"), ("inception_v3", "Mixed_7c")):
        net = create_model(name, num_classes=10).eval()
        x = torch.randn(1, *net.input_size)
        assert explained_layer(net, x, None)[0] == block
    net = create_model("resnet20").eval()
    x = torch.randn(2, *net.input_size)
    assert explained_layer(net, x, None)[0] == "layer3.2.conv2"  # a residual block adds into the same channels
    cam = grad_cam(net, x, "layer3.2")  # the block's output: after the shortcut's add and the ReLU
    assert cam.layer == "layer3.2" and cam.heatmaps.shape == (2, 32, 32)
    refused = r"--layer 'fc' gives no feature maps \(C, H, W\); conv layers: conv1, "
    with pytest.raises(CnnlabError, match=refused), cli_voice():
        grad_cam(net, x, "fc")
    with pytest.raises(CnnlabError, match=r"'avgpool' gives 1x1 maps"):
        grad_cam(net, x, "avgpool")


def strided_net() -> nn.Sequential:
    """A 1x1 conv of stride 2 that copies every other pixel of one plane (maps A = x[::2, ::2]), and a linear layer
    whose class 0 sums the maps (gradient 1 on every pixel) and class 1 is its negative."""
    net = nn.Sequential(nn.Conv2d(1, 1, 1, stride=2, bias=False), nn.Flatten(), nn.Linear(6, 2, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[2].weight.copy_(torch.stack([torch.ones(6), -torch.ones(6)]))
    return net


def test_a_map_is_upsampled_bilinearly_with_pixel_centres_aligned_to_a_non_square_input() -> None:
    """Grad-CAM's weight is the mean gradient, 1, so the map is A = [[1, 2, 3], [4, 5, 6]] on the 4x6 input's
    even pixels; upsampled by 2 with pixel centres aligned (align_corners=False), output pixel i reads source
    (i + 0.5) / 2 - 0.5, clamped: rows weigh (1, 0), (3/4, 1/4), (1/4, 3/4), (0, 1), and so do the columns
    between neighbours. Scaled to a maximum of 1."""
    from cnnlab.explain.gradcam import map_shapes

    x = torch.zeros(1, 1, 4, 6)
    x[0, 0, ::2, ::2] = torch.tensor([[1.0, 2, 3], [4, 5, 6]])
    net = strided_net()
    assert map_shapes(net, x) == {"0": (1, 2, 3)}
    rows = torch.tensor([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    cols = torch.tensor([[1, 0, 0], [0.75, 0.25, 0], [0.25, 0.75, 0], [0, 0.75, 0.25], [0, 0.25, 0.75], [0, 0, 1]])
    expected = rows @ torch.tensor([[1.0, 2, 3], [4, 5, 6]]) @ cols.T / 6
    cam = grad_cam(net, x)
    assert cam.heatmaps.shape == (1, 4, 6) and cam.layer == "0" and cam.targets.tolist() == [0]
    assert torch.allclose(cam.heatmaps[0], expected, atol=1e-6)


def test_frozen_weights_int32_targets_and_batches_of_one_give_the_same_maps() -> None:
    """A model whose weights are all frozen (a transfer run's base) still has gradients at its maps; class indices
    of any integer type are taken; the batch size only changes how many images go through at once."""
    torch.manual_seed(0)
    x = torch.rand(3, 1, 4, 6)
    net = strided_net()
    plain = grad_cam(net, x, target=0)
    for p in net.parameters():
        p.requires_grad_(False)
    frozen = grad_cam(net, x, target=torch.tensor([0, 0, 0], dtype=torch.int32), batch_size=1)
    assert torch.equal(frozen.heatmaps, plain.heatmaps) and frozen.targets.dtype == torch.long
    assert torch.equal(frozen.probabilities, plain.probabilities)


def test_maps_of_one_row_of_two_pixels_are_maps_and_of_one_pixel_are_not() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(4, 3))
    assert grad_cam(net, torch.rand(2, 1, 1, 2)).layer == "0"  # 1x2: a map of two pixels
    with pytest.raises(CnnlabError) as e:
        grad_cam(nn.Sequential(nn.Conv2d(1, 2, 1), nn.Flatten(), nn.Linear(2, 3)), torch.rand(2, 1, 1, 1))
    assert str(e.value) == "every conv layer of the model gives 1x1 maps; Grad-CAM needs maps of several pixels"
    with pytest.raises(CnnlabError) as e:
        grad_cam(nn.Sequential(nn.Conv2d(1, 2, 1), nn.Flatten(), nn.Linear(2, 3)), torch.rand(2, 1, 1, 1), "0")
    assert str(e.value) == (
        "layer '0' gives 1x1 maps, so its Grad-CAM would be one value over the whole image; choose a layer with "
        "larger maps: none has them"
    )
    with pytest.raises(CnnlabError) as e:
        grad_cam(create_model("lenet5"), torch.rand(1, 1, 32, 32), "c5")
    assert str(e.value).endswith("; choose a layer with larger maps: c1, c3")


class Joined(nn.Module):
    """Two 1x1 conv branches of 2 and 4 maps, concatenated: an inception module's shape."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 2, 1), nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], 1)


def test_the_default_layer_is_the_block_that_joins_the_last_convs_maps_and_no_block_beyond_it() -> None:
    """features.mix joins conv features.mix.b's 4 maps with 2 more at the same size; features pools them to half,
    so the block to explain is features.mix, the innermost block around the conv."""
    from collections import OrderedDict

    from cnnlab.explain.gradcam import explained_layer, joining_block

    mix = nn.Sequential(OrderedDict(mix=Joined(), pool=nn.MaxPool2d(2)))
    net = nn.Sequential(OrderedDict(features=mix, gap=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(6, 3)))
    x = torch.rand(2, 3, 8, 8)
    assert explained_layer(net, x, None)[0] == "features.mix"
    assert grad_cam(net, x).heatmaps.shape == (2, 8, 8)
    shapes = {"s.m.b": (4, 8, 8), "s.m": (6, 8, 8), "s": (6, 8, 8), "s.n": (9, 8, 8)}
    assert joining_block("s.m.b", shapes) == "s"  # the outermost of the blocks that join at its size
    assert joining_block("s.m.b", {**shapes, "s": (6, 4, 4)}) == "s.m"
    assert joining_block("s.m.b", {"s.m.b": (4, 8, 8), "s.m": (4, 8, 8)}) == "s.m.b"  # same channels: no join


def test_each_refusal_names_the_layers_that_would_do() -> None:
    class Unused(nn.Module):  # a conv layer the forward pass never reaches, registered before the one it does
        def __init__(self) -> None:
            super().__init__()
            self.spare, self.conv, self.fc = nn.Conv2d(1, 2, 3), nn.Conv2d(1, 2, 3), nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(x).mean((2, 3)))

    x = torch.rand(1, 1, 6, 6)
    for layer, voice, message in [
        ("spare", False, "the chosen layer gave no (N, C, H, W) output in the forward pass; choose another layer"),
        ("spare", True, "the chosen layer gave no (N, C, H, W) output in the forward pass; choose another --layer"),
        ("nope", False, "layer 'nope' is not a layer of the model; conv layers: spare, conv (or a block that gives maps)"),
        ("fc", True, "--layer 'fc' gives no feature maps (C, H, W); conv layers: spare, conv (or a block that gives maps)"),
    ]:  # fmt: skip
        with pytest.raises(CnnlabError) as e:
            if voice:
                with cli_voice():
                    grad_cam(Unused(), x, layer)
            else:
                grad_cam(Unused(), x, layer)
        assert str(e.value) == message
    assert find_conv_layer(Unused(), "spare")[0] == "spare" and find_conv_layer(Unused(), None)[0] == "conv"
    for name, message in [
        ("fc", "layer 'fc' is not a convolutional layer; conv layers: spare, conv"),
        ("nope", "layer 'nope' is not a layer of the model; conv layers: spare, conv"),
    ]:
        with pytest.raises(CnnlabError) as e:
            find_conv_layer(Unused(), name)
        assert str(e.value) == message
    with cli_voice(), pytest.raises(CnnlabError, match=r"^--layer 'fc' is not a convolutional layer; conv layers"):
        find_conv_layer(Unused(), "fc")
    with pytest.raises(CnnlabError) as e:
        grad_cam(nn.Sequential(nn.Flatten(), nn.Linear(36, 2)), x)
    assert str(e.value) == "the model has no convolutional layer to explain; Grad-CAM needs one"
    with pytest.raises(CnnlabError) as e:
        grad_cam(Unused(), x, method="cam")
    assert str(e.value) == "method 'cam' is not one of gradcam, gradcam++"
    with cli_voice(), pytest.raises(CnnlabError, match=r"^--method 'cam' is not one of gradcam, gradcam\+\+$"):
        grad_cam(Unused(), x, method="cam")


def test_deletion_areas_are_over_the_fraction_deleted_and_ties_go_in_a_seeded_order() -> None:
    """A classifier that ignores the image keeps 1/2 at every step: the area under it over fractions 0..1 is 1/2
    (over step numbers it would be 10). One that reads pixels by position makes the order of tied heatmap values
    show: the same seed gives the same curves, another seed other ones."""

    def constant(p: torch.Tensor) -> torch.Tensor:
        return torch.full((len(p), 2), 0.5)

    pixels, targets = torch.full((2, 1, 8, 8), 200.0), torch.zeros(2, dtype=torch.long)
    flat = deletion_check(constant, pixels, torch.ones(2, 8, 8), targets)
    assert torch.equal(flat.saliency_auc, torch.full((2,), 0.5)) and torch.equal(flat.random_auc, torch.full((2,), 0.5))
    assert flat.fractions.dtype == torch.float32 and flat.fractions[-1] == 1

    weights = torch.linspace(0, 1, 64)

    def by_position(p: torch.Tensor) -> torch.Tensor:
        score = (p[:, 0].reshape(len(p), -1) * weights).sum(1) / 2000
        return torch.softmax(torch.stack([score, -score], 1), 1)

    ties = torch.ones(2, 8, 8)
    once, again = (deletion_check(by_position, pixels, ties, targets, seed=5) for _ in range(2))
    assert torch.equal(once.saliency, again.saliency)
    assert not torch.equal(once.saliency, deletion_check(by_position, pixels, ties, targets, seed=6).saliency)


def test_deletion_of_many_images_in_several_model_calls_matches_each_image_alone() -> None:
    """30 images x 3 orders x 21 steps are 1,890 images to score, sent in calls of 256: every chunk after the
    first must score its own (order, step) pairs."""
    from cnnlab.explain.deletion import CHUNK

    torch.manual_seed(0)
    pixels = torch.randint(0, 256, (30, 1, 6, 6)).float()
    heat, targets = torch.rand(30, 6, 6), torch.zeros(30, dtype=torch.long)

    def probabilities(p: torch.Tensor) -> torch.Tensor:
        score = p[:, 0, :3].mean((1, 2)) / 100
        return torch.softmax(torch.stack([score, -score], 1), 1)

    together = deletion_check(probabilities, pixels, heat, targets)
    assert 3 * 30 * len(together.fractions) > 7 * CHUNK
    alone = deletion_check(probabilities, pixels[-1:], heat[-1:], targets[-1:])
    assert torch.allclose(together.saliency[-1], alone.saliency[0], atol=1e-6)
    assert torch.allclose(together.bright[-1], alone.bright[0], atol=1e-6)


def test_a_feature_grid_scales_each_channel_to_its_own_range_in_tiles_of_48_pixels() -> None:
    """An 8x8 map is drawn 6x larger (48 pixels, the tiles' least side); a channel shifted by 5 and halved shows
    the same picture as the plain one; the colour map is the one asked for."""
    from cnnlab.explain.features import feature_grid
    from cnnlab.explain.images import GAP

    a = torch.linspace(0, 1, 64).view(8, 8)
    shifted = feature_grid(torch.stack([a, 0.5 * a + 5]))
    assert np.array_equal(np.asarray(shifted), np.asarray(feature_grid(torch.stack([a, a]))))
    assert shifted.size == (2 * 48 + 3 * GAP, 48 + 2 * GAP)  # two tiles side by side in one row
    grey = np.asarray(feature_grid(a[None], cmap="gray"))
    tile = grey[GAP : GAP + 48, GAP : GAP + 48]
    assert (tile[..., 0] == tile[..., 1]).all() and tile[0, 0, 0] == 0 and tile[-1, -1, 0] == 255
    assert (tile[:6, :6] == tile[0, 0]).all()  # each map pixel is a 6x6 block
