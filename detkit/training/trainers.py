"""Lightning's Trainer from a ``trainer`` config, with what detkit adds to it: a bound on how
long a DDP process waits for the others."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.strategies import DDPStrategy
from omegaconf import DictConfig, OmegaConf

from detkit.data.formats.fields import is_number
from detkit.exceptions import ConfigError

TIMEOUT_KEY = "ddp_timeout_s"  # detkit's key in the trainer configs, not a Trainer argument


def instantiate_trainer(trainer_cfg: Mapping[str, Any], **arguments: Any) -> L.Trainer:
    """The Trainer of ``trainer_cfg`` (with ``arguments``). Under ``strategy: ddp`` every process
    waits at most ``ddp_timeout_s`` seconds for the others, at start-up and at each collective:
    a node that failed or never started then ends the run with a message (`timed_out_waiting`)
    instead of Lightning's 30-minute wait that looks like a hang."""
    cfg = (
        OmegaConf.to_container(trainer_cfg, resolve=True) if isinstance(trainer_cfg, DictConfig) else dict(trainer_cfg)
    )
    if cfg.get("max_epochs") == "auto":  # settled from the data when training (run.settle_epochs); this one predicts
        cfg["max_epochs"] = None
    timeout = cfg.pop(TIMEOUT_KEY, None)
    if timeout is not None and not (is_number(timeout) and timeout > 0):
        raise ConfigError(f"trainer.{TIMEOUT_KEY} must be a number of seconds > 0, got {timeout!r}")
    if timeout is not None and cfg.get("strategy") == "ddp":
        cfg["strategy"] = DDPStrategy(timeout=timedelta(seconds=float(timeout)))
    return instantiate(cfg, **arguments)
