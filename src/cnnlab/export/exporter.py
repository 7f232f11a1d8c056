"""Writing a run's model as a file that runs without cnnlab: ONNX (opset OPSET, the batch dimension dynamic) or
TorchScript, each carrying its ModelCard (how to feed it).

ONNX goes through torch.onnx.export's TorchScript-based exporter (dynamo=False). torch 2.14's default, the
torch.export-based one, exports every zoo family too, with the same outputs, but took about 5x the CPU time per model
(googlenet ~10 s against ~2 s); the older one is deprecated, so a torch that removes it needs dynamo=True here and
onnxscript installed.

The graph computes what `cnnlab predict RUN` computes before its softmax: the model's logits averaged over the
run's test-time augmentation views (or those given), from inputs already fitted, scaled and standardised."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from cnnlab.atomic import write_bytes
from cnnlab.data.dataset import mirror_safe
from cnnlab.errors import CnnlabError, option
from cnnlab.export.metadata import EXTRA_FILE, ModelCard
from cnnlab.native_output import silenced
from cnnlab.rundir.config import check_tta
from cnnlab.rundir.layout import check_outside_runs
from cnnlab.train.inference import LoadedRun, load_run
from cnnlab.train.tta import logits as tta_logits

FORMATS = ("onnx", "torchscript")
OPSET = 18  # run by onnxruntime 1.14 and later
CHANNEL_ORDER = {1: "L", 3: "RGB"}  # as cnnlab.imagefile.read_pixels decodes files


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise CnnlabError(f"{option('format', 'fmt')} {fmt!r} is not one of {', '.join(FORMATS)}")
    return fmt


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
        mirror_safe=mirror_safe(run.run.config.data),
    )


def _onnx_bytes(served: Served, example: torch.Tensor, card: ModelCard) -> bytes:
    try:
        import onnx
    except ImportError:
        raise CnnlabError("ONNX export needs the onnx package: pip install 'cnnlab[export]'") from None
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript-based exporter's notice (README)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks traced once; batch 1 and 5 tested
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")  # flip: no folding
            with silenced(1):  # PyTorch prints the graph it cannot export there
                torch.onnx.export(
                    served,
                    (example,),
                    buffer,
                    dynamo=False,
                    opset_version=OPSET,
                    input_names=["input"],
                    output_names=["logits"],
                    dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                )
    except torch.onnx.OnnxExporterError as e:
        # PyTorch's reason, without the graph it appends and its request for a pull request
        first = str(e).strip().splitlines()[0].split(" [Caused by")[0].split(" Please feel free")[0].rstrip(". ")
        raise CnnlabError(f"cannot export {card.model} to ONNX: {first}; try --format torchscript") from None
    card_only = onnx.ModelProto()
    for key, value in card.to_props().items():
        card_only.metadata_props.add(key=key, value=value)
    # Two serialised protobuf messages concatenated parse as one with both merged (repeated fields appended): the
    # card joins the model without parsing and re-serialising weights that may be hundreds of MB.
    return buffer.getvalue() + card_only.SerializeToString()


def _torchscript_bytes(served: Served, example: torch.Tensor, card: ModelCard) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 deprecates torch.jit (README)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.jit.save(torch.jit.trace(served, example), buffer, _extra_files={EXTRA_FILE: json.dumps(card.to_props())})
    return buffer.getvalue()


def export_model(model: nn.Module, card: ModelCard, out: str | Path, fmt: str = "onnx") -> None:
    """Write `model` (its logits averaged over card.tta views) to `out` as `fmt` with `card` in its metadata, whole
    or not at all (an existing file stays as it was on any failure). For any zoo or TOML model, trained or not."""
    check_format(fmt)
    out = Path(out)
    if out.is_dir():
        raise CnnlabError(
            f"{option('out')} {out} is an existing folder, not a file; give a file path (e.g. one inside it)"
        )
    served, training = Served(model, card.tta), model.training
    example = torch.zeros((2, *card.input_shape))  # batch 2: a tracer may treat a batch of 1 as a constant
    try:
        served.eval()  # batch norm's running statistics, no dropout: the model as predict runs it
        with torch.no_grad():
            data = _onnx_bytes(served, example, card) if fmt == "onnx" else _torchscript_bytes(served, example, card)
    finally:
        model.train(training)  # a notebook's model is left in the mode it came in
    write_bytes(out, data)


def export_run(run: str | Path | LoadedRun, out: str | Path, fmt: str = "onnx", tta: str | None = None) -> ModelCard:
    """Write the run's best checkpoint to `out` as `fmt` (onnx or torchscript), with the run's test-time
    augmentation views (or `tta`) in the graph; returns the card stored in the file."""
    check_format(fmt)  # before loading the run: a mistyped format should not cost a checkpoint read
    check_outside_runs(out)
    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    card = model_card(loaded, check_tta(tta) if tta is not None else loaded.tta, OPSET if fmt == "onnx" else None)
    export_model(loaded.model, card, out, fmt)
    return card
