"""Predicting with an exported ONNX file on onnxruntime, NumPy and Pillow alone: no PyTorch is imported on this path,
so it runs where an app or a server has only those. Images are read and fitted as `cnnlab predict RUN` does
(cnnlab.imagefile, and cnnlab.export.pixels, the NumPy twin of the PyTorch preprocessing), following the file's
cnnlab metadata (ModelCard); test-time augmentation views are part of the graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.export.metadata import ModelCard
from cnnlab.export.pixels import adapt, to_inputs
from cnnlab.imagefile import check_topk, fit_mode, read_pixels, source_size, to_size
from cnnlab.rundir.config import check_tta

BATCH = 256  # images per onnxruntime call in `probabilities`, to bound memory on large arrays


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise CnnlabError("predicting with an ONNX file needs onnxruntime: pip install 'cnnlab[export]'") from None
    return onnxruntime


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by each row's maximum so large logits do not overflow."""
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


class OnnxModel:
    """An ONNX file written by `cnnlab export`, opened once on onnxruntime's CPU provider with its ModelCard."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        ort = _onnxruntime()
        self.path = Path(path)
        if not self.path.is_file():
            raise CnnlabError(f"model {self.path} not found; give an .onnx file written by `cnnlab export`")
        with open(self.path, "rb") as f:
            if f.read(2) == b"PK":  # a zip: `cnnlab export --format torchscript` writes one, as torch.save does
                raise CnnlabError(
                    f"{self.path} is a TorchScript (or PyTorch) file, not ONNX: predict takes a run directory or an "
                    "ONNX file (`cnnlab export RUN` writes one); load TorchScript with torch.jit.load"
                )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        state = ort.capi.onnxruntime_pybind11_state
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except (state.InvalidProtobuf, state.InvalidArgument, state.InvalidGraph, state.Fail, state.NoSuchFile) as e:
            reason = str(e).split(":")[-1].strip() or type(e).__name__
            raise CnnlabError(
                f"{self.path} is not a readable ONNX model ({reason}); export it again with `cnnlab export`"
            ) from None
        self.card = ModelCard.from_props(self.session.get_modelmeta().custom_metadata_map, str(self.path))
        self.input_name = self.session.get_inputs()[0].name

    @property
    def classes(self) -> list[str]:
        return self.card.classes

    def read_images(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Image files as uint8 (N, C, H, W) at the model's input shape, fitted as the training data was."""
        shape, source = self.card.input_shape, source_size(self.card.adapt)
        read = (read_pixels(p, source) for p in paths)  # one at a time: files may differ in size
        at_source = (to_size(x, source) if source else x for x in read)  # as the training folder read odd sizes
        return np.concatenate([adapt(x, shape, fit_mode(self.card.adapt, x.shape[-2:])) for x in at_source])

    def to_input(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels (N, C, H, W) in 0..255 -> the float32 input the model was trained on."""
        return to_inputs(pixels, self.card.pixel_scale, self.card.mean, self.card.std)

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        """The graph's output for float32 inputs (N, C, H, W), any N."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(inputs, dtype=np.float32)})[0]

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """Softmax class probabilities (N, classes) for pixels in 0..255, in batches."""
        return np.concatenate(
            [softmax(self.logits(self.to_input(pixels[i : i + BATCH]))) for i in range(0, len(pixels), BATCH)]
        )


def predict_onnx(
    model: str | Path | OnnxModel, images: Sequence[str | Path], topk: int = 3, tta: str | None = None
) -> list[dict[str, Any]]:
    """Top-k classes with probabilities for each image, as cnnlab.train.inference.predict gives for the run. The
    test-time views are the graph's: `tta`, if given, must be those (other views need the run exported again)."""
    check_topk(topk)
    model = model if isinstance(model, OnnxModel) else OnnxModel(model)
    if tta is not None and check_tta(tta) != model.card.tta:
        raise CnnlabError(
            f"{model.path} has the test-time views {model.card.tta!r} built in, not {tta!r}: "
            f"export the run again with `cnnlab export RUN --tta {tta}`"
        )
    results = []
    for image in images:
        probs = model.probabilities(model.read_images([image]))[0]
        top = np.argsort(-probs, kind="stable")[: min(topk, len(probs))]
        results.append({"image": str(image), "top": [(model.classes[i], float(probs[i])) for i in top]})
    return results
