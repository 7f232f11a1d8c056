"""Grad-CAM from Python on a model still in training mode (as create_model returns it, or as a notebook leaves it
mid-training): grad_cam puts it in eval mode, so batch norm uses its running statistics and an image's map does
not depend on the images batched with it.

Written for mutation round 5: kills a mutant of explain/gradcam.py (no eval()) the suite let live, since its batch
test put the model in eval mode itself."""

from __future__ import annotations

import torch

from cnnlab.explain.gradcam import grad_cam
from cnnlab.zoo import create_model


def test_an_images_map_does_not_depend_on_its_batch_for_a_model_left_in_training_mode() -> None:
    torch.manual_seed(0)
    net = create_model("resnet18-cifar", num_classes=10)
    assert net.training
    x = torch.randn(5, *net.input_size)
    whole = grad_cam(net, x, batch_size=64)
    assert not net.training
    alone = torch.cat([grad_cam(net, x[i : i + 1]).heatmaps for i in range(len(x))])
    assert torch.allclose(whole.heatmaps, alone, atol=1e-4)
    assert torch.equal(whole.targets, net(x).argmax(1))  # the classes the model in eval mode predicts
