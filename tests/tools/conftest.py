"""Run the tools as a user does: a subprocess, from a scratch working directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_SHAPES_OVERRIDES, TRAINING_SEED


def tool_command(tool: str, *overrides: str, tiny: bool = True) -> list[str]:
    """The command line of ``tools/<tool>.py`` as the tests run it: ``train`` (with ``tiny``) on
    the tiny shapes data, the tests' seed and 2 epochs, before ``overrides``."""
    tiny_run = [*TINY_SHAPES_OVERRIDES, f"seed={TRAINING_SEED}", "trainer.max_epochs=2", "trainer.log_every_n_steps=1"]
    args = tiny_run if tiny and tool == "train" else []
    return [sys.executable, str(ROOT / "tools" / f"{tool}.py"), *args, *overrides]


@pytest.fixture
def run_tool(tmp_path: Path):
    def run(tool: str, *overrides: str, tiny: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
        command = tool_command(tool, *overrides, tiny=tiny)
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)

    return run
