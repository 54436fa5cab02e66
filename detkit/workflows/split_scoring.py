"""A checkpoint's detections on (some of) a split's images, matched to their labels once, ready
to be scored and bootstrapped (`detkit.evaluation.bootstrap.ImageMatches`)."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch

from detkit.data.formats.coco import dataset_to_coco, predictions_to_results
from detkit.evaluation.bootstrap import ImageMatches
from detkit.exceptions import ConfigError
from detkit.training.datamodule import DetectionDataModule
from detkit.workflows.prediction import predict_detections


def diagnosis_images(datamodule: DetectionDataModule, split: str, train_sample: str | int, seed: int) -> list[int]:
    """The image ids scored for ``split``: all of it, except train, which is sampled (seeded) to
    the size of train_dev (``train_sample="train_dev"``), to a number, or kept whole (``"all"``)."""
    image_ids = [r.image_id for r in datamodule.subset(split).records]
    if split != "train" or train_sample == "all":
        return image_ids
    if train_sample == "train_dev":
        if "train_dev" not in datamodule.split_names:
            return image_ids
        size = len(datamodule.subset("train_dev"))
    elif isinstance(train_sample, int) and train_sample >= 1:
        size = train_sample
    else:
        raise ConfigError(f"train_sample={train_sample!r}: give train_dev, all, or a number of images >= 1")
    if size >= len(image_ids):
        return image_ids
    return sorted(int(i) for i in np.random.default_rng(seed).choice(image_ids, size, replace=False))


def match_split(
    model: torch.nn.Module,
    datamodule: DetectionDataModule,
    split: str,
    image_ids: list[int],
    trainer: L.Trainer,
    partial_labels: str,
) -> ImageMatches:
    """The model's detections on those images of ``split`` (predicted by ``trainer``), matched
    to their labels."""
    detections, _ = predict_detections(model, datamodule.loader(split, image_ids=image_ids), trainer)
    dataset = datamodule.subset(split).subset(image_ids)
    results = predictions_to_results(detections, dataset.category_ids)
    return ImageMatches(dataset_to_coco(dataset), results, partial_labels)
