"""Is the data sound: ``tools/data_health.py``'s report on a dataset's splits (or a run's), with
what the copies across splits are worth to the dev metric when a run is given."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detkit.analysis.data_health_report import render_health, write_health
from detkit.data.health.check import TRAIN, Health, check_health, dev_without_train_copies
from detkit.data.health.duplicates import kept_together
from detkit.data.splits.seeded import write_manifests
from detkit.data.splits.split_data import SplitData
from detkit.exceptions import ConfigError
from detkit.runs import layout
from detkit.runs.run_dir import RunDir
from detkit.training.loggers import ReportLog
from detkit.workflows.prediction import device_trainer
from detkit.workflows.split_scoring import match_split


@dataclass(frozen=True)
class HealthOptions:
    """What ``tools/data_health.py`` takes besides the data and model (``configs/data_health.yaml``)."""

    run: str | None
    checkpoint: str | None
    out: str | None
    min_similarity: float
    moved_splits: str | None
    metric: str
    device: str
    seed: int


@dataclass(frozen=True)
class ModelInput:
    """The input the objects are sized at: ``image_size`` px, the shape kept or stretched."""

    image_size: int
    keep_aspect_ratio: bool


def report_data_health(data: SplitData, options: HealthOptions, model_input: ModelInput, out: Path) -> dict[str, Any]:
    """Check ``data`` (`check_health`), write the report to ``out`` and, with ``moved_splits``,
    the split manifests with each cluster of copies moved to the split of its first image;
    with a run, what its dev metric is without the dev images that have a copy in train."""
    if not 0.0 < options.min_similarity <= 1.0:
        raise ConfigError(f"min_similarity must be in (0, 1], got {options.min_similarity}")
    if options.moved_splits and _holds_files(Path(options.moved_splits)):
        raise ConfigError(f"moved_splits={options.moved_splits} already holds files; name a new folder")
    health = check_health(
        data, model_input.image_size, model_input.keep_aspect_ratio, options.min_similarity, options.seed
    )
    run = RunDir.open(options.run, options.checkpoint) if options.run else None
    worth = leak_worth(health, run, options) if run else None
    report = write_health(out, health, model_input.image_size, model_input.keep_aspect_ratio, leak_worth=worth)
    if run:
        with ReportLog.of_run(run.config, run.path, layout.REPORTS.health) as log:
            log.scalars(health_scalars(report))
            log.text("data_health/report", render_health(report))
    if options.moved_splits:
        _write_moved_splits(health, Path(options.moved_splits))
    return report


def health_scalars(report: dict[str, Any]) -> dict[str, float | None]:
    """What a logger plots of a health report: copies, those across splits, each split's shift
    from train (domain AUC) and, with a run, its dev metric with and without the copies."""
    values = {
        "data_health/copy_clusters": report["duplicates"]["clusters"],
        "data_health/clusters_across_splits": len(report["duplicates"]["leaks"]),
        **{f"data_health/shift_auc_{split}": shift["auc"] for split, shift in report["shift"].items()},
    }
    worth = report.get("leak_worth", {})
    values["data_health/dev_all"] = worth.get("all")
    values["data_health/dev_without_train_copies"] = worth.get("without_train_copies")
    return values


def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def leak_worth(health: Health, run: RunDir, options: HealthOptions) -> dict[str, Any]:
    """The run's dev ``metric`` on all dev images and on those without a copy in train."""
    dev = health.data.split_ids.get("dev", [])
    if TRAIN not in health.data.split_ids or not dev:
        return {"note": "needs train and dev splits"}
    clean = set(dev_without_train_copies(health))
    matches = match_split(run, run.detector(), "dev", dev, device_trainer(options.device))
    kept = [k for k, image_id in enumerate(matches.image_ids) if image_id in clean]
    scores = {"all": matches.metrics().get(options.metric)}
    scores["without_train_copies"] = matches.metrics(kept).get(options.metric) if kept else None
    return {"metric": options.metric, "dev_images": len(dev), "without_train_copies_images": len(kept), **scores}


def _write_moved_splits(health: Health, folder: Path) -> None:
    data = health.data
    image_ids = [r.image_id for r in data.dataset.records]
    moved = kept_together(data.split_ids, health.clusters, image_ids)
    meta = {"splits": "moved_copies", "from": data.mode, "clusters": len(health.clusters)}
    write_manifests(folder, moved, data.dataset, meta)
