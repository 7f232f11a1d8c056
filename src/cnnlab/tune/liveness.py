"""Trials whose worker died: failed, so the study goes on without counting them.

Each trial records its worker's host and pid. A worker starting a trial fails every running trial of a dead
process on its own host at once, and (through Optuna's heartbeats) any trial whose worker elsewhere has been
silent for the grace period.
"""

from __future__ import annotations

import os
import socket
import threading
import warnings
from types import TracebackType
from typing import Self

import optuna
from optuna.trial import TrialState

from cnnlab.atomic import process_alive
from cnnlab.tune.storage import HEARTBEAT_SECONDS


def mark_owner(trial: optuna.Trial) -> None:
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())


def fail_orphans(study: optuna.Study) -> list[int]:
    """Fail running trials whose worker is gone; returns their numbers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    host, failed = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if t.user_attrs.get("host") == host and isinstance(pid, int) and not process_alive(pid):
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(t.number)
    return failed


class Heartbeat:
    """Writes the trial's heartbeat every HEARTBEAT_SECONDS while the `with` block runs."""

    def __init__(self, storage: optuna.storages.RDBStorage, trial: optuna.Trial) -> None:
        self.storage, self.trial_id = storage, trial._trial_id  # Optuna's storage API is keyed by the internal id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name="cnnlab-heartbeat")

    def _beat(self) -> None:
        while True:
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # the storage is gone: the trial itself meets the error and says it in one line
                return
            if self.stop.wait(HEARTBEAT_SECONDS):
                return

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop.set()
        self.thread.join()
