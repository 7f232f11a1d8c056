"""Where Keras semantics differ from PyTorch for the layers of a summary (shown with --convention keras)."""

from __future__ import annotations

from cnnlab.analysis.receptive import conv_output
from cnnlab.analysis.summary import ModelSummary


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
