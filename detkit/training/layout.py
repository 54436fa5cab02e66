"""Where a run directory keeps what ``tools/train.py`` leaves in it, stated once. Plain paths,
no torch: the tool runner resolves ``resume=last`` with it before anything heavy is imported."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.yaml"  # the resolved config, all a later command needs
CHECKPOINTS_DIR = "checkpoints"
BEST, LAST = "best", "last"  # checkpoint names; files are <name>.ckpt
CHECKPOINT_SUFFIX = ".ckpt"
SPLITS_DIR = "splits"  # the split manifests the run trained and was scored on
NEWEST_RUN = "last"  # resume=last: the newest run of this name


def checkpoint_file(run_dir: str | Path, name: str) -> Path:
    """``<run_dir>/checkpoints/<name>.ckpt``."""
    return Path(run_dir) / CHECKPOINTS_DIR / f"{name}{CHECKPOINT_SUFFIX}"


def newest_run(beside: str | Path) -> Path | None:
    """The run in the folder of ``beside`` (runs of one name) whose last checkpoint was written
    last; None when there is none."""
    runs = [path.parents[1] for path in Path(beside).parent.glob(f"*/{CHECKPOINTS_DIR}/{LAST}{CHECKPOINT_SUFFIX}")]
    return max(runs, key=lambda run: checkpoint_file(run, LAST).stat().st_mtime, default=None)
