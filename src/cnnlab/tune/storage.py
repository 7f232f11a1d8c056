"""Where a study lives: SQLite in the study directory by default, PostgreSQL for workers on many machines.

Workers also share a lock (a file lock beside the SQLite file, a PostgreSQL advisory lock) under which they count
trials and start the next one, so N trials in all are run however many workers join.
"""

from __future__ import annotations

import hashlib
import time
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy

from cnnlab.atomic import exclusive
from cnnlab.errors import CnnlabError

HEARTBEAT_SECONDS = 20  # a running trial's worker writes a heartbeat this often
GRACE_SECONDS = 90  # a trial silent for this long is failed by the next worker that starts a trial
RECONNECT_SECONDS = 60  # how long a worker keeps trying a PostgreSQL server that went away (restarting, say)


def default_url(study_dir: Path) -> str:
    return f"sqlite:///{(study_dir / 'study.db').resolve()}"


def absolute(url: str) -> str:
    """A SQLite URL with its file as an absolute path: a relative one (sqlite:///rel.db) recorded in the study
    directory named another file from every other working directory (`--summary` then found no study in an empty
    database it had just created). Other URLs as given."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        return url  # open_storage refuses it in one line
    db = parsed.database
    if parsed.get_backend_name() != "sqlite" or not db or db == ":memory:" or Path(db).is_absolute():
        return url
    return parsed.set(database=str(Path(db).resolve())).render_as_string(hide_password=False)


def lost(e: BaseException, url: str) -> CnnlabError:
    """The one line for a storage that failed under a worker (a PostgreSQL server restarted, rights missing on
    its tables): Optuna's StorageInternalError says "e.g. exceeding max length" and hides the cause."""
    return CnnlabError(
        f"the storage {shown(url)} failed: {_reason(e.__cause__ or e.__context__ or e)}; check the database and its rights, then rerun the command to go "
        "on (a trial this worker ran is failed by the next worker to start one)"
    )


def _reason(e: BaseException) -> str:
    """The first line of the database driver's own message (SQLAlchemy wraps it as `orig`)."""
    return str(getattr(e, "orig", None) or e).strip().splitlines()[0]


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
                storage = _rdb(url, connect_args)
        finally:
            engine.dispose()
        # opened: from now on a refused connection is a server restarting (or a network blip), waited out
        sqlalchemy.event.listen(storage.engine, "do_connect", _reconnect)
        return storage
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, OSError) as e:
        raise CnnlabError(f"cannot open storage {shown(url)}: {_reason(e)}") from None
    except optuna.exceptions.StorageInternalError as e:  # a user without rights on tables that exist
        raise lost(e, url) from None


def _rdb(url: str, connect_args: dict) -> optuna.storages.RDBStorage:
    """Optuna's storage, whose pooled connections are closed when it is collected: Optuna leaves them to the
    garbage collector, and psycopg then warns of each (ten `... was deleted while still open` lines in a notebook
    or a test process that had run a few studies)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(
            url,
            # pre-ping: a connection the server dropped (a PostgreSQL restart) is replaced on its next use
            engine_kwargs={"connect_args": connect_args, "pool_pre_ping": True},
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
        )
    weakref.finalize(storage, storage.engine.dispose)
    return storage


def _reconnect(dialect: Any, _record: Any, cargs: tuple, cparams: dict) -> Any:
    """Connect, retrying for up to RECONNECT_SECONDS while the server refuses or is starting up: a PostgreSQL
    restart under a running trial took the worker down with it, leaving the trial RUNNING."""
    deadline = time.monotonic() + RECONNECT_SECONDS
    while True:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


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
