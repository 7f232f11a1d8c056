"""Grad-CAM pictures for a set of images: one overlay per image, and the labelled gallery the HTML report embeds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image

from cnnlab.errors import CnnlabError
from cnnlab.explain import LoadedRun, load_run
from cnnlab.explain.gradcam import CamResult, grad_cam
from cnnlab.explain.images import display_scale, grid, overlay, png_bytes

WRONG = (200, 0, 0)
RIGHT = (0, 0, 0)


def overlays(pixels: torch.Tensor, heatmaps: torch.Tensor) -> list[Image.Image]:
    """Each image (uint8 C, H, W) with its heatmap over it, enlarged so small inputs stay readable."""
    scale = display_scale(*pixels.shape[-2:])
    rgb = pixels.float().div(255).expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels.float().div(255)
    return [overlay(img.permute(1, 2, 0).numpy(), heat.numpy(), scale) for img, heat in zip(rgb, heatmaps)]


def run_cam(
    run: LoadedRun,
    pixels: torch.Tensor,
    layer: str | None = None,
    target: int | None = None,
    method: str = "gradcam",
    batch_size: int = 64,
) -> CamResult:
    """Grad-CAM of a run's images (uint8 N, C, H, W), predicted as `cnnlab predict` predicts them: the run's
    test-time views averaged give the probabilities, and with them the class explained by default, which a single
    view's argmax could disagree with. The map itself is of the image as it is."""
    probabilities = run.probabilities(pixels)
    targets = probabilities.argmax(1) if target is None else target
    cam = grad_cam(run.model, run.to_input(pixels), layer, targets, method, batch_size)
    return replace(cam, probabilities=probabilities)


def cam_labels(run: LoadedRun, cam: CamResult) -> list[str]:
    """'pred 7 98%' per image, with 'cam 3' added where the explained class is not the predicted one."""
    out = []
    for p, t, probs in zip(cam.predicted.tolist(), cam.targets.tolist(), cam.probabilities):
        label = f"pred {run.classes[p]} {probs[p]:.0%}"
        out.append(label if t == p else f"{label}, cam {run.classes[t]}")
    return out


def gradcam_gallery(run_dir: str | Path, n: int = 8, seed: int = 0) -> bytes:
    """PNG of n seeded test images of a run with their Grad-CAM overlays (last conv layer of maps larger than 1x1,
    predicted class), labelled with predicted and true class; wrong predictions in red."""
    run = load_run(run_dir)
    data = run.data()
    return gallery_png(run, data.test_x, data.test_y, n, seed, str(run_dir))[0]


def gallery_png(
    run: LoadedRun, images: torch.Tensor, labels: torch.Tensor, n: int = 8, seed: int = 0, name: str = "the run"
) -> tuple[bytes, str]:
    """gradcam_gallery for test images already at hand (uint8 N, C, H, W and their labels), as the report has them,
    and the layer it explains (for the report's caption)."""
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(labels), generator=g)[:n]
    if len(pick) == 0:
        raise CnnlabError(f"{name}: the run's dataset has no test images to show")
    pixels, truth = images[pick], labels[pick].tolist()
    cam = run_cam(run, pixels)
    labels = [f"pred {run.classes[p]} / true {run.classes[t]}" for p, t in zip(cam.predicted.tolist(), truth)]
    colors = [RIGHT if p == t else WRONG for p, t in zip(cam.predicted.tolist(), truth)]
    return png_bytes(grid(overlays(pixels, cam.heatmaps), labels, colors=colors)), cam.layer
