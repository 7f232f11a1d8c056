"""Pictures for the explanation commands: colour maps, heatmap overlays, labelled grids, PNG files and bytes.

Functions take numpy arrays of floats in [0, 1], (H, W) or (H, W, 3), and return Pillow images, so the tensor
code elsewhere stays free of drawing details.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnnlab.errors import CnnlabError

MIN_SIDE = 128  # small inputs (MNIST is 28x28) are enlarged by a whole factor until the shorter side reaches this
GAP = 4
LABEL_HEIGHT = 16
BACKGROUND = (224, 224, 224)
TEXT = (0, 0, 0)


def display_scale(height: int, width: int, min_side: int = MIN_SIDE) -> int:
    """The whole-number enlargement that makes an image's shorter side at least `min_side` pixels."""
    return max(1, math.ceil(min_side / max(1, min(height, width))))


def colorize(values: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """(H, W) values in [0, 1] through a matplotlib colour map -> (H, W, 3) RGB in [0, 1]."""
    from matplotlib import colormaps

    return colormaps[cmap](np.clip(values, 0, 1))[..., :3]


def to_image(array: np.ndarray, scale: int = 1) -> Image.Image:
    """Floats in [0, 1] as an 8-bit image, enlarged `scale` times with nearest neighbours so pixels stay crisp."""
    a = np.clip(np.asarray(array, dtype=np.float64), 0, 1)
    im = Image.fromarray((a * 255).round().astype(np.uint8), "L" if a.ndim == 2 else "RGB")
    return im if scale == 1 else im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)


def overlay(image: np.ndarray, heat: np.ndarray, scale: int = 1, alpha: float = 0.5, cmap: str = "jet") -> Image.Image:
    """A heatmap in colour blended over an image; the heatmap is resized smoothly to the enlarged image."""
    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    base = to_image(rgb, scale)
    smooth = Image.fromarray(np.asarray(heat, dtype=np.float32), "F").resize(base.size, Image.Resampling.BILINEAR)
    mixed = (1 - alpha) * np.asarray(base, dtype=np.float64) / 255 + alpha * colorize(np.asarray(smooth), cmap)
    return to_image(mixed)


def _fit(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int) -> str:
    """Shorten a label until it fits the tile width, so long class names do not run into the next tile."""
    while text and font.getlength(text) > width:
        text = text[:-3] + ".." if len(text) > 3 else text[:-1]
    return text


def grid(
    tiles: list[Image.Image],
    labels: list[str] | None = None,
    cols: int | None = None,
    colors: list[tuple[int, int, int]] | None = None,
) -> Image.Image:
    """Tiles in rows of `cols` (default: about square) on white, each with its label above it when labels are given."""
    if not tiles:
        raise ValueError("grid needs at least one tile")
    cols = cols or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    tw, th = max(t.width for t in tiles), max(t.height for t in tiles)
    lh = LABEL_HEIGHT if labels else 0
    canvas = Image.new("RGB", (cols * tw + (cols + 1) * GAP, rows * (th + lh) + (rows + 1) * GAP), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        x, y = GAP + c * (tw + GAP), GAP + r * (th + lh + GAP)
        if labels:
            draw.text((x, y + 1), _fit(labels[i], font, tw), fill=colors[i] if colors else TEXT, font=font)
        canvas.paste(tile.convert("RGB"), (x, y + lh))
    return canvas


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def save_png(image: Image.Image, path: str | Path) -> Path:
    """Write a PNG, creating its folder; a path that cannot be written is a user error, not a traceback."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        image.save(p, "PNG")
    except OSError as e:
        raise CnnlabError(f"cannot write {p} ({e.__class__.__name__}: {e}); choose another --out") from None
    return p
