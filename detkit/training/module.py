"""The LightningModule: one training step, predictions for evaluation, COCO metrics per epoch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from detkit.data.formats.coco import predictions_to_array
from detkit.evaluation.coco import DEFAULT_BACKEND, check_evaluation_options, evaluate_coco
from detkit.evaluation.gather import broadcast_from_zero, gather_by_image
from detkit.exceptions import ConfigError, TrainingError
from detkit.models.detectors import to_model_target
from detkit.models.finetune import NO_FINETUNING, BackboneFreeze, Finetune, parameter_groups
from detkit.models.inference import detect
from detkit.runs import layout
from detkit.runs.checkpoints import CHECKPOINT_CLASSES

PARTIAL_LABELS_LOSSES = ("masked", "gated", "naive")
Batch = tuple[list[torch.Tensor], list[dict[str, Any]]]


class DetectionModule(L.LightningModule):
    """Trains a torchvision detector and scores it with the COCO evaluator.

    ``optimizer`` is called with the parameters, ``scheduler`` (optional) with the optimizer
    and ``total_steps``; both come from config as ``_partial_`` objects. Evaluation runs in
    eval mode only (predictions, never losses) and logs ``<split>/<metric>``, where the split
    is ``eval_split``: "dev" while fitting, the data module's ``test_split`` under ``trainer.test``.
    ``partial_labels`` is how the evaluator treats partially labelled images ("lvis" or "naive"),
    ``partial_labels_loss`` how the loss does: "masked" (an unlabelled class gives no negative
    signal; RetinaNet and FCOS), "gated" (none where the model scores it at least
    ``partial_labels_gate``, background elsewhere) or "naive" (unlabelled = background).
    ``finetune`` says what trains (`detkit.models.finetune`); a backbone to be frozen stops
    asking for gradients here, before a DDP wrapper decides which parameters it synchronises.
    Checkpoints record the data's class names, so another run can start from them.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        evaluation_backend: str = DEFAULT_BACKEND,
        partial_labels: str = "lvis",
        partial_labels_loss: str = "gated",
        partial_labels_gate: float = 0.5,
        finetune: Finetune | None = None,
    ):
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        check_evaluation_options(evaluation_backend, partial_labels)
        self.evaluation_backend = evaluation_backend
        self.partial_labels = partial_labels
        if partial_labels_loss not in PARTIAL_LABELS_LOSSES:
            raise ConfigError(f"loss.partial_labels={partial_labels_loss!r}; choose one of {PARTIAL_LABELS_LOSSES}")
        self.partial_labels_loss = partial_labels_loss
        if not 0.0 < partial_labels_gate < 1.0:
            raise ConfigError(f"loss.partial_labels_gate must be a score in (0, 1), got {partial_labels_gate}")
        self.partial_labels_gate = partial_labels_gate
        self.finetune = finetune or NO_FINETUNING
        self.backbone_freeze = BackboneFreeze.of(model) if self.finetune.freeze == "backbone" else None
        if self.backbone_freeze is not None:
            self.backbone_freeze.apply(frozen=True, norms=False)  # norms follow when training starts
        self.eval_split = "dev"
        self.last_metrics: dict[str, float] = {}
        self.validated: tuple[int, dict[str, float]] | None = None  # the latest dev pass: its step, its metrics
        self._predictions: dict[int, dict[str, np.ndarray]] = {}

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The detector's named loss terms on a batch (the model must be in train mode)."""
        images, targets = batch
        masked = self.partial_labels_loss != "naive"
        gate = self.partial_labels_gate if self.partial_labels_loss == "gated" else None
        model_targets = [to_model_target(t, partial_labels=masked, gate=gate) for t in targets]
        return self.model(images, model_targets)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        images = batch[0]
        losses = self.loss_terms(batch)
        loss = sum(losses.values())
        self._stop_if_not_finite(loss, losses, batch)
        logged = {f"train/{name}": value.detach() for name, value in losses.items()}
        self.log_dict({**logged, "train/loss": loss.detach()}, batch_size=len(images), prog_bar=False)
        self.log("loss", loss.detach(), prog_bar=True, logger=False, batch_size=len(images))
        return loss

    def _stop_if_not_finite(self, loss: torch.Tensor, losses: dict[str, torch.Tensor], batch: Batch) -> None:
        """Stop before the update when any rank's loss is NaN or infinite: the weights and the
        checkpoints on disk are still the last good ones."""
        bad = not bool(torch.isfinite(loss.detach()))
        if not self.trainer.strategy.reduce_boolean_decision(bad, all=False):  # any rank: all stop together
            return
        terms = ", ".join(f"{name}={value.item():.4g}" for name, value in losses.items())
        images = [int(target["image_id"]) for target in batch[1]]
        folder = Path(self.trainer.checkpoint_callback.dirpath) if self.trainer.checkpoint_callback else None
        last = layout.last_checkpoint(folder.parent) if folder is not None else None
        if last is not None and last.is_file():
            kept = f"the last good checkpoints are in {folder} (resume=<run dir> continues from {last.name})"
        else:
            kept = "no checkpoint was written yet (it happened in the first epoch)"
        raise TrainingError(
            f"non-finite training loss at step {self.global_step} (epoch {self.current_epoch})"
            + (f": {terms}, images {images}" if bad else " on another process")
            + f". Stopped before updating; {kept}. Lower optimizer.lr, keep trainer.gradient_clip_val, "
            "or check those images' boxes"
        )

    def predict_batch(self, batch: Batch) -> list[dict[str, np.ndarray]]:
        """Detections per image (`detkit.models.inference.detect`)."""
        return detect(self.model, batch[0])

    def validation_step(self, batch: Batch, batch_idx: int) -> list[dict[str, np.ndarray]]:
        predictions = self.predict_batch(batch)
        for target, prediction in zip(batch[1], predictions):
            self._predictions[int(target["image_id"])] = prediction
        return predictions

    test_step = validation_step

    def on_validation_epoch_start(self) -> None:
        self.eval_split = "dev"
        self._predictions = {}

    def on_test_epoch_start(self) -> None:
        self.eval_split = self.trainer.datamodule.test_split
        self._predictions = {}

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._predictions = {}
            return
        self.last_metrics = self.score_predictions()
        logged = {f"{self.eval_split}/{k}": v for k, v in self.last_metrics.items()}
        self.log_dict(logged, sync_dist=False, rank_zero_only=False)
        if self.trainer.validating:
            self.validated = (self.trainer.global_step, dict(self.last_metrics))

    on_test_epoch_end = on_validation_epoch_end

    def score_predictions(self) -> dict[str, float]:
        """COCO metrics of this epoch's predictions, gathered from all ranks, each image once."""
        predictions = gather_by_image(self._predictions)
        self._predictions = {}
        metrics = None
        if self.trainer.is_global_zero:
            datamodule = self.trainer.datamodule
            ground_truth = datamodule.data.ground_truth(self.eval_split)
            results = predictions_to_array(predictions, datamodule.data.category_ids)
            metrics = evaluate_coco(ground_truth, results, self.evaluation_backend, self.partial_labels)
        return broadcast_from_zero(metrics)

    def on_train_start(self) -> None:
        self._freeze_backbone()

    def on_train_epoch_start(self) -> None:
        self._freeze_backbone()

    def _freeze_backbone(self) -> None:
        if self.backbone_freeze is not None:
            self.backbone_freeze.apply(self.finetune.frozen_at(self.current_epoch))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        if datamodule is not None:
            checkpoint[CHECKPOINT_CLASSES] = datamodule.data.class_names

    def configure_optimizers(self) -> dict[str, Any]:
        released_later = self.backbone_freeze.parameters if self.backbone_freeze is not None else []
        optimizer = self.optimizer_factory(
            parameter_groups(self.model, self.finetune.backbone_lr_multiplier, include=released_later)
        )
        for group in optimizer.param_groups:
            group["lr"] *= group["lr_scale"]
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_factory(optimizer, total_steps=int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
