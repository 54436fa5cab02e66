"""The data's health checked as training starts (`detkit.data.health.check`): one line per
problem found, the report in the run folder, never a reason to stop."""

from __future__ import annotations

import logging
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from detkit.analysis.data_health_report import write_health
from detkit.data.health.check import check_health
from detkit.data.splits.split_data import SplitData
from detkit.models.families import keeps_aspect_ratio
from detkit.runs import layout

log = logging.getLogger(__name__)


@rank_zero_only
def check_data_at_start(cfg: DictConfig, data: SplitData, run_dir: Path) -> None:
    """Check ``data`` when it holds at most ``data.health_check_images`` images (0: never),
    write ``<run>/data_health/health.{json,md}`` (and ``leaks.png``) and log each finding."""
    limit = int(cfg.data.get("health_check_images", 0) or 0)
    if not limit:
        return
    if len(data.dataset) > limit:
        log.info(
            "data health: %d images, over data.health_check_images=%d; python tools/data_health.py checks them",
            len(data.dataset),
            limit,
        )
        return
    keeps_shape = keeps_aspect_ratio(cfg.model.name, cfg.model.get("keep_aspect_ratio"))
    health = check_health(data, int(cfg.model.image_size), keeps_shape, seed=int(cfg.seed))
    out = layout.data_health_dir(run_dir)
    write_health(out, health, int(cfg.model.image_size), keeps_shape, plots=False)
    for finding in health.findings(sizes=False):  # the objects' sizes: `settle_object_sizes` says them
        log.warning("data health: %s (%s)", finding, out / "health.md")
