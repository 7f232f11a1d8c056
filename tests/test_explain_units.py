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
