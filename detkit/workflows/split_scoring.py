"""A checkpoint's detections on (some of) a split's images, matched to their labels once, ready
to be scored and bootstrapped (`detkit.evaluation.image_matches.ImageMatches`)."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch

from detkit.data.formats.coco import predictions_to_results
from detkit.data.splits.split_data import SplitData
from detkit.evaluation.image_matches import ImageMatches
from detkit.exceptions import ConfigError
from detkit.runs.run_dir import RunDir
from detkit.workflows.prediction import predict_detections


def diagnosis_images(data: SplitData, split: str, train_sample: str | int, seed: int) -> list[int]:
    """The image ids scored for ``split``: all of it, except train, which is sampled (seeded) to
    the size of train_dev (``train_sample="train_dev"``), to a number, or kept whole (``"all"``)."""
    image_ids = [r.image_id for r in data.subset(split).records]
    if split != "train" or train_sample == "all":
        return image_ids
    if train_sample == "train_dev":
        if "train_dev" not in data.split_names:
            return image_ids
        size = len(data.subset("train_dev"))
    elif isinstance(train_sample, int) and train_sample >= 1:
        size = train_sample
    else:
        raise ConfigError(f"train_sample={train_sample!r}: give train_dev, all, or a number of images >= 1")
    if size >= len(image_ids):
        return image_ids
    return sorted(int(i) for i in np.random.default_rng(seed).choice(image_ids, size, replace=False))


def match_split(
    run: RunDir, model: torch.nn.Module, split: str, image_ids: list[int], trainer: L.Trainer
) -> ImageMatches:
    """``model``'s detections (``run``'s detector, predicted by ``trainer``) on those images of
    the run's ``split``, matched to their labels as the run scores them."""
    detections, _ = predict_detections(model, run.loader(split, image_ids), trainer)
    results = predictions_to_results(detections, run.data.category_ids)
    return ImageMatches(run.data.ground_truth(split, image_ids), results, run.partial_labels)
