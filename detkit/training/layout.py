"""Where a run directory keeps what ``tools/train.py`` leaves in it, stated once. Plain paths,
no torch: the tool runner resolves ``resume=last`` with it before anything heavy is imported."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.yaml"  # the resolved config, all a later command needs
METRICS_FILE = "metrics.json"  # a finished run's scores
CHECKPOINTS_DIR = "checkpoints"
BEST, LAST = "best", "last"  # checkpoint names; files are <name>.ckpt
CHECKPOINT_SUFFIX = ".ckpt"
SPLITS_DIR = "splits"  # the split manifests the run trained and was scored on
NEWEST_RUN = "last"  # resume=last: the newest run of this name


def checkpoint_file(run_dir: str | Path, name: str) -> Path:
    """``<run_dir>/checkpoints/<name>.ckpt``."""
    return Path(run_dir) / CHECKPOINTS_DIR / f"{name}{CHECKPOINT_SUFFIX}"


def resumable(run_dir: str | Path) -> Path | None:
    """What ``resume=<run_dir>`` continues from: its last checkpoint or, for a run stopped before
    its first epoch ended, its config (it starts again); None for a folder that is no run and for
    a finished run without a last checkpoint (``fast_dev_run``)."""
    last, config = checkpoint_file(run_dir, LAST), Path(run_dir) / CONFIG_FILE
    if last.is_file():
        return last
    return config if config.is_file() and not (Path(run_dir) / METRICS_FILE).exists() else None


def newest_run(beside: str | Path) -> Path | None:
    """The resumable run in the folder of ``beside`` (runs of one name) written last (its last
    checkpoint, or its config); None when there is none."""
    folder = Path(beside).parent
    found = {run: resumable(run) for run in folder.iterdir() if run.is_dir()} if folder.is_dir() else {}
    runs = {run: mark for run, mark in found.items() if mark is not None}
    return max(runs, key=lambda run: runs[run].stat().st_mtime, default=None)
