"""Evaluate a finished run's checkpoint on one of its splits."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from detkit.training.run import build_module, evaluate_splits
from detkit.training.run_dir import RunDir
from detkit.training.trainers import instantiate_trainer


def evaluate_run(
    run_dir: str | Path, split: str, trainer_cfg: DictConfig, checkpoint: str | Path | None = None
) -> dict[str, float]:
    """COCO metrics of a run's checkpoint (``best.ckpt`` unless given) on ``split``, on the
    exact split the run used (its saved manifests), with the trainer of ``trainer_cfg``."""
    run = RunDir.open(run_dir, checkpoint)
    trainer = instantiate_trainer(trainer_cfg, logger=False, callbacks=[], enable_checkpointing=False)
    module = build_module(run.config, from_checkpoint=True)
    metrics = evaluate_splits(trainer, module, run.datamodule(), [split], ckpt_path=str(run.checkpoint))
    return metrics[split]
