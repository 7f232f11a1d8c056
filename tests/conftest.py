"""Shared test helpers: paths to the examples and the real datasets beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SHARED = Path(os.environ.get("CNNLAB_SHARED", REPO.parent / "shared"))
# Decoded datasets are cached in a folder of the test suite's own (kept between local runs, fresh in CI), never in
# the user's ~/.cache; subprocesses inherit it.
os.environ["XDG_CACHE_HOME"] = os.environ.get("CNNLAB_TEST_CACHE", str(REPO / ".test-cache"))


@pytest.fixture
def nets() -> Path:
    return EXAMPLES / "nets"


def write_toml(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)
