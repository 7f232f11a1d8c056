"""Reading an image file into pixels, and choosing how it is fitted to a network's input, with NumPy and Pillow only:
shared by `cnnlab predict RUN` (PyTorch) and `cnnlab predict MODEL.onnx` (onnxruntime, no PyTorch)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.errors import CnnlabError

WIDE_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # Pillow's greyscale modes of more than 8 bits
GREY_MODES = ("1", "L", "LA", *WIDE_GREY)  # read as one channel (an alpha channel dropped), in folders and predict
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as Pillow's convert("L"): RGB -> grayscale when a network takes 1 channel


def read_pixels(path: str | Path) -> np.ndarray:
    """A writable uint8 (1, C, H, W) array from an image file: C = 1 for grayscale files, else 3 (RGB order).
    Images over Pillow's MAX_IMAGE_PIXELS are refused as Image.open reads their header, before decoding: a few-KB
    PNG can claim gigapixels (a decompression bomb)."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if p.is_dir():
        raise CnnlabError(f"{p} is a folder, not an image file: name the images in it (e.g. {p / '*.png'})")
    if not p.is_file():
        raise CnnlabError(f"image {p} not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # Pillow only warns up to twice the cap
            with Image.open(p) as im:
                return pil_pixels(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise CnnlabError(
            f"{p} claims more than {Image.MAX_IMAGE_PIXELS:,} pixels (a decompression bomb?); give a smaller image"
        ) from None
    except (UnidentifiedImageError, OSError) as e:
        raise CnnlabError(f"{p} is not a readable image ({e.__class__.__name__}); give a PNG or JPEG file") from None


ORIENTATION = 0x0112  # the EXIF tag with which a camera held sideways says how its pixels are to be turned
TURNED = (5, 6, 7, 8)  # orientations that swap width and height


def orientation(im: Any) -> int:
    """The image's EXIF orientation, 1 (as stored) when it has none."""
    return int(im.getexif().get(ORIENTATION, 1) or 1)


def upright(im: Any) -> Any:
    """The image as photo viewers show it: turned as its EXIF orientation says (a phone photo taken upright is
    often stored sideways). Unchanged without one."""
    if orientation(im) == 1:
        return im
    from PIL import ImageOps

    return ImageOps.exif_transpose(im)


def shown_size(im: Any) -> tuple[int, int]:
    """(width, height) as `upright` will show the image, read from its header."""
    return (im.size[1], im.size[0]) if orientation(im) in TURNED else im.size


def eight_bit(im: Any, mode: str) -> Any:
    """A Pillow image as `mode` ("L" or "RGB") with 8 bits a channel. Greyscale of 16 or 32 bits (16-bit PNG and
    TIFF scans) is scaled to 0..255: Pillow's convert clips it instead, and a 16-bit digit came out black and white.
    Values up to 255 are taken as 8-bit already, floats up to 1 as 0..1."""
    if im.mode in WIDE_GREY:
        from PIL import Image

        values = np.asarray(im, dtype=np.float64)
        top = values.max(initial=0)
        full = 65535.0 if im.mode.startswith("I;16") or top > 255 else 1.0 if im.mode == "F" and top <= 1 else 255.0
        im = Image.fromarray(np.clip(np.rint(values * (255 / full)), 0, 255).astype(np.uint8))
    return im if im.mode == mode else im.convert(mode)


def pil_pixels(im: Any) -> np.ndarray:
    """A writable uint8 (1, C, H, W) array from a Pillow image, turned upright (EXIF orientation): grayscale modes
    (with alpha too) give one channel, every other mode (palette, RGBA, CMYK, ...) three RGB channels."""
    im = eight_bit(upright(im), "L" if im.mode in GREY_MODES else "RGB")
    c = 1 if im.mode == "L" else 3
    arr = np.frombuffer(bytearray(im.tobytes()), dtype=np.uint8)
    return arr.reshape(im.height, im.width, c).transpose(2, 0, 1)[None].copy()


def format_top(top: list[tuple[str, float]]) -> str:
    """'7 98.5%, 2 1.0%': top classes as `cnnlab predict` prints them (for runs and exported models alike)."""
    return ", ".join(f"{c} {p:.1%}" for c, p in top)


def pad_amounts(mode: str, size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """How images of `size` (H, W) reach `target` (H, W): (top, bottom, left, right) centred zero padding for "pad",
    None when they are resized (or already fit). The one plan behind cnnlab.data.adapt (PyTorch) and its NumPy twin
    cnnlab.export.pixels, with their shared errors."""
    if mode not in ("pad", "resize"):
        raise CnnlabError(f"unknown adapt mode {mode!r}: use 'pad' or 'resize'")
    (h, w), (height, width) = size, target
    if mode == "resize" or (h, w) == (height, width):
        return None
    dh, dw = height - h, width - w
    if dh < 0 or dw < 0:
        raise CnnlabError(f"cannot pad {h}x{w} images to the smaller {height}x{width}: use mode='resize'")
    return dh // 2, dh - dh // 2, dw // 2, dw - dw // 2


def fit_mode(adaptation: dict[str, Any], height_width: tuple[int, ...]) -> str:
    """How one image file is fitted to the input shape: padded as the training images were when the run padded and
    the file has their size (a 28x28 digit for a 32x32 LeNet), otherwise resized."""
    same_source = list(height_width) == list(adaptation.get("source_shape", [])[1:])
    return "pad" if adaptation.get("mode") == "pad" and same_source else "resize"
