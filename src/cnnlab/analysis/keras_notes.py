"""Where Keras semantics differ from PyTorch for the layers of a summary (shown with --convention keras)."""

from __future__ import annotations

from cnnlab.analysis.receptive import conv_output
from cnnlab.analysis.summary import ModelSummary

# keras.applications models that are built differently from ours: (Keras' total params, Keras' non-trainable
# params, torchvision's parameters (ours, 1000 classes), how they differ), counted from keras.applications
# ResNet50/101/152(weights=None) in Keras 3.15 and from our models.
KERAS_REFERENCES = {
    "resnet50": (25_636_712, 53_120, 25_557_032, "biases on its convolutions"),
    "resnet101": (44_707_176, 105_344, 44_549_160, "biases on its convolutions"),
    "resnet152": (60_419_944, 151_424, 60_192_808, "biases on its convolutions"),
}
KERAS_NAMES = {"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152"}


def reference_notes(summary: ModelSummary) -> list[str]:
    """One line where the keras.applications model of the same name differs from ours, so that a Keras
    `model.summary()` of it is not expected to match (said, not forced)."""
    if summary.base_model in KERAS_REFERENCES:  # a network built on one of them (net:resnet50-head)
        biases = sum(r.output_shape[0] for r in summary.leaves if r.kind == "conv" and r.name.startswith("base."))
        return [
            f"{summary.model_name}: its base, Keras' {KERAS_NAMES[summary.base_model]}(include_top=False), has "
            f"{KERAS_REFERENCES[summary.base_model][3]} (one per filter, {biases:,} here); torchvision's (ours) "
            "has none, so Keras' parameter counts are higher by that many"
        ]
    ref = KERAS_REFERENCES.get(summary.model_name)
    if ref is None:
        return []
    total, non_trainable, ours, how = ref
    name = KERAS_NAMES[summary.model_name]
    if summary.params != ours:  # other classes or channels: the published counts do not apply as they are
        return [f"{summary.model_name}: Keras' {name} has {how}; torchvision's (ours) has none"]
    return [
        f"{summary.model_name}: Keras' {name} has {how} ({total:,} total, {non_trainable:,} non-trainable), "
        f"torchvision's (ours) has none ({ours:,} parameters plus batch-norm buffers)"
    ]


def notes_for(summary: ModelSummary) -> list[str]:
    """One line per layer that Keras would refuse or build differently."""
    notes: list[str] = []
    for r in summary.leaves:
        if "LocalResponseNorm" in r.type:
            notes.append(f"{r.name}: Keras has no LRN layer; use tf.nn.local_response_normalization in a Lambda layer")
        if r.geometry is None:
            continue
        k, s, p, d, ceil = r.geometry
        conv = r.type.startswith("Conv")
        if conv and s > 1 and d > 1:
            notes.append(
                f"{r.name}: Keras Conv2D refuses strides={s} with dilation_rate={d} (ValueError: strides > 1 "
                "not supported in conjunction with dilation_rate > 1); PyTorch allows it"
            )
        pw = r.geometry_w[2] if r.geometry_w else p
        if conv and max(p, pw) > 0 and r.type != "Conv2dSame" and r.output_shape[1:] != r.input_shape[1:]:
            pad = p if p == pw else (p, pw)
            notes.append(f"{r.name}: Keras has no numeric padding; use ZeroPadding2D({pad}) then padding='valid'")
        if ceil and len(r.input_shape) == 3:
            floor = conv_output(r.input_shape[1], k, s, p, d, False)
            if floor != r.output_shape[1]:
                notes.append(
                    f"{r.name}: Keras pooling has no ceil_mode; with 'valid' it gives {floor} instead of "
                    f"{r.output_shape[1]} here"
                )
    return notes
