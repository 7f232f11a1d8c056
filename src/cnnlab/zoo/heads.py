"""The kind of output a network file ends in, made so that every network returns class logits.

cnnlab trains with cross-entropy on logits and turns logits into probabilities where it reports them (predict,
gradcam). Keras models end in their activation instead, and two habits carried over hurt silently:

- a final softmax feeds probabilities to a cross-entropy that applies log-softmax again: training stalls (issue
  #15: 1,000 MNIST digits, 2 epochs, loss 1.80 and 74.8% validation against 0.63 and 84.0% without it). The
  declared softmax (or sigmoid) stays in the network as a `FinalActivation` the summary shows, passing logits on.
- `Dense(1, activation="sigmoid")` with binary cross-entropy, the material's cats-vs-dogs head: one unit is made
  the two-class logits of `BinaryLogits`, which the same cross-entropy, accuracy and softmax read exactly as Keras'
  binary cross-entropy, `sigmoid > 0.5` and `(1 - p, p)`. The head kind is thus decided once, here, when the
  network is built; nothing downstream asks which kind it is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Layers = list[tuple[str, nn.Module]]
FINAL = {"softmax": nn.Softmax, "sigmoid": nn.Sigmoid}


class FinalActivation(nn.Module):
    """A declared final softmax or sigmoid: shown as a layer, applied where probabilities are reported."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def extra_repr(self) -> str:
        return f"{self.kind}, applied by predict (training takes the logits)"


class BinaryLogits(nn.Module):
    """One sigmoid unit z as two-class logits (-z/2, z/2), whose softmax is (1 - sigmoid(z), sigmoid(z)).

    Cross-entropy on them is log(1 + e^-z) for the second class and log(1 + e^z) for the first: binary
    cross-entropy on the logit z (Keras' `BinaryCrossentropy(from_logits=True)`), and their argmax is z > 0. The
    second class is the positive one, as in Keras' `flow_from_directory` (classes sorted by name: cats 0, dogs 1)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([-z / 2, z / 2], 1)


def output_layers(
    layers: Layers, num_classes: int, name: Callable[[str], str], fail: Callable[[str], Exception]
) -> Layers:
    """`layers` ending in class logits: a declared final softmax/sigmoid kept as a `FinalActivation`, a one-unit
    dense layer followed by `BinaryLogits`. `name(kind)` names a new layer; `fail(msg)` makes the error to raise."""
    declared = next((kind for kind, cls in FINAL.items() if isinstance(layers[-1][1], cls)), None)
    body = layers[:-1] if declared else layers
    last = body[-1][1] if body else None
    one_unit = isinstance(last, nn.Linear) and last.out_features == 1
    if one_unit:
        if declared == "softmax":
            raise fail("a softmax over one unit is always 1; end a one-unit (binary) head with sigmoid")
        if num_classes != 2:
            raise fail(
                f"a one-unit sigmoid head tells two classes apart, but there are {num_classes}: use units = "
                '"num_classes" (and softmax or no activation) for more'
            )
        return [*body, (layers[-1][0] if declared else name("sigmoid"), BinaryLogits())]
    if declared == "sigmoid" and isinstance(last, nn.Linear):
        raise fail(
            f"a final sigmoid over {last.out_features} units scores each class on its own (multi-label); for one "
            'label per image use units = 1 with two classes, or softmax over units = "num_classes"'
        )
    if declared:
        return [*body, (layers[-1][0], FinalActivation(declared))]
    return layers


def head_note(model: nn.Module) -> str | None:
    """What training does with the network's final activation, to say once at the start; None for plain logits."""
    children = list(model.named_children())
    if not children:
        return None
    name, last = children[-1]
    if isinstance(last, FinalActivation):
        return (
            f"the final {last.kind} ({name}) is left out of training: cross-entropy takes logits, and a {last.kind} "
            "before it would squash them twice; predict still reports probabilities"
        )
    if isinstance(last, BinaryLogits):
        return (
            f"one sigmoid unit ({name}): trained with binary cross-entropy on its logit (as Keras' from_logits=True);"
            " accuracy counts logit > 0 as the second class; predict reports both classes' probabilities"
        )
    return None
