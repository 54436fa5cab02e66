"""Every tool that writes into a run folder (evaluate, errors, predict, export, diagnose) takes
its lock (issue 38): while another live process holds it (a training, a resume, another tool),
the tool ends with one message naming that process and writes nothing there; told to write
elsewhere, it goes ahead."""

import json
import socket
import subprocess
import sys

import pytest

from detkit.runs.lock import LOCK_FILE

WRITERS = [
    ("evaluate", ["split=dev"]),
    ("errors", ["split=dev"]),
    ("predict", ["images={data}"]),
    ("export", ["format=torchscript", "parity.images=1"]),
    ("diagnose", ["bootstrap.samples=10"]),
]


@pytest.fixture
def live_holder():
    """A process that holds a lock until the test ends."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield {"host": socket.gethostname(), "pid": process.pid, "since": "now"}
    process.kill()
    process.wait()


def _files(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize(("tool", "arguments"), WRITERS, ids=[t for t, _ in WRITERS])
def test_a_tool_writing_into_a_run_another_process_writes_is_refused(
    run_tool_here, easy_run, live_holder, tool, arguments
):
    run = easy_run()
    data = run.parent / "data"
    before = _files(run)
    (run / LOCK_FILE).write_text(json.dumps(live_holder))
    try:
        result = run_tool_here(tool, f"run={run}", *[a.format(data=data) for a in arguments], tiny=False)
    finally:
        (run / LOCK_FILE).unlink()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"is being written by process {live_holder['pid']} on {live_holder['host']}" in result.stderr
    assert result.stderr.count("error: ") == 1
    assert _files(run) == before, "nothing written into the run"


@pytest.mark.slow
def test_a_tool_told_to_write_elsewhere_needs_no_lock_and_a_tool_releases_its_own(
    run_tool_here, easy_run, live_holder, tmp_path
):
    run = easy_run()
    (run / LOCK_FILE).write_text(json.dumps(live_holder))
    try:
        result = run_tool_here("evaluate", f"run={run}", "split=dev", f"out={tmp_path / 'eval'}", tiny=False)
    finally:
        (run / LOCK_FILE).unlink()
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "eval" / "metrics.json").is_file()

    result = run_tool_here("evaluate", f"run={run}", "split=dev", tiny=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (run / "eval" / "dev" / "metrics.json").is_file() and not (run / LOCK_FILE).exists()
