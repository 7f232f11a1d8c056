"""Does a model fit an input, and this machine? Probed on the meta device, so the answer costs no memory and
comes before training allocates anything."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from torch import nn

from cnnlab.analysis.summary import ModelSummary, summarize
from cnnlab.errors import CnnlabError
from cnnlab.memory import FLOAT_BYTES, require_memory
from cnnlab.zoo.meta import meta_device


def check_fits(
    model: nn.Module | str, input_shape: Sequence[int], num_classes: int | None = None, **options
) -> ModelSummary:
    """Raise a one-line CnnlabError when `model` cannot run on `input_shape` (C, H, W), e.g. a layer would shrink
    it below its kernel, or when its parameters and activations (batch of one) exceed this machine's memory.

    `model` is an nn.Module or a zoo name / TOML path, built on the meta device with `num_classes`, the input's
    channels and `options` (e.g. image_size). Returns the summary the check made."""
    shape = tuple(int(v) for v in input_shape)
    if isinstance(model, str):
        from cnnlab.zoo import create_model

        with meta_device(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "zero-element tensors": summarize says what is wrong
            model = create_model(model, num_classes=num_classes, in_channels=shape[0], **options)
    name = getattr(model, "model_name", type(model).__name__)
    where = "x".join(map(str, shape))
    try:
        summary = summarize(model, shape)
    except CnnlabError as e:  # a layer's name and sizes; torch's own shape errors come already naming the model
        text = str(e)
        raise CnnlabError(
            text if text.startswith(f"{name} cannot run") else f"model {name} cannot take input {where}: {text}"
        ) from None
    require_memory(
        FLOAT_BYTES * (summary.params + summary.activations),
        f"model {name} at input {where}",
        f"{summary.params:,} parameters and their activations",
        "use a smaller --input or a smaller model",
    )
    return summary
