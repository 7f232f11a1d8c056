"""The explanations as Python functions that return pictures: `gradcam`, `features`, `filters` and `filter`, the
same work as the commands of those names (which call these and save the pictures). In Jupyter the results show
inline (`_repr_png_`); `.save(path)` writes the PNG the command writes.

A run is a run directory or a LoadedRun (opened once with load_run, to explain many images); images are files or
Pillow images (adapted as `cnnlab predict` adapts them) or uint8 pixels (N, C, H, W) already at the model's input
shape, such as `run.data().test_x[:8]`, as a tensor or a NumPy array (LoadedRun.pixels reads them all)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnlab.errors import CnnlabError
from cnnlab.explain.deletion import DeletionResult, deletion_check
from cnnlab.explain.features import feature_grid, feature_maps
from cnnlab.explain.filters import conv_kernels, filter_grid
from cnnlab.explain.gallery import cam_labels, overlays, run_cam
from cnnlab.explain.gradcam import CamResult
from cnnlab.explain.images import grid, png_bytes, save_png
from cnnlab.explain.kernels import Kernel, filter_lab, get_kernel
from cnnlab.train.inference import Images, LoadedRun, image_pixels, load_image, load_run, planes_first, uint8_pixels


@dataclass(frozen=True)
class Picture:
    """An explanation's picture, the line that says what it shows (the line the command prints) and the layer it
    shows, if any."""

    image: Image.Image
    text: str
    layer: str | None = None

    def save(self, path: str | Path) -> Path:
        return save_png(self.image, path)

    def _repr_png_(self) -> bytes:
        return png_bytes(self.image)

    def __repr__(self) -> str:
        return f"<{self.image.width}x{self.image.height} picture: {self.text}>"


@dataclass(frozen=True)
class GradCam:
    """Grad-CAM maps of a set of images: one overlay per image (`tiles`, labelled by `labels`), the deletion check,
    and the grid of all of them, which is what Jupyter shows."""

    method: str
    cam: CamResult
    check: DeletionResult
    tiles: list[Image.Image]
    labels: list[str]

    @property
    def grid(self) -> Image.Image:
        return grid(self.tiles, self.labels)

    def header(self) -> str:
        return (
            f"{self.method} at layer {self.cam.layer}; deletion AUC: lower is better; baselines without a model: "
            "random order, and brightest pixels first"
        )

    def line(self, i: int) -> str:
        """Image i's prediction and its deletion AUC against the random baseline."""
        return (
            f"{self.labels[i]}; deletion AUC {self.check.saliency_auc[i]:.3f} (random {self.check.random_auc[i]:.3f}, "
            f"brightest first {self.check.bright_auc[i]:.3f})"
        )

    def footer(self) -> str:
        return (
            f"mean deletion AUC over {len(self.tiles)} image(s): {self.check.saliency_auc.mean():.3f} "
            f"(random {self.check.random_auc.mean():.3f}, brightest first {self.check.bright_auc.mean():.3f})"
        )

    def save(self, path: str | Path) -> Path:
        """The grid as one PNG."""
        return save_png(self.grid, path)

    def _repr_png_(self) -> bytes:
        return png_bytes(self.grid)

    def __repr__(self) -> str:
        return "\n".join([self.header(), *(self.line(i) for i in range(len(self.tiles))), self.footer()])


def _run(run: str | Path | LoadedRun) -> LoadedRun:
    return run if isinstance(run, LoadedRun) else load_run(run)


def gradcam(
    run: str | Path | LoadedRun,
    images: Images,
    layer: str | None = None,
    target: int | str | None = None,
    method: str = "gradcam",
    batch_size: int = 32,
) -> GradCam:
    """Explain each image's predicted class (or `target`, by name or index) at conv layer `layer` (default: the
    last), with the deletion check against a random order."""
    run = _run(run)
    pixels = run.pixels(images)
    index = None if target is None else run.class_index(str(target))
    cam = run_cam(run, pixels, layer, index, method, batch_size)
    check = deletion_check(run.probabilities, pixels, cam.heatmaps, cam.targets)
    return GradCam(method, cam, check, overlays(pixels, cam.heatmaps), cam_labels(run, cam))


def features(run: str | Path | LoadedRun, image: Images, layer: str) -> Picture:
    """Every channel of one layer's output for one image, each scaled to its own range."""
    run = _run(run)
    pixels = run.pixels(image)
    if len(pixels) != 1:  # the first was shown, the others passed over without a word
        raise CnnlabError(f"features shows the maps of one image, got {len(pixels)}; give one (e.g. images[0])")
    maps = feature_maps(run.model, run.to_input(pixels), layer)
    shape = f"{maps.shape[1]}x{maps.shape[2]}"
    return Picture(feature_grid(maps), f"{maps.shape[0]} feature maps of {shape} from layer {layer}", layer)


def filters(run: str | Path | LoadedRun, layer: str | None = None, channels: str = "mean") -> Picture:
    """The learned kernels of a conv layer (default: the first), each scaled to its own range."""
    name, weight = conv_kernels(_run(run).model, layer)
    out_c, in_c, kh, kw = weight.shape
    return Picture(filter_grid(weight, channels), f"{out_c} kernels of {in_c}x{kh}x{kw} from layer {name}", name)


def filter(image: str | Path | Image.Image | torch.Tensor | np.ndarray, kernel: Kernel) -> Picture:
    """The image-filter lab: `kernel` (a built-in name, a kernel file, or k rows of k numbers: a list of lists, an
    array or a tensor) on the image's grayscale version and on R, G and B, beside the image (uint8 pixels as C, H, W,
    H, W, C or grey H, W, a Pillow image or an image file)."""
    if isinstance(image, torch.Tensor | np.ndarray):
        pixels = planes_first(uint8_pixels(image))
    else:
        pixels = image_pixels(image)[0] if isinstance(image, Image.Image) else load_image(image)[0]
    planes = "the image" if pixels.shape[0] == 1 else "the grayscale image and on R, G, B"
    name, weights = get_kernel(kernel)
    shown = kernel if isinstance(kernel, str | Path) else name  # a file as the user named it
    return Picture(filter_lab(pixels, name, weights), f"input, then {shown} on {planes}")
