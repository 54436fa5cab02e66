"""detkit's training loop against the plain torchvision loop, in the same run, on the same batches.

    python benchmarks/train_step.py [--steps 30] [--batch-size 8]

Both train the default detector (SSDlite, 320 px, from scratch) on the shapes data for the
same number of steps; the ratio is detkit's images/s over the plain loop's (1.0 = no overhead
from Lightning, logging and augmentation).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial

import lightning as L
import torch

from detkit.data.shapes import ShapesParams, ensure_shapes
from detkit.models import build_detector
from detkit.models.detectors import to_model_labels
from detkit.training.datamodule import DetectionDataModule
from detkit.training.module import DetectionModule


def plain_loop(loader: torch.utils.data.DataLoader, num_classes: int, steps: int) -> float:
    """The torchvision-references style loop: images/s over ``steps`` optimiser steps."""
    torch.manual_seed(0)
    model = build_detector("ssdlite320_mobilenet_v3_large", num_classes, 320, batch_norm_momentum=0.1).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    seen, batches = 0, iter(loader)
    start = time.perf_counter()
    for _ in range(steps):
        images, targets = next(batches)
        targets = [{"boxes": t["boxes"], "labels": to_model_labels(t["labels"])} for t in targets]
        loss = sum(model(images, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(images)
    return seen / (time.perf_counter() - start)


def detkit_loop(datamodule: DetectionDataModule, num_classes: int, steps: int, batch_size: int) -> float:
    torch.manual_seed(0)
    model = build_detector("ssdlite320_mobilenet_v3_large", num_classes, 320, batch_norm_momentum=0.1)
    module = DetectionModule(model, partial(torch.optim.AdamW, lr=3e-3))
    with tempfile.TemporaryDirectory() as logs:
        trainer = L.Trainer(
            max_steps=steps,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            logger=L.pytorch.loggers.TensorBoardLogger(logs),
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        start = time.perf_counter()
        trainer.fit(module, datamodule=datamodule)
        return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        dataset = ensure_shapes(f"{root}/shapes", ShapesParams(num_scenes=100))
        datamodule = DetectionDataModule(
            lambda: dataset, batch_size=args.batch_size, split={"fractions": {"train": 0.9, "dev": 0.1}}
        )
        plain = plain_loop(datamodule.loader("train", train=True), dataset.num_classes, args.steps)
        ours = detkit_loop(datamodule, dataset.num_classes, args.steps, args.batch_size)
    print(f"plain torchvision loop {plain:6.1f} images/s")
    print(f"detkit (Lightning)     {ours:6.1f} images/s")
    print(f"ratio detkit / plain   {ours / plain:6.2f}")


if __name__ == "__main__":
    main()
