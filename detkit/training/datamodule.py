"""The LightningDataModule: a dataset's settled splits (`SplitData`) served through loaders.

It lives in ``training/`` because only this package may import Lightning; everything it
wraps is plain detkit data code, which workflows read directly (`RunDir.data`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from detkit.data.loaders import LoaderOptions
from detkit.data.records import DetectionDataset
from detkit.data.splits.split_data import SplitData, SplitPlan


class DetectionDataModule(L.LightningDataModule):
    """Loaders for the splits of one dataset: ``train`` shuffled and augmented, the others as they are.

    ``source`` returns the `DetectionDataset`; the split options make a `SplitPlan` (where the
    splits come from, the share of train, one class alone) and the loader options a
    `LoaderOptions`. Every argument is ``data.module``'s in the config
    (``configs/data/_module.yaml`` holds the defaults, this class none). Training uses
    ``train``; ``dev`` is validated every epoch; `trainer.test` scores ``test_split``.
    ``split_seed`` draws the splits, ``seed`` the shuffling and augmentation: runs that differ
    in ``seed`` alone train and are scored on the same images.
    """

    def __init__(
        self,
        source: Callable[[], DetectionDataset],
        *,
        batch_size: int,
        eval_batch_size: int | None,
        num_workers: int,
        augment: dict[str, Any],
        seed: int,
        read_size: int | None,
        splits: str,
        split: dict[str, Any],
        split_seed: int,
        splits_dir: str | None,
        manifest_dir: str | None,
        single_class: str | None,
        train_fraction: float,
        dedupe: str,
    ):
        super().__init__()
        self.source = source
        self.plan = SplitPlan(
            splits, dict(split), split_seed, splits_dir, manifest_dir, train_fraction, single_class, dedupe
        )
        self.loading = LoaderOptions(batch_size, eval_batch_size, num_workers, dict(augment or {}), seed, read_size)
        self.test_split = "test"  # which split `trainer.test` scores; set by the caller

    @cached_property
    def data(self) -> SplitData:
        """The dataset read (or generated) and its splits settled: once, on every rank."""
        return self.plan.settle(self.source())

    @property
    def batch_size(self) -> int:
        return self.loading.batch_size

    def setup(self, stage: str | None = None) -> None:
        self.data  # noqa: B018 (settles the splits before Lightning asks for loaders)

    def _loader(self, split: str, train: bool = False) -> torch.utils.data.DataLoader:
        processes = self.trainer.world_size if self.trainer is not None else 1
        return self.loading.loader(self.data.subset(split), train, processes)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader("dev")

    def test_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.test_split)


def configured_data(module: DictConfig) -> SplitData:
    """The data ``data.module`` describes with its splits settled: no manifests written, no
    loaders made (what the data tools read)."""
    return instantiate(module, manifest_dir=None).data
