"""The one way a finished detector predicts (evaluate, errors, diagnose and its learning curve,
the comparisons, predict): a model and a loader of ``(images, targets)`` in, its detections by
image id out, run by a Lightning Trainer. Under DDP each process predicts the share its
DistributedSampler gives it and the shares are gathered, each image once (the sampler's
repeats dropped); every process receives all of them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import lightning as L
import torch
from torch import nn

from detkit.evaluation.gather import gather_by_image
from detkit.models.inference import Detections, Sink, detect, torch_device
from detkit.progress import progress_bar
from detkit.training.quiet import silence_known_noise
from detkit.training.trainers import instantiate_trainer


class Predictor(L.LightningModule):
    """``model`` under ``trainer.predict``: keeps each image's detections (or, with ``sink``,
    hands each batch's to it and keeps none) and the seconds the forward passes took (with
    ``warm_up``, the first batch first runs once untimed, so that lazy set-up is not counted)."""

    def __init__(self, model: nn.Module, warm_up: bool = False, sink: Sink | None = None) -> None:
        super().__init__()
        self.model = model
        self.warm_up = warm_up
        self.sink = sink
        self.detections: dict[int, Detections] = {}
        self.forward_seconds = 0.0
        self._local: dict[int, Detections] = {}
        self._warm = False

    def on_predict_epoch_start(self) -> None:
        self._local, self.forward_seconds, self._warm = {}, 0.0, not self.warm_up
        sampler = getattr(self.trainer.predict_dataloaders, "sampler", None)  # this process's share
        total = len(sampler) if sampler is not None and hasattr(sampler, "__len__") else None
        self._bar = progress_bar(total, "predicting", here=self.trainer.is_global_zero)

    def predict_step(self, batch: tuple[list[torch.Tensor], list[dict[str, Any]]], batch_idx: int) -> None:
        images, targets = batch
        if not self._warm:
            self.model(images)
            self._warm = True
        started = time.perf_counter()
        found = detect(self.model, images)  # ends on the host: the device has finished
        self.forward_seconds += time.perf_counter() - started
        self._bar.update(len(images))
        by_image = dict(zip((int(target["image_id"]) for target in targets), found))
        if self.sink is None:
            self._local.update(by_image)
        else:
            self.sink(by_image)

    def on_predict_epoch_end(self) -> None:
        self._bar.close()
        self.detections, self._local = gather_by_image(self._local), {}


def predict_detections(
    model: nn.Module, loader: Iterable, trainer: L.Trainer, warm_up: bool = False, sink: Sink | None = None
) -> tuple[dict[int, Detections], float]:
    """``model``'s detections of every image ``loader`` yields, by image id, on every process,
    and the seconds this process's forward passes took. With ``sink`` (one process), each
    batch's detections go to it as they come and none are returned: memory stays flat."""
    predictor = Predictor(model, warm_up, sink)
    trainer.predict(predictor, dataloaders=loader, return_predictions=False)
    return predictor.detections, predictor.forward_seconds


def predicting_trainer(trainer_cfg: Mapping[str, Any]) -> L.Trainer:
    """The Trainer of a tool's ``trainer`` config, for predicting only (no logger, callbacks or
    checkpoints): ``trainer=ddp_cpu`` or ``ddp`` shares the images among processes."""
    silence_known_noise()
    return instantiate_trainer(trainer_cfg, logger=False, callbacks=[], enable_checkpointing=False)


def device_trainer(device: str) -> L.Trainer:
    """A one-process, quiet Trainer on ``device``: ``cpu``, ``cuda``, ``cuda:<index>`` or
    ``auto`` (cuda when available)."""
    target = torch_device(device)
    silence_known_noise()
    return L.Trainer(
        accelerator="gpu" if target.type == "cuda" else "cpu",
        devices=[target.index] if target.index is not None else 1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
