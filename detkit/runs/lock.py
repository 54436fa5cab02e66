"""One writer per run folder: training (and resuming) holds ``<run>/.lock`` while it writes, and
so does every tool that writes into a run (evaluate, errors, predict, export, diagnose:
`writing_into`).

The lock is a file made with ``O_CREAT | O_EXCL`` (atomic on every local file system) holding
the writer's host, process id and start time. A second writer finds it and is refused, naming
the first; a lock left by a process that no longer runs on this host (killed with SIGKILL, a
machine that rebooted) is stale and taken over. A lock from another host cannot be checked
from here and is refused with how to remove it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from detkit.exceptions import ConfigError

RANK_KEYS = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")  # lightning_fabric rank_zero._get_rank

LOCK_FILE = ".lock"


def holder(run_dir: str | Path) -> dict | None:
    """Who holds the run's lock (``host``, ``pid``, ``since``), or None when nobody live does."""
    path = Path(run_dir) / LOCK_FILE
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(held, dict):
        return None
    if held.get("host") == socket.gethostname() and not _running(held.get("pid")):
        return None  # stale: its process is gone
    return held


def check_unlocked(run_dir: str | Path) -> None:
    """Refuse a run folder another live process is writing."""
    held = holder(run_dir)
    if held is not None:
        raise ConfigError(
            f"{run_dir} is being written by process {held.get('pid')} on {held.get('host')} (since "
            f"{held.get('since')}); wait for it to end, or, if that process is gone, remove {Path(run_dir) / LOCK_FILE}"
        )


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold ``<run_dir>/.lock`` for the block; refuse (`ConfigError`) when another live writer holds it."""
    path = Path(run_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(2):  # a stale lock is removed once, then taken
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            check_unlocked(run_dir)
            path.unlink(missing_ok=True)
    else:
        check_unlocked(run_dir)
        raise ConfigError(f"{path}: cannot take the run's lock; remove it if no process writes {run_dir}")
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(mine, file)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def writing_into(run_dir: str | Path, out: str | Path | None = None) -> contextlib.AbstractContextManager:
    """`run_lock` on ``run_dir`` for a tool writing into it: in the first process only (the others
    of a DDP launch write nothing), and, given the tool's output folder ``out``, only when ``out``
    lies inside the run (a tool told to write elsewhere leaves the run to whoever writes it)."""
    inside = out is None or Path(out).resolve().is_relative_to(Path(run_dir).resolve())
    return run_lock(run_dir) if inside and launch_rank() == 0 else contextlib.nullcontext()


def launch_rank() -> int:
    """This process's rank as its launcher (torchrun, Lightning's DDP, SLURM, jsrun) states it in
    the environment, read by hand with the keys and order of Lightning's ``rank_zero_only`` so
    that the run folder's package (and the tools' command line) imports no Lightning."""
    for key in RANK_KEYS:
        if (rank := os.environ.get(key)) is not None:
            return int(rank)
    return 0


def _running(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True
