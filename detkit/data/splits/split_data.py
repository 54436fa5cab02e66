"""A dataset with its splits settled: what every workflow reads (records, class names, the images
and ground truth of each split), apart from the loaders that only training and prediction need."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detkit.data.formats.coco import dataset_to_coco
from detkit.data.health.duplicates import grouped_with_copies
from detkit.data.records import DetectionDataset
from detkit.data.splits.seeded import make_splits, read_manifests, write_manifests
from detkit.exceptions import ConfigError

DEDUPE_CHOICES = ("none", "group")  # data.dedupe


@dataclass(frozen=True)
class SplitData:
    """``dataset`` and the image ids of each of its splits (``split_ids``, in `SPLITS` order);
    ``mode`` says where the splits came from: ``given`` (the export's), ``resplit`` or ``manifests``."""

    dataset: DetectionDataset
    split_ids: dict[str, list[int]]
    mode: str

    @property
    def class_names(self) -> list[str]:
        return list(self.dataset.class_names)

    @property
    def category_ids(self) -> list[int]:
        return list(self.dataset.category_ids)

    @property
    def split_names(self) -> list[str]:
        return list(self.split_ids)

    def require(self, split: str, option: str = "split") -> None:
        """Raise one clear error when ``split`` (given as ``option=``) is not one of these splits."""
        if split not in self.split_ids:
            raise ConfigError(f"{option}={split!r} is not one of the run's splits {self.split_names}")

    def subset(self, split: str, image_ids: list[int] | None = None) -> DetectionDataset:
        """The images of ``split`` (only ``image_ids`` of them, when given)."""
        self.require(split)
        subset = self.dataset.subset(self.split_ids[split])
        return subset if image_ids is None else subset.subset(image_ids)

    def ground_truth(self, split: str, image_ids: list[int] | None = None) -> dict[str, Any]:
        """The annotations of ``split`` (of ``image_ids`` in it, when given) as a COCO dict, for the evaluator."""
        return dataset_to_coco(self.subset(split, image_ids))


@dataclass(frozen=True)
class SplitPlan:
    """How a dataset's splits are settled: from the manifests in ``splits_dir`` (as
        ``tools/split.py`` and every run write them) when given; else, as ``splits`` says, the
        export's own splits or new ones, both with the ``split`` options (``fractions``,
        ``group_regex``, ``dev_test_from``, ``target_in_train``) and ``split_seed``
        (`detkit.data.splits.make_splits`). ``train_fraction`` keeps a seeded share of train, nested
        across values (learning curves); ``single_class`` keeps that class alone, on the same splits
        minus the images not labelled for it. ``dedupe="group"`` makes each cluster of copies of one
    image one group first (`grouped_with_copies`), so that new splits keep copies on one side.
    The manifests used are written to ``manifest_dir``.
        The values are ``data.module``'s (``configs/data/_module.yaml``), which holds the defaults."""

    splits: str
    split: dict[str, Any]
    split_seed: int
    splits_dir: str | None = None
    manifest_dir: str | None = None
    train_fraction: float = 1.0
    single_class: str | None = None
    dedupe: str = "none"

    def __post_init__(self) -> None:
        if not 0.0 < self.train_fraction <= 1.0:
            raise ConfigError(f"data.module.train_fraction must be in (0, 1], got {self.train_fraction}")
        if self.dedupe not in DEDUPE_CHOICES:
            raise ConfigError(f"data.dedupe={self.dedupe!r}; choose one of {list(DEDUPE_CHOICES)}")

    @classmethod
    def saved(cls, splits_dir: str | Path, single_class: str | None = None, dedupe: str = "none") -> SplitPlan:
        """The splits a run saved (they already hold its share of train)."""
        return cls("auto", {}, 0, splits_dir=str(splits_dir), single_class=single_class, dedupe=dedupe)

    def settle(self, dataset: DetectionDataset) -> SplitData:
        """``dataset`` with its splits, the manifests written when ``manifest_dir`` is set."""
        if self.dedupe == "group":
            dataset = grouped_with_copies(dataset)
        if self.splits_dir:
            mode, split_ids = "manifests", read_manifests(self.splits_dir, dataset)
        else:
            mode, split_ids = make_splits(dataset, self.splits, self.split, self.split_seed)
        if self.train_fraction < 1.0:
            split_ids["train"] = self._train_share(split_ids["train"])
        if self.manifest_dir:
            meta = {
                "splits": mode,
                "seed": self.split_seed,
                "split": self.split,
                "splits_dir": self.splits_dir,
                "train_fraction": self.train_fraction,
            }
            write_manifests(self.manifest_dir, split_ids, dataset, meta)
        if self.single_class is not None:
            dataset, split_ids = self._only_class(dataset, split_ids)
        return SplitData(dataset, split_ids, mode)

    def _train_share(self, train_ids: list[int]) -> list[int]:
        """The first ``train_fraction`` of a seeded order of the train images (at least one)."""
        order = np.random.default_rng(self.split_seed).permutation(sorted(train_ids))
        count = max(1, round(self.train_fraction * len(order)))
        return sorted(int(i) for i in order[:count])

    def _only_class(
        self, dataset: DetectionDataset, split_ids: dict[str, list[int]]
    ) -> tuple[DetectionDataset, dict[str, list[int]]]:
        if self.single_class not in dataset.class_names:
            raise ConfigError(
                f"data.module.single_class={self.single_class!r} is not a class of this data; "
                f"choose one of {dataset.class_names}"
            )
        dataset = dataset.only_class(self.single_class)
        kept = {record.image_id for record in dataset.records}
        return dataset, {split: [i for i in ids if i in kept] for split, ids in split_ids.items()}
