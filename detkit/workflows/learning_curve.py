"""Will more data help? The run's config retrained on nested seeded shares of its train split,
with train and dev error plotted against the number of training images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detkit.analysis.bias_variance import error_of
from detkit.analysis.diagnosis_report import write_learning_curve
from detkit.exceptions import ConfigError
from detkit.runs import layout
from detkit.runs.layout import child_run, splits_dir
from detkit.runs.run_dir import RunDir
from detkit.training.loggers import ReportLog
from detkit.training.run import check_single_process, child_config, train
from detkit.workflows.prediction import device_trainer
from detkit.workflows.split_scoring import diagnosis_images, match_split


@dataclass(frozen=True)
class ShareScoring:
    """How each share's run is scored, as the diagnosis scores: its metric, train sample
    (`diagnosis_images`), that sample's seed, and the device that predicts."""

    metric: str
    train_sample: str | int
    seed: int
    device: str


def learning_curve(fractions: Sequence[float], run: RunDir, out: Path, scoring: ShareScoring) -> list[dict[str, Any]]:
    """Train ``run``'s config on each share of its train split in ``fractions`` (the share 1.0
    is the run itself), score train and dev as ``scoring`` says and write
    ``learning_curve.{json,png}`` to ``out`` and scalars to the run's TensorBoard. Runs land in
    ``out/learning_curve/``. An error is None (null in the json, a gap in the plot) where the
    metric is undefined."""
    shares = sorted({float(f) for f in fractions})
    if not shares or shares[0] <= 0.0 or shares[-1] > 1.0:
        raise ConfigError(f"learning_curve={list(fractions)}: give shares of train in (0, 1]")
    check_single_process(run.config.trainer, "the learning curve trains its runs one after another in one process")
    points = []
    for fraction in shares:
        share = run
        if fraction != 1.0:
            share_dir = child_run(out, "learning_curve", f"train_{fraction:g}")
            updates = {
                "resume": None,
                "data.module.splits_dir": str(run.splits_dir),
                "data.module.manifest_dir": str(splits_dir(share_dir)),
                "data.module.train_fraction": fraction,
            }
            trained = train(child_config(run.config, share_dir, updates))  # its other splits unchanged
            share = trained.run
        points.append(_score_share(scoring, share, fraction))
    write_learning_curve(points, scoring.metric, out)
    with ReportLog.of_run(run.config, run.path, layout.REPORTS.learning_curve) as log:
        for point in points:
            errors = {f"learning_curve/{split}_error": point[f"{split}_error"] for split in ("train", "dev")}
            log.scalars(errors, step=point["train_images"])
    return points


def _score_share(scoring: ShareScoring, run: RunDir, fraction: float) -> dict[str, Any]:
    model, trainer = run.detector(), device_trainer(scoring.device)
    point: dict[str, Any] = {"fraction": fraction, "train_images": len(run.data.subset("train"))}
    point["run"] = str(run.path)
    for split in ("train", "dev"):
        image_ids = diagnosis_images(run.data, split, scoring.train_sample, scoring.seed)
        metrics = match_split(run, model, split, image_ids, trainer).metrics()
        point[f"{split}_error"] = error_of(metrics[scoring.metric])  # None, not 2.0, where the metric is undefined
    return point
