"""detkit's training loop against the plain torchvision loop, in the same run, on the same batches.

    python benchmarks/train_step.py [--steps 30] [--batch-size 8]

Both train the default detector (SSDlite, 320 px, from scratch) on the shapes data for the
same number of steps; the ratio is detkit's images/s over the plain loop's (1.0 = no overhead
from Lightning, logging and augmentation). `gpu_check.py` runs the same two loops on a GPU, at
each precision, with other detectors and sizes (`StepSetup`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

import lightning as L
import torch
from torch import nn

from detkit.data.loaders import LoaderOptions
from detkit.data.shapes import ShapesParams, ensure_shapes
from detkit.models import build_detector
from detkit.models.detectors import to_model_labels
from detkit.training.module import DetectionModule

AUTOCAST = {"32-true": None, "16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}  # Lightning's names


@dataclass(frozen=True)
class StepSetup:
    """What a training step runs: the detector, its input size, the device and precision
    (Lightning's names), and the two layout options measured on GPUs."""

    model: str = "ssdlite320_mobilenet_v3_large"
    image_size: int = 320
    device: str = "cpu"
    precision: str = "32-true"
    channels_last: bool = False
    compile_backbone: bool = False  # torch.compile on the backbone (the heads' control flow depends on the data)
    compile_backend: str = "inductor"  # torch.compile's; "eager" checks the plumbing without compiling

    def build(self, num_classes: int) -> nn.Module:
        """The detector from scratch, seeded, in train mode on the device."""
        torch.manual_seed(0)
        model = build_detector(
            self.model, num_classes, self.image_size, batch_norm_momentum=0.1, channels_last=self.channels_last
        )
        if self.compile_backbone:
            model.backbone = torch.compile(model.backbone, backend=self.compile_backend)
        return model.to(self.device).train()


def synchronize(device: str) -> None:
    """Wait for the device's queued work, so that a clock read after it counts it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(
    batches: Iterable, num_classes: int, steps: int, setup: StepSetup = StepSetup(), warm_up: int = 0
) -> float:
    """The torchvision-references style loop (autocast and a gradient scaler for 16-bit, as
    their ``--amp`` does): images/s over ``steps`` optimiser steps after ``warm_up`` untimed ones."""
    model = setup.build(num_classes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    device = torch.device(setup.device)
    dtype = AUTOCAST[setup.precision]
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    seen, batches, start = 0, iter(batches), time.perf_counter()
    for step in range(warm_up + steps):
        if step == warm_up:
            synchronize(setup.device)
            seen, start = 0, time.perf_counter()
        images, targets = next(batches)
        images = [image.to(device, non_blocking=True) for image in images]
        targets = [{"boxes": t["boxes"].to(device), "labels": to_model_labels(t["labels"]).to(device)} for t in targets]
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = sum(model(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        seen += len(images)
    synchronize(setup.device)
    return seen / (time.perf_counter() - start)


class StepTimer(L.Callback):
    """Seconds and images of the training steps after the first ``warm_up`` optimiser steps."""

    def __init__(self, warm_up: int, device: str) -> None:
        self.warm_up, self.device = warm_up, device
        self.images, self.started, self.seconds = 0, 0.0, 0.0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.warm_up and not self.started:
            synchronize(self.device)
            self.started = time.perf_counter()
        if trainer.global_step >= self.warm_up:
            self.images += len(batch[0])

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self.started


def detkit_loop(
    batches: Iterable, num_classes: int, steps: int, setup: StepSetup = StepSetup(), warm_up: int = 0
) -> float:
    """detkit's LightningModule under a Trainer as `tools/train.py` builds one (gradient clipping
    at 10, TensorBoard logging): images/s over ``steps`` steps after ``warm_up`` untimed ones."""
    module = DetectionModule(setup.build(num_classes), partial(torch.optim.AdamW, lr=3e-3))
    timer = StepTimer(warm_up, setup.device)
    device = torch.device(setup.device)
    with tempfile.TemporaryDirectory() as logs:
        trainer = L.Trainer(
            accelerator="gpu" if device.type == "cuda" else "cpu",
            devices=[device.index or 0] if device.type == "cuda" else 1,
            precision=setup.precision,
            max_steps=warm_up + steps,
            gradient_clip_val=10.0,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            logger=L.pytorch.loggers.TensorBoardLogger(logs),
            callbacks=[timer],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        if not isinstance(batches, torch.utils.data.DataLoader):  # Lightning reads a list as many loaders
            batches = torch.utils.data.DataLoader(batches, batch_size=None, collate_fn=lambda batch: batch)
        trainer.fit(module, train_dataloaders=batches)
    return timer.images / timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        dataset = ensure_shapes(f"{root}/shapes", ShapesParams(num_scenes=100))
        options = LoaderOptions(args.batch_size, None, 0, {}, 0, None)
        plain = plain_loop(options.loader(dataset, train=True), dataset.num_classes, args.steps)
        ours = detkit_loop(options.loader(dataset, train=True), dataset.num_classes, args.steps)
    print(f"plain torchvision loop {plain:6.1f} images/s")
    print(f"detkit (Lightning)     {ours:6.1f} images/s")
    print(f"ratio detkit / plain   {ours / plain:6.2f}")


if __name__ == "__main__":
    main()
