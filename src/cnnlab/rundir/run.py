"""The run directory, the contract between commands (its file names in layout.py, and nowhere outside rundir/):

    RUN/config.toml        every setting (RunConfig)            RUN/checkpoints/   the checkpoint sets (checkpoint.py)
    RUN/metrics.csv        a copy of the last set's metrics     RUN/summary.json   written when the run has finished
    RUN/tensorboard/       event files (events.py)              RUN/.lock          the writer's lock (lock.py)
    RUN/batches.csv        per-batch rows with --log-every, and their event files in RUN/tensorboard/batches/
                           (batches.py)

`open_run` reads a run once for every command that uses it (eval, predict, report, explain, transfer);
`RunWriter` is the one process that writes it (train)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.atomic import remove_stale, write_text
from cnnlab.data.dataset import FOLDER_PREFIX
from cnnlab.errors import CnnlabError, option, resume_option, speaking_to_cli
from cnnlab.resources import named_kind
from cnnlab.rundir.batches import BatchLog, cut_batches, parse_batches
from cnnlab.rundir.checkpoint import MANIFEST, Checkpoint, CheckpointStore, metrics_csv
from cnnlab.rundir.config import EARLY_STOP, SWITCHED_OFF, RunConfig, lowest_val_loss
from cnnlab.rundir.events import EventLog
from cnnlab.rundir.layout import (
    BATCH_EVENTS,
    BATCHES,
    CHECKPOINTS,
    CONFIG,
    LOCK,
    METRICS,
    SUMMARY,
    TENSORBOARD,
    check_outside_runs,
)
from cnnlab.rundir.lock import WriterLock
from cnnlab.rundir.view import run_html, summary_text


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _is_count(v: Any) -> bool:
    return v is None or (isinstance(v, int) and not isinstance(v, bool))


def _all(kind: type) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(isinstance(x, kind) and not isinstance(x, bool) for x in v)


# What each value of summary.json is, as training writes it: the readers (`runs`, `report`, Jupyter) format them as
# numbers and text, so a hand-edited "test_accuracy": "x" is refused here in one line rather than as a traceback.
_NUMBERS = ("test_accuracy", "test_loss", "train_accuracy", "val_accuracy", "train_loss", "val_loss", "train_seconds")
_COUNTS = (
    "best_epoch",
    "epochs_run",
    "params",
    "trainable_params",
    "frozen_params",
    "train_size",
    "val_size",
    "test_size",
)
SUMMARY_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    **{key: ("a number", _is_number) for key in _NUMBERS},
    **{key: ("a whole number", _is_count) for key in _COUNTS},
    **{key: ("text", lambda v: v is None or isinstance(v, str)) for key in ("model", "data", "precision", "stopped")},
    "classes": ("a list of class names", _all(str)),
    "diagnosis": ("a list of findings (text)", _all(str)),
    "input_shape": ("a list of whole numbers", _all(int)),
    "transfer": ("a table of what was transferred", lambda v: v is None or isinstance(v, dict)),
}


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class RunDir:
    """A run directory on disk: cheap questions about it, each answered from its files when asked."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))  # accept str too, as notebooks pass

    @property
    def checkpoints(self) -> CheckpointStore:
        return CheckpointStore(self.path / CHECKPOINTS, str(self.path))

    def exists(self) -> bool:
        """Whether this is a run directory (it has a config); a path the file system cannot hold (a name too long)
        is none."""
        try:
            return (self.path / CONFIG).is_file()
        except OSError:
            return False

    def config(self) -> RunConfig:
        self.require()
        return RunConfig.from_run_toml(self.path / CONFIG)

    def require(self) -> None:
        """A one-line error unless this is a run directory: a typo, a file or a folder of something else."""
        if not self.exists():
            inside = self.run_below()
            if inside is not None:  # a study's folder (compare, tune), or a folder of runs
                raise CnnlabError(
                    f"{self.path} is not a cnnlab run directory but holds runs, such as {inside}: name one of them"
                    + (f" (`cnnlab runs {self.path}` lists them)" if speaking_to_cli() else "")
                )
            if (self.path / CONFIG).exists():  # a folder (or a device) of that name: not what a run writes
                raise CnnlabError(
                    f"{self.path / CONFIG} is not a file, so {self.path} is no run directory; restore the run from "
                    "a copy, or train it again"
                )
            how = "`cnnlab train ... --out DIR`" if speaking_to_cli() else "train(config, out)"
            raise CnnlabError(f"{self.path} is not a cnnlab run directory (no {CONFIG}); train one with {how}")

    def run_below(self) -> Path | None:
        """The first run directory one or two levels below this folder (STUDY/runs/NAME, RUNS/NAME), if any."""
        if not self.path.is_dir():
            return None
        for pattern in ("*/" + CONFIG, "*/*/" + CONFIG):
            found = sorted(self.path.glob(pattern))
            if found:
                return found[0].parent
        return None

    def config_text(self) -> str:
        return (self.path / CONFIG).read_text()

    def finished(self) -> bool:
        return (self.path / SUMMARY).is_file()

    def has_checkpoint(self) -> bool:
        return self.checkpoints.manifest() is not None

    def kept_no_weights(self) -> bool:
        """Finished without a checkpoint: its loss, or epoch 1's validation loss, went non-finite. Only its summary
        can be shown; nothing can be evaluated, resumed or transferred."""
        return self.finished() and not self.has_checkpoint()

    def weightless_stop(self) -> str | None:
        """Why a run that kept no weights stopped (its summary's `stopped`, from the first epoch: no epoch ran and
        no metrics were written); None for any other run, one whose checkpoints were lost after it trained too."""
        if not self.kept_no_weights() or (self.path / METRICS).is_file():
            return None
        try:
            summary = self.summary()
        except CnnlabError:
            return None  # a damaged summary: not known to be such a run
        return str(summary.get("stopped")) if summary.get("epochs_run") == 0 else None

    def summary(self) -> dict[str, Any]:
        try:
            summary = json.loads((self.path / SUMMARY).read_text())
        except FileNotFoundError:
            raise CnnlabError(
                f"{self.path} has no {SUMMARY}: the run has not finished; resume it with {resume_option()}"
            ) from None
        except (OSError, ValueError) as e:
            raise CnnlabError(
                f"{self.path / SUMMARY} is damaged ({e.__class__.__name__}); resume the run with "
                f"{resume_option()} to write it again"
            ) from None
        if not isinstance(summary, dict):
            raise CnnlabError(f"{self.path / SUMMARY} is not a run summary; resume the run with {resume_option()}")
        for key, (what, fits) in SUMMARY_KINDS.items():
            if key in summary and not fits(summary[key]):
                raise CnnlabError(
                    f"{self.path / SUMMARY} is damaged: {key} is {_short(summary[key])}, not {what}; resume the run "
                    f"with {resume_option()} to write it again"
                )
        return summary

    def metrics(self) -> list[dict[str, Any]]:
        """One row per finished epoch, from the last published checkpoint (empty before the first)."""
        self.require()
        last = self.checkpoints.load("last", weights=False)
        return last.metrics if last else []

    def batches(self) -> list[dict[str, Any]]:
        """The --log-every rows (epoch, batch, step, loss, accuracy, lr) logged so far (empty without any)."""
        self.require()
        path = self.path / BATCHES
        return parse_batches(path.read_text()) if path.is_file() else []


@dataclass
class Run:
    """A run read once: config, summary (None while unfinished), every epoch's metrics, and the chosen checkpoint's
    metadata and weights. `model` is built from the recorded build options and loaded on first use."""

    path: Path
    config: RunConfig
    summary: dict[str, Any] | None
    checkpoint: Checkpoint
    metrics: list[dict[str, Any]]

    @property
    def meta(self) -> dict[str, Any]:
        return self.checkpoint.meta

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.meta["input_shape"])  # type: ignore[return-value]

    @property
    def weights(self) -> dict[str, torch.Tensor]:
        return self.checkpoint.weights

    @property
    def config_text(self) -> str:
        return RunDir(self.path).config_text()

    @cached_property
    def model(self) -> nn.Module:
        """The trained model in eval mode on the CPU, built as it was trained (model, classes, channels, options)."""
        model = build_model(self.config.model, self.meta)
        load_state(model, self.weights, f"{self.path} ({self.checkpoint.folder.name})")
        return model.eval()

    def __str__(self) -> str:
        return summary_text(self.path, self.summary)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(summary_text(self.path, self.summary))

    def _repr_html_(self) -> str:
        """In Jupyter: the figures `cnnlab train` prints at the end, and the loss and accuracy curves."""
        return run_html(self.path, self.summary, self.metrics)


class RunSummary(dict):
    """A run's summary as `train` returns it: the dict of summary.json, which also shows itself in Jupyter (the
    figures `cnnlab train` prints, and the curves); `path` is the run directory."""

    def __init__(self, summary: dict[str, Any], path: str | Path) -> None:
        super().__init__(summary)
        self.path = Path(path)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(summary_text(self.path, self))

    def _repr_html_(self) -> str:
        return run_html(self.path, self, RunDir(self.path).metrics())


def build_model(name: str, meta: dict[str, Any]) -> nn.Module:
    """The untrained model a checkpoint's metadata describes (its recorded build options, else its data shape),
    a network file's from the text the run kept (`run_network`)."""
    from cnnlab.zoo import create_model

    build = meta.get("build") or {"num_classes": len(meta["classes"]), "in_channels": meta["input_shape"][0]}
    return create_model(
        name,
        num_classes=build["num_classes"],
        in_channels=build["in_channels"],
        network=run_network(meta),
        **build.get("options", {}),
    )


def run_network(meta: dict[str, Any] | None) -> str | None:
    """The text of the network file a run was built from, as its checkpoint `meta` keeps it: what every command
    rebuilds the run from, wherever the file has gone and whatever it says now. None for a zoo model, and for a
    checkpoint written before 2026-12-05, whose network is read from the file its config names, as it always was."""
    return ((meta or {}).get("build") or {}).get("network")


def load_state(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load tensors into `model` (strict); a mismatch is a one-line error naming `what`."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise CnnlabError(f"checkpoint of {what} does not fit the model: {first}") from None


def open_run(path: str | Path, which: str = "best") -> Run:
    """Read a run directory once: its config, summary and `which` checkpoint ("best", falling back to "last")."""
    run = RunDir(Path(path))
    config = run.config()
    checkpoint = run.checkpoints.load(which)
    if checkpoint is None and run.kept_no_weights():
        raise CnnlabError(
            f"{run.path} kept no weights: it stopped ({run.summary()['stopped']}) before any epoch ended with weights "
            f"fit to keep; train it again with other settings (its {SUMMARY} says why, e.g. a lower --lr)"
        )
    if checkpoint is None:
        raise CnnlabError(f"{run.path} has no checkpoint yet; train it first (or resume it with {resume_option()})")
    metrics = checkpoint.metrics if which == "last" else run.metrics()
    return Run(run.path, config, run.summary() if run.finished() else None, checkpoint, metrics)


class RunWriter:
    """The run's one writer: holds its lock from `open` to `close`, cleans what a killed writer left, and writes
    the config, the checkpoint sets, the metrics copy, TensorBoard events and the summary."""

    def __init__(self, path: Path) -> None:
        self.dir = RunDir(path)
        self.path = self.dir.path
        self.store = self.dir.checkpoints
        self._lock = WriterLock(self.path / LOCK, f"run {self.path}")
        self._created = not self.path.exists()
        self.events: EventLog | None = None
        self.batches: BatchLog | None = None
        self.config: RunConfig | None = None  # the settings to train with, set by `open`
        self.stop: str | None = None  # the recorded stop that still ends the run with them (`_stop_in_effect`)
        self._last: tuple[Checkpoint | None] | None = None  # resume_from's one read

    @classmethod
    def open(cls, path: str | Path, config: RunConfig, resume: bool) -> RunWriter:
        """Lock the run, refusing (and changing nothing) a run that already trained when not resuming, and one
        with other settings when resuming. Nothing is written until `start`."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise CnnlabError(f"{option('out')} {path} is a file, not a run directory; give a folder path")
        check_outside_runs(path, option("out"))  # a run in another's checkpoints/ would be cleaned away by it
        inside = RunDir(path).run_below() if path.is_dir() and not RunDir(path).exists() else None
        if inside is not None:  # a study's folder (compare, tune) or a folder of runs: a run there would mix in
            raise CnnlabError(
                f"{option('out')} {path} is not a run directory but holds runs, such as {inside}; give a new folder"
            )
        writer = cls(path)
        writer._lock.acquire()
        try:
            writer.config = writer._check(config, resume)
        except BaseException:
            writer.close()
            raise
        return writer

    def _check(self, config: RunConfig, resume: bool) -> RunConfig:
        """The settings to train with: `config`, with what names the run's own settings in another way (see
        `_as_run_gives`) spelt as the run does. Every refusal is made here, before `start` writes or cleans
        anything, so that a refused command changes no byte of the run."""
        if (self.path / CONFIG).exists() and not self.dir.exists():  # a new run's first write would fail on it
            raise CnnlabError(
                f"{self.path / CONFIG} is not a file, so {self.path} holds no run's settings; restore {CONFIG} from a "
                f"copy, or train into another {option('out')}"
            )
        if not self.dir.exists():
            if trained := self._trained():  # its config.toml lost: starting over would wipe what it holds
                raise CnnlabError(
                    f"{self.path} holds a run's {' and '.join(trained)} but no {CONFIG}; restore {CONFIG} from a "
                    f"copy, or train into another {option('out')}"
                )
            return config  # a new run
        manifest = self.store.manifest()
        if manifest is None:
            old = self.dir.config()
            config = _in_effect_as_run(old, _as_run_gives(old, config))
            self._check_start_over(config)
            return config
        if not resume:
            raise CnnlabError(
                f"{self.path} already holds a run (trained to epoch {manifest['last']['epoch']}); "
                f"use {resume_option()} to continue it or another {option('out')}"
            )
        old = self.dir.config()
        trained = manifest["last"]["epoch"]
        meta = self.store.load("last", weights=False).meta
        recorded = meta.get("config")  # none before 2026-12-05
        trained_with = RunConfig.from_dict(recorded) if recorded is not None else old
        if edited := _edited(trained_with, _as_run_gives(trained_with, old, meta)):
            raise CnnlabError(
                f"{self.path / CONFIG} was changed since epoch {trained} was checkpointed: {edited}; put back the "
                f"settings the run trained with, or start a new run from its weights ({option('init_from')} "
                f"{self.path})"
            )
        if config.epochs < trained:  # config.toml would say fewer epochs than the run has, and nothing would change
            raise CnnlabError(
                f"{resume_option()}: {self.path} has trained {trained} epochs already, so {option('epochs')} "
                f"{config.epochs} would undo nothing; give {option('epochs')} {trained} or more, or start a new run "
                f"from its weights ({option('init_from')} {self.path})"
            )
        config = _in_effect_as_run(old, _as_run_gives(old, self._network_as_run(old, config, meta), meta), meta)
        if said := _differences(old, config):
            raise CnnlabError(
                f"{resume_option()}: {said}; resume with the run's settings "
                f"(only {', '.join(map(option, RunConfig.RESUMABLE))} may change)"
            )
        self.stop = self._stop_in_effect(config, trained)
        if config != old:
            self._check_new_settings_train(config, trained)
        self._check_kinds()
        return config

    def _network_as_run(self, old: RunConfig, config: RunConfig, meta: dict[str, Any]) -> RunConfig:
        """`config` with its network file spelt as the run spells it where the file declares the network the run
        keeps (`run_network`: the same file named from another folder, or a copy of it); refused in one line where
        the file declares another network now, since the run goes on with its own and an edit meant for it would
        not be trained. A file that is not there (moved, or named from another folder), or a shipped net:NAME (a
        newer cnnlab may ship it changed, which the user did not ask for), leaves the run its own."""
        kept = run_network(meta)
        if kept is None or named_kind(config.model) is not None or not Path(config.model).is_file():
            return config
        from cnnlab.zoo.spec import same_network

        if not same_network(config.model, kept):
            raise CnnlabError(
                f"{resume_option()}: the network file {config.model} now declares another network than the one "
                f"{self.path} trained (which its checkpoints keep, and a resume goes on with); restore the file, train "
                f"the new network into another {option('out')}, or start it from this run's weights "
                f"({option('init_from')} {self.path})"
            )
        return replace(config, model=old.model)

    def _stop_in_effect(self, config: RunConfig, trained: int) -> str | None:
        """The run's recorded stop, unless a stop rule made it and `config`'s rules, asked at the epoch it stopped
        at, let it go on with epochs left: then it trains on from that checkpoint, which is the one a run without
        the stop has there (nothing is restored over it), as a run interrupted there and resumed so would. The
        record stays until the next epoch's checkpoint replaces it, so a resume killed before that is read as
        stopped, or (its config.toml rewritten) goes on when run again."""
        stopped = self.store.stopped()
        if stopped is None or not stopped.startswith(EARLY_STOP) or config.epochs <= trained:
            return stopped
        last = self.store.load("last", weights=False)
        engine, val_loss = last.train_state()["engine"], last.metrics[trained - 1]["val_loss"]
        monitor = config.monitored(val_loss is not None)
        e_opt = engine["e_opt"] if engine["e_opt"] is not None else lowest_val_loss(last.metrics[:trained])
        return stopped if config.early_stop(engine["bad_epochs"], e_opt, val_loss, monitor) else None

    def _check_new_settings_train(self, config: RunConfig, trained: int) -> None:
        """New settings for a run that would train no epoch with them are refused: its config must keep saying
        what the run did. A run a stop rule ended trains on with rules that let it (`_stop_in_effect`)."""
        if (stopped := self.stop) and stopped.startswith(EARLY_STOP):
            if config.epochs <= trained:
                said = f"{option('epochs')} {config.epochs} leaves it no epoch to train"
            else:
                rules = ", ".join(f"{option(n)} {getattr(config, n)}" for n in SWITCHED_OFF if getattr(config, n))
                said = f"{rules} would stop it there again"
            raise CnnlabError(
                f"{resume_option()}: {self.path} stopped after epoch {trained} ({stopped}), and {said}, so new "
                f"settings would change nothing; to train on, give more {option('epochs')} than {trained} and switch "
                f"the rule off ({option('patience')} off, {option('gl_alpha')} off) or loosen it"
            )
        if stopped:
            raise CnnlabError(
                f"{resume_option()}: {self.path} stopped for good after epoch {trained} ({stopped}), so new settings "
                f"would change nothing; to train on, start a new run from its weights ({option('init_from')} "
                f"{self.path} {option('out')} NEW)"
            )
        if self.dir.finished() and config.epochs <= trained:
            raise CnnlabError(
                f"{resume_option()}: {self.path} has finished its {trained} epochs, so new settings would change "
                f"nothing; give more {option('epochs')} to train on, or start a new run from its weights "
                f"({option('init_from')} {self.path} {option('out')} NEW)"
            )

    def _check_kinds(self) -> None:
        """Each of the run's own paths that a resume writes is of the kind the run writes there, or absent: a
        folder at summary.json (or a file at tensorboard) made the write fail after config.toml was rewritten."""
        for name, kind in WRITTEN_KINDS.items():
            path = self.path / name
            if path.exists() and not (path.is_dir() if kind == "folder" else path.is_file()):
                raise CnnlabError(
                    f"{path} is not a {kind}, as the run's {name} is; move it out of {self.path} (the run writes its "
                    f"own again) and run the command again"
                )

    def _trained(self) -> list[str]:
        """The files that show this folder's run has trained: a checkpoint manifest, metrics, a summary."""
        found = [f"{CHECKPOINTS}/{MANIFEST}"] if self.store.manifest() is not None else []
        return found + [name for name in (METRICS, SUMMARY) if (self.path / name).is_file()]

    def _check_start_over(self, config: RunConfig) -> None:
        """A run directory without a complete checkpoint starts over, but only as the run it holds (one killed
        before its first checkpoint, rerun): not with other settings, which would overwrite its config, and not
        when it has trained (its metrics or summary are there, so its checkpoints were damaged or removed)."""
        if (stopped := self.dir.weightless_stop()) is not None:  # nothing to resume, nor to start over in place
            raise CnnlabError(
                f"{self.path} kept no weights: it stopped ({stopped}) before any epoch ended with weights fit to keep, "
                f"so there is nothing to resume; train it again with other settings (its {SUMMARY} says why, e.g. a lower "
                f"{option('lr')}) into another {option('out')}"
            )
        if trained := [name for name in (SUMMARY, METRICS) if (self.path / name).is_file()]:
            raise CnnlabError(
                f"{self.path} has trained (it has {' and '.join(trained)}) but holds no complete checkpoint: "
                f"{self.store.folder / MANIFEST} is missing; restore the run from a copy, or train into another "
                f"{option('out')}"
            )
        if said := _differences(self.dir.config(), config):
            raise CnnlabError(
                f"{self.path} holds a run that never finished an epoch, with other settings: {said}; give its "
                f"settings to start it over, or another {option('out')}"
            )

    def resumable(self) -> bool:
        """Whether `start` will resume from a checkpoint (rather than start the run over)."""
        return self.dir.exists() and self.store.manifest() is not None

    def resume_from(self) -> Checkpoint | None:
        """The verified last checkpoint `start` resumes from (None: the run starts over), read once, before `start`
        writes anything: so that the caller can refuse it (a loop state of a newer cnnlab) and set-up can use what
        the run recorded about itself, from the same read. Nobody else writes the run while this writer holds it."""
        if self._last is None:
            self._last = (self.store.load("last") if self.resumable() else None,)
        return self._last[0]

    def start(self, config: RunConfig, log: Any) -> Checkpoint | None:
        """Clean up after a killed writer and write the config (`open` has refused what it would refuse); returns
        the checkpoint to resume from (None: the run starts from scratch)."""
        remove_stale(self.path, everything=True)
        if not self.resumable():
            if self.dir.exists():
                log(f"{self.path} has no complete checkpoint: starting it over")
            self.store.reset()
            for leftover in (SUMMARY, METRICS, TENSORBOARD, BATCHES):
                target = self.path / leftover
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
            write_text(self.path / CONFIG, config.to_toml())
            return None
        self.store.clean()
        last = self.resume_from()  # verified before anything is written: a damaged set changes no byte
        if config != self.dir.config():
            write_text(self.path / CONFIG, config.to_toml())  # a resumable setting changed (more epochs, say)
        if config.epochs > last.epoch and self.stop is None:
            (self.path / SUMMARY).unlink(missing_ok=True)  # the run goes on: it is no longer finished
        write_text(self.path / METRICS, metrics_csv(last.metrics))
        cut_batches(self.path / BATCHES, last.epoch)
        return last

    def abandon(self) -> None:
        """After a failure: a run directory this writer created and never checkpointed is removed again."""
        if self._created and not self.resumable():
            self.close()
            shutil.rmtree(self.path, ignore_errors=True)

    def open_events(self, first_epoch: int) -> None:
        """Start a TensorBoard event file for epochs from `first_epoch` on (see events.EventLog)."""
        self.events = EventLog(self.path / TENSORBOARD, first_epoch)

    def open_batches(self, first_step: int) -> BatchLog:
        """Start appending per-batch rows (--log-every), the first for update `first_step` (see batches.BatchLog)."""
        self.batches = BatchLog(self.path / BATCHES, self.path / TENSORBOARD / BATCH_EVENTS, first_step)
        return self.batches

    def publish(
        self,
        epoch: int,
        model: nn.Module,
        train_state: dict[str, Any],
        meta: dict[str, Any],
        metrics: list[dict[str, Any]],
        best: bool,
        stopped: str | None = None,
        training: nn.Module | None = None,
    ) -> None:
        """One epoch's checkpoint set, atomically; then the metrics.csv copy. `model` holds the weights that count,
        `training` the weights being trained when those differ (an --ema run)."""
        try:
            self.store.publish(
                epoch,
                _tensors(model),
                train_state,
                meta,
                metrics,
                best,
                stopped,
                _tensors(training) if training is not None else None,
            )
            write_text(self.path / METRICS, metrics_csv(metrics))
        except OSError as e:
            kept = f"epoch {epoch - 1}'s checkpoint is kept" if epoch > 1 else "no checkpoint was written"
            raise CnnlabError(
                f"cannot write epoch {epoch}'s checkpoint in {self.path}: {e.strerror or e}; {kept}: "
                f"make room (or copy the run elsewhere) and continue with {resume_option()}"
            ) from None

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_text(self.path / SUMMARY, json.dumps(summary, indent=2))

    def close(self) -> None:
        if self.events is not None:
            self.events.close()
        if self.batches is not None:
            self.batches.close()
        self._lock.release()


# The run's own paths a resume writes (or removes, as summary.json), and the kind each is.
WRITTEN_KINDS = {
    SUMMARY: "file",
    METRICS: "file",
    BATCHES: "file",
    TENSORBOARD: "folder",
    f"{TENSORBOARD}/{BATCH_EVENTS}": "folder",
}


def _tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


def _as_run_gives(old: RunConfig, new: RunConfig, meta: dict[str, Any] | None = None) -> RunConfig:
    """`new` with each setting that names the same thing as the run's setting in `old`, in other words, given as
    `old` gives it, so that a resume is not refused for it and config.toml keeps the run's spelling: a folder
    dataset or --data-dir by a relative path and by an absolute one (a path given is taken from the current folder;
    the run's relative folder dataset is the folder its checkpoint recorded, see `run_data_folder`; the
    checkpoint's print of the data checks it is the run's), an --init-from source spelt another way (a relative one
    the run gave is the path its checkpoint recorded, `init_path`; torchvision weights only by the same name), and
    an --input equal to the shape a run that left it unset used (its checkpoint's `meta`: the model's input, a
    source's)."""
    same: dict[str, Any] = {}
    if old.input is None and new.input is not None and meta and list(new.input) == list(meta["input_shape"]):
        same["input"] = None
    if new.data != old.data and all(d.startswith(FOLDER_PREFIX) for d in (new.data, old.data)):
        where = run_data_folder(old.data, meta) or old.data[len(FOLDER_PREFIX) :]
        if _same_path(new.data[len(FOLDER_PREFIX) :], where):
            same["data"] = old.data
    if new.init_from != old.init_from and None not in (new.init_from, old.init_from):
        if _same_path(new.init_from, (meta or {}).get("init_path") or old.init_from):  # type: ignore[arg-type]
            same["init_from"] = old.init_from
    if new.data_dir != old.data_dir and None not in (new.data_dir, old.data_dir):
        if _same_path(new.data_dir, old.data_dir):  # type: ignore[arg-type]
            same["data_dir"] = old.data_dir
    return replace(new, **same) if same else new


def _in_effect_as_run(old: RunConfig, new: RunConfig, meta: dict[str, Any] | None = None) -> RunConfig:
    """`new` with each setting the run in `old` left unset, given as the value unset meant there, unset again, so
    that a resume is not refused for it and config.toml is not rewritten: --head-lr equal to the run's --lr, --bias-lr
    too where no head lr split the groups, and --mean/--std equal to the statistics its checkpoint's `meta` says it
    normalised with (the data's, or an --init-from source's). Not for checking a hand-edited config.toml (see
    `_edited`): the optimiser's groups follow the spelling, so a head_lr written there would not fit its state."""
    same: dict[str, Any] = {}
    if old.head_lr is None and new.head_lr is not None and new.head_lr == old.lr:
        same["head_lr"] = None
    if old.bias_lr is None and old.head_lr is None and new.bias_lr is not None and new.bias_lr == old.lr:
        same["bias_lr"] = None
    used = {k: (meta or {}).get(k) for k in ("mean", "std")}
    if old.mean is None and new.mean is not None and None not in used.values():
        channels = len(used["mean"])
        given = {k: [float(v) for v in getattr(new, k)] for k in ("mean", "std")}
        if all((values * channels if len(values) == 1 else values) == used[k] for k, values in given.items()):
            same["mean"] = same["std"] = None
    return replace(new, **same) if same else new


def run_data_folder(data: str, meta: dict[str, Any] | None) -> str | None:
    """The folder a run's `--data folder:PATH` names when PATH is relative: the one its checkpoint `meta` records
    having read (`data_folder`, absolute) while it is there, so that a resume or an eval from another working
    folder reads the run's own data. None for other data, an absolute PATH or a {data_dir} template (which follows
    a resume's --data-dir), a checkpoint that records no folder (written before 2026-12-05), and a recorded folder
    that is gone where PATH names one from here (moved with the run): PATH is then taken from the current folder,
    as it always was. A one-line error where neither is there."""
    path, recorded = data[len(FOLDER_PREFIX) :], (meta or {}).get("data_folder")
    if not data.startswith(FOLDER_PREFIX) or recorded is None or "{" in path or Path(path).expanduser().is_absolute():
        return None
    if Path(recorded).exists():
        return recorded
    if Path(path).exists():
        return None
    raise CnnlabError(
        f"the run's data {data} is neither at {recorded}, where the run read it, nor at {os.path.abspath(path)}; put "
        f"the folder back at {recorded}, or give the command from a folder where {path} names it"
    )


def _same_path(a: str, b: str) -> bool:
    """Whether two paths name the same file or folder (one that is not there: the same absolute path)."""
    if "{" in a + b:  # a template ({data_dir}) is the same only as itself
        return a == b
    first, second = Path(a).expanduser(), Path(b).expanduser()
    try:
        return os.path.samefile(first, second)
    except OSError:
        return first.resolve() == second.resolve()


def _differences(old: RunConfig, new: RunConfig) -> str:
    """How `new` differs from a run's settings `old`, beyond the RESUMABLE ones ('' where it does not), each
    setting named as the reader gives it (`--batch-size` on the command line, `batch_size` in Python)."""
    return _changes(old, new, option, "", "used")


def _edited(recorded: RunConfig, now: RunConfig) -> str:
    """How a run's config.toml now differs from the settings its checkpoint says it trained with ('' if not)."""
    return _changes(recorded, now, str, " there", "trained with")


def _changes(old: RunConfig, new: RunConfig, name: Callable[[str], str], where: str, did: str) -> str:
    return "; ".join(
        f"{name(d)} is {_shown(getattr(new, d))}{where} but the run "
        + ("left it unset" if getattr(old, d) is None else f"{did} {_shown(getattr(old, d))}")
        for d in old.differences(new)
    )


def _shown(value: Any) -> str:
    """A setting as a refusal names it: a setting left unset reads as such, not as Python's None."""
    return "not set" if value is None else repr(value)
