"""From a composed config to a trained, evaluated detector: the one function `tools/train.py` calls."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from detkit.data.formats.fields import is_number
from detkit.data.records import DetectionDataset
from detkit.data.splits.split_data import SplitData
from detkit.exceptions import ConfigError, user_error_behind
from detkit.files import write_json_atomic, write_text_atomic
from detkit.models.families import family_of, partial_label_detectors
from detkit.progress import wanted as progress_wanted
from detkit.runs import layout
from detkit.runs.layout import NEWEST_RUN, resumable
from detkit.runs.lock import writing_into
from detkit.runs.run_dir import RunDir, init_run, initialise_from_checkpoint, saved_config
from detkit.runs.saved_config import moved_run_paths
from detkit.training.callbacks import SameConfigEverywhere, SummaryWithoutFlops, progress_bar
from detkit.training.checkpoint_io import AtomicCheckpointIO
from detkit.training.data_check import check_data_at_start
from detkit.training.datamodule import DetectionDataModule
from detkit.training.interruption import Stage, stopped_by_signals
from detkit.training.loggers import run_loggers
from detkit.training.module import DetectionModule
from detkit.training.object_fit import settle_object_sizes
from detkit.training.objective import parse_objective
from detkit.training.quiet import silence_known_noise
from detkit.training.random_state import RandomStateCheckpoint
from detkit.training.schedules import IMAGES_SEEN, MIN_EPOCHS, epochs_for
from detkit.training.threads import training_threads
from detkit.training.trainers import instantiate_trainer

log = logging.getLogger(__name__)
MONITOR = "dev/mAP"
# Ranks on the CPU share its cores (DESIGN: Distributed) unless the process was started with
# OMP_NUM_THREADS, which torch follows by itself (read here, before Lightning's DDP launcher sets it).
THREADS_SET_BY_ENVIRONMENT = "OMP_NUM_THREADS" in os.environ
CONFIG_GROUPS = ("data", "model", "optimizer", "scheduler", "trainer", "callbacks", "experiment")


@dataclass
class TrainedRun:
    """What `train` leaves: the run directory, the best checkpoint's metrics per split, the
    wall-clock seconds and optimiser steps of fitting, and the checkpoint the metrics are of
    (None under ``fast_dev_run``)."""

    run_dir: Path
    metrics: dict[str, dict[str, float]]
    fit_seconds: float
    steps: int
    checkpoint: Path | None

    @cached_property  # one RunDir, so that its config is read once however often it is asked
    def run(self) -> RunDir:
        """The run folder at the checkpoint its metrics are of."""
        if self.checkpoint is None:
            raise ConfigError(f"{self.run_dir} has no checkpoint (trainer.fast_dev_run writes none)")
        return RunDir(self.run_dir, self.checkpoint)


def train(cfg: DictConfig) -> TrainedRun:
    """Fit the configured detector, evaluate the best checkpoint on ``evaluation.splits`` and
    write ``config.yaml``, ``metrics.json``, checkpoints and TensorBoard events to the run dir,
    holding its lock (`writing_into`: one writer per run) in the first process."""
    run_dir = Path(cfg.paths.output_dir)
    with writing_into(run_dir), stopped_by_signals(run_dir) as stage:
        return _train(cfg, run_dir, stage)


def _train(cfg: DictConfig, run_dir: Path, stage: Stage) -> TrainedRun:
    if cfg.get("objective"):
        parse_objective(cfg.objective, list(cfg.evaluation.splits))  # a sweep's metric, known before training
    L.seed_everything(cfg.seed, workers=True)
    if OmegaConf.select(cfg, "init.checkpoint", default=None):
        init_run(cfg.init.checkpoint)  # a wrong path fails before the data loads
    resumed = resumed_checkpoint(cfg.get("resume"))  # and a checkpoint that does not fit, before anything is written
    datamodule = build_datamodule(cfg)
    check_data_at_start(cfg, datamodule.data, run_dir)
    module = build_module(cfg)
    check_partial_label_support(datamodule.data.subset("train"), module)
    trainer = stage.trainer = build_trainer(cfg, run_dir)
    log_each_epoch_at_least_once(trainer, datamodule)
    report_batch_size(trainer, datamodule.batch_size, cfg.optimizer.get("lr"))
    save_config(cfg, run_dir)
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=resumed, weights_only=True)
    fit_seconds = time.perf_counter() - started
    stage.scoring = True
    checkpoint = best_checkpoint(trainer, module, datamodule)
    splits = evaluated_splits(cfg, datamodule.data)
    metrics = evaluate_splits(trainer, module, datamodule, splits, str(checkpoint) if checkpoint else None)
    _write_results(trainer, cfg, run_dir, metrics, datamodule.data.mode)
    return TrainedRun(run_dir, metrics, fit_seconds, trainer.global_step, checkpoint)


def log_each_epoch_at_least_once(trainer: L.Trainer, datamodule: DetectionDataModule) -> None:
    """``log_every_n_steps`` no larger than an epoch's steps on each process, nor than the run's
    ``max_steps``: Lightning logs training steps only every n of them, so a small training set
    or a short budget would log none (and Lightning warns about the first)."""
    steps = math.ceil(len(datamodule.data.subset("train")) / (datamodule.batch_size * trainer.world_size))
    budget = trainer.max_steps if trainer.max_steps > 0 else steps
    trainer.log_every_n_steps = max(1, min(trainer.log_every_n_steps, steps, budget))


def resumed_checkpoint(resume: str | None) -> str | None:
    """The checkpoint ``resume=<run>`` continues from: its ``last.ckpt`` (read here, so that a file
    detkit did not write gets one message). None for a new run, and for a run interrupted before
    its first epoch ended, which starts again from its saved config. A signal never leaves a
    checkpoint of part of an epoch: resuming from the last whole epoch repeats the interrupted
    epoch's steps exactly, as after a kill, where a mid-epoch one would not (Lightning does not
    restore the data order of an epoch's remaining batches)."""
    if not resume or not layout.last_checkpoint(resume).is_file():
        return None
    run = RunDir.resumed(resume)
    run.detector()  # a model section edited since the checkpoint: one message here, not Lightning's traceback
    return str(run.checkpoint)


def best_checkpoint(trainer: L.Trainer, module: DetectionModule, datamodule: DetectionDataModule) -> Path | None:
    """``checkpoints/best.ckpt``: the one validation chose or, for a run that ended before its
    first validation (``max_steps``, an iteration budget), the final weights, validated once.
    ``None`` under ``fast_dev_run``, which writes no checkpoints."""
    best = trainer.checkpoint_callbacks[0]  # as build_trainer orders them
    if not best.best_model_path and not trainer.fast_dev_run:
        trainer.validate(module, datamodule=datamodule, verbose=False)
        path = Path(best.dirpath) / f"{best.filename}{best.FILE_EXTENSION}"
        trainer.save_checkpoint(path)
        best.best_model_path = str(path)
    return Path(best.best_model_path) if best.best_model_path else None


def evaluated_splits(cfg: DictConfig, data: SplitData) -> list[str]:
    """``evaluation.splits``, and the export's own test split when training on its splits."""
    splits = list(cfg.evaluation.splits)
    if data.mode == "given" and "test" in data.split_names and "test" not in splits:
        splits.append("test")
    return splits


def build_datamodule(cfg: DictConfig) -> DetectionDataModule:
    """The data module, loaded; records the data's classes in ``cfg.data`` for the model, and
    settles the values that follow the training split: the default boxes' sizes
    (`settle_object_sizes`) and the epochs (`settle_epochs`)."""
    datamodule = instantiate(cfg.data.module)
    names = datamodule.data.class_names
    with open_dict(cfg):
        cfg.data.class_names = names
        cfg.data.num_classes = len(names)
    train_set = datamodule.data.subset("train")
    settle_object_sizes(cfg, train_set)
    settle_epochs(cfg, len(train_set))
    return datamodule


def settle_epochs(cfg: DictConfig, train_images: int) -> None:
    """``trainer.max_epochs=auto`` becomes `epochs_for` the training split (no epoch limit
    under ``trainer.max_steps``), recorded in ``cfg``; one line says so when it is above the
    quick start's 4."""
    if cfg.trainer.get("max_epochs") != "auto":
        return
    by_steps = cfg.trainer.get("max_steps", -1) not in (None, -1)
    epochs = None if by_steps else epochs_for(train_images)
    with open_dict(cfg):
        cfg.trainer.max_epochs = epochs
    if epochs is not None and epochs > MIN_EPOCHS and rank_zero_only.rank == 0:
        log.info(
            f"{epochs} epochs of {train_images} training images (trainer.max_epochs=auto: at least "
            f"{IMAGES_SEEN} images seen; trainer.max_epochs=<n> sets it)"
        )


def build_module(cfg: DictConfig) -> DetectionModule:
    """The LightningModule: the configured detector, initialised as ``init`` says, and its training."""
    _check_optimizer_values(cfg.optimizer)
    finetune = instantiate_options(cfg.finetune)  # an impossible value fails before the model is built
    if finetune.unfreeze_epoch is not None:
        check_single_process(
            cfg.trainer,
            "finetune.unfreeze_epoch releases the backbone mid-run, which DDP cannot "
            "follow (it fixes the synchronised parameters at the start); freeze it for the whole run",
        )
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    parts = {"model": build_model(cfg), "optimizer": instantiate(cfg.optimizer), "scheduler": scheduler}
    return instantiate_options(cfg.module, finetune=finetune, **parts)


def instantiate_options(node: DictConfig, **arguments: Any) -> Any:
    """``instantiate(node, **arguments)``, a bad option raising its own `DetkitError` (which
    names the key and the fix) rather than Hydra's wrapper around it."""
    try:
        return instantiate(node, **arguments)
    except InstantiationException as error:
        raise user_error_behind(error) or error from None


def build_model(cfg: DictConfig) -> nn.Module:
    """The configured detector for the data's classes, from torchvision weights (``model.weights``)
    and then ``init.checkpoint`` (not when resuming: the run's own checkpoint follows), carrying
    over the shared classes' rows (by name, or ``init.class_map``: data class -> theirs)."""
    class_names = list(cfg.data.class_names)
    class_map = dict(OmegaConf.select(cfg, "init.class_map", default=None) or {})
    checkpoint = OmegaConf.select(cfg, "init.checkpoint", default=None)
    if class_map and not checkpoint and not cfg.model.get("weights"):
        raise ConfigError(
            f"init.class_map={class_map} maps classes of initial weights, but none are given: "
            "add init.checkpoint=<run or .ckpt> or model.weights=<torchvision weights>"
        )
    model = instantiate(cfg.model, class_names=class_names, class_map=class_map)
    if checkpoint and not cfg.get("resume"):
        initialise_from_checkpoint(model, checkpoint, class_names, class_map)
    return model


def check_partial_label_support(train_set: DetectionDataset, module: DetectionModule) -> None:
    """Refuse to train a detector whose loss would read unlabelled classes as background."""
    if module.partial_labels_loss == "naive" or family_of(module.model).partial_labels:
        return
    num_classes = len(train_set.class_names)
    partial = [r.image_id for r in train_set.records if r.annotated is not None and len(r.annotated) < num_classes]
    if partial:
        supported = " or ".join(f"model={name}" for name in partial_label_detectors())
        raise ConfigError(
            f"{len(partial)} training images are labelled for only some classes (e.g. image ids {partial[:5]}), "
            f"and {type(module.model).__name__} scores classes with one softmax, so it would learn the unlabelled "
            f"ones as background. Use a detector whose loss leaves them out ({supported}), "
            "or train as if unlabelled meant absent with loss.partial_labels=naive"
        )


def build_trainer(cfg: DictConfig, run_dir: Path) -> L.Trainer:
    """The configured Trainer with detkit's logger and callbacks, writing into ``run_dir``."""
    _check_trainer_values(cfg.trainer)
    silence_known_noise()
    loggers = run_loggers(cfg.get("logger"), run_dir)
    bar = cfg.trainer.get("enable_progress_bar", True) is not False and progress_wanted()  # and not progress=false
    callbacks = [
        checkpoints(run_dir, filename=layout.LAYOUT.best, monitor=MONITOR, mode="max"),
        # Since Lightning 2.6, save_last writes last.ckpt only when a new best is saved; resuming
        # needs the latest epoch, so a second callback without a monitor writes it every epoch.
        checkpoints(run_dir, filename=layout.LAYOUT.last, enable_version_counter=False),
        RandomStateCheckpoint(),
        SameConfigEverywhere(cfg),
        *(instantiate(callback) for callback in (cfg.get("callbacks") or {}).values() if callback is not None),
        *([progress_bar()] if bar else []),
        *([SummaryWithoutFlops()] if cfg.trainer.get("enable_model_summary", True) is not False else []),
    ]
    trainer = instantiate_trainer(
        cfg.trainer,
        logger=loggers,
        callbacks=callbacks,
        default_root_dir=str(run_dir),
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=bar,
    )
    if isinstance(trainer.accelerator, CPUAccelerator) and not THREADS_SET_BY_ENVIRONMENT:
        torch.set_num_threads(training_threads(trainer.num_devices))
    return trainer


def checkpoints(run_dir: Path, **options: Any) -> ModelCheckpoint:
    """Lightning's checkpoint callback writing ``options["filename"]`` into the run's checkpoints folder."""
    callback = ModelCheckpoint(dirpath=layout.checkpoints_dir(run_dir), **options)
    callback.FILE_EXTENSION = layout.LAYOUT.checkpoint_suffix
    return callback


def child_config(cfg: DictConfig, run_dir: Path, updates: dict[str, Any] | None = None) -> DictConfig:
    """A copy of ``cfg`` for one run of a comparison: written to ``run_dir``, with ``updates``
    (dotted keys, e.g. ``{"init.checkpoint": None}``) applied."""
    run_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    run_cfg.paths.output_dir = str(run_dir)
    for key, value in (updates or {}).items():
        OmegaConf.update(run_cfg, key, value, force_add=True)
    return run_cfg


def effective_batch_size(trainer: L.Trainer, batch_size: int) -> int:
    """Images per optimiser step: the per-process batch x processes (devices x nodes) x accumulation."""
    return batch_size * trainer.world_size * trainer.accumulate_grad_batches


@rank_zero_only
def report_batch_size(trainer: L.Trainer, batch_size: int, lr: float | None) -> None:
    """Say the effective batch size and the learning rate used with it (detkit never rescales it)."""
    effective = effective_batch_size(trainer, batch_size)
    log.info(
        "effective batch size %d = %d per process x %d processes x %d accumulated (processes: %d node(s) x %d "
        "device(s)); optimizer.lr %s as given (linear scaling rule: with a k-times larger effective batch, try "
        "k-times the lr with a longer warm-up)",
        effective,
        batch_size,
        trainer.world_size,
        trainer.accumulate_grad_batches,
        trainer.num_nodes,
        trainer.num_devices,
        lr,
    )


def check_single_process(trainer_cfg: DictConfig, why: str) -> None:
    """Refuse a multi-process trainer for a tool that trains several models in one process."""
    strategy, devices = str(trainer_cfg.get("strategy", "")), trainer_cfg.get("devices", 1)
    if "ddp" in strategy or (isinstance(devices, int) and devices > 1):
        raise ConfigError(
            f"{why}; use a single-device trainer (trainer=default or trainer=gpu), "
            f"not devices={devices} strategy={strategy}"
        )


def _check_optimizer_values(optimizer_cfg: DictConfig) -> None:
    """The optimiser's numbers, checked before torch would raise mid-start: lr > 0, weight decay
    >= 0, momentum in [0, 1)."""
    ranges = {
        "lr": ("> 0.0", lambda v: v > 0),
        "weight_decay": (">= 0.0", lambda v: v >= 0),
        "momentum": ("in [0.0, 1.0)", lambda v: 0 <= v < 1),
    }
    for key, (bound, within) in ranges.items():
        value = optimizer_cfg.get(key)
        if value is not None and not (is_number(value) and within(value)):
            raise ConfigError(f"optimizer.{key} must be a number {bound}, got {value!r}")


def _check_trainer_values(trainer_cfg: DictConfig) -> None:
    for key in ("max_epochs", "check_val_every_n_epoch", "log_every_n_steps"):
        value = trainer_cfg.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ConfigError(f"trainer.{key} must be a whole number >= 1, got {value!r}")


@rank_zero_only
def save_config(cfg: DictConfig, run_dir: Path) -> None:
    """The resolved config, all a later command needs to rebuild this run."""
    write_text_atomic(layout.config_file(run_dir), OmegaConf.to_yaml(cfg, resolve=True))


def resumed_config(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """The config a resumed run continues with: the one it saved, with this command line's value
    overrides (e.g. ``trainer.max_epochs=12``) on top. ``cfg`` itself when not resuming."""
    if not cfg.get("resume"):
        return cfg
    if cfg.resume == NEWEST_RUN:  # the run directory resolved to the newest run (`detkit.workflows.cli.run_dir`)
        cfg.resume = cfg.paths.output_dir
        if resumable(cfg.resume) is None:
            raise ConfigError(
                f"resume=last: no run under {Path(cfg.resume).parent} to continue (one with checkpoints/last.ckpt, "
                "or stopped in its first epoch); pass resume=<run dir>, or name=<the run's name> (experiments "
                "name their runs)"
            )
    values = [o for o in overrides if not o.lstrip("+~").startswith(("resume=", "hydra."))]
    switches = [o for o in values if o.lstrip("+~").split("=")[0] in CONFIG_GROUPS]
    if switches:
        raise ConfigError(
            f"resume keeps the run's config groups; drop {switches} (values such as trainer.max_epochs=12 may change)"
        )
    changed = OmegaConf.from_dotlist([o.lstrip("+~") for o in values])
    saved = saved_config(cfg.resume)  # train() reads the checkpoint
    merged = OmegaConf.merge(saved, changed)
    merged = moved_run_paths(merged, str(saved.paths.output_dir), str(cfg.paths.output_dir))
    merged.paths = cfg.paths  # where the run is now, not where its config says it was (a copied run)
    check_epochs_left(merged, Path(cfg.resume))
    for key in ("module", "callbacks"):  # runs saved before these were configs continue with today's
        if key not in merged:
            merged[key] = cfg[key]
    if "_target_" not in merged.finetune:
        merged.finetune._target_ = cfg.finetune._target_
    merged.resume = cfg.resume
    return merged


def check_epochs_left(cfg: DictConfig, run: Path) -> None:
    """Refuse, before the run's config is written again, a resume whose ``trainer.max_epochs`` is
    below the epochs the run has trained (Lightning would fail on it, every later resume too)."""
    last = layout.last_checkpoint(run)
    if not last.is_file():
        return  # interrupted before its first epoch ended
    done = torch.load(last, map_location="cpu", weights_only=True, mmap=True).get("epoch", 0) + 1
    wanted = cfg.trainer.get("max_epochs")
    if isinstance(wanted, int) and wanted < done:
        raise ConfigError(
            f"resume={run}: the run has trained {done} epochs, more than trainer.max_epochs={wanted}; "
            f"pass trainer.max_epochs={done} or more (its checkpoints and config are left as they are)"
        )


def evaluate_splits(
    trainer: L.Trainer,
    module: DetectionModule,
    datamodule: DetectionDataModule,
    splits: list[str],
    ckpt_path: str | None,
) -> dict[str, dict[str, float]]:
    """COCO metrics of the module (loaded from ``ckpt_path``; ``None``: as it is) on each split,
    logged as ``<split>/*``."""
    names = datamodule.data.split_names
    if unknown := [s for s in splits if s not in names]:
        raise ConfigError(f"evaluation.splits {unknown} not in the data's splits {names}")
    results = {}
    for split in splits:
        if split == "dev" and (scored := dev_metrics_of(trainer, module, ckpt_path)) is not None:
            results[split] = scored
            continue
        datamodule.test_split = split
        trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False, weights_only=True)
        results[split] = dict(module.last_metrics)
    return results


def dev_metrics_of(trainer: L.Trainer, module: DetectionModule, ckpt_path: str | None) -> dict[str, float] | None:
    """The metrics the last validation gave, when it scored the whole dev split with the weights
    ``ckpt_path`` holds (saved at its step, no step since): scoring them again would repeat them.
    Else None. (The quick start's best checkpoint is usually its last epoch's: this saves a pass.)"""
    if module.validated is None or ckpt_path is None or trainer.global_step != module.validated[0]:
        return None
    limit = trainer.limit_val_batches
    if not (isinstance(limit, float) and limit == 1.0):  # an int is a number of batches
        return None
    saved = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)["global_step"]
    return dict(module.validated[1]) if saved == module.validated[0] else None


def _write_results(
    trainer: L.Trainer, cfg: DictConfig, run_dir: Path, metrics: dict[str, dict[str, float]], split_mode: str
) -> None:
    """``metrics.json`` (each split's metrics, and ``splits``: given, resplit or manifests), the
    config and final metrics to every logger (TensorBoard: as hyperparameters with their
    metrics), and to MLflow the run's config.yaml and metrics.json as artifacts."""
    if not trainer.is_global_zero:
        return
    written = write_json_atomic(layout.metrics_file(run_dir), {**metrics, "splits": split_mode})
    final = {f"final/{split}_{k}": v for split, values in metrics.items() for k, v in values.items() if "/" not in k}
    hparams = OmegaConf.to_container(cfg, resolve=True)
    hparams["effective_batch_size"] = effective_batch_size(trainer, cfg.data.module.batch_size)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(hparams, metrics=final)
        else:
            logger.log_hyperparams(hparams)
            logger.log_metrics(final, step=trainer.global_step)
        if isinstance(logger, MLFlowLogger):
            for artifact in (layout.config_file(run_dir), written):
                logger.experiment.log_artifact(logger.run_id, str(artifact))
        logger.save()
