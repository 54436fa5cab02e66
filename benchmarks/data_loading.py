"""Is the data loader ever the bottleneck? Loader alone against the model alone, in one run.

    python benchmarks/data_loading.py [--batches 30] [--batch-size 8] [--num-workers 0]
    python benchmarks/data_loading.py --photos [--batches 4]    # 12-megapixel phone photos

Measures the images/s the DataModule's training loader delivers (reading JPEGs, augmenting,
collating; no model) and the images/s the default detector consumes in training steps on
batches already in memory (no loading). The ratio loader / model says how many times faster
the loader is than the model needs; the share of a training step spent loading is its inverse.
Defaults are the quick start's: the shapes data, batch 8, ``num_workers=0``. ``--photos``
generates 4000x3000 JPEGs instead (the shapes scenes enlarged, with sensor noise, at quality 90
as phones save them) and measures the loader twice: reading them whole, and at the model's
320 px (``data.module.read_size``, the default), each against the model on its own batches.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import replace
from functools import partial

import numpy as np
import torch
from PIL import Image

from detkit.data.loaders import LoaderOptions
from detkit.data.records import DetectionDataset
from detkit.data.shapes import ShapesParams, ensure_shapes
from detkit.models import build_detector
from detkit.training.module import DetectionModule

PHOTO = (4000, 3000)  # a 12-megapixel phone photo
MODEL_SIZE = 320  # the default detector's input (SSDlite 320)


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
    model = build_detector("ssdlite320_mobilenet_v3_large", num_classes, MODEL_SIZE, batch_norm_momentum=0.1).train()
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


def large_photos(root: str, count: int) -> DetectionDataset:
    """``count`` shapes scenes enlarged to 4000x3000 JPEGs with sensor noise, boxes scaled."""
    shapes = ensure_shapes(f"{root}/shapes", ShapesParams(num_scenes=count, images_per_scene=1))
    rng = np.random.default_rng(0)
    records = []
    for record in shapes.records:
        picture = Image.open(shapes.image_path(record)).convert("RGB").resize(PHOTO, Image.Resampling.BICUBIC)
        noisy = np.asarray(picture, np.int16) + rng.normal(0, 6, (PHOTO[1], PHOTO[0], 3)).astype(np.int16)
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(f"{root}/{record.image_id}.jpg", quality=90)
        scale = np.array(PHOTO * 2, np.float32) / np.array([record.width, record.height] * 2, np.float32)
        records.append(
            replace(
                record,
                file_name=f"{record.image_id}.jpg",
                width=PHOTO[0],
                height=PHOTO[1],
                boxes=record.boxes * scale,
                areas=None,
            )
        )
    return DetectionDataset(root, shapes.class_names, records)


def measure(dataset: DetectionDataset, args: argparse.Namespace, read_size: int | None) -> tuple[float, float]:
    """Images/s of the training loader and of the model on that loader's batches."""
    options = LoaderOptions(args.batch_size, None, args.num_workers, {}, 0, read_size)
    loader = options.loader(dataset, train=True)
    delivered = loader_rate(loader, args.batches)
    batches = [batch for batch, _ in zip(iter(loader), range(args.batches))]
    return delivered, model_rate(batches, dataset.num_classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--photos", action="store_true", help="12-megapixel JPEGs instead of the shapes data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        if args.photos:
            dataset = large_photos(root, math.ceil((args.batches + 1) * args.batch_size / 0.9) + 1)
            modes = {"whole": None, "read_size 320": MODEL_SIZE}
        else:
            dataset = ensure_shapes(f"{root}/shapes", ShapesParams())
            modes = {"": MODEL_SIZE}
        for name, read_size in modes.items():
            delivered, consumed = measure(dataset, args, read_size)
            setting = f"batch {args.batch_size}, num_workers {args.num_workers}"
            print(f"{name:14s} loader alone {delivered:7.1f} images/s ({setting})")
            print(f"{name:14s} model alone  {consumed:7.1f} images/s (training steps on those batches)")
            share = f"loading is {consumed / delivered:.0%} of a step"
            print(f"{name:14s} ratio loader / model {delivered / consumed:6.1f}: {share}")


if __name__ == "__main__":
    main()
