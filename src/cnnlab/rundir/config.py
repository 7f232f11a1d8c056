"""RunConfig: every setting of a training run, validated once, saved as config.toml in the run directory."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError, option, speaking_to_cli
from cnnlab.resources import named_kind, resolve
from cnnlab.tomlfile import check_keys, read_toml

OPTIMIZERS = ("sgd", "adam", "adamw", "muon")
SCHEDULES = ("constant", "step", "exponential", "time", "cosine", "onecycle", "triangle", "linear")
DECAY_PER = ("step", "epoch")
INITS = ("default", "zeros", "normal", "xavier-uniform", "xavier-normal", "he-normal", "he-uniform")
MONITORS = ("val_accuracy", "val_loss", "train_accuracy", "train_loss")
TTA_VIEWS = ("none", "flip", "translate", "flip,translate")
NORM_STATS = ("auto", "dataset", "source")
AUGMENTS = ("crop", "translate", "flip", "altflip")
FREEZE_PATTERN = re.compile(r"none|features|all-but-last:[1-9][0-9]*|first:[1-9][0-9]*")  # cnnlab.transfer.freeze
FREEZE_HELP = "none, features, all-but-last:N or first:N (N >= 1)"
MATCHES = ("name", "order")  # how --init-from pairs tensors: cnnlab.transfer.apply.load_matching

# The groups of `cnnlab train --help`, in order, with their titles.
GROUPS = {
    "data": "data: what to train on and how images become inputs",
    "model": "model: the network and its initial weights",
    "optimisation": "optimisation: optimiser, learning rates, regularisation",
    "schedule": "schedule: epochs and the learning rate over them",
    "evaluation": "evaluation: the best checkpoint, early stopping, test-time augmentation",
    "transfer": "transfer: starting from trained weights",
    "run": "run: seed and hardware",
    "output": "output: where and what the run writes",
}


def setting(default: Any, group: str, help: str, choices: tuple[str, ...] = ()) -> Any:
    """A RunConfig field carrying its `--help` line, its help group (a GROUPS key) and its allowed values (checked
    by `validate`), so a flag is described where it is defined. A None default is explained in the help."""
    return field(default=default, metadata={"group": group, "help": help, "choices": choices})


def said_of_file(message: str, sources: Mapping[str, str]) -> str:
    """A `validate` message, which begins with the setting it is about (`--lr must be ...`, `options must be ...`),
    as said of the file that setting came from when `sources` names one: the file first and each setting by its
    key (`exp.toml: lookahead needs ema DECAY ...`); unchanged for a setting given as a flag, and for a Python
    caller, who gave it as an argument and has no flags, each setting by its argument (`lr must be ...`,
    `mean/std standardise the inputs, which normalize=False turns off`)."""
    first = re.match(r"(?:--)?([a-z][a-z0-9-]*)", message)
    file = sources.get(first.group(1).replace("-", "_")) if first else None
    if file is not None:
        return f"{file}: " + settings_as_keys(message, " = false")
    return said_to_reader(message)


def said_to_reader(message: str) -> str:
    """A message about settings as its reader gives them: flags (`--init-from`) on the command line, arguments
    (`init_from`, `normalize=False`) to a Python caller, who has no flags (cnnlab.errors.option, for a whole
    message)."""
    return message if speaking_to_cli() else settings_as_keys(message, "=False")


def validated(config: RunConfig, caller: str) -> RunConfig:
    """`config` validated for `caller` (train, lr_find): a dict of settings or a model name given in its place is a
    one-line error saying how to make one, where it was an AttributeError ('dict' object has no attribute
    'validate')."""
    if not isinstance(config, RunConfig):
        fix = "RunConfig(**settings)" if isinstance(config, Mapping) else "RunConfig(model=..., data=...)"
        raise CnnlabError(
            f"{caller} takes a RunConfig (from cnnlab.train import RunConfig), got {type(config).__name__}; give {fix}"
        )
    return config.validate()


def settings_as_keys(message: str, false: str) -> str:
    """`message` with each setting's flag spelled as its key: `--lr` as `lr`, `--no-normalize` as `normalize`
    followed by `false` (` = false` in a TOML file, `=False` in Python); other flags are left as they are."""

    def key(flag: re.Match) -> str:
        name = flag.group(2).replace("-", "_")
        if name not in SETTINGS:
            return flag.group(0)
        return f"{name}{false}" if flag.group(1) else name

    return re.sub(r"--(no-)?([a-z][a-z0-9-]*)", key, message)


def as_list(text: str, kind: str) -> str | None:
    """A flag's comma-separated value as the list a Python caller or a file gives for a setting of `kind`
    ('list[int] | None', ...): '1,28,28' as [1, 28, 28], 'crop,flip' as ["crop", "flip"]; None where the text is
    no such list (`input = "abc"`)."""
    parts = [p.strip() for p in text.split(",")]
    if kind.startswith("list[str]"):
        return "[" + ", ".join(f'"{p}"' for p in parts) + "]"
    try:
        [float(p) for p in parts]
    except ValueError:
        return None
    return "[" + ", ".join(parts) + "]"


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def check_tta(views: str) -> str:
    """`views` if it names test-time augmentation views (TTA_VIEWS); here, not in cnnlab.train.tta, so that
    predicting with an exported file checks it without importing PyTorch."""
    if views not in TTA_VIEWS:
        raise CnnlabError(f"{option('tta')} {views!r} is not one of {', '.join(TTA_VIEWS)}")
    return views


def lowest_val_loss(rows: Iterable[Mapping[str, Any]]) -> float | None:
    """E_opt of Prechelt's GL: the lowest validation loss in `rows` (None where none has one). The loop keeps it in
    every checkpoint of a run with validation data, so `--gl-alpha` added on resume measures GL from the run's first
    epoch; a checkpoint written before 2026-12-06 kept it only with `--gl-alpha` set, and it is read from its metrics."""
    losses = [r["val_loss"] for r in rows if r.get("val_loss") is not None]
    return min(losses) if losses else None


def mirror_warning(
    subject: str, augment: list[str] | None, tta: str, remedy: str = "for digits use --augment crop and --tta translate"
) -> str | None:
    """The line for flips (training's and test-time) on images whose mirror changes their class, digits: valid
    settings that silently cost accuracy. The caller knows the data is such; here, not in cnnlab.train, so that
    predicting with an exported file says it without importing PyTorch."""
    flips = [f"--augment {a}" for a in augment or () if a in ("flip", "altflip")]
    flips += [f"--tta {tta}"] if "flip" in tta else []
    if not flips:
        return None
    return (
        f"{subject}: a mirrored digit is no digit, or another one, so with {' and '.join(flips)} the net sees "
        f"mirrored digits under labels they do not have ({remedy})"
    )


# Optional settings that `off` unsets (--patience off): a resume keeps a setting left out, so without a word for
# "none" a run started with early stopping could not go on without it; 0 is no such word (Keras' patience=0 stops at
# the first epoch without improvement).
OFF = "off"
SWITCHED_OFF = ("patience", "gl_alpha")
EARLY_STOP = "early stop: "  # how a stop rule's reason begins (the run's `stopped`): a resume may switch it off

# setting -> the setting and its values that put it to use (RunConfig.unused)
USED_ONLY_WITH: dict[str, tuple[str, tuple[str, ...]]] = {
    "momentum": ("optimizer", ("sgd", "muon")),
    "nesterov": ("optimizer", ("sgd", "muon")),
    "muon_momentum": ("optimizer", ("muon",)),
    "step_size": ("schedule", ("step",)),
    "gamma": ("schedule", ("step", "exponential")),
    "decay": ("schedule", ("time",)),
    "decay_per": ("schedule", ("time",)),
    "init_std": ("init", ("normal",)),
}


@dataclass
class RunConfig:
    """A training run. Fields equal the `cnnlab train` flags (with dashes) and the keys of an experiment TOML.

    A new setting is one line, `name: type = setting(default, group, help[, choices])`; a field without help or
    group fails tests/test_habits.py."""

    model: str = setting("mnist-cnn", "model", "a zoo name (`cnnlab models`) or a network TOML file")
    options: dict[str, Any] | None = setting(
        None, "model", "a model option, repeatable (e.g. kernel5=5; `cnnlab models` lists them) (default: none)"
    )
    data: str = setting("digits", "data", "dataset: digits, mnist, cifar10, ... or folder:PATH (folder or archive)")
    data_dir: str | None = setting(None, "data", "the data root (default: $CNNLAB_DATA, else ~/.cache/cnnlab)")
    input: list[int] | None = setting(None, "data", "C,H,W the data is adapted to (default: the model's input)")
    resize: str = setting(
        "pad", "data", "how to adapt the image size; pad: MNIST 28 -> 32, as LeCun did", ("pad", "resize")
    )
    limit: int | None = setting(None, "data", "use at most N images per split, positive integer (default: all)")
    val_split: float = setting(0.1, "data", "held out of train, stratified: a fraction below 1 or a count >= 1")
    normalize: bool = setting(True, "data", "standardise inputs per channel: subtract a mean, divide by a std")
    mean: list[float] | None = setting(
        None, "data", "your per-channel mean in 0..1 units: one value or one per channel (default: per --norm-stats)"
    )
    std: list[float] | None = setting(
        None, "data", "your per-channel std (> 0) in 0..1 units, with --mean (default: per --norm-stats)"
    )
    pixels: str = setting(
        "unit", "data", "unit scales to 0..1, raw feeds 0..255 (Keras without Rescaling)", ("unit", "raw")
    )
    augment: list[str] | None = setting(
        None,
        "data",
        "comma-separated: crop (pad 4 with zeros, random crop), translate (at most 2 pixels, mirrored border), flip, "
        "altflip (default: none)",
        AUGMENTS,
    )
    progressive: list[float] | None = setting(
        None,
        "data",
        "H,F: the first fraction F of the updates on images resized to H pixels high, the rest at full size "
        "(progressive resizing) (default: off)",
    )
    epochs: int = setting(5, "schedule", "epochs to train, positive integer")
    batch_size: int = setting(64, "optimisation", "images per update, positive integer")
    optimizer: str = setting(
        "adam",
        "optimisation",
        "the optimiser (muon: Muon for conv filters, SGD for the rest)",
        OPTIMIZERS,
    )
    lr: float = setting(1e-3, "optimisation", "base learning rate, positive")
    momentum: float = setting(
        0.9, "optimisation", "SGD momentum, >= 0 (with muon: of the tensors that are not filters)"
    )
    muon_momentum: float = setting(0.6, "optimisation", "muon: momentum of the conv filters' updates, 0 <= x < 1")
    nesterov: bool = setting(False, "optimisation", "Nesterov momentum (SGD)")
    weight_decay: float | None = setting(
        None, "optimisation", "L2 weight decay, >= 0 (default: the optimiser's, 0.01 for adamw and 0 for the others)"
    )
    schedule: str = setting("constant", "schedule", "learning-rate schedule, applied every update", SCHEDULES)
    step_size: int = setting(10, "schedule", "step: epochs between decays, positive integer")
    gamma: float = setting(0.1, "schedule", "step / exponential: decay factor, positive")
    decay: float = setting(0.0, "schedule", "time: lr = lr0 / (1 + decay * t), t counted per --decay-per, >= 0")
    decay_per: str = setting("step", "schedule", "time: t counts updates (Keras' decay) or epochs", DECAY_PER)
    warmup_epochs: float = setting(0.0, "schedule", "linear warm-up over this many epochs, >= 0")
    label_smoothing: float = setting(0.0, "optimisation", "cross-entropy label smoothing, 0 <= x < 1")
    init: str = setting("default", "model", "weight initialisation", INITS)
    init_std: float = setting(0.01, "model", "std of --init normal, positive")
    seed: int = setting(0, "run", "seeds initialisation, split, shuffling and augmentation")
    patience: int | None = setting(
        None, "evaluation", "early stop after N epochs without --monitor improving, positive, or off (default: off)"
    )
    gl_alpha: float | None = setting(
        None, "evaluation", "Prechelt's GL: stop when 100*(E_val/E_opt - 1) > alpha, positive, or off (default: off)"
    )
    monitor: str = setting(
        "val_accuracy", "evaluation", "picks the best checkpoint; early stopping watches it", MONITORS
    )
    device: str = setting("cpu", "run", "cpu, cuda, cuda:N or auto")
    channels_last: bool = setting(True, "run", "NHWC memory layout: oneDNN (CPU) and tensor cores run convs fastest")
    precision: str = setting(
        "fp32",
        "run",
        "bf16 autocast, or auto: bf16 where a probe finds it fast (AMX or AVX512-BF16 CPUs, CUDA)",
        ("fp32", "bf16", "auto"),
    )
    compile: bool = setting(False, "run", "torch.compile the model (pays a compile time up front)")
    init_from: str | None = setting(
        None, "transfer", "a run directory, a .safetensors file or torchvision:<Weights> (default: none)"
    )
    match: str = setting(
        "name",
        "transfer",
        "how --init-from pairs tensors: by name, or by order (position among same-shaped layers)",
        MATCHES,
    )
    freeze: str = setting("none", "transfer", FREEZE_HELP + ": features trains the head only, first:N freezes N layers")
    head_lr: float | None = setting(None, "transfer", "learning rate of the dense head, positive (default: --lr)")
    bias_lr: float | None = setting(
        None, "optimisation", "lr of biases and normalisation weights, positive (default: their group's)"
    )
    decay_norm_bias: bool = setting(True, "optimisation", "weight decay on biases and normalisation weights too")
    ema: float | None = setting(
        None, "optimisation", "decay (0..1) of a moving average of the weights, which then count (default: off)"
    )
    lookahead: bool = setting(
        False,
        "optimisation",
        "with --ema: airbench's lookahead, the average written back into the weights every 5 steps",
    )
    tta: str = setting("none", "evaluation", "test-time augmentation of evaluation and predict", TTA_VIEWS)
    whiten: str = setting(
        "none", "model", "patch-whitening init of the first conv from training patches", ("none", "frozen", "trainable")
    )
    freeze_bn: bool = setting(False, "optimisation", "keep every batch-norm layer's running statistics fixed")
    sync_bn: bool = setting(
        False, "run", "with several processes: batch-norm statistics over the global batch (SyncBatchNorm, CUDA)"
    )
    norm_stats: str = setting(
        "auto", "data", "mean/std: auto (the --init-from source's if it has them), dataset, source", NORM_STATS
    )
    log_every: int | None = setting(
        None,
        "output",
        "every N batches a row to the batch CSV and TensorBoard, positive; 0 turns it off (default: off)",
    )

    def decay_used(self) -> float:
        """The weight decay the optimiser applies: the setting, or unset the optimiser's default (AdamW's 0.01)."""
        if self.weight_decay is not None:
            return self.weight_decay
        return 0.01 if self.optimizer == "adamw" else 0.0

    def validate(self, sources: Mapping[str, str] | None = None) -> RunConfig:
        """Raise a one-line CnnlabError for the first bad setting, naming it by its flag (`--lr must be ...`), or,
        where `sources` says it came from a file (a setting -> the file), by its key there (`config.toml: lr must
        be ...`): a value hand-written into a run's config.toml or an experiment file was typed as no flag.

        Done once: settings validated as they are now are not validated again (the CLI validates what it read,
        then hands it to `train`, which validates what a Python caller gives); a setting changed since is."""
        if getattr(self, "_validated", None) == repr(asdict(self)):  # repr: 2 and 2.0, True and 1 differ
            return self
        try:
            self._validate()
        except CnnlabError as e:
            raise CnnlabError(said_of_file(str(e), sources or {})) from None
        self._validated = repr(
            asdict(self)
        )  # not a field: no setting, and not compared, written or copied by replace()
        return self

    def _validate(self) -> RunConfig:
        if self.options == {}:
            self.options = None
        from cnnlab.zoo.registry import model_name

        self.model = model_name(self.model)  # a Path to a network file becomes its text; a model object is refused
        self.weight_decay = self.decay_used()  # recorded as used (an explicit 0 with adamw was once taken for 0.01)
        if self.log_every == 0 and not isinstance(self.log_every, bool):  # off, as unset: how a resume turns it off
            self.log_every = None
        for name in SWITCHED_OFF:  # off, as unset: how a resume turns a stop rule off (0 would be a patience)
            if getattr(self, name) == OFF:
                setattr(self, name, None)
        if self.options is not None and not (
            isinstance(self.options, dict) and all(isinstance(k, str) for k in self.options)
        ):
            raise CnnlabError(f"options must be a table of model options (e.g. {{kernel5 = 5}}), got {self.options!r}")
        self._check_types()
        self._check_numbers()
        self._check_needs()
        self._check_choices()
        self._check_statistics()
        self._check_progressive()
        if self.device not in ("cpu", "cuda", "auto") and not self.device.startswith("cuda:"):
            raise CnnlabError(f"--device must be cpu, cuda or auto, got {self.device!r}")
        return self

    def _check_types(self) -> None:
        """Each setting of the kind its field declares: an experiment file, a run's config.toml or a Python caller
        can give any value (`normalize = "no"` counted as true; `seed = "abc"`, `input = 5` or `device = 1` failed
        later with a traceback). A path may be a Path (written to config.toml as text)."""
        for name in ("data_dir", "init_from"):
            if isinstance(getattr(self, name), os.PathLike):
                setattr(self, name, os.fspath(getattr(self, name)))
        for f in fields(self):
            value, kind, flag = getattr(self, f.name), str(f.type), "--" + f.name.replace("_", "-")
            if f.name in OPTIONAL_TEXT and _blank(value):
                setattr(self, f.name, value := None)  # unset, as from_dict reads it
            if value is None and kind.endswith("| None"):
                continue
            if kind == "bool" and not isinstance(value, bool):
                raise CnnlabError(f"{flag} must be true or false, got {value!r}")
            if kind.startswith("str") and not isinstance(value, str):
                raise CnnlabError(f"{flag} must be text, got {value!r}")
            if kind.startswith("str") and not value.strip():  # as the command line refuses `--data-dir ''`
                raise CnnlabError(f"{flag} is empty; give a value or leave it out")
            if kind.startswith("list") and isinstance(value, tuple):
                setattr(self, f.name, value := list(value))  # input=(1, 28, 28) from Python, as a list is written
            if f.name in ("mean", "std") and isinstance(value, int | float) and not isinstance(value, bool):
                setattr(self, f.name, value := [value])  # mean=0.5: one value for every channel, as --mean 0.5
            if kind.startswith("list") and isinstance(value, str) and (listed := as_list(value, kind)):
                raise CnnlabError(f"{flag} is a list, {listed}, got the text {value!r}")  # the flag's spelling
            if kind.startswith("int") and isinstance(value, float) and value.is_integer():
                setattr(self, f.name, value := int(value))  # 5.0 from a search space or a file: 5
            if kind == "int" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise CnnlabError(f"{flag} must be a whole number, got {value!r}")  # a number's range: below
            if kind.startswith("list[str]") and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise CnnlabError(f'{flag} must be a list of names, e.g. ["crop", "flip"], got {value!r}')
        if self.input is not None and not (
            isinstance(self.input, list)
            and len(self.input) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in self.input)
        ):
            raise CnnlabError(f"--input must be C,H,W with positive integers, got {self.input!r}")

    def _positive(self, name: str, integer: bool = False, allow_none: bool = False, zero: bool = False) -> None:
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

    def _check_numbers(self) -> None:
        """Counts, rates and fractions within their ranges."""
        for name in ("epochs", "batch_size", "step_size"):
            self._positive(name, integer=True)
        for name in ("lr", "init_std", "gamma"):
            self._positive(name)
        for name in ("momentum", "weight_decay", "decay", "warmup_epochs", "label_smoothing", "val_split"):
            self._positive(name, zero=True)
        self._positive("limit", integer=True, allow_none=True)
        try:
            self._positive("log_every", integer=True, allow_none=True)
        except CnnlabError:
            raise CnnlabError(f"--log-every must be a positive integer, or 0 for off, got {self.log_every!r}") from None
        for name in SWITCHED_OFF:
            try:
                self._positive(name, integer=name == "patience", allow_none=True)
            except CnnlabError as e:
                raise CnnlabError(str(e).replace(", got", f", or {OFF}, got", 1)) from None
        for name in ("head_lr", "bias_lr"):
            self._positive(name, allow_none=True)
        if not isinstance(self.seed, int) or not -(2**63) <= self.seed < 2**64:  # torch.manual_seed's range
            raise CnnlabError(f"--seed must be a whole number from -2**63 to 2**64 - 1, got {self.seed!r}")
        if self.ema is not None and not (isinstance(self.ema, (int, float)) and 0 < self.ema < 1):
            raise CnnlabError(f"--ema must be a decay between 0 and 1 (exclusive), e.g. 0.99, got {self.ema!r}")
        if self.val_split >= 1 and not float(self.val_split).is_integer():
            raise CnnlabError(f"--val-split must be a fraction below 1 or a whole count, got {self.val_split}")
        if not (isinstance(self.muon_momentum, (int, float)) and 0 <= self.muon_momentum < 1):
            raise CnnlabError(f"--muon-momentum must be at least 0 and below 1, e.g. 0.6, got {self.muon_momentum!r}")
        if self.label_smoothing >= 1:
            raise CnnlabError(f"--label-smoothing must be below 1, got {self.label_smoothing}")

    def _check_needs(self) -> None:
        """Settings that mean nothing without another: --lookahead without --ema, transfer options without a source."""
        if self.lookahead and self.ema is None:
            raise CnnlabError("--lookahead needs --ema DECAY: the decay of the average it writes back, e.g. 0.987")
        if not FREEZE_PATTERN.fullmatch(str(self.freeze)):
            raise CnnlabError(f"--freeze {self.freeze!r} is not one of {FREEZE_HELP}")
        if self.match == "order" and not self.init_from:
            raise CnnlabError(f"--match {self.match} needs --init-from: there is no source to match tensors of")
        if self.norm_stats == "source" and not self.init_from:
            raise CnnlabError("--norm-stats source needs --init-from: there is no source to take statistics from")

    def _check_choices(self) -> None:
        """Each choice among its field's choices, and no two augmentations that do the same job."""
        for f in fields(self):
            allowed, value = f.metadata.get("choices", ()), getattr(self, f.name)
            for v in value if isinstance(value, list) else [] if value is None else [value]:
                if allowed and v not in allowed:
                    raise CnnlabError(f"--{f.name.replace('_', '-')} {v!r} is not one of {', '.join(allowed)}")
        if {"flip", "altflip"} <= set(self.augment or []):
            raise CnnlabError("--augment: give flip (random) or altflip (alternate epochs), not both")
        if {"crop", "translate"} <= set(self.augment or []):
            raise CnnlabError("--augment: give crop (4 pixels, zero border) or translate (2, mirrored), not both")

    def _check_progressive(self) -> None:
        """--progressive H,F: a whole height of at least 1 and a fraction in (0, 1]; the image size is checked
        where the data is known (cnnlab.train.setup)."""
        if self.progressive is None:
            return
        ok = isinstance(self.progressive, list) and len(self.progressive) == 2
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.progressive)
        if not ok or not (float(self.progressive[0]).is_integer() and self.progressive[0] >= 1):
            raise CnnlabError(
                f"--progressive must be H,F: a height in pixels and the fraction of updates at it, e.g. 20,0.5; "
                f"got {self.progressive!r}"
            )
        if not 0 < self.progressive[1] <= 1:
            raise CnnlabError(
                f"--progressive {self.progressive[0]:g},F: F is the fraction of updates on small images, above 0 "
                f"and at most 1; got {self.progressive[1]!r}"
            )

    def _check_statistics(self) -> None:
        """--mean/--std: finite numbers, std > 0, given together, and not against --no-normalize or --norm-stats."""
        for name in ("mean", "std"):
            values = getattr(self, name)
            if values is None:
                continue
            ok = (
                isinstance(values, list)
                and values
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
            )
            if not ok:
                raise CnnlabError(f"--{name} must be finite numbers (one, or one per channel), got {values!r}")
        if (self.mean is None) != (self.std is None):
            given, missing = ("mean", "std") if self.std is None else ("std", "mean")
            raise CnnlabError(f"--{given} needs --{missing} too (e.g. --{missing} {'1' if missing == 'std' else '0'})")
        if self.mean is None:
            return
        if min(self.std) <= 0:
            raise CnnlabError(f"--std must be above 0 in every channel, got {self.std}")
        if len(self.mean) > 1 and len(self.std) > 1 and len(self.mean) != len(self.std):
            raise CnnlabError(
                f"--mean has {len(self.mean)} values but --std {len(self.std)}; give one per channel or one for all"
            )
        if not self.normalize:
            raise CnnlabError("--mean/--std standardise the inputs, which --no-normalize turns off; drop one of them")
        if self.norm_stats != "auto":
            raise CnnlabError(
                f"--mean/--std replace --norm-stats {self.norm_stats}; give one of them (the other stays auto)"
            )

    def warnings(self) -> list[str]:
        """Valid settings that are probably not what was meant (Keras habits that silently do nothing)."""
        found = []
        if self.schedule == "time" and self.decay == 0:
            found.append(
                "--schedule time with --decay 0 keeps the learning rate constant; give --decay (Keras' decay, "
                "e.g. 1e-4 per update)"
            )
        if self.warmup_epochs > self.epochs:
            found.append(
                f"--warmup-epochs {self.warmup_epochs:g} is longer than the run's {self.epochs} epoch(s), so the "
                f"learning rate never reaches --lr {self.lr:g}; give fewer warm-up epochs or more epochs"
            )
        return found

    def unused(self, given: Iterable[str]) -> list[str]:
        """A line for each of the settings `given` (the ones the user spelt out, not a recipe's) that the others
        leave unused: valid, so not refused, but a flag that silently does nothing is a question unanswered. Not
        for inherited settings: a study's run that switches a recipe's SGD to Adam has not asked for momentum."""
        lines = []
        for name in given:
            key, values = USED_ONLY_WITH.get(name, ("", ()))
            if key and getattr(self, key) not in values:
                flag, needed = f"--{name.replace('_', '-')}", f"--{key} {' or '.join(values)}"
                lines.append(
                    f"{flag} does nothing with --{key} {getattr(self, key)}: only {needed} uses it; drop {flag} or "
                    f"give {needed}"
                )
        if "nesterov" in given and self.nesterov and self.optimizer == "sgd" and self.momentum == 0:
            lines.append(
                "--nesterov does nothing with --momentum 0: Nesterov's look-ahead is a momentum step; give a "
                "momentum (e.g. 0.9) or drop --nesterov"
            )
        return lines

    def recorded(self) -> dict[str, Any]:
        """The settings as a run records them (config.toml, each checkpoint's meta): unset ones left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.recorded())

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> RunConfig:
        values = {k.replace("-", "_"): v for k, v in values.items()}
        check_keys(values, SETTINGS, source, "setting", SETTINGS_LISTING)
        return cls(**{k: None if _blank(v) and k in OPTIONAL_TEXT else v for k, v in values.items()})

    @classmethod
    def from_toml(cls, path: str | Path) -> RunConfig:
        """An experiment file (a path, or recipe:NAME for a shipped one) as a RunConfig, not yet validated."""
        return cls.from_dict(read_experiment(path), str(path))

    @classmethod
    def from_run_toml(cls, path: str | Path) -> RunConfig:
        """A run's own config.toml. One written before --decay-per existed lacks it: with the time schedule such a
        run decayed per epoch, and resumes so (with any other schedule the setting does nothing, so today's
        default keeps it equal to a new run's config)."""
        values = {k.replace("-", "_"): v for k, v in read_toml(path, "run config").items()}
        if "model" not in values:  # every run's config names its model: this one was emptied or cut short
            raise CnnlabError(f"{path} names no model, as every run's config does: put it back from a copy")
        if values.get("schedule") == "time" and "decay_per" not in values:
            values["decay_per"] = "epoch"
        config = cls.from_dict(values, str(path))
        try:  # eval, predict, export and report use it without validating it: `tta = 5` was a TypeError there
            config._check_types()
        except CnnlabError as e:
            raise CnnlabError(said_of_file(str(e), dict.fromkeys(SETTINGS, str(path)))) from None
        return config

    def monitored(self, has_val: bool) -> str:
        """The metric early stopping watches: --monitor, or its training twin where the run has no validation data."""
        return self.monitor if has_val or not self.monitor.startswith("val") else self.monitor.replace("val", "train")

    def early_stop(self, bad_epochs: int, e_opt: float | None, val_loss: float | None, monitor: str) -> str | None:
        """Why the stop rules end the run at an epoch that leaves this loop state (None: it goes on): `bad_epochs`
        without `monitor` improving, the lowest validation loss `e_opt` and this epoch's `val_loss`. The state alone
        decides, so a resume can ask whether other rules would still end a run where a stop rule ended it."""
        if self.patience is not None and bad_epochs >= self.patience:
            return f"{EARLY_STOP}{monitor} did not improve for {self.patience} epochs"
        if self.gl_alpha is not None and val_loss is not None and e_opt is not None:
            gl = 100 * (val_loss / e_opt - 1) if e_opt > 0 else 0.0
            if gl > self.gl_alpha:
                return f"{EARLY_STOP}generalisation loss GL = {gl:.1f} > {self.gl_alpha}"
        return None

    def differences(self, other: RunConfig) -> list[str]:
        """The settings, other than the RESUMABLE ones, in which `other` differs (empty: the same run)."""
        return [
            f.name
            for f in fields(self)
            if f.name not in self.RESUMABLE and getattr(self, f.name) != getattr(other, f.name)
        ]

    # Settings that may differ when resuming a run (everything else must match).
    RESUMABLE = ("epochs", "patience", "gl_alpha", "data_dir", "device", "log_every")


SETTINGS = tuple(f.name for f in fields(RunConfig))  # an experiment file's keys
# settings that may be unset and are text: `init_from = ""` in a file (TOML has no null) is unset, as runs written
# before 2026-12-05 recorded it, which must stay readable and resumable
OPTIONAL_TEXT = tuple(f.name for f in fields(RunConfig) if str(f.type) == "str | None")
SETTINGS_LISTING = "settings are the flags of `cnnlab train --help`"


BASE_KEY = "recipe"  # the experiment file another starts from, as a study's runs name theirs (cnnlab.study.plan)
BASE_HINT = "give recipe:NAME or the path of an experiment file, relative to the file that names it"


def read_experiment(
    path: str | Path, what: str = "experiment file", hint: str = "", folder: Path = Path()
) -> dict[str, Any]:
    """An experiment file's settings (a path, or recipe:NAME), keys spelt with underscores, unknown keys refused.

    `recipe = "recipe:NAME"` (or a path relative to the file) starts from that experiment file's settings and lays
    this file's over them, key by key, so a variant of a recipe says only what it changes; chains are followed.
    `what` and `hint` name the file in the error when it is missing; a relative `path` is taken from `folder`."""
    file = _locate(path, folder)
    return _layered(file, _shown(path, file), what, hint, (file.resolve(),))


def _layered(file: Path, shown: str, what: str, hint: str, chain: tuple[Path, ...]) -> dict[str, Any]:
    values = {k.replace("-", "_"): v for k, v in read_toml(file, what, hint).items()}
    base = values.pop(BASE_KEY, None)
    check_keys(values, SETTINGS, shown, "setting", SETTINGS_LISTING)
    if base is None:
        return values
    if not isinstance(base, str) or not base:
        raise CnnlabError(f"{shown}: {BASE_KEY} must name an experiment file, got {base!r}; {BASE_HINT}")
    try:
        parent = _locate(base, file.parent)
    except CnnlabError as e:
        raise CnnlabError(f"{shown}: {BASE_KEY}: {e}") from None
    if parent.resolve() in chain:
        raise CnnlabError(
            f"{shown}: {BASE_KEY} {base!r} leads back to a file that extends it; an experiment file cannot start "
            "from itself, directly or through others"
        )
    return {
        **_layered(parent, _shown(base, parent), f"{shown}: {BASE_KEY}", BASE_HINT, (*chain, parent.resolve())),
        **values,
    }


def _locate(name: str | Path, folder: Path) -> Path:
    """recipe:NAME's shipped file, or a path taken from `folder` (a shipped file's path is absolute, which `/` keeps)."""
    return folder / resolve(name, "recipe")


def _shown(name: str | Path, file: Path) -> str:
    """How an error names the file: recipe:NAME as given, a path as located."""
    return str(name) if named_kind(name) else str(file)
