"""Progress bars of long work: shown on a terminal, never in piped output or with progress=false."""

import fcntl
import os
import pty
import struct
import subprocess
import termios

import numpy as np
import pytest
from PIL import Image

from tests.tools.conftest import tool_command

BAR_MARKS = ("\r", "█", "images/s]")  # tqdm redraws its line with a carriage return


def run_in_terminal(command: list[str], cwd) -> tuple[int, str]:
    """``command`` with its standard output and error on a pseudo-terminal, as in a shell."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # 24 x 120, as a window has
    process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    printed = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes with the process
            break
        if not chunk:
            break
        printed.append(chunk)
    os.close(leader)
    return process.wait(timeout=600), b"".join(printed).decode(errors="replace")


@pytest.fixture
def photos(tmp_path):
    """300 images: a few seconds of predicting on one CPU thread, past the bar's one-second delay."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(300):
        Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(folder / f"photo{k:03d}.png")
    return folder


@pytest.mark.slow
def test_predict_shows_progress_on_a_terminal_and_none_when_piped_or_turned_off(easy_run, photos, tmp_path):
    predict = [f"run={easy_run()}", f"images={photos}", "draw=false"]
    code, terminal = run_in_terminal(tool_command("predict", *predict, f"out={tmp_path / 'a'}"), tmp_path)
    assert code == 0, terminal[-3000:]
    assert "predicting:" in terminal and all(mark in terminal for mark in BAR_MARKS), terminal[-3000:]
    assert "300/300" in terminal or "images/s]" in terminal

    piped = subprocess.run(
        tool_command("predict", *predict, f"out={tmp_path / 'b'}"), cwd=tmp_path, capture_output=True, text=True
    )
    assert piped.returncode == 0, piped.stderr[-3000:]
    assert not any(mark in piped.stdout + piped.stderr for mark in BAR_MARKS) and "predicting:" not in piped.stderr

    turned_off = tool_command("predict", *predict, f"out={tmp_path / 'c'}", "progress=false")
    code, quiet = run_in_terminal(turned_off, tmp_path)
    assert code == 0 and "predicting:" not in quiet and "█" not in quiet, quiet[-3000:]
    written = [p for p in (tmp_path / "a").rglob("*") if p.is_file()]
    assert written and not any("█" in p.read_text(errors="replace") for p in written if p.suffix in {".json", ".log"})
