"""Using a finished run: its model with what feeds it (load_run), test-set evaluation with per-class accuracy and
confusion matrix, and top-k prediction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnnlab.data import Dataset, DeviceLoader, adapt
from cnnlab.data.augment import to_inputs
from cnnlab.errors import CnnlabError, option
from cnnlab.imagefile import check_topk, fit_mode, pil_pixels, read_pixels, source_size, to_size
from cnnlab.rundir import Run, open_run
from cnnlab.rundir.config import check_tta
from cnnlab.train.engine import evaluate
from cnnlab.train.optim import loss_function
from cnnlab.train.precision import of_run as run_precision
from cnnlab.train.setup import check_same_classes, eval_batch_size, fit_data, flip_warning, load_data
from cnnlab.train.tta import logits as tta_logits

Picture = str | Path | Image.Image | torch.Tensor | np.ndarray  # one image, or N as a (N, C, H, W) array
Images = Picture | Sequence[Picture]


def _opened(path: str | Path | LoadedRun, tta: str | None) -> LoadedRun:
    """The run (opened here unless it already is), set to test with `tta` when given, else with its own views."""
    run = path if isinstance(path, LoadedRun) else load_run(path)
    if tta is not None:
        run.tta = check_tta(tta)
    return run


def evaluate_run(path: str | Path | LoadedRun, with_images: bool = False, tta: str | None = None) -> dict[str, Any]:
    """Test accuracy, per-class accuracy and the confusion matrix (rows: true class, columns: predicted), with the
    run's test-time augmentation (or `tta`: none, flip, translate, flip,translate), in the run's precision as
    training scored it (for `--precision auto`, the choice the run recorded).

    with_images adds the test images as the model saw them before scaling (uint8 N,C,H,W), their labels and the
    predictions, for reports that show examples."""
    run = _opened(path, tta)
    data = run.data()
    if not len(data.test_y):  # scored nan on 0 images, every class at 0.0000, before
        raise CnnlabError(no_test_images(run))
    loader = DeviceLoader(
        data.test_x,
        data.test_y,
        batch_size=eval_batch_size(torch.device("cpu")),
        shuffle=False,
        scale=run.scale,
        mean=run.mean,
        std=run.std,
    )
    loss, acc, preds = evaluate(run.model, loader, loss_function(run.run.config), run.tta, run.precision)
    extra = {"images": data.test_x, "labels": data.test_y, "predictions": preds} if with_images else {}
    k = len(run.classes)
    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_((data.test_y, preds), torch.ones_like(preds), accumulate=True)
    per_class = (confusion.diag().float() / confusion.sum(1).clamp(min=1).float()).tolist()
    return {
        "test_accuracy": acc,
        "test_loss": loss,
        "test_size": len(data.test_y),
        "precision": run.precision,
        "classes": run.classes,
        "per_class_accuracy": per_class,
        "confusion": confusion.tolist(),
        **extra,
    }


def no_test_images(run: LoadedRun) -> str:
    """Why `run` cannot be scored: its data has no test split (an image folder of class folders alone)."""
    return (
        f"{run.run.path} has no test images to evaluate on: its data, {run.run.config.data}, has no test split; "
        "an image folder has one when its class folders are inside train/ and test/ folders (or test lines in "
        "its labels file); the run's validation accuracy is in its summary"
    )


def image_pixels(im: Image.Image) -> torch.Tensor:
    """A uint8 (1, C, H, W) tensor from a Pillow image (cnnlab.imagefile.pil_pixels)."""
    return torch.from_numpy(pil_pixels(im))


def load_image(path: str | Path, height_width: tuple[int, int] | None = None) -> torch.Tensor:
    """A uint8 (1, C, H, W) tensor from an image file (cnnlab.imagefile.read_pixels: decompression bombs refused);
    `height_width`: the run's training images', to which a JPEG is shrunk on decoding as the folder reader does."""
    return torch.from_numpy(read_pixels(path, height_width))


def top_classes(probabilities: torch.Tensor, classes: list[str], k: int) -> list[tuple[str, float]]:
    """The k most probable (class, probability) pairs of one image's probabilities, most probable first, ties in
    class order (a stable sort, as the exported model's runtime lists them; topk leaves ties in no set order)."""
    top = torch.sort(probabilities, descending=True, stable=True)
    return [(classes[i], p) for p, i in zip(top.values[:k].tolist(), top.indices[:k].tolist())]


def uint8_pixels(pixels: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Pixels as a uint8 tensor; floats are refused, since 0..1 read as 0..255 would explain a black image."""
    pixels = torch.from_numpy(pixels) if isinstance(pixels, np.ndarray) else pixels
    if pixels.dtype != torch.uint8:
        raise CnnlabError(
            f"images must be uint8 pixels (0..255), got {pixels.dtype}; convert them, e.g. with "
            "(x * 255).round().to(torch.uint8) for floats in [0, 1]"
        )
    return pixels


def channels_first(pixels: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Pixels of one image or of N as (N, C, H, W) at the model's input `shape` (C, H, W), taken in the layouts
    notebooks hold them: (N,) C,H,W as PyTorch, (N,) H,W,C as Keras, NumPy and Pillow, and H,W or N,H,W for a
    one-channel model (MNIST's arrays; a 4-D array is never read so, as its second axis is its channels). Only the
    layout moves: the sizes must already be the model's."""
    c, h, w = shape
    batch = pixels if pixels.ndim == 4 else pixels[None]
    if tuple(batch.shape[1:]) == shape:
        return batch
    if tuple(batch.shape[1:]) == (h, w, c):
        return batch.permute(0, 3, 1, 2)
    if c == 1 and pixels.ndim in (2, 3) and tuple(pixels.shape[-2:]) == (h, w):
        return pixels.reshape(-1, 1, h, w)
    grey = f" or {h}x{w}, and N of them N x {h}x{w}" if c == 1 else ""
    raise CnnlabError(
        f"images must be N x {c}x{h}x{w} pixels (the model's input; one image may be {h}x{w}x{c}{grey}), got "
        f"{tuple(pixels.shape)}; give image files or Pillow images to have them adapted"
    )


def planes_first(pixels: torch.Tensor) -> torch.Tensor:
    """One image's pixels as (C, H, W) where no model says which axis is which (the filter lab), from the layouts
    notebooks hold: C,H,W as PyTorch, H,W,C as NumPy, Pillow and Keras (a last axis of 1 or 3 where the first is
    neither), H,W for grey. `channels_first` reads them against a model's input instead."""
    if pixels.dim() == 2:
        return pixels[None]
    if pixels.dim() == 3 and pixels.shape[0] in (1, 3):
        return pixels
    if pixels.dim() == 3 and pixels.shape[-1] in (1, 3):
        return pixels.permute(2, 0, 1).contiguous()
    raise CnnlabError(
        f"an image must be uint8 pixels of one image with 1 or 3 channels (C x H x W, H x W x C, or grey H x W), got "
        f"{tuple(pixels.shape)}; for one image of N, give images[i]"
    )


def image_list(images: Images) -> list[Picture]:
    """One item per image: a path or a Pillow image stays whole, an N-image array (N, C, H, W or N, H, W, C) gives
    its N images as arrays of one, a list gives its items (a string is one path, not its characters)."""
    if isinstance(images, str | Path | Image.Image):
        return [images]
    if isinstance(images, torch.Tensor | np.ndarray):
        return [images[i : i + 1] for i in range(len(images))] if images.ndim == 4 else [images]
    if not isinstance(images, Sequence):
        raise CnnlabError(
            f"images must be image files, Pillow images or uint8 pixels (or a list of them), got "
            f"{type(images).__name__}"
        )
    return [i for item in images for i in (image_list(item) if isinstance(item, torch.Tensor | np.ndarray) else [item])]


def predict(
    path: str | Path | LoadedRun, images: Images, topk: int = 3, tta: str | None = None
) -> list[dict[str, Any]]:
    """Top-k classes with probabilities for each image (files and Pillow images prepared the way the run's
    training data was; pixels already at the model's input size, in any layout `channels_first` reads), with the
    run's test-time augmentation, or `tta`. Each result names its image: the path, or "image N" (from 0, counted
    over all the images) for pixels and Pillow images."""
    check_topk(topk)
    run = _opened(path, tta)
    results = []
    for image in image_list(images):
        for probs in run.probabilities(run.pixels(image)):  # one image, or N grey ones given as N x H x W
            name = str(image) if isinstance(image, str | Path) else f"image {len(results)}"
            results.append({"image": name, "top": top_classes(probs, run.classes, topk)})
    return results


def views_warning(run: LoadedRun) -> str | None:
    """Training's warning for flips on digits (cnnlab.train.setup.flip_warning), for the test-time views `run` is
    evaluated or predicted with now (its own, or those evaluate_run and predict were given)."""
    return flip_warning(replace(run.run.config, augment=None, tta=run.tta))


PREDICT_BATCH = 256


class LoadedRun:
    """A run opened once (cnnlab.rundir.Run) with what is needed to feed its model: classes, input shape, pixel
    scale, mean/std and how images were adapted; its test data is rebuilt once, when first asked for."""

    def __init__(self, run: Run) -> None:
        self.run = run
        meta = run.meta
        self.classes: list[str] = run.classes
        self.input_shape: tuple[int, int, int] = run.input_shape
        self.adaptation: dict[str, Any] = meta.get("adapt") or {}
        self.scale = float(meta.get("scale", 1 / 255))
        self.mean: tuple[float, ...] | None = tuple(meta["mean"]) if meta.get("mean") else None
        self.std: tuple[float, ...] | None = tuple(meta["std"]) if meta.get("std") else None
        self._data: Dataset | None = None
        self.tta = run.config.tta  # test-time augmentation views used by evaluate_run and probabilities

    @property
    def model(self) -> nn.Module:
        return self.run.model

    @cached_property
    def precision(self) -> str:
        """evaluate_run's precision: the run's, as its checkpoint recorded auto's choice, so that evaluating gives
        the test accuracy training reported (predictions stay fp32, as the run's exported models compute)."""
        return run_precision(self.run.config.precision, "cpu", self.run.meta.get("precision"))[0]

    def data(self) -> Dataset:
        """The run's dataset as its model saw it, at the input shape it trained at (so rebuilding needs no
        --init-from source, which may have moved, or be torchvision weights not cached offline)."""
        if self._data is None:
            data = load_data(self.run.config, self.run.meta)
            check_same_classes(data.classes, self.classes, "evaluate")
            self._data = fit_data(data, self.input_shape, self.run.config.resize)[0]
        return self._data

    def to_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels (N, C, H, W) in 0..255, uint8 or float, -> the float tensor the model was trained on."""
        return to_inputs(pixels, self.scale, self.mean, self.std)

    @torch.no_grad()
    def probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """Softmax class probabilities (N, classes) for pixels in 0..255, in batches."""
        return torch.cat(
            [
                torch.softmax(tta_logits(self.model, self.to_input(pixels[i : i + PREDICT_BATCH]), self.tta), 1)
                for i in range(0, len(pixels), PREDICT_BATCH)
            ]
        )

    def adapt_image(self, x: torch.Tensor) -> torch.Tensor:
        """One uint8 image (1, C, H, W) at the model's input shape, adapted as the training data was: first brought
        to the training images' size as the image-folder reader brings odd-sized files (`to_size`), then padded
        where training padded, resized otherwise."""
        source = source_size(self.adaptation)
        if source is not None:
            x = torch.from_numpy(to_size(x.numpy(), source))
        return adapt(x, self.input_shape, fit_mode(self.adaptation, tuple(x.shape[-2:])))

    def read_images(self, paths: list[str | Path]) -> torch.Tensor:
        """Image files as uint8 (N, C, H, W) at the model's input shape, adapted as the training data was."""
        return self.pixels(list(paths))

    def pixels(self, images: Images) -> torch.Tensor:
        """uint8 (N, C, H, W) at the model's input shape: image files and Pillow images adapted as the training
        data was, uint8 pixels (a tensor or NumPy array of one image or N of them, in a layout `channels_first`
        reads) taken as they are, which must be at the model's size already."""
        items = image_list(images)
        if not items:
            raise CnnlabError("no images given; give image files, Pillow images or uint8 pixels")
        return torch.cat([self._one(item) for item in items])

    def _one(self, image: Picture) -> torch.Tensor:
        if isinstance(image, str | Path):
            return self.adapt_image(load_image(image, source_size(self.adaptation)))
        if isinstance(image, Image.Image):
            return self.adapt_image(image_pixels(image))
        if not isinstance(image, torch.Tensor | np.ndarray):
            raise CnnlabError(
                f"images must be image files, Pillow images or uint8 pixels N x C x H x W, got {type(image).__name__}"
            )
        return channels_first(uint8_pixels(image), tuple(self.input_shape))

    def class_index(self, text: str) -> int:
        """A class given by name (as the run lists them) or by index."""
        if text in self.classes:
            return self.classes.index(text)
        if text.lstrip("-").isdigit() and 0 <= int(text) < len(self.classes):
            return int(text)
        shown = ", ".join(self.classes[:20]) + (", ..." if len(self.classes) > 20 else "")
        raise CnnlabError(
            f"{option('class', 'target')} {text!r} is neither a class name nor an index 0..{len(self.classes) - 1}; classes: {shown}"
        )


def load_run(path: str | Path) -> LoadedRun:
    """The best checkpoint of a run directory, read once, its model in eval mode on the CPU."""
    return LoadedRun(open_run(path))
