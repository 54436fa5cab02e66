"""An exponential moving average (EMA) of the weights: Lightning's `EMAWeightAveraging`, with
the decay ramped up from 0 over the first updates and its checkpoint read only when training.

Lightning's callback keeps the average in an ``AveragedModel``, swaps it in for every
validation (so dev metrics, the best checkpoint's choice and the dev images are the average's),
writes it as the checkpoint's ``state_dict`` (the raw weights under ``current_model_state``,
so resuming continues both) and leaves it in the model when training ends. Everything that
reads a checkpoint's ``state_dict`` (evaluation, export, predict, fine-tuning from a run) thus
reads the average."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor

from detkit.exceptions import ConfigError


def ramped_ema(decay: float, ramp_updates: float):
    """The averaging step of an EMA whose decay grows as ``decay * (1 - exp(-n / ramp_updates))``
    with the ``n`` updates averaged so far (YOLOX's and timm's schedule): early weights, far from
    the trained ones, fade within the first ``ramp_updates`` instead of weighing on a short run.
    torch's `get_ema_avg_fn` has a fixed decay only. Tensor arithmetic throughout: no host sync
    per parameter on a GPU."""

    def average(averaged: Tensor, current: Tensor, num_averaged: Tensor) -> Tensor:
        weight = decay * (1.0 - torch.exp(-num_averaged.to(torch.float32) / ramp_updates))
        return torch.lerp(current, averaged, weight.to(averaged.dtype)) if averaged.is_floating_point() else current

    return average


class WeightEMA(EMAWeightAveraging):
    """Lightning's EMA callback with a ramped decay (`ramped_ema`): ``decay`` per optimizer step
    once ramped, ``ramp_updates`` updates to ramp; updated every ``update_every_n_steps`` steps.

    Lightning's callback reloads a checkpoint's raw weights into the model whenever it holds an
    average, in every stage; after training, ``trainer.test(ckpt_path=...)`` (how detkit scores
    its best checkpoint) would then score the raw weights instead of the average. Here a
    checkpoint's averaging state is read back only when fitting (resuming)."""

    def __init__(self, decay: float = 0.999, ramp_updates: float = 200.0, update_every_n_steps: int = 1) -> None:
        if not 0.0 <= decay < 1.0 or ramp_updates <= 0:
            raise ConfigError(f"callbacks.ema: need 0 <= decay < 1 and ramp_updates > 0, got {decay=}, {ramp_updates=}")
        super().__init__(decay=decay, update_every_n_steps=update_every_n_steps)
        self._kwargs["avg_fn"] = ramped_ema(decay, ramp_updates)  # what setup() builds the AveragedModel with

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
