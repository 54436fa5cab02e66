"""Will more data help? The run's config retrained on nested seeded shares of its train split,
with train and dev error plotted against the number of training images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter

from detkit.analysis.bias_variance import error_of
from detkit.analysis.diagnosis_report import write_learning_curve
from detkit.exceptions import ConfigError
from detkit.training.layout import SPLITS_DIR
from detkit.training.run import check_single_process, train
from detkit.training.run_dir import RunDir
from detkit.workflows.prediction import device_trainer
from detkit.workflows.split_scoring import diagnosis_images, match_split


def learning_curve(cfg: DictConfig, run: RunDir, out: Path) -> list[dict[str, Any]]:
    """Train ``run``'s config on each share of ``cfg.learning_curve`` (the share 1.0 is the
    run itself), score train and dev with ``cfg.metric`` and write ``learning_curve.{json,png}``
    to ``out`` and scalars to the run's TensorBoard. Runs land in ``out/learning_curve/``. An
    error is None (null in the json, a gap in the plot) where the metric is undefined."""
    fractions = sorted({float(f) for f in cfg.learning_curve})
    if not fractions or fractions[0] <= 0.0 or fractions[-1] > 1.0:
        raise ConfigError(f"learning_curve={list(cfg.learning_curve)}: give shares of train in (0, 1]")
    check_single_process(run.config.trainer, "the learning curve trains its runs one after another in one process")
    points = []
    for fraction in fractions:
        share = run
        if fraction != 1.0:
            trained = train(_share_config(run, out / "learning_curve" / f"train_{fraction:g}", fraction))
            share = RunDir(trained.run_dir, trained.checkpoint)
        points.append(_score_share(cfg, share, fraction))
    write_learning_curve(points, cfg.metric, out)
    with SummaryWriter(log_dir=str(run.path / "tensorboard")) as writer:
        for point in points:
            for split in ("train", "dev"):
                if point[f"{split}_error"] is not None:
                    writer.add_scalar(f"learning_curve/{split}_error", point[f"{split}_error"], point["train_images"])
    return points


def _share_config(run: RunDir, share_dir: Path, fraction: float) -> DictConfig:
    """The run's own config on ``fraction`` of its train split (its other splits unchanged)."""
    cfg = OmegaConf.create(OmegaConf.to_container(run.config, resolve=True))
    cfg.paths.output_dir = str(share_dir)
    cfg.resume = None
    cfg.data.module.splits_dir = str(run.path / SPLITS_DIR)
    cfg.data.module.manifest_dir = str(share_dir / SPLITS_DIR)
    cfg.data.module.train_fraction = fraction
    return cfg


def _score_share(cfg: DictConfig, run: RunDir, fraction: float) -> dict[str, Any]:
    datamodule, model, trainer = run.datamodule(), run.detector(), device_trainer(cfg.device)
    point: dict[str, Any] = {"fraction": fraction, "train_images": len(datamodule.subset("train"))}
    point["run"] = str(run.path)
    for split in ("train", "dev"):
        image_ids = diagnosis_images(datamodule, split, cfg.train_sample, cfg.seed)
        metrics = match_split(model, datamodule, split, image_ids, trainer, run.partial_labels).metrics()
        point[f"{split}_error"] = error_of(metrics[cfg.metric])  # None, not 2.0, where the metric is undefined
    return point
