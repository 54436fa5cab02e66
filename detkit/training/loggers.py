"""The loggers a run writes to, for training and for every report made of it afterwards.

TensorBoard in the run's folder always, and each logger its config chose (``logger=csv``,
``logger=mlflow``, ...: one yaml in ``configs/logger/``). A report (diagnosis, error analysis,
comparison, learning curve, data health) logs through `ReportLog`, which instantiates the same
loggers from the run's saved config: its scalars reach every logger through Lightning's
``Logger.log_metrics``, which every logger implements, so a new logger is its yaml. Text,
images and PR curves have no common Lightning call: they go where the logger's own client can
hold them (TensorBoard's writer; MLflow's text artifacts), and every report is also a file
in its folder."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from detkit.runs import layout
from detkit.runs.saved_config import moved_run_paths

log = logging.getLogger(__name__)
FOLDER_KEYS = ("save_dir", "log_dir", "root_dir", "dir")  # where Lightning's loggers write their files
LOCAL_STORES = ("sqlite:///", "file:")  # a tracking store that is a file (MLflow's), not a server


def run_loggers(logger_cfg: Mapping[str, Any] | None, run_dir: str | Path, version: str | None = None) -> list[Logger]:
    """TensorBoard in ``run_dir`` and each logger of ``logger_cfg`` (a config's ``logger``
    section). With ``version`` (a report's name), each configured logger records the report in
    a place of its own (`_report_version`), so a report never replaces the training's records
    (Lightning's CSV writer deletes the ``metrics.csv`` it finds in its folder)."""
    tensorboard = layout.tensorboard_dir(run_dir)
    loggers: list[Logger] = [
        TensorBoardLogger(save_dir=str(tensorboard.parent), name="", version=tensorboard.name, default_hp_metric=False)
    ]
    for logger in (logger_cfg or {}).values():
        if logger is not None:
            loggers.append(instantiate(logger, **(_report_version(logger, version) if version else {})))
    return loggers


def _report_version(logger_cfg: Mapping[str, Any], version: str) -> dict[str, str]:
    """A report's own place in a logger: the version of a logger that keeps versions (CSV's
    folder), the run name of one that names runs (MLflow's run, ``<training's name>/<report>``)."""
    if "version" in logger_cfg:
        return {"version": version}
    if logger_cfg.get("run_name"):
        return {"run_name": f"{logger_cfg['run_name']}/{version}"}
    return {}


def _stays_local(name: str, logger_cfg: Mapping[str, Any], run_dir: str | Path) -> bool:
    """Whether a logger of a run's saved config (which may come from anyone) writes where a
    report may: its folder inside the run, its store a local file. One a shared run names
    elsewhere (another folder, a server) is left out with a warning: a report reads a run, it
    does not send it anywhere."""
    inside = Path(run_dir).resolve()
    for key, value in logger_cfg.items():
        if not isinstance(value, str):
            continue
        remote = "://" in value and not value.startswith(LOCAL_STORES)
        outside = key in FOLDER_KEYS and not Path(value).resolve().is_relative_to(inside)
        if remote or outside:
            log.warning("logger.%s.%s=%s lies outside the run: the report does not log there", name, key, value)
            return False
    return True


class ReportLog:
    """One report's record in every logger of a run (`run_loggers`); a context manager that closes them."""

    def __init__(self, loggers: list[Logger]) -> None:
        self.loggers = loggers

    @classmethod
    def of_run(cls, run_config: DictConfig, run_dir: str | Path, report: str) -> ReportLog:
        """The loggers ``run_config`` (a run's saved config) chose, writing into ``run_dir``
        (the run, wherever it lies now, or a comparison's folder), for ``report``."""
        section = run_config.get("logger") or {}
        trained_in = OmegaConf.select(run_config, "paths.output_dir", default=None)
        if trained_in and section:
            section = moved_run_paths(OmegaConf.create(dict(section)), str(trained_in), str(run_dir))
        kept = {
            name: logger for name, logger in section.items() if logger is None or _stays_local(name, logger, run_dir)
        }
        return cls(run_loggers(kept, run_dir, report))

    def scalars(self, values: Mapping[str, float | None], step: int = 0) -> None:
        """Every defined value, to every logger."""
        defined = {name: float(value) for name, value in values.items() if value is not None}
        if defined:
            for logger in self.loggers:
                logger.log_metrics(defined, step=step)

    def text(self, tag: str, markdown: str) -> None:
        """A report's text: TensorBoard's text tab, MLflow's artifacts (``<tag>.md``)."""
        for logger in self.loggers:
            client = getattr(logger, "experiment", None)  # not every logger has a client
            if hasattr(client, "add_text"):
                client.add_text(tag, markdown, 0)
            elif hasattr(client, "log_text") and getattr(logger, "run_id", None):
                client.log_text(logger.run_id, markdown, f"{tag}.md")

    def images(self, tag: str, images: torch.Tensor) -> None:
        """Images ``[N, 3, H, W]`` (0..1) where a logger shows them (TensorBoard's images tab)."""
        for client in self._writers():
            client.add_images(tag, images, 0, dataformats="NCHW")

    def pr_curve(self, tag: str, counts: dict[str, np.ndarray], thresholds: int) -> None:
        """A precision-recall curve from counts at each threshold (TensorBoard's PR curves)."""
        for client in self._writers():
            client.add_pr_curve_raw(tag, **counts, global_step=0, num_thresholds=thresholds)

    def __enter__(self) -> ReportLog:
        return self

    def __exit__(self, *exc: object) -> None:
        for logger in self.loggers:
            logger.finalize("success" if exc[0] is None else "failed")

    def _writers(self) -> list[Any]:
        """The clients that are TensorBoard writers (images and PR curves are TensorBoard's)."""
        clients = [getattr(logger, "experiment", None) for logger in self.loggers]
        return [client for client in clients if hasattr(client, "add_pr_curve_raw")]
