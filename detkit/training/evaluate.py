"""Evaluate a finished run's checkpoint on one of its splits."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from detkit.training.checkpoints import find_run, load_run_config
from detkit.training.run import build_module, evaluate_splits, load_run_datamodule
from detkit.training.trainers import instantiate_trainer


def evaluate_run(
    run_dir: str | Path, split: str, trainer_cfg: DictConfig, checkpoint: str | Path | None = None
) -> dict[str, float]:
    """COCO metrics of a run's checkpoint (``best.ckpt`` unless given) on ``split``, on the
    exact split the run used (its saved manifests), with the trainer of ``trainer_cfg``."""
    run_dir, checkpoint = find_run(run_dir, checkpoint)
    cfg = load_run_config(run_dir)
    datamodule = load_run_datamodule(run_dir, cfg)
    trainer = instantiate_trainer(trainer_cfg, logger=False, callbacks=[], enable_checkpointing=False)
    metrics = evaluate_splits(
        trainer, build_module(cfg, from_checkpoint=True), datamodule, [split], ckpt_path=str(checkpoint)
    )
    return metrics[split]
