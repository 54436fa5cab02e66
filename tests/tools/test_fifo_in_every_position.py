"""No tool can be made to hang by a path (issue 38): a FIFO (or /dev/zero) in each input
position of each tool ends with exit 2 and one `error:` line within 30 s. In-process (a
SIGALRM would interrupt a blocked ``open``), with the rest of each command valid."""

import json
import os
import signal
import time

import pytest

from tests.data.test_bad_input import _coco

POSITIONS = [
    ("train", ["data=auto", "data.root={fifo}"]),
    ("train", ["init.checkpoint={fifo}"]),
    ("train", ["resume={fifo}"]),
    ("split", ["data=auto", "data.root={fifo}", "out={tmp}/splits"]),
    ("convert", ["data.root={fifo}", "to=coco", "dst={tmp}/out"]),
    ("evaluate", ["run={fifo}"]),
    ("evaluate", ["run={run}", "checkpoint={fifo}"]),
    ("evaluate", ["annotations={fifo}", "predictions={data}/results.json"]),
    ("evaluate", ["annotations={data}/annotations.json", "predictions={fifo}"]),
    ("predict", ["run={fifo}", "images={data}/images"]),
    ("predict", ["model={fifo}", "images={data}/images"]),
    ("predict", ["run={run}", "images={fifo}"]),
    ("predict", ["run={run}", "images={data}/images", "annotations={fifo}"]),
    ("export", ["run={fifo}"]),
    ("export", ["run={run}", "checkpoint={fifo}"]),
    ("diagnose", ["run={fifo}"]),
    ("diagnose", ["run={run}", "human.annotations={fifo}"]),
    ("errors", ["run={fifo}"]),
    ("errors", ["annotations={fifo}", "predictions={data}/results.json"]),
    ("errors", ["annotations={data}/annotations.json", "predictions={fifo}"]),
    ("errors", ["annotations={data}/annotations.json", "predictions={data}/results.json", "images={fifo}"]),
    ("compare", ["runs=[{run},{fifo}]"]),
]


class _Hung(Exception):
    pass


def _alarm(signum, frame):
    raise _Hung


@pytest.mark.slow
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
@pytest.mark.parametrize(("tool", "arguments"), POSITIONS, ids=[f"{t}-{a[-1].split('=')[0]}" for t, a in POSITIONS])
def test_a_fifo_or_a_device_in_any_input_position_is_one_message(
    run_tool_here, easy_run, tmp_path, tool, arguments, special
):
    data = tmp_path / "data"
    data.mkdir()
    _coco(data)
    (data / "results.json").write_text(
        json.dumps([{"image_id": 7, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}])
    )
    run = easy_run()  # a real run, so that each position is reached
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    path = fifo if special == "fifo" else special
    command = [a.format(fifo=path, run=run, data=data, tmp=tmp_path) for a in arguments]
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(30)
    started = time.monotonic()
    try:
        result = run_tool_here(tool, *command, tiny=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 30
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.startswith("error: "), result.stderr[-2000:]
    assert special in result.stderr or str(path) in result.stderr, "the message names the path"
