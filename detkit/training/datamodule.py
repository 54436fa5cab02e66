"""The LightningDataModule: a dataset, its split manifests, augmentation and loaders.

It lives in ``training/`` because only this package may import Lightning; everything it
wraps is plain detkit data code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch

from detkit.data.formats.coco import dataset_to_coco
from detkit.data.records import DetectionDataset
from detkit.data.splits import make_splits, read_manifests, write_manifests
from detkit.data.torch_dataset import DetectionImages, collate_detections, reseed_worker
from detkit.data.transforms import build_transforms
from detkit.exceptions import ConfigError


class DetectionDataModule(L.LightningDataModule):
    """Loaders for the splits of one dataset (``train`` is augmented; others are not).

    ``source`` returns the `DetectionDataset`. Splits come from ``splits_dir`` (one manifest
    per split, as ``tools/split.py`` writes them) when given; else, as ``splits`` says
    (`resolve_split_mode`), from the export's own splits (`split_given`) or from `split_dataset`,
    both with the ``split`` options (``fractions``, ``group_regex``, ``dev_test_from``,
    ``target_in_train``); either way the manifests used are written to ``manifest_dir`` (the
    run directory), and `split_mode` says which it was.
    Training uses ``train`` only; ``dev`` is validated every epoch. With ``single_class`` the
    module serves that class alone against background (`DetectionDataset.only_class`), on the
    same splits as the whole dataset minus the images not labelled for it. ``train_fraction``
    keeps a seeded share of ``train`` (the other splits unchanged); smaller shares are subsets
    of larger ones with the same seed, as a learning curve needs. ``split_seed`` draws the splits
    and that share, ``seed`` the shuffling and augmentation: runs that differ in ``seed`` alone
    train and are scored on the same images. Training images whose shorter
    side is above ``read_size`` (the model's input size) are read shrunk to it before
    augmentation (`DetectionImages`); evaluation reads them whole, in the annotations' pixels.
    """

    def __init__(
        self,
        source: Callable[[], DetectionDataset],
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        split: dict[str, Any] | None = None,
        splits: str = "auto",
        splits_dir: str | None = None,
        manifest_dir: str | None = None,
        augment: dict[str, Any] | None = None,
        seed: int = 0,
        split_seed: int = 0,
        single_class: str | None = None,
        train_fraction: float = 1.0,
        read_size: int | None = None,
    ):
        super().__init__()
        if not 0.0 < train_fraction <= 1.0:
            raise ConfigError(f"data.module.train_fraction must be in (0, 1], got {train_fraction}")
        if batch_size < 1 or (eval_batch_size is not None and eval_batch_size < 1):
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size} (eval: {eval_batch_size})")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        self.source = source
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.split = dict(split or {"fractions": {"train": 0.8, "dev": 0.2}})
        self.splits = splits
        self.splits_dir = splits_dir
        self.split_mode = ""  # given, resplit or manifests, once loaded
        self.manifest_dir = manifest_dir
        self.augment = dict(augment or {})
        self.seed = seed
        self.split_seed = split_seed
        self.single_class = single_class
        self.train_fraction = train_fraction
        self.read_size = read_size
        self.test_split = "test"  # which split `trainer.test` scores; set by the caller
        self._dataset: DetectionDataset | None = None
        self._split_ids: dict[str, list[int]] = {}

    def load(self) -> DetectionDataset:
        """Read (or generate) the dataset and settle its splits; cached, safe to call on every rank."""
        if self._dataset is None:
            dataset = self.source()
            self._split_ids = self._settle_splits(dataset)
            if self.single_class is not None:
                dataset = self._only_class(dataset)
            self._dataset = dataset
        return self._dataset

    def _only_class(self, dataset: DetectionDataset) -> DetectionDataset:
        if self.single_class not in dataset.class_names:
            raise ConfigError(
                f"data.module.single_class={self.single_class!r} is not a class of this data; "
                f"choose one of {dataset.class_names}"
            )
        dataset = dataset.only_class(self.single_class)
        kept = {record.image_id for record in dataset.records}
        self._split_ids = {split: [i for i in ids if i in kept] for split, ids in self._split_ids.items()}
        return dataset

    def _settle_splits(self, dataset: DetectionDataset) -> dict[str, list[int]]:
        if self.splits_dir:
            self.split_mode = "manifests"
            splits = read_manifests(self.splits_dir, dataset)
        else:
            self.split_mode, splits = make_splits(dataset, self.splits, self.split, self.split_seed)
        if self.train_fraction < 1.0:
            splits["train"] = self._train_share(splits["train"])
        if self.manifest_dir:
            meta = {
                "splits": self.split_mode,
                "seed": self.split_seed,
                "split": self.split,
                "splits_dir": self.splits_dir,
                "train_fraction": self.train_fraction,
            }
            write_manifests(self.manifest_dir, splits, dataset, meta)
        return splits

    def _train_share(self, train_ids: list[int]) -> list[int]:
        """The first ``train_fraction`` of a seeded order of the train images (at least one)."""
        order = np.random.default_rng(self.split_seed).permutation(sorted(train_ids))
        count = max(1, round(self.train_fraction * len(order)))
        return sorted(int(i) for i in order[:count])

    @property
    def class_names(self) -> list[str]:
        return list(self.load().class_names)

    @property
    def split_names(self) -> list[str]:
        self.load()
        return list(self._split_ids)

    def subset(self, split: str) -> DetectionDataset:
        dataset = self.load()
        if split not in self._split_ids:
            raise ConfigError(f"no split named {split!r}; this data has {list(self._split_ids)}")
        return dataset.subset(self._split_ids[split])

    def ground_truth(self, split: str) -> dict[str, Any]:
        """The split's annotations as a COCO dict, for the evaluator."""
        return dataset_to_coco(self.subset(split))

    def setup(self, stage: str | None = None) -> None:
        self.load()

    def loader(
        self, split: str, train: bool = False, image_ids: Sequence[int] | None = None
    ) -> torch.utils.data.DataLoader:
        """A loader over one split (only ``image_ids`` of it, when given); with ``train`` it
        shuffles and augments (seeded), else neither."""
        transform = build_transforms(train=train, seed=self.seed, **(self.augment if train else {}))
        subset = self.subset(split)
        chosen = subset if image_ids is None else subset.subset(image_ids)
        images = DetectionImages(chosen, transform, self.read_size if train else None)
        return torch.utils.data.DataLoader(
            images,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            drop_last=train and self._last_batch_is_one_image(len(images)),
            num_workers=self.num_workers,
            collate_fn=collate_detections,
            worker_init_fn=reseed_worker if self.num_workers else None,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),  # page-locked batches: Lightning's copies to the GPU overlap
        )

    def _last_batch_is_one_image(self, num_images: int) -> bool:
        """Whether an epoch of ``num_images`` ends, on each process, in a batch of one image
        (DistributedSampler gives each process the rounded-up share). Batch norm cannot train
        on one image whose features are 1x1 (SSDlite's last layers raise), so that image is left
        out of the epoch: a different one each epoch, as the shuffle changes."""
        processes = self.trainer.world_size if self.trainer is not None else 1
        return self.batch_size > 1 and math.ceil(num_images / processes) % self.batch_size == 1

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return self.loader("train", train=True)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return self.loader("dev")

    def test_dataloader(self) -> torch.utils.data.DataLoader:
        return self.loader(self.test_split)
