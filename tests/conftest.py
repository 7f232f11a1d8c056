"""Shared test helpers: paths to the examples and the real datasets beside the repo."""

from __future__ import annotations

import hashlib
import html
import os
import re
import signal
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SHARED = Path(os.environ.get("CNNLAB_SHARED", REPO.parent / "shared"))
# Decoded datasets are cached in a folder of the test suite's own (kept between local runs, fresh in CI), never in
# the user's ~/.cache; subprocesses inherit it.
os.environ["XDG_CACHE_HOME"] = os.environ.get("CNNLAB_TEST_CACHE", str(REPO / ".test-cache"))
# Test workers (pytest-xdist, `make test`'s -n 2) share the cores: each computes on its share of them, and so do the
# processes it starts. Two workers of two threads on two cores spent half their CPU time waiting in OpenMP's
# barriers (tests/test_train.py, test_speed_features.py and test_crash.py: 4 min 42 s, against 2 min 28 s this way).
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // WORKERS)))

# A shell starts a background job (`make test &`, nohup) with SIGINT ignored, which every process it starts inherits
# and Python then leaves ignored: a test's Ctrl-C to a training it started went unheard, the run ended as finished
# (test_distributed.py's interrupted ranks ended 0, not 130). With Python's own handler here, each child starts with
# the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _crash_launcher_ends_with_the_session():
    """The crash tests' launcher (tests/launcher.py) ends before coverage.py gathers the session's data."""
    yield
    from tests import crashkit

    crashkit.close()


QUIET_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def cli_as_terminal(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int | None, str, str]:
    """cnnlab.cli.main in-process: exit code, stdout, and the stderr a terminal would show, which also holds the
    Python warnings raised on the way (pytest records those instead of printing them, so a bad input that makes
    torch warn would pass for one line here and show three in a shell)."""
    from cnnlab.cli import main

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except SystemExit as e:  # argparse exits itself
            code = e.code
    out, err = capsys.readouterr()
    shown = [w for w in caught if not issubclass(w.category, QUIET_BY_DEFAULT)]
    return code, out, "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in shown) + err


def shared_dataset(name: str) -> Path:
    """A file or folder under shared/datasets. The real data is always there: a missing one fails the test that needs
    it, naming the path, rather than skipping it."""
    path = SHARED / "datasets" / name
    assert path.exists(), f"{path} not found: the real datasets belong in ../shared/datasets (or set CNNLAB_SHARED)"
    return path


@pytest.fixture
def nets() -> Path:
    return EXAMPLES / "nets"


def write_toml(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


# A tiny conv net for the 8x8 digits: trains in well under a second, for tests about runs rather than learning.
DIGITS_NET = """
input = [1, 8, 8]
[[layers]]
type = "conv"
filters = 4
kernel = 3
padding = "same"
activation = "relu"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = "num_classes"
"""


# A small conv net on 16x16 colour images, two conv layers, for explanations of a net's layers.
TOML_NET = """
input = [3, 16, 16]
[[layers]]
type = "conv"
filters = 4
kernel = 3
padding = "same"
activation = "relu"
[[layers]]
type = "maxpool"
size = 2
[[layers]]
type = "conv"
filters = 6
kernel = 3
activation = "relu"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = "num_classes"
"""


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file's SHA-256, every link's target and every folder under `roots` (links are not followed)."""
    out: dict[str, str] = {}
    for root in roots:
        for folder, dirs, names in os.walk(root):
            for name in dirs + names:
                p = Path(folder, name)
                out[str(p)] = (
                    "link " + os.readlink(p)
                    if p.is_symlink()
                    else hashlib.sha256(p.read_bytes()).hexdigest()
                    if p.is_file()
                    else "folder"
                )
    return out


def html_words(fragment: str) -> list[str]:
    """The text of an HTML fragment as words (tags dropped, entities decoded): what a reader sees, to compare with
    the terminal text of the same result."""
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split()


def text_words(text: str) -> list[str]:
    """The words of terminal text, without its rules (lines of dashes)."""
    return [w for line in text.splitlines() if set(line.replace(" ", "")) != {"-"} for w in line.split()]
