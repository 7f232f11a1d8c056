"""Seeing inside a trained network: Grad-CAM (gradcam), its faithfulness check (deletion), feature maps
(features), learned kernels (filters), classic image kernels (kernels), pictures (images), the report gallery
(gallery).

`load_run` is the one way these get a run's model and turn image files into its inputs, so an explanation sees
exactly what `cnnlab predict` feeds the network.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.errors import CnnlabError

PREDICT_BATCH = 256


@dataclass(frozen=True)
class LoadedRun:
    """A run's trained model with what is needed to feed it: classes, input shape, pixel scale and mean/std."""

    model: nn.Module
    classes: list[str]
    input_shape: tuple[int, int, int]
    adaptation: dict[str, Any]
    scale: float
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    def to_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels (N, C, H, W) in 0..255, uint8 or float, -> the float tensor the model was trained on."""
        x = pixels.float() * self.scale
        if self.mean is not None and self.std is not None:
            x = (x - torch.tensor(self.mean).view(1, -1, 1, 1)) / torch.tensor(self.std).view(1, -1, 1, 1)
        return x

    @torch.no_grad()
    def probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """Softmax class probabilities (N, classes) for pixels in 0..255, in batches."""
        return torch.cat([torch.softmax(self.model(self.to_input(pixels[i:i + PREDICT_BATCH])), 1)
                          for i in range(0, len(pixels), PREDICT_BATCH)])

    def read_images(self, paths: list[str | Path]) -> torch.Tensor:
        """Image files as uint8 (N, C, H, W) at the model's input shape, adapted as the training data was."""
        from cnnlab.data import adapt
        from cnnlab.train.inference import load_image

        out = []
        for path in paths:
            x = load_image(path)
            same_source = list(x.shape[-2:]) == list(self.adaptation.get("source_shape", [])[1:])
            out.append(adapt(x, self.input_shape, "pad" if self.adaptation.get("mode") == "pad" and same_source else "resize"))
        return torch.cat(out)

    def class_index(self, text: str) -> int:
        """A class given by name (as the run lists them) or by index."""
        if text in self.classes:
            return self.classes.index(text)
        if text.lstrip("-").isdigit() and 0 <= int(text) < len(self.classes):
            return int(text)
        shown = ", ".join(self.classes[:20]) + (", ..." if len(self.classes) > 20 else "")
        raise CnnlabError(f"--class {text!r} is neither a class name nor an index 0..{len(self.classes) - 1}; "
                          f"classes: {shown}")


def load_run(path: str | Path) -> LoadedRun:
    """The best checkpoint of a run directory, in eval mode on the CPU."""
    from cnnlab.train.run import RunDir

    model, meta = RunDir(Path(path)).load_model("best")
    return LoadedRun(model=model, classes=list(meta["classes"]), input_shape=tuple(meta["input_shape"]),
                     adaptation=meta.get("adapt") or {}, scale=float(meta.get("scale", 1 / 255)),
                     mean=tuple(meta["mean"]) if meta.get("mean") else None,
                     std=tuple(meta["std"]) if meta.get("std") else None)
