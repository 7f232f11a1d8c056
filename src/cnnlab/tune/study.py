"""A study and its directory, and the worker loop that runs its trials.

    STUDY_DIR/study.toml        study name and storage URL (absent: study.db here), so --summary finds the study
    STUDY_DIR/study.db          the SQLite storage, unless --storage names another
    STUDY_DIR/trials/NNNN/      one normal run directory per trial (cnnlab.rundir), plus net.toml
    STUDY_DIR/best/             --retrain-best: the best configuration trained on train+val

The space file's text is kept in the study itself, so every worker, on any machine, checks it runs the same space.
"""

from __future__ import annotations

import time
import tomllib
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import tomli_w
from optuna.trial import TrialState

from cnnlab.atomic import write_text
from cnnlab.errors import CnnlabError, option, speaking_to_cli
from cnnlab.resources import stem
from cnnlab.rundir.layout import TUNE_INDEX, holds_compare_study, retrained_run, trial_run
from cnnlab.tune.algorithms import PRUNERS, SAMPLERS, hyperband_brackets, make_pruner, make_sampler
from cnnlab.tune.liveness import Heartbeat, fail_orphans, mark_owner
from cnnlab.tune.objective import run_trial
from cnnlab.tune.space import Space, load_space, parse_space
from cnnlab.tune.storage import GRACE_SECONDS, absolute, default_url, lost, open_storage, shown, worker_lock
from cnnlab.tune.summary import epochs_trained

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


@dataclass(frozen=True)
class StudyDir:
    path: Path

    @property
    def meta_path(self) -> Path:
        return self.path / TUNE_INDEX

    @property
    def best(self) -> Path:
        return retrained_run(self.path)

    def trial_dir(self, number: int) -> Path:
        return trial_run(self.path, number)

    def meta(self) -> dict[str, Any]:
        return tomllib.loads(self.meta_path.read_text()) if self.meta_path.is_file() else {}

    def url(self) -> str:
        return self.meta().get("storage") or default_url(self.path)

    def bind(
        self, storage: str | None, study_name: str | None, default_name: str, data_dir: str | None
    ) -> tuple[str, str]:
        """Record (or check) which study this directory holds; returns its storage URL and study name.

        A directory already bound keeps its storage and study unless the flags name others, which is refused."""
        meta = self.meta()
        if meta:
            for key, given in (("storage", storage), ("study", study_name)):
                if given is not None and given != meta.get(key):
                    was = shown(self.url()) if key == "storage" else meta[key]
                    now = shown(given) if key == "storage" else given
                    raise CnnlabError(f"{self.path} holds {key} {was!r}, not {now!r}; use another --out")
        meta = {**meta, "study": meta.get("study") or study_name or default_name}
        if storage is not None:
            meta["storage"] = storage
        if data_dir is not None:
            meta["data_dir"] = data_dir
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.meta_path, tomli_w.dumps(meta))
        return self.url(), meta["study"]


def open_study(study_dir: str | Path) -> tuple[optuna.Study, Space, StudyDir]:
    """The study a directory holds, with its space (as the study recorded it) and the directory."""
    sdir = StudyDir(Path(study_dir))
    meta = sdir.meta()
    if "study" not in meta:
        raise CnnlabError(
            f"{sdir.path} is not a study directory (no {TUNE_INDEX}); start one with `cnnlab tune SPACE.toml`"
        )
    storage = open_storage(sdir.url())
    try:
        study = optuna.load_study(study_name=meta["study"], storage=storage)
    except KeyError:
        raise CnnlabError(f"study {meta['study']!r} is not in {shown(sdir.url())}") from None
    attrs = study.user_attrs
    if "space" not in attrs:
        raise CnnlabError(f"study {meta['study']!r} in {shown(sdir.url())} was not made by `cnnlab tune`")
    overrides = {**attrs.get("overrides", {}), "data_dir": meta.get("data_dir")}
    space = parse_space(tomllib.loads(attrs["space"]), attrs["space"], attrs["source"], overrides)
    return study, space, sdir


DEFAULT_SEARCH = {"sampler": "tpe", "pruner": "hyperband"}


def _record_space(
    study: optuna.Study, space: Space, overrides: dict[str, Any], given: dict[str, str | None], expected: int
) -> tuple[dict[str, str], int]:
    """The first worker stores the space, its --limit/--epochs, its sampler and pruner and the trials it expects
    in the study; later ones must bring the same space and limits, and take the study's sampler and pruner unless
    they name others, which is refused (two pruners on one study would stop trials by two rules). Returns the
    sampler and pruner to use, and the trials that shape them: the first worker's, so that a rerun with another
    --trials or --budget does not regroup Hyperband's brackets under the trials already pruned."""
    attrs = study.user_attrs
    if "space" not in attrs:
        search = {k: given[k] or v for k, v in DEFAULT_SEARCH.items()}
        study.set_user_attr("space", space.text)
        study.set_user_attr("source", Path(space.source).name)
        study.set_user_attr("overrides", overrides)
        study.set_user_attr("search", search)
        study.set_user_attr("expected_trials", expected)
        return search, expected
    recorded = attrs.get("search", {})  # studies started before it was recorded take what they are given
    search = {k: given[k] or recorded.get(k) or v for k, v in DEFAULT_SEARCH.items()}
    other = f"another {option('study', 'study_name')} / {option('out')}"
    this = "this command" if speaking_to_cli() else "this call"
    if clash := [k for k in search if k in recorded and recorded[k] != search[k]]:
        was, now = (" ".join(_given(k, d[k]) for k in clash) for d in (recorded, search))
        raise CnnlabError(
            f"study {study.study_name!r} was started with `{was}` and {this} gives `{now}`; give the same "
            f"(or neither: a worker takes the study's), or use {other}"
        )
    if attrs["space"] != space.text:
        raise CnnlabError(
            f"study {study.study_name!r} was started with another space file ({attrs['source']}); "
            f"use that one, or {other}"
        )
    if attrs["overrides"] != overrides:

        def settings(o: dict[str, Any]) -> str:
            neither = f"neither {option('limit')} nor {option('epochs')}"
            return "`" + " ".join(_given(k, v) for k, v in o.items()) + "`" if o else neither

        raise CnnlabError(
            f"study {study.study_name!r} was started with {settings(attrs['overrides'])} and {this} gives "
            f"{settings(overrides)}; give the same, or use {other}"
        )
    return search, attrs.get("expected_trials", expected)  # studies started before it was recorded: this run's


def _given(key: str, value: Any) -> str:
    """A search setting as its reader gives it: `--pruner median` on the command line, `pruner='median'` in a
    notebook's tune() call (which was told of flags it never typed)."""
    return f"--{key} {value}" if speaking_to_cli() else f"{key}={value!r}"


def tune(
    space_path: str | Path,
    out: str | Path | None = None,
    *,
    trials: int = 20,
    timeout: float | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    data_dir: str | None = None,
    limit: int | None = None,
    epochs: int | None = None,
    budget: int | None = None,
    log: Callable[[str], None] = print,
) -> tuple[optuna.Study, StudyDir]:
    """Join (or start) a study and run trials until it holds `trials` of them, counted over all its workers.

    `budget` caps the epochs the whole study trains (pruned trials' epochs count): no trial starts once it is
    spent, and a trial running then ends at that epoch, complete, so the search costs what was asked.
    Rerunning continues the study; trials whose worker died are failed and replaced. `sampler` and `pruner`
    (None: the study's, for a new one tpe and hyperband) must be the study's when given."""
    if sampler is not None and sampler not in SAMPLERS:
        raise CnnlabError(f"{option('sampler')} {sampler!r} is not one of {', '.join(SAMPLERS)}")
    if pruner is not None and pruner not in PRUNERS:
        raise CnnlabError(f"{option('pruner')} {pruner!r} is not one of {', '.join(PRUNERS)}")
    if trials < 1:
        raise CnnlabError(f"{option('trials')} must be at least 1, got {trials}")
    if timeout is not None and timeout <= 0:
        raise CnnlabError(f"{option('timeout')} must be positive, got {timeout}")
    if budget is not None and budget < 1:
        raise CnnlabError(f"{option('budget')} must be at least 1 epoch, got {budget}")
    space = load_space(space_path, limit=limit, epochs=epochs, data_dir=data_dir)
    sdir = StudyDir(Path(out or f"runs/tune-{stem(space_path)}"))
    if holds_compare_study(sdir.path):  # a report of the folder would show one study and drop the other
        raise CnnlabError(f"{option('out')} {sdir.path} holds a `cnnlab compare` study; give the search another folder")
    if storage is not None:
        storage = absolute(storage)
        open_storage(storage).engine.dispose()  # before the study directory records it: a refused URL leaves nothing
    url, name = sdir.bind(storage, study_name, stem(space_path), data_dir)
    store = open_storage(url)
    own = tomllib.loads(space.text).get("train", {})  # a flag repeating the space file's own value changes nothing
    overrides = {k: v for k, v in (("limit", limit), ("epochs", epochs)) if v is not None and v != own.get(k)}
    expected = trials if budget is None else min(trials, max(1, budget // 2))  # a budget affords ~2 epochs a trial
    with _optuna_quiet():
        with worker_lock(store, name):
            study = optuna.create_study(
                storage=store,
                study_name=name,
                direction=space.direction,
                load_if_exists=True,
            )
            search, expected = _record_space(study, space, overrides, {"sampler": sampler, "pruner": pruner}, expected)
        sampler, pruner = search["sampler"], search["pruner"]
        study.pruner = make_pruner(pruner, space.epochs, expected)
        if pruner == "hyperband":
            eta, brackets = hyperband_brackets(space.epochs, expected)
            pruner += f" ({brackets} bracket{'s' * (brackets > 1)}, reduction factor {eta}, for {expected} trials)"
        log(
            f"study {name!r} in {shown(url)}: {trials} trials in all"
            + (f", {budget} epochs at most" if budget else "")
            + f", {sampler} sampler, {pruner} pruner"
        )
        try:
            _work(study, store, space, sdir, trials, timeout, budget, sampler, expected, log)
        except optuna.exceptions.StorageInternalError as e:
            raise lost(e, url) from None
    return study, sdir


@contextmanager
def _optuna_quiet() -> Iterator[None]:
    """Optuna's INFO lines ("A new study created in RDB", "Trial 3 finished with value ...") held back while tune
    runs: `log` says the same in cnnlab's words, and Jupyter shows stderr in red, as if something had failed. The
    caller's own setting is put back after."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(before, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def _work(
    study: optuna.Study,
    store: optuna.storages.RDBStorage,
    space: Space,
    sdir: StudyDir,
    trials: int,
    timeout: float | None,
    budget: int | None,
    sampler: str,
    expected: int,
    log: Callable[[str], None],
) -> None:
    seed, start = int(space.train.get("seed", 0)), time.monotonic()

    def spent() -> str | None:
        if budget is not None and epochs_trained(study) >= budget:
            return f"stopped: the study's budget of {budget} epochs is spent"
        return None

    while timeout is None or time.monotonic() - start < timeout:
        with worker_lock(store, study.study_name):
            for n in fail_orphans(study):
                log(f"trial {n}: its worker is gone; marked failed")
            if len(study.get_trials(deepcopy=False, states=COUNTED)) >= trials:
                return
            if spent():
                log(f"the study's budget of {budget} epochs is spent; rerun with a larger --budget to go on")
                return
            # Seeded by trial number: repeatable alone, yet workers never propose the same random parameters,
            # and studies of nearby seeds share no draws.
            study.sampler = make_sampler(sampler, seed * 100_003 + len(study.get_trials(deepcopy=False)), expected)
            with warnings.catch_warnings():  # Optuna expects optimize() to beat; liveness.Heartbeat does it here
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                trial = study.ask()
            mark_owner(trial)
        _run(study, store, trial, space, sdir, log, spent)
    log("--timeout reached; rerun the command to go on")


def _failed_elsewhere(store: optuna.storages.RDBStorage, trial: optuna.Trial, log: Callable[[str], None]) -> bool:
    """Whether another worker has failed the trial: this one was silent past the grace period (paused with
    Ctrl-Z, a laptop asleep, the network cut) and then went on. Said in one line; the worker carries on."""
    if not store.get_trial(trial._trial_id).state.is_finished():
        return False
    log(
        f"trial {trial.number}: another worker failed it while this one was silent for over {GRACE_SECONDS} s "
        "(paused, asleep or cut off); its run directory stays, and this worker goes on with the next trial"
    )
    return True


def _run(
    study: optuna.Study,
    store: optuna.storages.RDBStorage,
    trial: optuna.Trial,
    space: Space,
    sdir: StudyDir,
    log: Callable[[str], None],
    stop: Callable[[], str | None],
) -> None:
    with Heartbeat(store, trial):
        try:
            value = run_trial(trial, space, sdir.trial_dir(trial.number), log, stop)
        except optuna.exceptions.UpdateFinishedTrialError:  # its epoch's report came after another worker's verdict
            value = None
        except optuna.TrialPruned as e:
            if not _failed_elsewhere(store, trial, log):
                study.tell(trial, state=TrialState.PRUNED)
                log(f"trial {trial.number}: {e}")
            return
        except BaseException:
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
    if _failed_elsewhere(store, trial, log):
        return
    if value is None:
        study.tell(trial, state=TrialState.FAIL)
        log(f"trial {trial.number}: failed, no finite {space.metric}")
    else:
        study.tell(trial, value)
        log(f"trial {trial.number}: {space.metric} {value:.4f}")
