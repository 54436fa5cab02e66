"""One writer per run folder (issue 38): a live holder refuses a second, a stale lock is taken over."""

import json
import os
import socket
import subprocess
import sys

import pytest

from detkit.exceptions import ConfigError
from detkit.runs.lock import LOCK_FILE, holder, run_lock


def test_a_second_writer_is_refused_naming_the_first_and_the_lock_goes_with_the_writer(tmp_path):
    with run_lock(tmp_path):
        assert holder(tmp_path)["pid"] == os.getpid()
        written = rf"is being written by process {os.getpid()} on {socket.gethostname()}"
        with pytest.raises(ConfigError, match=written), run_lock(tmp_path):
            pass
    assert not (tmp_path / LOCK_FILE).exists()
    with pytest.raises(RuntimeError), run_lock(tmp_path):
        raise RuntimeError("training failed")
    assert not (tmp_path / LOCK_FILE).exists(), "released when the writer fails too"


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = {"host": socket.gethostname(), "pid": int(gone.stdout), "since": "yesterday"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(stale))
    assert holder(tmp_path) is None
    with run_lock(tmp_path):
        assert holder(tmp_path)["pid"] == os.getpid()


def test_a_lock_of_another_host_is_refused_with_how_to_remove_it(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps({"host": "node-7", "pid": 1, "since": "today"}))
    with pytest.raises(ConfigError, match=rf"process 1 on node-7 .* remove {tmp_path / LOCK_FILE}"), run_lock(tmp_path):
        pass
