"""The set-up phase of training: data and model made to fit each other, loaders, loss, optimiser and schedule.

`prepare` (data + model) is shared with everything that rebuilds a run's data (eval, reports, explanations);
`setup` adds what the training loop needs and is what lr-find and the benchmarks use too."""

from __future__ import annotations

import inspect
import os
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnnlab.coexist import keep_triton_from_tensorflow
from cnnlab.data import Augment, Dataset, DeviceLoader, load_dataset
from cnnlab.data.dataset import FOLDER_PREFIX
from cnnlab.data.sources import data_root
from cnnlab.errors import CnnlabError, option
from cnnlab.failpoint import failpoint
from cnnlab.rundir import RunConfig
from cnnlab.rundir.config import mirror_warning, said_to_reader
from cnnlab.rundir.run import run_data_folder, run_network
from cnnlab.train.distributed import Ranks, sync_batch_norm
from cnnlab.train.ema import EMA
from cnnlab.train.init import initialize
from cnnlab.train.optim import loss_function, make_optimizer, make_scheduler
from cnnlab.train.precision import autocast
from cnnlab.train.precision import of_run as run_precision
from cnnlab.transfer import parameter_groups, resolve_source
from cnnlab.transfer.apply import start_from
from cnnlab.transfer.sources import TORCHVISION
from cnnlab.zoo.airbench import GREY_BN_EPS
from cnnlab.zoo.heads import head_note
from cnnlab.zoo.meta import meta_device


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CnnlabError(said_to_reader("--device cuda asked for, but no CUDA GPU is available; use --device cpu"))
    return torch.device(name)


def load_data(config: RunConfig, recorded: dict[str, Any] | None = None) -> Dataset:
    """The run's dataset with its splits, as stored (before any adaptation to the model's input). `{data_dir}` in
    --data is the data root, as in study files (recipes name the CIFAR-10 archive this way); a relative
    folder:PATH of a run whose checkpoint metadata is `recorded` is the folder it read (`run_data_folder`)."""
    val = None if not config.val_split else (int(config.val_split) if config.val_split >= 1 else config.val_split)
    folder = run_data_folder(config.data, recorded)
    name = FOLDER_PREFIX + folder if folder else config.data.replace("{data_dir}", str(data_root(config.data_dir)))
    data = load_dataset(name, data_dir=config.data_dir, val=val, limit=config.limit, seed=config.seed)
    failpoint("data-loaded")
    return data


def fit_data(data: Dataset, target: tuple[int, ...], resize: str) -> tuple[Dataset, dict[str, Any]]:
    """The data adapted to the model's input shape (channels, then size by padding or resizing), and how."""
    adaptation = {"source_shape": list(data.input_shape), "mode": None}
    if tuple(data.input_shape) != tuple(target):
        mode = resize
        if mode == "pad" and any(t < s for t, s in zip(target[1:], data.input_shape[1:])):
            mode = "resize"
        if mode == "pad" and any(t - s > 8 for t, s in zip(target[1:], data.input_shape[1:])):
            mode = "resize"  # padding an 8x8 digit to 32x32 would leave it a speck
        data = data.adapt(tuple(target), mode)
        adaptation["mode"] = mode
    return data, adaptation


def prepare(config: RunConfig, recorded: dict[str, Any] | None = None) -> tuple[Dataset, nn.Module, dict[str, Any]]:
    """Load the data (that of the run whose checkpoint metadata is `recorded`: see `load_data`) and build the model
    so the two fit: classes, channels and image size.

    Also returns how images were adapted ({"source_shape", "mode"}), so predict can treat new images alike. The
    model's `build` attribute records the options it was built with, and a network file's text, so any command
    can rebuild it from the run."""
    from cnnlab.analysis.fits import check_fits
    from cnnlab.zoo import create_model
    from cnnlab.zoo.registry import check_model_options, is_spec_path
    from cnnlab.zoo.spec import network_text

    spec = is_spec_path(config.model)
    given = check_model_options(config.model, config.options or {})  # before loading data: a typo fails at once
    # a network file is read once, here, and built from that text; a resumed run from its own (see run_network)
    network = (run_network(recorded) or network_text(config.model)) if spec else None
    data = load_data(config, recorded)
    c_data = data.input_shape[0]
    # a network file started from weights keeps its own input channels (its base's pretrained stem reads them; the
    # data is converted); otherwise it is built for the data's, as zoo models are
    own_channels = spec and config.init_from
    with meta_device():
        probe = create_model(
            config.model,
            num_classes=data.num_classes,
            in_channels=config.input[0] if config.input else None if own_channels else c_data,
            network=network,
            **given,
        )
    # only for the shape; a network file's own input wins (its dense layers are sized for it). A resumed run's is
    # the one its checkpoint recorded: only the start needs the source, which may have moved or be named from elsewhere
    source_shape = None
    if config.init_from and not config.input and not spec:
        source_shape = recorded["input_shape"] if recorded else resolve_source(config.init_from).input_shape
    target = tuple(config.input or source_shape or probe.input_size)
    options = dict(given)  # recorded with the run, so eval, predict and resume rebuild the same model
    if "image_size" not in options and tuple(probe.input_size[1:]) != target[1:] and _takes_image_size(config.model):
        if target[1] != target[2]:
            shown = "x".join(map(str, target))
            raise CnnlabError(
                said_to_reader(
                    f"{config.model} is built for square images (its image_size option), not {shown}; give --input "
                    f"{target[0]},S,S, or a model with a global pool"
                )
            )
        options["image_size"] = target[1]  # size-specific models (mlp, mnist-cnn) are built for the asked input
    # see grey_note; a net started from other weights (--init-from: a CIFAR net's, say) keeps its default
    if c_data == 1 and "bn_eps" not in options and not config.init_from and _tiny_bn_eps(config.model) is not None:
        options["bn_eps"] = GREY_BN_EPS
    # shape, memory: before allocating
    fits = check_fits(config.model, target, num_classes=data.num_classes, network=network, **options)
    check_scores(config.model, tuple(fits.output_shape), data.num_classes)
    model = create_model(config.model, num_classes=data.num_classes, in_channels=target[0], network=network, **options)
    model.build = {"num_classes": data.num_classes, "in_channels": target[0], "options": options}
    if network is not None:
        model.build["network"] = network
    data, adaptation = fit_data(data, target, config.resize)
    return data, model, adaptation


def check_scores(model: str, output: tuple[int, ...], num_classes: int) -> None:
    """A one-line refusal of a network that does not end in one score per class, which cross-entropy needs: one
    that ends in feature maps (net:inception-naive, a module to analyse) or in a dense layer of another width."""
    if output == (num_classes,):
        return
    ending = f"feature maps ({'x'.join(map(str, output))} per image)" if len(output) > 1 else f"{output[0]} scores"
    raise CnnlabError(
        f"{model} ends in {ending}, but training needs one score per class ({num_classes}); "
        f"end the network in a dense layer of {num_classes} units (after a flatten or global pool), or train a zoo "
        "model (`cnnlab models`)"
    )


def fit_note(config: RunConfig, adaptation: dict[str, Any], shape: tuple[int, ...]) -> str | None:
    """One line when the images change channels on the way in: a zoo model rebuilt for data with other channels
    than it was made for (a CIFAR recipe on MNIST), or an input shape (a recipe's `input`, --input) whose channels
    the data lacks, saying how the images were fitted too. Resizing alone is routine (digits for an MNIST net)
    and silent."""
    from cnnlab.zoo.registry import is_spec_path, model_info

    model, source = config.model, adaptation["source_shape"]
    default = None if is_spec_path(model) or config.input else model_info(model).input_size[0]
    fitted = "x".join(map(str, shape))
    if default is not None and default != shape[0]:
        note = f"data: {model} is built with {shape[0]} input channel(s) for this data (its default is {default})"
    elif source[0] != shape[0]:
        how = "copied to 3 channels" if source[0] == 1 else "converted to grayscale"
        note = f"data: the input is {fitted} and this data's images have {source[0]} channel(s): they are {how}"
    else:
        return None
    if adaptation["mode"] and list(source[1:]) != list(shape[1:]):
        how = "padded" if adaptation["mode"] == "pad" else "resized"
        note += f"; images of {'x'.join(map(str, source))} are {how} to {fitted}"
    return note


def flip_warning(config: RunConfig) -> str | None:
    """One line when flips meet data whose mirror images change class (digits): valid settings that silently cost
    accuracy, as a CIFAR recipe's flips do on MNIST (cifar10-70 there: 98.91% test with them, 99.45% without)."""
    from cnnlab.data.dataset import mirror_safe

    return None if mirror_safe(config.data) else mirror_warning(config.data, config.augment, config.tta)


def transfer_line(source: str, transfer: dict[str, Any]) -> str:
    """What --init-from loaded: a count and the re-initialised head, or with --match order each pairing; by name,
    also the model's tensors the source lacked and whether it was made for another architecture (resnet34's
    weights in a resnet18 load in part without an error)."""
    line = f"init from {source}: {transfer['loaded']} tensors loaded"
    if transfer["replaced"]:
        line += f", head re-initialised ({', '.join(transfer['replaced'])})"
    if "mapped" in transfer:
        pairs = "".join(f"\n  {k} -> {t}" for k, t in transfer["mapped"].items())
        line += (
            f" by order: {transfer['unused']} of the source's left unused, {len(transfer['missing'])} of the "
            f"model's keep their initialisation{pairs}"
        )
        return line
    if transfer.get("made_for"):
        line += f"; the weights were made for {transfer['made_for']}"
        line += f": {transfer['unused']} of theirs match no tensor here" if transfer["unused"] else ""
    if missing := transfer.get("not_in_source"):
        shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        line += f"; {len(missing)} of the model's tensors are not in the source and keep their initialisation ({shown})"
    return line


def _option(name: str, option: str) -> inspect.Parameter | None:
    """A zoo model's builder parameter `option` (its default: `.default`), None where it has none or is a file."""
    from cnnlab.zoo.registry import is_spec_path, model_info

    return None if is_spec_path(name) else inspect.signature(model_info(name).builder).parameters.get(option)


def _takes_image_size(name: str) -> bool:
    return _option(name, "image_size") is not None


def _tiny_bn_eps(name: str) -> float | None:
    """The batch norm eps a zoo model is built with by default where it is below GREY_BN_EPS (the airbench nets')."""
    parameter = _option(name, "bn_eps")
    return parameter.default if parameter is not None and parameter.default < GREY_BN_EPS else None


def grey_note(config: RunConfig, options: dict[str, Any]) -> str | None:
    """One line when a net made for colour photos (the airbench nets' batch norm eps of 1e-12) is built with
    eps 1e-5 for grey images: digits' blank margins leave channels of almost no variance, which 1e-12 scales
    into exploding gradients (a CIFAR recipe on MNIST: 9.7% test in bf16, 70.6% with 1e-5, 5,000 digits)."""
    default = _tiny_bn_eps(config.model)
    if "bn_eps" in (config.options or {}) or options.get("bn_eps") != GREY_BN_EPS or default is None:
        return None
    return (
        f"data: grey images: {config.model}'s batch norm eps is {GREY_BN_EPS:g} instead of {default:g} (blank margins "
        "leave channels of almost no variance, which a tiny eps blows up); --option bn_eps=X sets it"
    )


def preprocessing(config: RunConfig, data: Dataset, recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """DeviceLoader keyword arguments turning uint8 pixels into the model's inputs: scale, mean/std, memory layout
    (for a resumed run whose checkpoint metadata is `recorded`, the statistics it trained with: see _statistics)."""
    scale = 1 / 255 if config.pixels == "unit" else 1.0
    return {"memory_format": memory_format(config), **_statistics(config, data, scale, recorded)}


def memory_format(config: RunConfig) -> torch.memory_format:
    return torch.channels_last if config.channels_last else torch.contiguous_format


def _statistics(config: RunConfig, data: Dataset, scale: float, recorded: dict[str, Any] | None) -> dict[str, Any]:
    if not config.normalize:
        return {"scale": scale}
    if config.mean is not None:
        return {"scale": scale, **custom_statistics(config.mean, config.std, data.input_shape[0])}
    if config.init_from and recorded:  # resumed: the source's (or the data's) as recorded; the source may be gone
        return {"scale": scale, "mean": recorded["mean"], "std": recorded["std"]}
    source = resolve_source(config.init_from) if config.init_from else None
    if config.norm_stats == "source" and not (source and source.mean):
        raise CnnlabError(
            said_to_reader(f"--norm-stats source: {config.init_from} carries no mean/std; use --norm-stats dataset")
        )
    if source and source.mean and config.norm_stats != "dataset":
        return {"scale": scale, "mean": source.mean, "std": source.std}  # preprocessing travels with the weights
    return {"scale": scale, "mean": data.mean, "std": data.std}


def custom_statistics(mean: list[float], std: list[float], channels: int) -> dict[str, list[float]]:
    """--mean/--std for images of `channels` channels: one value stands for every channel."""
    out = {}
    for name, values in (("mean", mean), ("std", std)):
        if len(values) not in (1, channels):
            raise CnnlabError(
                said_to_reader(
                    f"--{name} has {len(values)} values but the model's inputs have {channels} channel(s); "
                    f"give one value, or {channels} separated by commas"
                )
            )
        out[name] = [float(v) for v in values] * (channels if len(values) == 1 else 1)
    return out


TRANSLATE_PIXELS = 2  # airbench's translate: at most 2 pixels each way, from a mirrored border


def augmentation(config: RunConfig, height: int, width: int) -> Augment:
    """The --augment settings for images of height x width; translate mirrors a border, which needs a bigger image."""
    kinds = config.augment or []
    if "translate" in kinds and min(height, width) <= TRANSLATE_PIXELS:
        raise CnnlabError(
            said_to_reader(
                f"--augment translate mirrors a {TRANSLATE_PIXELS}-pixel border, so images must be at least "
                f"{TRANSLATE_PIXELS + 1}x{TRANSLATE_PIXELS + 1}; these are {height}x{width}: use crop, or a larger --input"
            )
        )
    padding = 4 if "crop" in kinds else TRANSLATE_PIXELS if "translate" in kinds else 0
    return Augment(padding, hflip="flip" in kinds, altflip="altflip" in kinds, crop_reflect="translate" in kinds)


def small_images(
    config: RunConfig, model: nn.Module, shape: Sequence[int], steps: int
) -> tuple[tuple[int, int], int] | None:
    """--progressive H,F as the loader takes it: the small size (the width scaled alike) and how many of the run's
    `steps` batches are resized to it, refused in one line when `model` cannot take images of that size.

    Progressive resizing follows fast.ai's DAWNBench ImageNet runs (Howard, 2018); ending at full size keeps the
    test images' size the one the network trained on last (Touvron et al. 2019, "Fixing the train-test resolution
    discrepancy")."""
    if config.progressive is None:
        return None
    from cnnlab.analysis.fits import check_fits

    small, fraction = int(config.progressive[0]), config.progressive[1]
    channels, height, width = shape
    flag = f"--progressive {small},{fraction:g}"
    if small >= height:
        raise CnnlabError(
            said_to_reader(
                f"{flag}: the training images are {height}x{width}, so the early ones must be smaller than {height} "
                f"pixels high; give a height below {height}"
            )
        )
    size = (small, max(1, round(width * small / height)))
    build = model.build
    try:
        check_fits(
            config.model, (channels, *size), build["num_classes"], network=build.get("network"), **build["options"]
        )
    except CnnlabError as e:
        shown = f"{channels}x{size[0]}x{size[1]}"
        if any(isinstance(m, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d) for m in model.modules()):
            # a global pool takes any size, so the images are too small for the layers before it
            raise CnnlabError(
                said_to_reader(f"{flag}: {shown} images are too small ({e}); give a larger height")
            ) from None
        raise CnnlabError(
            said_to_reader(
                f"{flag}: model {config.model} cannot take {shown} images, only the {height}x{width} it was built for; "
                "give a larger height, or a network with a global pool (the airbench nets have one)"
            )
        ) from None
    return size, round(fraction * steps)


WHITEN_IMAGES = 5000  # training images whose patches give the whitening statistics (airbench uses 5,000)


@dataclass
class Setup:
    """Everything the training loop works with, made once per process."""

    config: RunConfig
    device: torch.device
    data: Dataset
    model: nn.Module  # the module whose state is checkpointed
    net: nn.Module  # what the loop calls: the model, wrapped in DDP with several ranks, torch.compile'd if asked
    normalize: dict[str, Any]
    train_loader: DeviceLoader
    val_loader: DeviceLoader
    test_loader: DeviceLoader
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    transfer: dict[str, Any] | None
    meta: dict[str, Any]  # what every checkpoint records: classes, preprocessing, build options, precision
    seconds: float  # time spent loading data and building, for benchmarks
    precision: str  # fp32 or bf16: --precision, with auto resolved for this machine
    ema: EMA | None  # the average of the weights that counts, with --ema
    ranks: Ranks  # this process's place in a data-parallel run (one process: Ranks())

    @property
    def counted(self) -> nn.Module:
        """The weights that count (evaluated, checkpointed, tested): the average with --ema, else the model."""
        return self.ema.module if self.ema is not None else self.model

    def autocast(self) -> torch.autocast:
        """bf16 autocast for the forward pass (the loss is taken in fp32); a no-op for fp32."""
        return autocast(self.device.type, self.precision)

    @property
    def has_val(self) -> bool:
        return len(self.data.val_y) > 0


def eval_batch_size(device: torch.device) -> int:
    """Images per evaluation batch: 128 on a CPU, where larger batches fall out of the caches (512 measured 10-40%
    slower per image for airbench nets and resnet20 on 2 cores), 512 on a GPU, which wants wide batches."""
    return 128 if device.type == "cpu" else 512


def _build(
    config: RunConfig, resuming: dict[str, Any] | None, log: Callable[[str], None]
) -> tuple[Dataset, nn.Module, dict[str, Any], dict[str, Any] | None]:
    """Data and model fitted to each other, initialised and started from --init-from (unless `resuming`: the run's
    checkpoint holds its weights), saying what happened on the way: the data's adaptation, config warnings, the
    head, what the transfer loaded."""
    load_source = resuming is None
    data, model, adaptation = prepare(config, resuming)
    for note in (fit_note(config, adaptation, data.input_shape), grey_note(config, model.build["options"])):
        if note:
            log(note)
    for warning in [*config.warnings(), flip_warning(config)]:
        if warning:
            log("warning: " + warning)
    initialize(model, config.init, config.init_std)
    if (head := head_note(model)) is not None:
        log(head)
    transfer = start_from(model, config, load=load_source)
    if config.init_from and load_source:
        log(transfer_line(config.init_from, transfer))
        for warning in resolve_source(config.init_from).mismatches(
            config.pixels, config.normalize, config.norm_stats, custom=config.mean is not None
        ):
            log("warning: " + warning)
    return data, model, adaptation, transfer


Built = tuple[Dataset, nn.Module, dict[str, Any], dict[str, Any] | None]  # _build's data, model, adaptation, transfer


def _built_once_checked(
    config: RunConfig, resuming: dict[str, Any] | None, log: Callable[[str], None], ranks: Ranks
) -> tuple[Built, dict[str, Any]]:
    """`_build`'s data and model and the data's print, checked against the run resumed: on rank 0 first, as a
    shared step, then on the others. Bad input (a missing folder, a labels file naming absent images, other data
    on resume) is then said once, by rank 0, and the other ranks stop with it (each rank said it before: one line
    a rank), as are its warnings. The others load what rank 0 decoded into the cache. A first decode can take
    hours, so the ranks wait for each other's data outside the training collectives' 30-minute timeout."""

    def build() -> tuple[Built, dict[str, Any]]:
        built = _build(config, resuming, log)
        printed = data_print(built[0])
        if resuming is not None:
            check_same_classes(built[0].classes, resuming["classes"], "resume")
            check_same_data(printed, resuming.get("data"))
        return built, printed

    first: list[tuple[Built, dict[str, Any]]] = []
    ranks.share(lambda: first.append(build()), slow=True)  # the result stays on rank 0: the others learn it worked
    if not first:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rank 0 said them (an image the labels file does not list): once a run
            first.append(build())
    ranks.gathered()
    return first[0]


def _whiten(model: nn.Module, data: Dataset, normalize: dict[str, Any], trainable: bool) -> None:
    """--whiten: the first conv set from WHITEN_IMAGES training images, spread evenly over the split (a folder
    dataset's training images come sorted by class)."""
    from cnnlab.train.whiten import whiten_first_conv

    idx = torch.arange(0, len(data.train_x), max(1, len(data.train_x) // WHITEN_IMAGES))[:WHITEN_IMAGES]
    sample = DeviceLoader(data.train_x[idx], data.train_y[idx], batch_size=len(idx), shuffle=False, **normalize)
    whiten_first_conv(model, next(iter(sample))[0].contiguous(), trainable=trainable)


def check_same_classes(found: list[str], trained: list[str], doing: str) -> None:
    """A one-line error when the data's classes are not those a run trained on (an image folder's class folders
    renamed, added or removed since): its outputs would be read as other classes, and scores would be wrong
    without a word."""
    if list(found) != list(trained):
        show = lambda names: ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise CnnlabError(
            f"cannot {doing}: the data's classes are now {show(list(found))}, but the run was trained on "
            f"{show(list(trained))}; restore the data as it was, or train a new run"
        )


def data_print(data: Dataset) -> dict[str, Any]:
    """What a checkpoint records of the data it trained on, for a resume to check it still has the same: the
    splits' sizes, a CRC-32 of their labels (exact: decoding does not touch them) and the training and test images'
    mean image at 4x4 (to 1e-3 on the 0..1 scale: every pixel one level brighter moves it by 3.9e-3, CIFAR-10
    mirrored by 9.2e-3; a decoder that differs by a level in some pixels, by that share of 3.9e-3)."""
    labels = torch.cat([data.train_y, data.val_y, data.test_y]).numpy()
    return {
        "sizes": [len(data.train_y), len(data.val_y), len(data.test_y)],
        "labels_crc32": zlib.crc32(labels.tobytes()),
        "thumbs": {"train": _mean_image(data.train_x), "test": _mean_image(data.test_x)},
    }


def _mean_image(x: torch.Tensor, sample: int = 2048, chunk: int = 256) -> list[float]:
    """The mean of up to `sample` images spread over `x`, pooled to 4x4 per channel, in 0..1 (chunked, so 224x224
    images cost no more memory than a batch)."""
    if len(x) == 0:
        return []
    picked = x[:: max(1, len(x) // sample)][:sample]
    total = sum(picked[i : i + chunk].to(torch.float32).sum(0) for i in range(0, len(picked), chunk))
    mean = total / (255 * len(picked))
    return [round(v, 6) for v in torch.nn.functional.adaptive_avg_pool2d(mean[None], 4).flatten().tolist()]


def check_same_data(now: dict[str, Any], recorded: dict[str, Any] | None) -> None:
    """A one-line error when a resumed run's data (its `data_print`) is not what it trained on (--data-dir at
    another copy, files replaced): its next epochs would train on other images, and its test score mean nothing."""
    if recorded is None:  # checkpoints written before 2026-12-05 record no data
        return
    differs = ""
    if now["sizes"] != recorded["sizes"]:
        sizes = lambda s: "/".join(f"{n:,}" for n in s)
        differs = f"train/val/test sizes {sizes(now['sizes'])}, the run's {sizes(recorded['sizes'])}"
    elif now["labels_crc32"] != recorded["labels_crc32"]:
        differs = "the same sizes but other labels"
    else:
        for split in ("train", "test"):
            mine, theirs = now["thumbs"][split], recorded["thumbs"][split]
            moved = max((abs(a - b) for a, b in zip(mine, theirs)), default=0.0)
            if len(mine) != len(theirs) or moved > 1e-3:
                differs = f"other {split} images: their mean image moved by {moved:.4f}"
                break
    if differs:
        raise CnnlabError(
            f"cannot resume: the data found is not what the run trained on ({differs}); point "
            f"{option('data_dir')} (or $CNNLAB_DATA) at the data it used, or train a new run"
        )


def check_global_batch(batch_size: int, world: int, per_rank: int = 1) -> None:
    """A one-line error when the global batch cannot give each of `world` processes `per_rank` images (2 with
    batch norm); the launcher checks it once with 1, before starting the ranks."""
    if world > 1 and batch_size < per_rank * world:
        raise CnnlabError(
            said_to_reader(
                f"--batch-size {batch_size} is the global batch, shared by {world} processes: it must be "
                f"at least {per_rank * world} ({per_rank} image(s) for each); raise it or use fewer processes"
            )
        )


def training_loader(
    config: RunConfig,
    data: Dataset,
    device: torch.device,
    ranks: Ranks,
    normalize: dict[str, Any],
    model: nn.Module,
) -> DeviceLoader:
    """The shuffled, augmented training batches of this rank, refused in one line when a batch cannot be split
    over the ranks or the split is empty.

    Batch norm has no statistics over one image (PyTorch refuses it after a dense layer): a last batch that would
    leave a rank one image is left out of that epoch; the next shuffle puts its images elsewhere."""
    per_rank = 2 if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()) else 1
    lone = 0 < len(data.train_y) % config.batch_size < per_rank * ranks.world
    check_global_batch(config.batch_size, ranks.world, per_rank)
    loader = DeviceLoader(
        data.train_x,
        data.train_y,
        batch_size=config.batch_size,
        augment=augmentation(config, *data.train_x.shape[-2:]),
        shuffle=True,
        drop_last=lone,
        device=device,
        seed=config.seed,
        rank=ranks.rank,
        world=ranks.world,
        **normalize,
    )
    if len(loader) == 0:
        why = "has one image, too few for batch norm" if lone else "is empty"
        raise CnnlabError(
            said_to_reader(f"{config.data}: the training split {why}; lower --val-split or raise --limit")
        )
    return loader


def _meta(
    config: RunConfig,
    data: Dataset,
    model: nn.Module,
    normalize: dict[str, Any],
    adaptation: dict[str, Any],
    transfer: dict[str, Any] | None,
    precision: dict[str, str],
    printed: dict[str, Any],
) -> dict[str, Any]:
    """What every checkpoint records so eval, predict and resume rebuild the run's model and its inputs, and
    check that a resume has its settings and data (`printed`: data_print's)."""
    return {
        "model": config.model,
        "classes": data.classes,
        "input_shape": list(data.input_shape),
        "mean": list(normalize["mean"]) if "mean" in normalize else None,
        "std": list(normalize["std"]) if "std" in normalize else None,
        "dataset": data.name,
        "data_folder": _folder_read(data.name),  # where a relative folder:PATH is read on resume (run_data_folder)
        "init_path": _source_read(config.init_from),  # what a relative --init-from named (rundir's _as_run_gives)
        "adapt": adaptation,
        "scale": normalize["scale"],
        "build": model.build,
        "transfer": transfer,
        "precision": precision,
        "config": config.recorded(),  # what the run trained with
        "data": printed,
    }


def _folder_read(name: str) -> str | None:
    """The absolute path of the folder (or archive) a folder:PATH dataset named `name` was read from; None for
    other data."""
    return os.path.abspath(os.path.expanduser(name[len(FOLDER_PREFIX) :])) if name.startswith(FOLDER_PREFIX) else None


def _source_read(init_from: str | None) -> str | None:
    """The absolute path of the run or weights file an --init-from path named; None for torchvision weights and
    for a run started from nothing."""
    if init_from is None or init_from.startswith(TORCHVISION):
        return None
    return os.path.abspath(os.path.expanduser(init_from))


def setup(
    config: RunConfig,
    log: Callable[[str], None] | None = None,
    ranks: Ranks | None = None,
    resuming: dict[str, Any] | None = None,
) -> Setup:
    """Seed, load and build: data, model (initialised, transferred, frozen), loaders, loss, optimiser, schedule.

    `resuming`, the metadata of the checkpoint a run resumes from, skips loading --init-from weights (the
    checkpoint holds the run's own) and keeps the precision --precision auto chose (precision.of_run). With
    several `ranks` every rank builds the same model from the same seed, trains it through DDP and loads its
    slice of each global batch of --batch-size images."""
    keep_triton_from_tensorflow()  # before the optimiser's first step imports TorchDynamo
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    ranks = ranks or Ranks()
    t0 = time.perf_counter()
    device = ranks.device(pick_device(config.device))
    if device.type == "cuda":  # cuDNN times its kernels for the run's fixed shapes once, as airbench's loop does
        torch.backends.cudnn.benchmark = not torch.backends.cudnn.deterministic
    torch.manual_seed(config.seed)
    (data, model, adaptation, transfer), printed = _built_once_checked(config, resuming, log, ranks)
    normalize = preprocessing(config, data, resuming)
    if config.whiten != "none":
        _whiten(model, data, normalize, trainable=config.whiten == "trainable")
    model.to(device, memory_format=memory_format(config))
    if config.sync_bn:
        model = sync_batch_norm(model, ranks, device)
    net = ranks.wrap(model, device)
    net = torch.compile(net) if config.compile else net
    # rank 0 decides for all: each rank's own probe, on cores the others share, could choose differently
    precision, why = ranks.share(run_precision, config.precision, device.type, (resuming or {}).get("precision"))
    train_loader = training_loader(config, data, device, ranks, normalize, model)
    train_loader.small = small_images(config, model, data.train_x.shape[1:], config.epochs * len(train_loader))
    evaluation = {"batch_size": eval_batch_size(device), "shuffle": False, "device": device, **normalize}
    groups = parameter_groups(model, config.head_lr, config.bias_lr, config.decay_norm_bias)
    optimizer = make_optimizer(groups, config)
    meta = _meta(config, data, model, normalize, adaptation, transfer, {"used": precision, "why": why}, printed)
    return Setup(
        config,
        device,
        data,
        model,
        net,
        normalize,
        train_loader,
        DeviceLoader(data.val_x, data.val_y, **evaluation),
        DeviceLoader(data.test_x, data.test_y, **evaluation),
        loss_function(config),
        optimizer,
        make_scheduler(optimizer, config, len(train_loader)),
        transfer,
        meta,
        time.perf_counter() - t0,
        precision,
        EMA(model, config.ema, config.epochs * len(train_loader) if config.lookahead else None) if config.ema else None,
        ranks,
    )
