"""Run the tools as a user does: a subprocess, from a scratch working directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_SHAPES_OVERRIDES, TRAINING_SEED


@pytest.fixture
def run_tool(tmp_path: Path):
    def run(tool: str, *overrides: str, tiny: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
        tiny_run = [
            *TINY_SHAPES_OVERRIDES,
            f"seed={TRAINING_SEED}",
            "trainer.max_epochs=2",
            "trainer.log_every_n_steps=1",
        ]
        args = tiny_run if tiny and tool == "train" else []
        command = [sys.executable, str(ROOT / "tools" / f"{tool}.py"), *args, *overrides]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)

    return run
