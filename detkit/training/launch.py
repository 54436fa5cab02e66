"""What a launch gives detkit before Hydra starts: the resolvers training's configs use
(`register_resolvers`), and, for several processes (torchrun, SLURM's srun), one name for the
run directory that every process of the job agrees on.

Each process of a multi-node job runs ``tools/train.py`` itself, so a run directory stamped
with the time would be stamped by each, a second apart on a slow node: two run directories,
each with half the outputs. Under torchrun, global rank 0 stamps the time and hands it to the
others through the store torchrun's agent already serves at ``MASTER_ADDR:MASTER_PORT``; under
SLURM the job (and step) id names the run, as every task of it sees the same.
"""

from __future__ import annotations

import functools
import os
import re
import time
from datetime import timedelta
from pathlib import Path

from omegaconf import OmegaConf

from detkit.runs import layout

STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"
AGREE_TIMEOUT = timedelta(minutes=5)  # the other nodes start within it, or the launch is broken
EXPORT_FILES = (".json", ".yaml", ".yml", ".xml")  # data.root as an annotation file: the run is named by its stem
GENERIC_NAMES = {"data", "dataset", "annotations", "result", "instances_default", "export", "images"}


@functools.cache  # Hydra resolves the run directory more than once; the stamp must not move
def run_stamp() -> str:
    """The last part of a new run's directory: the time, stamped once for the whole job (or the
    SLURM job id of a job of several tasks)."""
    env = os.environ
    if int(env.get("WORLD_SIZE", "1")) > 1 and env.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
        return _stamp_of_rank_zero(env["MASTER_ADDR"], int(env["MASTER_PORT"]), int(env["RANK"]))
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_JOB_ID" in env:
        step = env.get("SLURM_STEP_ID")
        return f"slurm-{env['SLURM_JOB_ID']}" + (f".{step}" if step else "")
    return time.strftime(STAMP_FORMAT)


def _stamp_of_rank_zero(host: str, port: int, rank: int) -> str:
    from torch.distributed import TCPStore  # only under torchrun: the tools that score files stay torch-free

    store = TCPStore(host, port, is_master=False, timeout=AGREE_TIMEOUT)
    key = f"detkit/run_stamp/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"  # a restart is a new run
    if rank == 0:
        store.set(key, time.strftime(STAMP_FORMAT))
    return store.get(key).decode()


def register_resolvers() -> None:
    """``${detkit.run_dir:${resume},default}``: a resumed run writes into its own directory;
    ``${detkit.run_stamp:}``: a new run's time, one for every process of a launch (`run_stamp`);
    ``${detkit.in_run:<run dir>,<name>}``: a path of the run folder's `detkit.runs.layout`;
    ``${detkit.run_name:<data.root>}``: `run_name`."""
    if not OmegaConf.has_resolver("detkit.run_dir"):
        OmegaConf.register_new_resolver("detkit.run_dir", run_dir)
    if not OmegaConf.has_resolver("detkit.run_stamp"):
        OmegaConf.register_new_resolver("detkit.run_stamp", run_stamp)
    if not OmegaConf.has_resolver("detkit.in_run"):
        OmegaConf.register_new_resolver("detkit.in_run", layout.in_run)
    if not OmegaConf.has_resolver("detkit.run_name"):
        OmegaConf.register_new_resolver("detkit.run_name", run_name)


def run_name(root: str | None) -> str:
    """The folder a run lands in under ``outputs/``: ``quickstart`` for the generated data, else
    the name of the export at ``root`` (its folder, or its annotation file's stem; its parent's
    name for a file of a generic name such as ``data.yaml``), in letters, digits, ``-``, ``_`` and ``.``."""
    if not root:
        return "quickstart"
    path = Path(str(root).rstrip("/\\"))
    name = path.stem if path.suffix.lower() in EXPORT_FILES else path.name
    if name.lower() in GENERIC_NAMES and path.parent.name:
        name = path.parent.name
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "export"


def run_dir(resume: str | None, default: str) -> str:
    """The run directory: ``default`` for a new run, ``resume``'s for a resumed one, and for
    ``resume=last`` the run beside ``default`` (same name) whose last.ckpt was written last
    (``default`` when there is none: `detkit.training.run.resumed_config` then says so)."""
    if resume != layout.NEWEST_RUN:
        return resume or default
    return str(layout.newest_run(default) or default)
