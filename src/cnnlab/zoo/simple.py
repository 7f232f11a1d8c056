"""Small networks people start with: the PyTorch tutorial Net, the Keras MNIST CNN, and an MLP."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from cnnlab.zoo.registry import register_model


@register_model(
    "tutorial-net",
    family="simple",
    input_size=(3, 32, 32),
    num_classes=10,
    description="the PyTorch CIFAR-10 tutorial Net: conv 6 and 16 5x5, fc 120, 84",
)
def tutorial_net(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """The tutorial's layers with its functional ReLU/pooling made modules, so each shows in the summary."""
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(in_channels, 6, 5)),
                ("relu1", nn.ReLU()),
                ("pool1", nn.MaxPool2d(2, 2)),
                ("conv2", nn.Conv2d(6, 16, 5)),
                ("relu2", nn.ReLU()),
                ("pool2", nn.MaxPool2d(2, 2)),
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(16 * 5 * 5, 120)),
                ("relu3", nn.ReLU()),
                ("fc2", nn.Linear(120, 84)),
                ("relu4", nn.ReLU()),
                ("fc3", nn.Linear(84, num_classes)),
            ]
        )
    )


@register_model(
    "mnist-cnn",
    family="simple",
    input_size=(1, 28, 28),
    num_classes=10,
    description="3 x (conv 3x3 same + ReLU + max-pool 2) with 32/64/128 filters, dense 128, dense 10",
)
def mnist_cnn(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """The seed network of the MNIST benchmark, equal to its Keras Sequential twin (valid pooling floors 7 -> 3)."""
    layers: list[tuple[str, nn.Module]] = []
    c, size = in_channels, image_size
    for i, filters in enumerate((32, 64, 128), start=1):
        layers += [
            (f"conv{i}", nn.Conv2d(c, filters, 3, padding=1)),
            (f"relu{i}", nn.ReLU(inplace=True)),
            (f"pool{i}", nn.MaxPool2d(2)),
        ]
        c, size = filters, size // 2
    layers += [
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(c * size * size, 128)),
        ("relu4", nn.ReLU(inplace=True)),
        ("fc2", nn.Linear(128, num_classes)),
    ]
    model = nn.Sequential(OrderedDict(layers))
    model.input_size = (in_channels, image_size, image_size)
    return model


@register_model(
    "mlp",
    family="simple",
    input_size=(1, 28, 28),
    num_classes=10,
    description="a multilayer perceptron, hidden sizes configurable (default 256, 128)",
)
def mlp(
    num_classes: int = 10, in_channels: int = 1, hidden: Sequence[int] = (256, 128), image_size: int = 28
) -> nn.Module:
    """Flatten, then Linear+ReLU per hidden size, then the output layer (784-256-128-10 by default)."""
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    width = in_channels * image_size * image_size
    for i, h in enumerate(hidden, start=1):
        layers += [(f"fc{i}", nn.Linear(width, int(h))), (f"relu{i}", nn.ReLU(inplace=True))]
        width = int(h)
    layers.append((f"fc{len(hidden) + 1}", nn.Linear(width, num_classes)))
    model = nn.Sequential(OrderedDict(layers))
    model.input_size = (in_channels, image_size, image_size)
    return model
