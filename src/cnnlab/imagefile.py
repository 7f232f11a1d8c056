"""Reading an image file into pixels, and choosing how it is fitted to a network's input, with NumPy and Pillow only:
shared by `cnnlab predict RUN` (PyTorch) and `cnnlab predict MODEL.onnx` (onnxruntime, no PyTorch)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.errors import CnnlabError, option

WIDE_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # Pillow's greyscale modes of more than 8 bits
GREY_MODES = ("1", "L", "LA", *WIDE_GREY)  # read as one channel (an alpha channel dropped), in folders and predict
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as Pillow's convert("L"): RGB -> grayscale when a network takes 1 channel


def read_pixels(path: str | Path, height_width: tuple[int, int] | None = None) -> np.ndarray:
    """A writable uint8 (1, C, H, W) array from an image file: C = 1 for grayscale files, else 3 (RGB order).
    `height_width`: a JPEG to be shrunk to it is decoded at a reduced scale first, as the image-folder reader does
    (`shrink_early`; `to_size` finishes the resize). Images over Pillow's MAX_IMAGE_PIXELS are refused as
    Image.open reads their header, before decoding: a few-KB PNG can claim gigapixels (a decompression bomb)."""
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
                if height_width is not None:
                    shrink_early(im, file_mode(im), (height_width[1], height_width[0]))  # Pillow's (W, H)
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


def shrink_early(im: Any, mode: str, size: tuple[int, int]) -> None:
    """Before decoding: a JPEG that is to be shrunk to `size` (W, H, once upright) is decoded at the smallest
    reduced scale still at least that large (Pillow's draft; much faster), the first of the image-folder
    reader's two steps, the second a bilinear resize to `size`. Other formats are left as they are."""
    stored = size if shown_size(im) == im.size else (size[1], size[0])  # the target before turning upright
    if im.size != stored:
        im.draft(mode, stored)


def file_mode(im: Any) -> str:
    """The 8-bit mode a file is read in on its own: "L" for grayscale modes (with alpha too), else "RGB"."""
    return "L" if im.mode in GREY_MODES else "RGB"


def to_size(pixels: np.ndarray, height_width: Sequence[int]) -> np.ndarray:
    """uint8 (1, C, H, W) pixels brought to `height_width` as the image-folder reader brings a file of another size
    to its folder's common size (Pillow's bilinear resize of the 8-bit image, which averages when shrinking), so
    that predict sees such a file as training and evaluation did. Unchanged at that size already."""
    h, w = (int(v) for v in height_width)
    if tuple(pixels.shape[-2:]) == (h, w):
        return pixels
    from PIL import Image

    planes = pixels[0, 0] if pixels.shape[1] == 1 else pixels[0].transpose(1, 2, 0)
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(planes)).resize((w, h), Image.Resampling.BILINEAR))
    return (resized[None, None] if resized.ndim == 2 else resized.transpose(2, 0, 1)[None]).copy()


def source_size(adaptation: dict[str, Any]) -> tuple[int, int] | None:
    """(H, W) of the images a run trained on (`adapt.source_shape` of its checkpoint or exported model), if known."""
    shape = adaptation.get("source_shape")
    return (int(shape[1]), int(shape[2])) if shape and len(shape) == 3 else None


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
    im = eight_bit(upright(im), file_mode(im))
    c = 1 if im.mode == "L" else 3
    arr = np.frombuffer(bytearray(im.tobytes()), dtype=np.uint8)
    return arr.reshape(im.height, im.width, c).transpose(2, 0, 1)[None].copy()


def check_topk(topk: int) -> int:
    """How many classes a prediction lists: a whole number of at least 1 (predict(topk=0) listed none, and
    topk=-1 all but the least likely, as a slice does)."""
    if not isinstance(topk, int) or isinstance(topk, bool) or topk < 1:
        raise CnnlabError(f"{option('top', 'topk')} must be at least 1, got {topk!r}")
    return topk


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
    the file has their size (a 28x28 digit for a 32x32 LeNet; `to_size` brings other sizes there first),
    otherwise resized."""
    same_source = list(height_width) == list(adaptation.get("source_shape", [])[1:])
    return "pad" if adaptation.get("mode") == "pad" and same_source else "resize"
