"""RunConfig: every setting of a training run, validated once, saved as config.toml in the run directory."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.tomlfile import read_toml

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "exponential", "time", "cosine", "onecycle", "triangle")
INITS = ("default", "zeros", "normal", "xavier-uniform", "xavier-normal", "he-normal", "he-uniform")
MONITORS = ("val_accuracy", "val_loss", "train_accuracy", "train_loss")
TTA_VIEWS = ("none", "flip", "flip,translate")
FREEZE_PATTERN = re.compile(r"none|features|all-but-last:[1-9][0-9]*")  # applied by cnnlab.transfer.freeze


@dataclass
class RunConfig:
    """A training run. Fields equal the `cnnlab train` flags (with dashes) and the keys of an experiment TOML."""

    model: str = "mnist-cnn"
    options: dict[str, Any] | None = None  # the zoo builder's options (--option KEY=VALUE), e.g. {kernel5 = 5}
    data: str = "digits"
    data_dir: str | None = None
    input: list[int] | None = None  # C, H, W the data is adapted to (default: the model's input size)
    resize: str = "pad"  # how to adapt image size: pad (MNIST 28 -> 32, as LeCun did) or resize
    limit: int | None = None
    val_split: float = 0.1  # fraction (< 1) or count (>= 1) of train held out, stratified
    normalize: bool = True  # subtract the dataset mean, divide by std
    pixels: str = "unit"  # unit: scale to 0..1; raw: feed 0..255 (what a Keras model without Rescaling sees)
    augment: list[str] | None = None  # "crop" (pad 4 + random crop), "flip", "altflip" (flipped on alternate epochs)
    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_size: int = 10  # step: epochs between decays
    gamma: float = 0.1  # step / exponential: decay factor
    decay: float = 0.0  # time: lr0 / (1 + decay * t), t in epochs (Keras' decay is per step)
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    init: str = "default"
    init_std: float = 0.01
    seed: int = 0
    patience: int | None = None  # early stopping on `monitor`
    gl_alpha: float | None = None  # Prechelt's GL criterion: stop when 100*(E_val/E_opt - 1) > alpha
    monitor: str = "val_accuracy"
    device: str = "cpu"
    channels_last: bool = True  # NHWC memory layout: oneDNN (CPU) and tensor cores (GPU) run convs fastest
    precision: str = "fp32"  # fp32, bf16 autocast, or auto: bf16 where the hardware runs it fast (AMX CPUs, CUDA)
    compile: bool = False  # torch.compile the model (pays a compile time up front)
    init_from: str | None = None  # transfer: a run directory, a .safetensors file or torchvision:<Weights>
    freeze: str = "none"  # none, features (train the dense head only), all-but-last:N
    head_lr: float | None = None  # learning rate of the dense head (default: --lr)
    bias_lr: float | None = None  # learning rate of biases and normalisation weights (default: their group's)
    decay_norm_bias: bool = True  # weight decay on biases and normalisation weights too (fast recipes turn it off)
    ema: float | None = None  # decay of an exponential moving average of the weights, which then count
    tta: str = "none"  # test-time augmentation of evaluation and predict: none, flip, flip,translate
    whiten: str = "none"  # patch-whitening init of the first conv from training patches: none, frozen, trainable
    freeze_bn: bool = False  # keep every batch-norm layer's running statistics fixed
    sync_bn: bool = False  # with several processes: batch-norm statistics over the global batch (SyncBatchNorm)
    norm_stats: str = "auto"  # mean/std: auto (the source's when it has them), dataset, source

    def validate(self) -> RunConfig:
        """Raise a one-line CnnlabError for the first bad setting."""

        def positive(name: str, integer: bool = False, allow_none: bool = False, zero: bool = False) -> None:
            v = getattr(self, name)
            if v is None and allow_none:
                return
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            ok = ok and (v >= 0 if zero else v > 0) and (not integer or float(v).is_integer())
            if not ok:
                kind = "integer" if integer else "number"
                raise CnnlabError(
                    f"--{name.replace('_', '-')} must be a {'non-negative' if zero else 'positive'} {kind}, got {v!r}"
                )

        if self.options == {}:
            self.options = None
        if self.options is not None and not (
            isinstance(self.options, dict) and all(isinstance(k, str) for k in self.options)
        ):
            raise CnnlabError(f"options must be a table of model options (e.g. {{kernel5 = 5}}), got {self.options!r}")
        for name in ("epochs", "batch_size", "step_size"):
            positive(name, integer=True)
        for name in ("lr", "init_std"):
            positive(name)
        for name in ("momentum", "weight_decay", "decay", "warmup_epochs", "label_smoothing"):
            positive(name, zero=True)
        positive("gamma")
        positive("limit", integer=True, allow_none=True)
        positive("patience", integer=True, allow_none=True)
        positive("gl_alpha", allow_none=True)
        positive("head_lr", allow_none=True)
        positive("bias_lr", allow_none=True)
        if self.ema is not None and not (isinstance(self.ema, (int, float)) and 0 < self.ema < 1):
            raise CnnlabError(f"--ema must be a decay between 0 and 1 (exclusive), e.g. 0.99, got {self.ema!r}")
        if not FREEZE_PATTERN.fullmatch(str(self.freeze)):
            raise CnnlabError(f"--freeze {self.freeze!r} is not one of none, features, all-but-last:N (N >= 1)")
        if self.norm_stats == "source" and not self.init_from:
            raise CnnlabError("--norm-stats source needs --init-from: there is no source to take statistics from")
        positive("val_split", zero=True)
        if self.val_split >= 1 and not float(self.val_split).is_integer():
            raise CnnlabError(f"--val-split must be a fraction below 1 or a whole count, got {self.val_split}")
        if self.label_smoothing >= 1:
            raise CnnlabError(f"--label-smoothing must be below 1, got {self.label_smoothing}")
        for name, allowed in (
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
            ("init", INITS),
            ("monitor", MONITORS),
            ("resize", ("pad", "resize")),
            ("pixels", ("unit", "raw")),
            ("norm_stats", ("auto", "dataset", "source")),
            ("precision", ("fp32", "bf16", "auto")),
            ("tta", TTA_VIEWS),
            ("whiten", ("none", "frozen", "trainable")),
        ):
            if getattr(self, name) not in allowed:
                raise CnnlabError(f"--{name} {getattr(self, name)!r} is not one of {', '.join(allowed)}")
        for a in self.augment or []:
            if a not in ("crop", "flip", "altflip"):
                raise CnnlabError(f"--augment {a!r} is not one of crop, flip, altflip")
        if {"flip", "altflip"} <= set(self.augment or []):
            raise CnnlabError("--augment: give flip (random) or altflip (alternate epochs), not both")
        if self.input is not None and (len(self.input) != 3 or min(self.input) < 1):
            raise CnnlabError(f"--input must be C,H,W with positive integers, got {self.input}")
        if self.device not in ("cpu", "cuda", "auto") and not self.device.startswith("cuda:"):
            raise CnnlabError(f"--device must be cpu, cuda or auto, got {self.device!r}")
        return self

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps({k: v for k, v in asdict(self).items() if v is not None})

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> RunConfig:
        known = {f.name for f in fields(cls)}
        values = {k.replace("-", "_"): v for k, v in values.items()}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CnnlabError(f"{source}: unknown setting(s) {', '.join(unknown)}; see `cnnlab train --help`")
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path) -> RunConfig:
        return cls.from_dict(read_toml(path, "experiment file"), str(path))

    def differences(self, other: RunConfig) -> list[str]:
        """The settings, other than the RESUMABLE ones, in which `other` differs (empty: the same run)."""
        return [
            f.name
            for f in fields(self)
            if f.name not in self.RESUMABLE and getattr(self, f.name) != getattr(other, f.name)
        ]

    # Settings that may differ when resuming a run (everything else must match).
    RESUMABLE = ("epochs", "patience", "gl_alpha", "data_dir", "device")
