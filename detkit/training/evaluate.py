"""Evaluate a finished run's checkpoint on one of its splits."""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from detkit.errors import ConfigError
from detkit.training.run import build_module, evaluate_splits, load_run_config, load_run_datamodule


def evaluate_run(
    run_dir: str | Path, split: str, trainer_cfg: DictConfig, checkpoint: str | Path | None = None
) -> dict[str, float]:
    """COCO metrics of a run's checkpoint (``best.ckpt`` unless given) on ``split``, on the
    exact split the run used (its saved manifests), with the trainer of ``trainer_cfg``."""
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    checkpoint = Path(checkpoint) if checkpoint else run_dir / "checkpoints" / "best.ckpt"
    if not checkpoint.is_file():
        raise ConfigError(f"checkpoint {checkpoint} not found; pass checkpoint=<path to a .ckpt>")
    datamodule = load_run_datamodule(run_dir, cfg)
    trainer = instantiate(trainer_cfg, logger=False, callbacks=[], enable_checkpointing=False)
    metrics = evaluate_splits(trainer, build_module(cfg), datamodule, [split], ckpt_path=str(checkpoint))
    return metrics[split]
