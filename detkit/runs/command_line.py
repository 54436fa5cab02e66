"""The command line's run directory, checked before Hydra starts: ``resume=`` names a run,
``hydra.run.dir=`` holds no other run and can be made (Hydra would write into it, or fail with a
traceback, first)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from detkit.exceptions import ConfigError
from detkit.runs import layout
from detkit.runs.layout import NEWEST_RUN
from detkit.runs.lock import check_unlocked
from detkit.runs.saved_config import load_saved_config


def check_run_dir_arguments(arguments: list[str]) -> None:
    """Refuse, before Hydra starts (it would first write ``.hydra/`` and ``train.log`` there, and
    print a traceback for a folder it cannot make), ``resume=<folder>`` that is not a run,
    ``hydra.run.dir=<folder>`` holding files but no run, and a run directory that cannot be made."""
    resume = _last_value(arguments, "resume")
    resumes_a_folder = resume not in (None, "", "null", NEWEST_RUN)
    if resumes_a_folder:
        check_resumable(Path(resume))
        load_saved_config(layout.config_file(resume))  # a config naming code is refused before Hydra writes there
        check_unlocked(resume)  # a run another process is writing
    run_dir = _last_value(arguments, "hydra.run.dir")
    if run_dir and Path(run_dir).is_dir() and any(Path(run_dir).iterdir()) and not (Path(run_dir) / ".hydra").is_dir():
        raise ConfigError(f"hydra.run.dir={run_dir} holds files of something else; choose a new or empty folder")
    if run_dir and "${" not in run_dir:
        check_unlocked(run_dir)
    if run_dir and not resumes_a_folder and layout.checkpoints_dir(run_dir).is_dir():
        raise ConfigError(
            f"hydra.run.dir={run_dir} holds a run already, which a new one would overwrite; continue it with "
            f"resume={run_dir}, or choose a new folder"
        )
    if run_dir or not resumes_a_folder:  # else the run directory is resume's, checked above
        check_run_dir_can_be_made(arguments)


def check_resumable(run: Path) -> None:
    """Refuse ``resume=<run>`` of a folder that is no run, or of a finished run that has no
    ``last.ckpt`` to continue from (``fast_dev_run``: starting it again would overwrite it). A
    run interrupted before its first epoch ended (a config, no checkpoint) starts again."""
    if layout.resumable(run) is not None:
        return
    last = layout.last_checkpoint(run).relative_to(run)
    if not layout.config_file(run).is_file():
        raise ConfigError(f"resume={run}: no {last} there; pass a detkit run directory")
    if layout.metrics_file(run).is_file():
        raise ConfigError(f"resume={run}: a finished run without {last}; train a new run instead")


def check_run_dir_can_be_made(arguments: list[str]) -> None:
    """Refuse, before Hydra tries (its error is a traceback), a run directory that cannot be
    made: ``hydra.run.dir=`` (``hydra.sweep.dir=`` for a ``-m`` sweep) or, by default, one
    under ``outputs/``."""
    key = "hydra.sweep.dir" if {"-m", "--multirun"} & set(arguments) else "hydra.run.dir"
    run_dir = _last_value(arguments, key)
    problem = _cannot_make(Path(run_dir.split("${", 1)[0] or ".") if run_dir else Path("outputs"))
    if problem:
        where = f"{key}={run_dir}" if run_dir else f"the run directory under {Path.cwd()}"
        raise ConfigError(f"{where}: cannot be made ({problem}); pass {key}=<a folder you can write>")


def _cannot_make(folder: Path) -> str | None:
    """Why ``folder`` could not be created, found by making (and removing) a scratch folder in
    its nearest existing parent: the only test that holds for root, read-only mounts and /sys."""
    folder = folder.absolute()
    existing = next(p for p in (folder, *folder.parents) if os.path.lexists(p))
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".detkit-probe-", dir=existing))
    except OSError as error:
        return f"{existing}: {error.strerror}"
    return None


def _last_value(arguments: list[str], key: str) -> str | None:
    values = [a.split("=", 1)[1] for a in arguments if a.lstrip("+").startswith(f"{key}=")]
    return values[-1] if values else None
