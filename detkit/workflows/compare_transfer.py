"""Does starting from another run help? The same config trained twice on the same data and
step budget: once from ``init.checkpoint`` (with the configured fine-tuning), once from scratch."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from detkit.analysis.transfer_report import CURVE_METRIC, build_transfer_comparison, write_transfer
from detkit.exceptions import ConfigError
from detkit.models.finetune import NO_FINETUNING
from detkit.models.weight_transfer import BACKGROUND, output_mapping, shared_classes
from detkit.runs.layout import child_run, tensorboard_dir
from detkit.runs.run_dir import init_run
from detkit.training.object_fit import detector_of
from detkit.training.run import TrainedRun, check_single_process, child_config, train

FROM_SCRATCH = {"init.checkpoint": None, "init.class_map": {}, **NO_FINETUNING.options}


def compare_transfer(cfg: DictConfig) -> dict[str, Any]:
    """Train ``<out>/finetuned`` and ``<out>/scratch`` and write ``comparison.{json,md,png}`` to
    ``out`` (``paths.output_dir``); returns the comparison."""
    out = Path(cfg.paths.output_dir)
    if not cfg.init.checkpoint:
        raise ConfigError("give init.checkpoint=<a run (or .ckpt) trained on the data to transfer from>")
    if child_run(out, "finetuned").exists():
        raise ConfigError(f"{out} already holds a comparison; pass name=<another name> for a new one")
    check_single_process(cfg.trainer, "compare_transfer trains its two models one after another in one process")
    finetuned = train(child_config(cfg, child_run(out, "finetuned")))
    same_detector = {"model": detector_of(finetuned.run.config)}  # the checkpoint's, which model=auto took
    scratch = train(child_config(cfg, child_run(out, "scratch"), {**FROM_SCRATCH, **same_detector}))
    runs = {"finetuned": finetuned, "scratch": scratch}
    class_names = runs["finetuned"].run.class_names
    comparison = build_transfer_comparison(
        {name: _summary(run) for name, run in runs.items()},
        str(cfg.init.checkpoint),
        _carried_classes(cfg, class_names),
        class_names,
    )
    write_transfer(comparison, out)
    return comparison


def _summary(run: TrainedRun) -> dict[str, Any]:
    logging.getLogger("tensorboard").setLevel(logging.WARNING)  # one INFO line per event file otherwise
    events = EventAccumulator(str(tensorboard_dir(run.run_dir)), size_guidance={"scalars": 0}).Reload()
    # each epoch's validation; the best checkpoint's final scoring is logged at the last step
    curve = [[event.step, event.value] for event in events.Scalars(CURVE_METRIC) if event.step < run.steps]
    return {
        "run_dir": str(run.run_dir),
        "metrics": run.metrics,
        "curve": curve,
        "steps": run.steps,
        "train_seconds": run.fit_seconds,
    }


def _carried_classes(cfg: DictConfig, class_names: list[str]) -> list[str]:
    _, source = init_run(cfg.init.checkpoint).weights()
    targets = [BACKGROUND, *class_names]
    return shared_classes(output_mapping([BACKGROUND, *source], targets, dict(cfg.init.class_map or {})), targets)
