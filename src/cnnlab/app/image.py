"""One image through a run's model, for the app: the top-k classes exactly as `cnnlab predict` computes them, the
Grad-CAM overlay of the top class (as `cnnlab gradcam` draws it) and the first conv layer's feature maps (as
`cnnlab features` draws them). No gradio here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnlab.errors import CnnlabError
from cnnlab.explain.features import feature_grid, feature_maps
from cnnlab.explain.gallery import overlays, run_cam
from cnnlab.explain.gradcam import conv_layers
from cnnlab.explain.images import display_scale, to_image
from cnnlab.train.inference import LoadedRun, image_pixels, load_image, top_classes

ImageInput = str | Path | Image.Image | np.ndarray


@dataclass(frozen=True)
class ImageExplanation:
    top: list[tuple[str, float]]  # the top-k (class, probability), most probable first
    seen: Image.Image  # the image as the model sees it (adapted to its input shape), enlarged
    gradcam: Image.Image  # Grad-CAM of the top class over the image (explain.gradcam.explained_layer's layer)
    cam_layer: str
    features: Image.Image  # the first conv layer's feature maps, one tile per channel
    feature_layer: str


def pixels_of(image: ImageInput) -> torch.Tensor:
    """uint8 (1, C, H, W) from an image file (read as `cnnlab predict` reads it), a Pillow image or a uint8 array
    (H, W) or (H, W, 3 or 4)."""
    if isinstance(image, str | Path):
        return load_image(image)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise CnnlabError(
                f"an image array must be uint8 (H, W) or (H, W, 3 or 4), got {image.dtype} {image.shape}; "
                "convert it, e.g. with (a * 255).round().astype('uint8') for floats in [0, 1]"
            )
        image = Image.fromarray(image)
    return image_pixels(image)


def drawing(canvas: np.ndarray | None, invert: bool) -> np.ndarray:
    """A drawing from the canvas (uint8 (H, W), dark strokes on white) as an image array: inverted to light strokes
    on black when `invert` (MNIST digits are white on black). An empty canvas is an error."""
    if canvas is None or canvas.min() == canvas.max():
        raise CnnlabError("the canvas is empty; draw something on it first")
    return 255 - canvas if invert else canvas


def explain_image(run: LoadedRun, image: ImageInput, topk: int = 3) -> ImageExplanation:
    """Top-k classes, Grad-CAM overlay and first-layer feature maps for one image, adapted to the run's input as
    `cnnlab predict` adapts it (with the run's test-time augmentation for the probabilities)."""
    pixels = run.adapt_image(pixels_of(image))
    cam = run_cam(run, pixels)
    top = top_classes(cam.probabilities[0], run.classes, topk)
    x = run.to_input(pixels)
    first = next(iter(conv_layers(run.model)))
    seen = pixels[0].permute(1, 2, 0).float().div(255).numpy()
    return ImageExplanation(
        top=top,
        seen=to_image(seen[..., 0] if seen.shape[2] == 1 else seen, display_scale(*seen.shape[:2])),
        gradcam=overlays(pixels, cam.heatmaps)[0],
        cam_layer=cam.layer,
        features=feature_grid(feature_maps(run.model, x, first)),
        feature_layer=first,
    )
