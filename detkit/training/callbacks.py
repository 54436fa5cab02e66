"""Callbacks: dev images with ground truth and predictions drawn, logged to TensorBoard; every
process of a launch checked to run the same config."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelSummary, ProgressBar, RichProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.model_summary import log as summary_log
from lightning.pytorch.callbacks.progress.rich_progress import _RICH_AVAILABLE
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table
from omegaconf import DictConfig, OmegaConf
from torch.nn import functional as F
from torchvision.utils import draw_bounding_boxes, make_grid

from detkit.analysis.grids import same_size
from detkit.data.splits.seeded import dataset_fingerprint
from detkit.exceptions import ConfigError
from detkit.training.datamodule import DetectionDataModule


def progress_bar() -> ProgressBar:
    """Lightning's own progress bar (rich's when it is installed, as Lightning chooses), without
    ``v_num``: the logger's version, which for detkit's TensorBoard folder is the last four
    letters of ``tensorboard``."""
    base = RichProgressBar if _RICH_AVAILABLE else TQDMProgressBar

    class WithoutVersion(base):
        def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
            return {k: v for k, v in super().get_metrics(trainer, pl_module).items() if k != "v_num"}

        if base is RichProgressBar:  # tqdm's bar names no epoch budget

            def _get_train_description(self, current_epoch: int) -> str:
                """Rich's ``Epoch n/<max_epochs - 1>``, or under ``trainer.max_steps`` (where Lightning
                sets max_epochs to -1, which rich would show as ``Epoch 1/-2``) ``Epoch n, steps ≤ m``."""
                if self.trainer.max_epochs is not None and self.trainer.max_epochs < 0:
                    return f"Epoch {current_epoch}, steps ≤ {self.trainer.max_steps}"
                return super()._get_train_description(current_epoch)

    return WithoutVersion()


class SummaryWithoutFlops(ModelSummary):
    """Lightning's model summary without its FLOPs: Lightning counts them by running an
    ``example_input_array``, which a detector (a list of images of any size) has not, and prints
    0. Counting them for one image at the input size would take a forward pass at every start
    (18 s for Faster R-CNN ResNet-50 at 800 px on one CPU thread); no figure beats a wrong one."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        columns = [column for column in summary_data if column[0] != "FLOPs"]
        table = _format_summary_table(
            total_parameters, trainable_parameters, model_size, total_training_modes, total_flops, *columns
        )
        summary_log.info("\n" + table.rsplit("\n", 1)[0])  # its last line is the total FLOPs


DRAWN_SIDE = 640  # px: dev images are drawn shrunk to this longer side


class DevImageLogger(L.Callback):
    """Every ``every_n_epochs`` (and on the last epoch), draw the first ``num_images`` dev
    images, shrunk to ``DRAWN_SIDE``: ground truth in green, predictions scoring at least
    ``score_threshold`` in red.
    ``drawing_seconds``: the time spent drawing and logging them (`detkit.training.phase_times`)."""

    def __init__(self, every_n_epochs: int = 5, num_images: int = 4, score_threshold: float = 0.5):
        self.every_n_epochs = every_n_epochs
        self.num_images = num_images
        self.score_threshold = score_threshold
        self.drawing_seconds = 0.0

    def _due(self, trainer: L.Trainer) -> bool:
        if trainer.sanity_checking or not trainer.is_global_zero or self.every_n_epochs <= 0:
            return False
        epoch = trainer.current_epoch + 1
        return epoch % self.every_n_epochs == 0 or epoch == trainer.max_epochs

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx != 0 or not self._due(trainer) or not isinstance(trainer.logger, TensorBoardLogger):
            return
        started = time.perf_counter()
        names = trainer.datamodule.data.class_names
        images, targets = batch
        drawn = [
            self._draw(image, target, prediction, names)
            for image, target, prediction in zip(images[: self.num_images], targets, outputs)
        ]
        grid = make_grid(same_size(drawn), nrow=min(len(drawn), 4))  # real datasets mix image sizes
        trainer.logger.experiment.add_image(f"{pl_module.eval_split}/images", grid, trainer.global_step)
        self.drawing_seconds += time.perf_counter() - started

    def _draw(
        self, image: torch.Tensor, target: dict, prediction: dict[str, np.ndarray], names: list[str]
    ) -> torch.Tensor:
        image = image.detach().cpu()
        scale = min(1.0, DRAWN_SIDE / max(image.shape[-2:]))  # a phone photo drawn whole costs seconds
        if scale < 1.0:
            size = [round(side * scale) for side in image.shape[-2:]]
            image = F.interpolate(image[None], size=size, mode="bilinear", antialias=True)[0]
        pixels = (image.clamp(0, 1) * 255).to(torch.uint8)
        truth = [names[int(i)] for i in target["labels"]]
        pixels = _draw_boxes(pixels, target["boxes"].cpu() * scale, truth, "lime", 2)
        keep = prediction["scores"] >= self.score_threshold
        boxes = torch.as_tensor(prediction["boxes"][keep]) * scale
        labels = [f"{names[int(c)]} {s:.2f}" for c, s in zip(prediction["labels"][keep], prediction["scores"][keep])]
        return _draw_boxes(pixels, boxes, labels, "red", 1)


def _draw_boxes(pixels: torch.Tensor, boxes: torch.Tensor, labels: list[str], colour: str, width: int) -> torch.Tensor:
    """``pixels`` with ``boxes`` drawn; as they are when there are none (torchvision would warn)."""
    if len(boxes) == 0:
        return pixels
    return draw_bounding_boxes(pixels, boxes, labels=labels, colors=colour, width=width)


DATA_KEY = "the data read (fingerprint of its records)"


class SameConfigEverywhere(L.Callback):
    """Stop every process of a launch, with the keys that differ, when they were not all given
    the same config (a node with an older checkout, another command line) or did not read the
    same data with it (another copy of the data folder): each would otherwise train its share
    of a different run, or wait forever at a collective whose shapes differ. Compared when the
    processes first meet, before any step."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg  # resolved when compared: the data module fills in keys (num_classes) first

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.world_size == 1 or stage != "fit":  # once a run: the test stages after fit meet the same
            return
        mine = _flat(OmegaConf.to_container(self.cfg, resolve=True))
        datamodule = trainer.datamodule
        if isinstance(datamodule, DetectionDataModule):  # the same config can read other files on another node
            mine[DATA_KEY] = dataset_fingerprint(datamodule.data.dataset)
        first = trainer.strategy.broadcast(mine, src=0)
        differ = sorted(key for key in first.keys() | mine.keys() if first.get(key) != mine.get(key))
        if trainer.strategy.reduce_boolean_decision(bool(differ), all=False):
            shown = ", ".join(f"{k}={mine.get(k)!r} (process 0: {first.get(k)!r})" for k in differ[:5])
            which = f"process {trainer.global_rank} has {shown}" if differ else "another's differs (its log says)"
            raise ConfigError(
                f"the processes of this launch were given different configs: {which}; start every node with the "
                "same command line and checkout"
            )


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b": value}`` for a nested config."""
    if not (isinstance(tree, dict) and tree):
        return {prefix: tree}
    return {
        key: value
        for name, child in tree.items()
        for key, value in _flat(child, f"{prefix}.{name}" if prefix else str(name)).items()
    }
