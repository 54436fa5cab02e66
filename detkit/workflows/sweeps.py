"""The runs of Hydra sweeps (``python tools/train.py -m ...``), found in their sweep folders and
grouped into configs: runs whose command lines differ in ``seed`` alone are one config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from detkit.data.formats.documents import read_yaml_document
from detkit.exceptions import ConfigError, DatasetError
from detkit.runs.layout import best_checkpoint
from detkit.runs.run_dir import RunDir

OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"  # each job's command line, as Hydra saves it
SEED_KEYS = ("seed",)  # what varies between the runs of one config


@dataclass(frozen=True)
class SweepRuns:
    """The finished runs of some sweep folders, each with its config's name, and the job folders
    passed over (no best checkpoint: failed or still running)."""

    runs: list[RunDir]
    configs: list[str]
    passed_over: list[str]


def sweep_runs(folders: list[str]) -> SweepRuns:
    """Every job folder of ``folders`` (Hydra's numbered sub-folders) with a best checkpoint; a
    run's config is named by its overrides that are not the same in every run found, ``seed``
    left out (the sweep folder's name when nothing else differs)."""
    jobs = [(Path(folder), job) for folder in folders for job in _job_folders(Path(folder))]
    finished = [(folder, job) for folder, job in jobs if best_checkpoint(job).is_file()]
    if not finished:
        raise ConfigError(
            f"sweep={folders}: no finished runs there (job folders with checkpoints/best.ckpt); pass the "
            "folder `python tools/train.py -m ...` wrote (outputs/<name>/multirun_<date_time>)"
        )
    overrides = [_config_overrides(job) for _, job in finished]
    shared = set.intersection(*(set(o) for o in overrides))
    configs = []
    for (folder, _), own in zip(finished, overrides):
        differing = [o for o in own if o not in shared]
        name = " ".join(differing) or folder.name
        configs.append(f"{folder.name}: {name}" if len(folders) > 1 and differing else name)
    runs = [RunDir.open(job) for _, job in finished]
    kept = {job for _, job in finished}
    passed_over = [str(job) for _, job in jobs if job not in kept]
    return SweepRuns(runs, configs, passed_over)


def _job_folders(folder: Path) -> list[Path]:
    """The job folders of one sweep folder, in job order."""
    if not folder.is_dir():
        raise ConfigError(f"sweep={folder}: not a folder; pass a sweep folder of `python tools/train.py -m ...`")
    jobs = [path for path in folder.iterdir() if (path / OVERRIDES_FILE).is_file()]
    if not jobs:
        raise ConfigError(
            f"sweep={folder}: no job folders (with {OVERRIDES_FILE}) there; pass the folder "
            "`python tools/train.py -m ...` wrote (outputs/<name>/multirun_<date_time>), not one run of it"
        )
    return sorted(jobs, key=lambda path: (int(path.name) if path.name.isdigit() else float("inf"), path.name))


def _config_overrides(job: Path) -> list[str]:
    """The job's command-line overrides but its seed."""
    saved = read_yaml_document(job / OVERRIDES_FILE) or []
    if not isinstance(saved, list):
        raise DatasetError("not Hydra's list of overrides; pass the folder of a -m sweep", str(job / OVERRIDES_FILE))
    overrides = [str(o) for o in saved]
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in SEED_KEYS]
