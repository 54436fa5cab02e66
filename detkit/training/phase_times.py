"""Where a run's wall time goes, phase by phase: an optional callback
(``+callbacks.phase_times={_target_: detkit.training.phase_times.PhaseTimes}``) that writes
``<run>/phase_times.json``. `benchmarks/first_detector.py` prints it as the quick start's budget."""

from __future__ import annotations

import time
from typing import Any

import lightning as L

from detkit.files import write_json_atomic
from detkit.runs import layout
from detkit.training.callbacks import DevImageLogger


class PhaseTimes(L.Callback):
    """Seconds in training epochs, the sanity check, validation (dev images drawn included, and
    also given alone), and the final scoring (`trainer.test` passes); ``started`` is the wall
    clock (``time.time()``) when the Trainer first set up, so that a caller can add what came
    before (imports, data, model)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started: float | None = None
        self._opened: dict[str, float] = {}
        self._resume_training = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.started = self.started or time.time()

    def _open(self, phase: str) -> None:
        self._opened[phase] = time.perf_counter()

    def _close(self, phase: str) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - self._opened.pop(phase)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._open("training")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close("training")

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if "training" in self._opened:  # validation runs inside the epoch: not counted as training
            self._close("training")
            self._resume_training = True
        self._open("sanity check" if trainer.sanity_checking else "validation")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close("sanity check" if trainer.sanity_checking else "validation")
        if self._resume_training:
            self._open("training")
            self._resume_training = False

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._open("final scoring")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close("final scoring")
        self._write(trainer)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer)

    def _write(self, trainer: L.Trainer) -> None:
        if not trainer.is_global_zero:
            return
        drawing = sum(c.drawing_seconds for c in trainer.callbacks if isinstance(c, DevImageLogger))
        report: dict[str, Any] = {"started": self.started, "seconds": {**self.seconds, "dev images drawn": drawing}}
        write_json_atomic(layout.report_file(trainer.default_root_dir, "phase_times", ".json"), report)
