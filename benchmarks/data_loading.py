"""Is the data loader ever the bottleneck? Loader alone against the model alone, in one run.

    python benchmarks/data_loading.py [--batches 30] [--batch-size 8] [--num-workers 0]

Measures the images/s the DataModule's training loader delivers (reading JPEGs, augmenting,
collating; no model) and the images/s the default detector consumes in training steps on
batches already in memory (no loading). The ratio loader / model says how many times faster
the loader is than the model needs; the share of a training step spent loading is its inverse.
Defaults are the quick start's: the shapes data, batch 8, ``num_workers=0``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial

import torch

from detkit.data.shapes import ShapesParams, ensure_shapes
from detkit.models import build_detector
from detkit.training.datamodule import DetectionDataModule
from detkit.training.module import DetectionModule


def loader_rate(loader: torch.utils.data.DataLoader, batches: int) -> float:
    """Images/s of ``batches`` batches from the loader, after one to start its workers."""
    iterator = iter(loader)
    next(iterator)
    seen, start = 0, time.perf_counter()
    for _ in range(batches):
        seen += len(next(iterator)[0])
    return seen / (time.perf_counter() - start)


def model_rate(batches: list, num_classes: int) -> float:
    """Images/s of training steps (forward, backward, AdamW) on batches already loaded."""
    torch.manual_seed(0)
    model = build_detector("ssdlite320_mobilenet_v3_large", num_classes, 320, batch_norm_momentum=0.1).train()
    module = DetectionModule(model, partial(torch.optim.AdamW, lr=3e-3))
    optimizer = module.configure_optimizers()["optimizer"]
    sum(module.loss_terms(batches[0]).values()).backward()  # warm-up, untimed
    seen, start = 0, time.perf_counter()
    for batch in batches:
        loss = sum(module.loss_terms(batch).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(batch[0])
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        dataset = ensure_shapes(f"{root}/shapes", ShapesParams())
        datamodule = DetectionDataModule(
            lambda: dataset,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            split={"fractions": {"train": 0.9, "dev": 0.1}},
        )
        loader = datamodule.loader("train", train=True)
        delivered = loader_rate(loader, args.batches)
        batches = [batch for batch, _ in zip(iter(loader), range(args.batches))]
        consumed = model_rate(batches, dataset.num_classes)
    print(f"loader alone  {delivered:7.1f} images/s  (batch {args.batch_size}, num_workers {args.num_workers})")
    print(f"model alone   {consumed:7.1f} images/s  (training steps on loaded batches)")
    print(f"ratio loader / model {delivered / consumed:6.1f}: loading is {consumed / delivered:.0%} of a step's time")


if __name__ == "__main__":
    main()
