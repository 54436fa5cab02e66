"""Where a run directory keeps what detkit's tools leave in it, stated once. Plain paths, no
torch: the tool runner resolves ``resume=last`` with it before anything heavy is imported.

Every reader and writer of a run folder asks here (`LAYOUT`'s and `REPORTS`' names, read when
a path is made, through the functions below or `detkit.runs.run_dir.RunDir`); to move or rename
something a run keeps, change its name in `RunLayout` (folders and the run's own files) or
`ReportFiles` (the reports' files) and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunLayout:
    """The names of what a run folder holds."""

    config: str = "config.yaml"  # the resolved config, all a later command needs
    metrics: str = "metrics.json"  # a finished run's scores
    checkpoints: str = "checkpoints"
    best: str = "best"  # checkpoint names; files are <name><checkpoint_suffix>
    last: str = "last"
    checkpoint_suffix: str = ".ckpt"
    splits: str = "splits"  # the split manifests the run trained and was scored on
    tensorboard: str = "tensorboard"  # the run's own record: training, diagnosis and error analysis write there
    csv: str = "csv"  # logger=csv: Lightning's metrics.csv
    evaluations: str = "eval"  # tools/evaluate.py: <evaluations>/<split>/<metrics>
    errors: str = "errors"  # tools/errors.py: <errors>/<split>/
    predictions: str = "predictions"  # cached predictions of the best checkpoint: <predictions>/<split>.json
    predict: str = "predict"  # tools/predict.py's outputs
    export: str = "export"  # tools/export.py's files
    data_health: str = "data_health"  # the data's check at the start of training, and tools/data_health.py run=
    # the child runs of a comparison's folder
    joint: str = "joint"  # tools/compare_multitask.py: the run on every class
    per_class: str = "per_class"  # ... and one run per class: <per_class>/<class>
    finetuned: str = "finetuned"  # tools/compare_transfer.py: from init.checkpoint
    scratch: str = "scratch"  # ... and from scratch
    learning_curve: str = "learning_curve"  # tools/diagnose.py learning_curve=: <learning_curve>/train_<share>
    drawn: str = "drawn"  # tools/predict.py draw=true: the drawn images


@dataclass(frozen=True)
class ReportFiles:
    """The file names of the reports detkit's tools write, by stem (the suffix is the format:
    `report_file`), in the folder each tool writes (inside a run by default)."""

    phase_times: str = "phase_times"  # training: .json, each phase's seconds
    diagnosis: str = "diagnosis"  # tools/diagnose.py: .json .md .png
    learning_curve: str = "learning_curve"  # ... learning_curve=: .json .png
    comparison: str = "comparison"  # tools/compare*.py: .json .md .png
    errors: str = "errors"  # tools/errors.py: .json .md .csv
    breakdown: str = "breakdown"  # ... .png figures
    confusion: str = "confusion"
    pr_curves: str = "pr_curves"
    gallery: str = "gallery"  # ... .html, the worst images
    worst: str = "worst"  # ... .png, their contact sheet
    label_issues: str = "label_issues"  # ... .json .md .csv .html
    tags: str = "tags"  # ... .json .md
    health: str = "health"  # data health: .json .md
    leaks: str = "leaks"  # ... .png
    distributions: str = "distributions"  # ... .png
    predicted: str = "predictions"  # tools/predict.py: .json (COCO results)
    predicted_images: str = "images"  # ... .json (the images' ids and sizes)
    model: str = "model"  # tools/export.py: .onnx or .torchscript (and its .json beside)
    ranking: str = "ranking"  # tools/label_next.py: .csv .json
    selection: str = "selection"  # ... .png
    prelabels: str = "prelabels"  # ... .json


LAYOUT = RunLayout()
REPORTS = ReportFiles()
NEWEST_RUN = "last"  # resume=last: the newest run of this name (a command value, not a file)


def config_file(run_dir: str | Path) -> Path:
    return Path(run_dir) / LAYOUT.config


def metrics_file(run_dir: str | Path) -> Path:
    return Path(run_dir) / LAYOUT.metrics


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / LAYOUT.checkpoints


def checkpoint_file(run_dir: str | Path, name: str) -> Path:
    """``<run_dir>/checkpoints/<name>.ckpt``; ``name`` is ``LAYOUT.best`` or ``LAYOUT.last``."""
    return checkpoints_dir(run_dir) / f"{name}{LAYOUT.checkpoint_suffix}"


def best_checkpoint(run_dir: str | Path) -> Path:
    return checkpoint_file(run_dir, LAYOUT.best)


def last_checkpoint(run_dir: str | Path) -> Path:
    return checkpoint_file(run_dir, LAYOUT.last)


def splits_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / LAYOUT.splits


def tensorboard_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / LAYOUT.tensorboard


def evaluation_dir(run_dir: str | Path, split: str) -> Path:
    return Path(run_dir) / LAYOUT.evaluations / split


def errors_dir(run_dir: str | Path, split: str) -> Path:
    return Path(run_dir) / LAYOUT.errors / split


def predictions_file(run_dir: str | Path, split: str) -> Path:
    return Path(run_dir) / LAYOUT.predictions / f"{split}.json"


def predict_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / LAYOUT.predict


def export_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / LAYOUT.export


def data_health_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / LAYOUT.data_health


def report_file(out: str | Path, report: str, suffix: str) -> Path:
    """A report's file in ``out``: ``<out>/<REPORTS.<report>><suffix>``, e.g.
    ``report_file(out, "errors", ".json")`` is ``<out>/errors.json``."""
    return Path(out) / f"{getattr(REPORTS, report)}{suffix}"


def child_run(comparison_dir: str | Path, kind: str, *under: str) -> Path:
    """A comparison's child run: ``<comparison_dir>/<LAYOUT.<kind>>[/<under>...]``."""
    return Path(comparison_dir, getattr(LAYOUT, kind), *under)


def in_run(run_dir: str, name: str) -> str:
    """``${detkit.in_run:${paths.output_dir},splits}`` in a config: ``<run_dir>/<LAYOUT.splits>``."""
    return str(Path(run_dir) / getattr(LAYOUT, name))


def is_checkpoint(path: str | Path) -> bool:
    return Path(path).suffix == LAYOUT.checkpoint_suffix


def resumable(run_dir: str | Path) -> Path | None:
    """What ``resume=<run_dir>`` continues from: its last checkpoint or, for a run stopped before
    its first epoch ended, its config (it starts again); None for a folder that is no run and for
    a finished run without a last checkpoint (``fast_dev_run``)."""
    last, config = last_checkpoint(run_dir), config_file(run_dir)
    if last.is_file():
        return last
    return config if config.is_file() and not metrics_file(run_dir).exists() else None


def newest_run(beside: str | Path) -> Path | None:
    """The resumable run in the folder of ``beside`` (runs of one name) written last (its last
    checkpoint, or its config); None when there is none."""
    folder = Path(beside).parent
    found = {run: resumable(run) for run in folder.iterdir() if run.is_dir()} if folder.is_dir() else {}
    runs = {run: mark for run, mark in found.items() if mark is not None}
    return max(runs, key=lambda run: runs[run].stat().st_mtime, default=None)
