"""The crash tests' launcher (tests/launcher.py) keeps its replies in step when a test fails between starting a
command and reading how it ended: otherwise every later command of that test worker reads the reply meant for the
one before it (a pid where it wants an exit status, another command's output file), and one failure fails them all."""

from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import SHARED
from tests.crashkit import suite_cache
from tests.launcher import Launcher


@pytest.fixture
def launcher():
    launcher = Launcher()
    yield launcher
    launcher.close()


def test_a_command_left_unread_does_not_put_the_next_ones_replies_behind(launcher):
    env = suite_cache()
    launcher.start(["models"], env)  # a test that failed before its wait()
    listed = launcher.run(["models"], env)
    assert listed.returncode == 0 and "lenet5" in listed.stdout, listed
    again = launcher.start(["summary", "nope"], env).wait()
    assert again.returncode == 2 and "unknown model 'nope'" in again.stderr and not again.stdout, again


def test_a_command_still_running_when_left_is_killed_before_the_next_one_starts(launcher, tmp_path):
    env = suite_cache()
    args = ["train", "--model", "mnist-cnn", "--data", "mnist", "--data-dir", str(SHARED / "datasets")]
    left = launcher.start([*args, "--epochs", "100", "--no-progress", "--out", str(tmp_path / "left")], env)
    listed = launcher.run(["models"], env)
    assert listed.returncode == 0 and "lenet5" in listed.stdout, listed
    with pytest.raises(ProcessLookupError):  # ended by SIGKILL and reaped by the launcher
        os.kill(left.pid, signal.SIGCONT)
