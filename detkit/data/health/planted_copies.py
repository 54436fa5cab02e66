"""Copies of a dataset's images as exports and photo workflows make them, planted to measure the
duplicate finder (`detkit.data.health.duplicates`): re-encoded at another JPEG quality, resized, or
slightly cropped, each written beside the originals with its boxes following the pixels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from detkit.data.records import DetectionDataset, Record
from detkit.data.splits.split_data import SplitData

KINDS = ("reencoded", "resized", "cropped")
COPY_FOLDER = "copies"


def plant_copies(
    dataset: DetectionDataset, image_ids: Sequence[int], seed: int = 0
) -> tuple[DetectionDataset, dict[int, int]]:
    """``dataset`` with one copy of each of ``image_ids`` added (kinds in turn: `KINDS`), written
    to ``<root>/copies/``; returns it and each copy's image id -> its original's. A re-encoded
    copy is saved at JPEG quality 55-75, a resized one at 50-80 % of the size, a cropped one
    loses 1-3 % of the width and height on each side."""
    rng = np.random.default_rng(seed)
    (dataset.root / COPY_FOLDER).mkdir(exist_ok=True)
    by_id = {r.image_id: r for r in dataset.records}
    next_id = max(by_id) + 1
    copies, original_of = [], {}
    for k, image_id in enumerate(image_ids):
        record = by_id[image_id]
        kind = KINDS[k % len(KINDS)]
        file_name = f"{COPY_FOLDER}/copy_{next_id}_{kind}.jpg"
        copies.append(_copy(dataset.image_path(record), dataset.root / file_name, record, kind, next_id, rng))
        copies[-1] = replace(copies[-1], file_name=file_name, group=f"copy_{next_id}")
        original_of[next_id] = image_id
        next_id += 1
    planted = DetectionDataset(
        dataset.root, list(dataset.class_names), [*dataset.records, *copies], dataset.category_ids
    )
    return planted, original_of


def _copy(source: Path, target: Path, record: Record, kind: str, image_id: int, rng: np.random.Generator) -> Record:
    with Image.open(source) as opened:
        image = opened.convert("RGB")
    boxes = record.boxes.copy()
    quality = 92
    if kind == "reencoded":
        quality = int(rng.integers(55, 76))
    elif kind == "resized":
        scale = float(rng.uniform(0.5, 0.8))
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        boxes *= np.array([size[0] / image.width, size[1] / image.height] * 2, dtype=np.float32)
        image = image.resize(size, Image.Resampling.BILINEAR)
    else:
        sides = (image.width, image.height, image.width, image.height)
        left, top, right, bottom = (round(share * side) for share, side in zip(rng.uniform(0.02, 0.05, 4), sides))
        image = image.crop((left, top, image.width - right, image.height - bottom))
        boxes -= np.array([left, top, left, top], dtype=np.float32)
        boxes = np.clip(boxes, 0, [image.width, image.height, image.width, image.height]).astype(np.float32)
    image.save(target, format="JPEG", quality=quality)
    kept = (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
    return replace(
        record.select(kept, boxes=boxes[kept], areas=None),
        image_id=image_id,
        width=image.width,
        height=image.height,
    )


OTHER_SPLIT = {"train": "dev", "train_dev": "train", "dev": "train", "test": "train"}


def copies_across_splits(data: SplitData, count: int, seed: int = 0) -> tuple[SplitData, dict[int, int]]:
    """``data`` with ``count`` of its images (seeded) copied (`plant_copies`), each copy in
    another split than its original (train's in dev, the others' in train); returns it and each
    copy's image id -> its original's."""
    ids = [r.image_id for r in data.dataset.records]
    chosen = sorted(np.random.default_rng(seed).choice(ids, count, replace=False).tolist())
    planted, original_of = plant_copies(data.dataset, chosen, seed)
    split_of = {i: name for name, split in data.split_ids.items() for i in split}
    split_ids = {name: list(split) for name, split in data.split_ids.items()}
    for copy, original in original_of.items():
        split_ids[OTHER_SPLIT[split_of[original]]].append(copy)
    return SplitData(planted, split_ids, "given"), original_of
