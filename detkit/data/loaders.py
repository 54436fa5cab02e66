"""Torch loaders over a split's images: shuffled and augmented for training, as they are otherwise."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch

from detkit.data.records import DetectionDataset
from detkit.data.torch_dataset import DetectionImages, collate_detections, reseed_worker
from detkit.data.transforms import build_transforms
from detkit.exceptions import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoaderOptions:
    """How images are batched (``batch_size`` for training, ``eval_batch_size`` otherwise),
        read (``num_workers`` processes; training images larger than ``read_size`` on their shorter
        side read shrunk to it) and augmented (``augment``, `build_transforms`'s options, seeded by
        ``seed``; ``{}``: its defaults). The values are ``data.module``'s (``configs/data/_module.yaml``,
    which holds the defaults)."""

    batch_size: int
    eval_batch_size: int | None
    num_workers: int
    augment: dict[str, Any]
    seed: int
    read_size: int | None

    def __post_init__(self) -> None:
        if self.batch_size < 1 or (self.eval_batch_size is not None and self.eval_batch_size < 1):
            raise ConfigError(f"data.batch_size must be >= 1, got {self.batch_size} (eval: {self.eval_batch_size})")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {self.num_workers}")

    def loader(self, dataset: DetectionDataset, train: bool = False, processes: int = 1) -> torch.utils.data.DataLoader:
        """A loader over ``dataset``; with ``train`` it shuffles and augments (seeded), else neither.
        ``processes`` is the number of training processes that share each epoch."""
        augment = dict(self.augment) if train else {}
        if augment.get("mosaic") and any(record.annotated is not None for record in dataset.records):
            log.info(
                "data.module.augment.mosaic=%s is off: some training images are labelled for only some classes,"
                " and a mosaic would mix them with images labelled for others",
                augment["mosaic"],
            )
            augment["mosaic"] = 0.0
        transform = build_transforms(train=train, seed=self.seed, mosaic_size=self.read_size, **augment)
        images = DetectionImages(dataset, transform, self.read_size if train else None)
        batch_size = self.batch_size if train else self.eval_batch_size or self.batch_size
        return torch.utils.data.DataLoader(
            images,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train and self._last_batch_is_one_image(len(images), processes),
            num_workers=self.num_workers,
            collate_fn=collate_detections,
            worker_init_fn=reseed_worker if self.num_workers else None,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),  # page-locked batches: copies to the GPU overlap
        )

    def _last_batch_is_one_image(self, num_images: int, processes: int) -> bool:
        """Whether an epoch of ``num_images`` ends, on each process, in a batch of one image
        (DistributedSampler gives each process the rounded-up share). Batch norm cannot train
        on one image whose features are 1x1 (SSDlite's last layers raise), so that image is left
        out of the epoch: a different one each epoch, as the shuffle changes."""
        return self.batch_size > 1 and math.ceil(num_images / processes) % self.batch_size == 1
