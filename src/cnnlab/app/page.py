"""The Gradio page for a loaded run: an upload box (and a drawing canvas for single-channel runs) on the left; the
top-k classes, the image as the model sees it, the Grad-CAM overlay and the feature maps on the right. A bad
upload shows one line above the results and the page keeps answering."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from cnnlab.app.image import ImageExplanation, drawing, explain_image
from cnnlab.errors import CnnlabError
from cnnlab.explain.gradcam import find_conv_layer
from cnnlab.imagefile import format_top
from cnnlab.train.inference import LoadedRun

CANVAS = (280, 280)  # ten times MNIST's side: room to draw, shrunk to the input shape as any larger image is
BRUSH_RADIUS = 10  # strokes about as thick, relative to the canvas, as MNIST's pen
FORGET = (3600, 3600)  # uploads and pictures leave gradio's cache after an hour (checked hourly), and at a restart
PICTURES = ("the image as the model sees it", "Grad-CAM of the top class", "feature maps of the first conv layer")


def plain(text: str) -> str:
    """`text` shown as it is in Markdown: HTML's <, > and & and Markdown's marks escaped (a run folder called
    `<img src=x>` or `my_*best*_run` is a name, not markup)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>])", r"\\\1", text.replace("&", "&amp;"))


def _intro(run: LoadedRun, topk: int) -> str:
    c, h, w = run.input_shape
    config = run.run.config
    unfinished = (
        f"**Not finished:** the run stopped, or is still training; this page uses its checkpoint of epoch "
        f"{run.run.checkpoint.epoch}.\n\n"
        if run.run.summary is None
        else ""
    )
    return (
        f"## {plain(run.run.path.name)}: {plain(config.model)} on {plain(config.data)}\n{unfinished}"
        f"{len(run.classes)} classes, input {c}x{h}x{w}. Images are adapted as `cnnlab predict` adapts them "
        f"(channels, then resized or padded to {h}x{w} as the training data was), so the top {topk} here are the "
        "numbers `cnnlab predict` prints. Grad-CAM explains the top class at the last conv layer whose maps have "
        "more than one pixel."
    )


def _respond(explain: Callable[[], ImageExplanation], hide: str = "") -> tuple[Any, ...]:
    """The page's outputs for one image: (message, top-k line, label, seen, Grad-CAM, feature maps); a CnnlabError
    becomes the one-line message (with `hide`, a temporary path, shortened to its file name) and empty results."""
    try:
        e = explain()
    except CnnlabError as err:
        message = str(err).replace(hide, Path(hide).name) if hide else str(err)
        return _nothing(f"<p><b>Error:</b> {html.escape(message)}</p>")
    captions = (
        PICTURES[0],
        f"{PICTURES[1]}, {plain(e.top[0][0])}, at layer {plain(e.cam_layer)}",
        f"{PICTURES[2]}, {plain(e.feature_layer)}",
    )
    return "", format_top(e.top), dict(e.top), *_pictures(captions, (e.seen, e.gradcam, e.features))


def _nothing(message: str = "") -> tuple[Any, ...]:
    """The page's outputs with no image explained: `message`, then empty results under the captions at rest."""
    return message, "", None, *_pictures(PICTURES, (None, None, None))


def _caption(text: str) -> str:
    return f"**{text}**"


def _pictures(captions: tuple[str, ...], images: tuple[Any, ...]) -> list[Any]:
    """Each picture's caption (a line of its own above it: a label drawn on the picture hid its top rows and,
    behind the picture's buttons, the class it names) and the picture."""
    return [part for caption, image in zip(captions, images) for part in (_caption(caption), image)]


def _image(ident: str) -> gr.Image:
    return gr.Image(show_label=False, interactive=False, elem_id=ident)


def build_page(run: LoadedRun, topk: int = 3) -> gr.Blocks:
    """The page for a run with a conv layer; a run without one, or topk below 1, is a CnnlabError."""
    if topk < 1:
        raise CnnlabError(f"--top must be at least 1, got {topk}")
    topk = min(topk, len(run.classes))  # --top 20 of 10 classes shows the 10 and says so
    find_conv_layer(run.model, None)
    with gr.Blocks(title=f"cnnlab: {run.run.path.name}", analytics_enabled=False, delete_cache=FORGET) as page:
        gr.Markdown(_intro(run, topk))
        with gr.Row():
            with gr.Column():
                with gr.Tab("Upload"):
                    upload = gr.File(label="an image file (PNG, JPEG, ...)", type="filepath", elem_id="upload")
                if run.input_shape[0] == 1:
                    with gr.Tab("Draw"):
                        canvas = gr.Sketchpad(
                            label="draw in black on white (pick the brush first)",
                            image_mode="L",
                            type="numpy",
                            canvas_size=CANVAS,
                            fixed_canvas=True,
                            layers=False,
                            brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=BRUSH_RADIUS),
                            elem_id="canvas",
                        )
                        invert = gr.Checkbox(
                            True, label="invert to white strokes on black, as MNIST digits are", elem_id="invert"
                        )
                        classify = gr.Button("Classify the drawing", variant="primary", elem_id="classify")
            with gr.Column():
                message = gr.HTML(elem_id="message")  # a file name is text, never markup
                line = gr.Textbox(label=f"top {topk}, as cnnlab predict prints them", interactive=False, elem_id="top")
                label = gr.Label(num_top_classes=topk, label="probabilities", elem_id="probabilities")
                pictures = []
                with gr.Row():
                    for caption, ident in zip(PICTURES[:2], ("seen", "gradcam")):
                        with gr.Column(min_width=160):
                            pictures += [gr.Markdown(_caption(caption), elem_id=f"{ident}-caption"), _image(ident)]
                pictures += [gr.Markdown(_caption(PICTURES[2]), elem_id="features-caption"), _image("features")]
        outputs = [message, line, label, *pictures]
        # one image at a time (the explanations hook into the one model); the timer shows on the top-k line only
        once = {"concurrency_id": "model", "concurrency_limit": 1, "show_progress_on": line}

        def from_file(path: str | None) -> tuple[Any, ...]:
            return _respond(lambda: explain_image(run, path, topk), hide=path) if path else _nothing()

        upload.upload(from_file, upload, outputs, **once)
        if run.input_shape[0] == 1:

            def from_canvas(value: dict | None, inverted: bool) -> tuple[Any, ...]:
                composite: np.ndarray | None = (value or {}).get("composite")
                return _respond(lambda: explain_image(run, drawing(composite, inverted), topk))

            classify.click(from_canvas, [canvas, invert], outputs, **once)
    return page
