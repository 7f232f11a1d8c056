"""Writing a run's model as a file that runs without cnnlab: ONNX (through torch.onnx.export's torch.export-based
exporter, opset OPSET, the batch dimension dynamic) or TorchScript, each carrying its ModelCard (how to feed it).

The graph computes what `cnnlab predict RUN` computes before its softmax: the model's logits averaged over the
run's test-time augmentation views (or those given), from inputs already fitted, scaled and standardised."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from cnnlab.atomic import write_bytes
from cnnlab.errors import CnnlabError
from cnnlab.export.metadata import EXTRA_FILE, ModelCard
from cnnlab.train.inference import LoadedRun, load_run
from cnnlab.train.tta import check_tta
from cnnlab.train.tta import logits as tta_logits

FORMATS = ("onnx", "torchscript")
OPSET = 20  # the default of torch 2.14's exporter; onnxruntime 1.17+ runs it
CHANNEL_ORDER = {1: "L", 3: "RGB"}  # as cnnlab.imagefile.read_pixels decodes files


class Served(nn.Module):
    """The run's model with its test-time augmentation views: the logits `cnnlab predict RUN` turns into
    probabilities."""

    def __init__(self, model: nn.Module, views: str) -> None:
        super().__init__()
        self.model = model
        self.views = views

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tta_logits(self.model, x, self.views)


def model_card(run: LoadedRun, tta: str, opset: int | None) -> ModelCard:
    """The ModelCard of a run exported with `tta` views."""
    channels = run.input_shape[0]
    return ModelCard(
        model=run.run.config.model,
        classes=run.classes,
        input_shape=list(run.input_shape),
        channel_order=CHANNEL_ORDER.get(channels, f"{channels} channels"),
        pixel_scale=run.scale,
        mean=list(run.mean) if run.mean else None,
        std=list(run.std) if run.std else None,
        adapt=run.adaptation,
        tta=tta,
        opset=opset,
    )


def _onnx_bytes(served: Served, example: torch.Tensor, card: ModelCard, optimize: bool) -> bytes:
    try:
        import onnxscript  # noqa: F401  (the exporter's translator: without it torch.onnx.export fails late)
    except ImportError:
        raise CnnlabError("ONNX export needs onnx and onnxscript: pip install 'cnnlab[export]'") from None
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
            program = torch.onnx.export(
                served,
                (example,),
                dynamo=True,
                opset_version=OPSET,
                input_names=["input"],
                output_names=["logits"],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                optimize=optimize,
                verbose=False,
            )
    except torch.onnx.OnnxExporterError as e:
        first = str(e).strip().splitlines()[0]
        raise CnnlabError(f"cannot export {card.model} to ONNX: {first}; try --format torchscript") from None
    proto = program.model_proto
    for key, value in card.to_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def _torchscript_bytes(served: Served, example: torch.Tensor, card: ModelCard) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 deprecates torch.jit (README: Export)
        traced = torch.jit.trace(served, example)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={EXTRA_FILE: json.dumps(card.to_props())})
    return buffer.getvalue()


def export_run(
    run: str | Path | LoadedRun, out: str | Path, fmt: str = "onnx", tta: str | None = None, optimize: bool = True
) -> ModelCard:
    """Write the run's best checkpoint to `out` as `fmt` (onnx or torchscript), whole or not at all, with the run's
    test-time augmentation views (or `tta`) in the graph; returns the card stored in the file. optimize=False skips
    onnxscript's graph optimiser: a faster export of a larger graph that runs slower."""
    if fmt not in FORMATS:
        raise CnnlabError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.is_dir():
        raise CnnlabError(f"--out {out} is an existing folder, not a file; give a file path (e.g. one inside it)")
    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    views = check_tta(tta) if tta is not None else loaded.tta
    card = model_card(loaded, views, OPSET if fmt == "onnx" else None)
    served = Served(loaded.model, views).eval()
    example = torch.zeros((2, *loaded.input_shape))  # a batch of 2: torch.export specialises sizes 0 and 1
    with torch.no_grad():
        data = (
            _onnx_bytes(served, example, card, optimize) if fmt == "onnx" else _torchscript_bytes(served, example, card)
        )
    write_bytes(out, data)
    return card
