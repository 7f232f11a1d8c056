"""What an exported model carries besides its graph: everything needed to feed it and read its output without
cnnlab's run directory. Stored as ONNX metadata_props (string keys, JSON values) or TorchScript _extra_files
(one JSON file), in the spirit of Hugging Face's preprocessor_config.json beside a model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.rundir.config import mirror_warning

PREFIX = "cnnlab."  # every key cnnlab writes in an ONNX file's metadata_props
SCHEMA = 1  # bumped when a key changes meaning
EXTRA_FILE = "cnnlab.json"  # the TorchScript extra file holding the same keys


@dataclass(frozen=True)
class ModelCard:
    """How to feed an exported model and read its output: images become uint8 (N, C, H, W) with C = len of
    `channel_order` (RGB, or L for grayscale); each is brought to the training images' size `adapt.source_shape`
    (cnnlab.imagefile.to_size) and fitted to `input_shape` as `adapt` says (pad: centred zero padding; otherwise
    antialiased bilinear resize);
    then input = (pixels * pixel_scale - mean * pixel_scale * 255) / (std * pixel_scale * 255), mean/std in 0..1
    units (none: no standardising). The graph's output is logits over `classes`, averaged over the `tta` views
    (one of cnnlab.rundir.config.TTA_VIEWS), which are built into the graph. `mirror_safe` is False for digits,
    whose mirror images change class (files written before it existed read True)."""

    model: str
    classes: list[str]
    input_shape: list[int]
    channel_order: str
    pixel_scale: float
    mean: list[float] | None
    std: list[float] | None
    adapt: dict[str, Any]
    tta: str
    opset: int | None = None
    mirror_safe: bool = True
    schema: int = SCHEMA

    def to_props(self) -> dict[str, str]:
        """The card as ONNX metadata_props: one key per field, each value JSON."""
        return {PREFIX + k: json.dumps(v) for k, v in asdict(self).items()}

    def views_warning(self, source: str) -> str | None:
        """Training's warning for flips on digits (cnnlab.train.setup.flip_warning) for the views built into the
        file `source`."""
        remedy = "export the run again with `cnnlab export RUN --tta translate`"
        return None if self.mirror_safe else mirror_warning(source, None, self.tta, remedy)

    @classmethod
    def from_props(cls, props: dict[str, str], source: str) -> ModelCard:
        """The card read back from metadata_props (or the TorchScript extra file's keys); `source` names the file
        in errors."""
        names = [f.name for f in fields(cls)]
        if PREFIX + "schema" not in props:
            raise CnnlabError(
                f"{source} has no cnnlab metadata (keys {PREFIX}*): export the model with `cnnlab export RUN --out FILE`"
            )
        try:
            values = {n: json.loads(props[PREFIX + n]) for n in names if PREFIX + n in props}
            card = cls(**values)
        except (ValueError, TypeError) as e:
            raise CnnlabError(f"{source} has damaged cnnlab metadata ({e}); export the model again") from None
        if card.schema != SCHEMA:
            raise CnnlabError(
                f"{source} has cnnlab metadata schema {card.schema}, this cnnlab reads {SCHEMA}; export it again"
            )
        return card
