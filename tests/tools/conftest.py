"""Run the tools as a user does: a subprocess, from a scratch working directory (or, to check
how they refuse bad input, the same command line in this process)."""

from __future__ import annotations

import logging
import os
import runpy
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from tests.conftest import ROOT, TINY_SHAPES_OVERRIDES, TRAINING_SEED


def tool_command(tool: str, *overrides: str, tiny: bool = True) -> list[str]:
    """The command line of ``tools/<tool>.py`` as the tests run it: ``train`` (with ``tiny``) on
    the tiny shapes data, the tests' seed and 2 epochs, before ``overrides``."""
    tiny_run = [
        *TINY_SHAPES_OVERRIDES,
        f"seed={TRAINING_SEED}",
        f"data_seed={TRAINING_SEED}",
        "trainer.max_epochs=2",
        "trainer.log_every_n_steps=1",
    ]
    args = tiny_run if tiny and tool == "train" else []
    return [sys.executable, str(ROOT / "tools" / f"{tool}.py"), *args, *overrides]


@pytest.fixture
def run_tool(tmp_path: Path):
    def run(
        tool: str, *overrides: str, tiny: bool = True, timeout: int = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        command = tool_command(tool, *overrides, tiny=tiny)
        environment = None if env is None else {**os.environ, **env}
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=timeout, env=environment)

    return run


@pytest.fixture
def run_tool_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """``run_tool`` in this process: the same command line, exit code and output, without the
    10 s of imports a new Python pays (for the many checks that a tool refuses bad input)."""

    def run(tool: str, *overrides: str, tiny: bool = True) -> subprocess.CompletedProcess:
        command = tool_command(tool, *overrides, tiny=tiny)[1:]
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "argv", command)
        handlers = {name: (list(logger.handlers), logger.level) for name, logger in _loggers()}
        capsys.readouterr()
        try:
            runpy.run_path(command[0], run_name="__main__")
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except Exception:  # what a subprocess would print as a traceback, exit 1
            code, trace = 1, traceback.format_exc()
            print(trace, file=sys.stderr)
        finally:
            GlobalHydra.instance().clear()
            for name, logger in _loggers():  # Hydra's logging config holds this test's streams
                logger.handlers[:], logger.level = handlers.get(name, ([], logging.NOTSET))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(command, code, out.out, out.err)

    return run


def _loggers() -> list[tuple[str, logging.Logger]]:
    manager = logging.getLogger().manager
    named = [(name, logger) for name, logger in manager.loggerDict.items() if isinstance(logger, logging.Logger)]
    return [("", logging.getLogger()), *named]
