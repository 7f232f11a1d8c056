"""Where a study lives: SQLite in the study directory by default, PostgreSQL for workers on many machines.

Workers also share a lock (a file lock beside the SQLite file, a PostgreSQL advisory lock) under which they count
trials and start the next one, so N trials in all are run however many workers join.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import sqlalchemy

from cnnlab.atomic import exclusive
from cnnlab.errors import CnnlabError

HEARTBEAT_SECONDS = 20  # a running trial's worker writes a heartbeat this often
GRACE_SECONDS = 90  # a trial silent for this long is failed by the next worker that starts a trial


def default_url(study_dir: Path) -> str:
    return f"sqlite:///{(study_dir / 'study.db').resolve()}"


def shown(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDBStorage with heartbeats; a bad or unreachable URL raises a one-line CnnlabError."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        parsed = None
    if (
        parsed is None
        or parsed.get_backend_name() not in ("sqlite", "postgresql")
        or (parsed.get_backend_name() == "sqlite" and not parsed.database)
    ):
        raise CnnlabError(f"--storage {shown(url)!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
    sqlite = parsed.get_backend_name() == "sqlite"
    connect_args = {"timeout": 60} if sqlite else {"connect_timeout": 10}
    try:
        if sqlite:
            # Workers creating Optuna's tables at once would collide.
            with exclusive(Path(parsed.database).with_suffix(".lock")):
                return _rdb(url, connect_args)
        engine = sqlalchemy.create_engine(url, connect_args=connect_args)
        try:
            with _advisory_lock(engine, "schema"):  # likewise
                return _rdb(url, connect_args)
        finally:
            engine.dispose()
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, OSError) as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise CnnlabError(f"cannot open storage {shown(url)}: {reason}") from None


def _rdb(url: str, connect_args: dict) -> optuna.storages.RDBStorage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs={"connect_args": connect_args},
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
        )


@contextmanager
def _advisory_lock(engine: sqlalchemy.engine.Engine, name: str) -> Iterator[None]:
    """A PostgreSQL session-level advisory lock, keyed by a hash of `name`."""
    key = int.from_bytes(hashlib.sha256(f"cnnlab-tune:{name}".encode()).digest()[:8], "big", signed=True)
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


@contextmanager
def worker_lock(storage: optuna.storages.RDBStorage, study_name: str) -> Iterator[None]:
    """Held while a worker counts trials and creates the next one, so two workers never overshoot the budget."""
    url = storage.engine.url
    lock = (
        exclusive(Path(url.database).with_suffix(".lock"))
        if url.get_backend_name() == "sqlite"
        else _advisory_lock(storage.engine, f"study:{study_name}")
    )
    with lock:
        yield
