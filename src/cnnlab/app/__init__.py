"""A demo web page for a trained run (Gradio, the optional extra `app`): upload or draw an image and see the top-k
classes, the Grad-CAM overlay and the first conv layer's feature maps.

`explain_image` (image.py) does the work with the library's own predict path, Grad-CAM and feature maps, and needs
no gradio; gradio is imported only when a page is built, so the rest of cnnlab works without it. In a notebook:
`cnnlab.app.build("runs/mnist").launch()`.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from cnnlab.app.image import ImageExplanation, explain_image
from cnnlab.errors import CnnlabError
from cnnlab.train.inference import LoadedRun, load_run

if TYPE_CHECKING:
    import gradio

NEEDS_GRADIO = "the app needs gradio: pip install 'cnnlab[app]'"

__all__ = ["NEEDS_GRADIO", "ImageExplanation", "build", "explain_image"]


def page_module() -> ModuleType:
    """cnnlab.app.page, which imports gradio; a one-line error naming the extra to install when gradio is missing."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise CnnlabError(NEEDS_GRADIO) from None
    from cnnlab.app import page

    return page


def build(run: str | Path | LoadedRun, topk: int = 3) -> gradio.Blocks:
    """The page for a run (its directory, or a run loaded with load_run), ready to `.launch()`."""
    page = page_module()
    return page.build_page(run if isinstance(run, LoadedRun) else load_run(run), topk)
