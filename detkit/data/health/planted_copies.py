"""Copies of a dataset's images as exports and photo workflows make them, planted to measure the
duplicate finder (`detkit.data.health.duplicates`): re-encoded at another JPEG quality, resized,
slightly cropped, letterboxed, or marked with a watermark or a timestamp, each written beside the
originals with its boxes following the pixels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from detkit.data.health.shared_overlays import DRAWN_OVER, with_overlay
from detkit.data.records import DetectionDataset, Record
from detkit.data.splits.split_data import SplitData

KINDS = ("reencoded", "resized", "cropped")  # what plant_copies makes, in turn
COPY_KINDS = (*KINDS, "letterboxed", *DRAWN_OVER)  # every kind copy_image makes
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
        image, quality, scale, offset = copy_image(opened.convert("RGB"), kind, rng)
    image.save(target, format="JPEG", quality=quality)
    boxes = record.boxes * np.tile(scale, 2) + np.tile(offset, 2)
    boxes = np.clip(boxes, 0, [image.width, image.height, image.width, image.height]).astype(np.float32)
    kept = (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
    return replace(
        record.select(kept, boxes=boxes[kept], areas=None),
        image_id=image_id,
        width=image.width,
        height=image.height,
    )


def copy_image(
    image: Image.Image, kind: str, rng: np.random.Generator
) -> tuple[Image.Image, int, np.ndarray, np.ndarray]:
    """A copy of RGB ``image`` made the ``kind`` of `COPY_KINDS` way, the JPEG quality to save it
    at, and how its pixels moved: ``x * scale + offset`` (``[2]`` each, x and y). Re-encoded at
    quality 55-75; resized to 50-80 %; cropped by 2-5 % of the width and height on each side;
    letterboxed (black bars of 15 % of its height above and below); or with a watermark word or
    corner marks drawn on it (`with_overlay`)."""
    scale, offset = np.ones(2, np.float32), np.zeros(2, np.float32)
    quality = 92
    if kind == "reencoded":
        quality = int(rng.integers(55, 76))
    elif kind == "resized":
        factor = float(rng.uniform(0.5, 0.8))
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        scale = np.array([size[0] / image.width, size[1] / image.height], np.float32)
        image = image.resize(size, Image.Resampling.BILINEAR)
    elif kind == "cropped":
        sides = (image.width, image.height, image.width, image.height)
        left, top, right, bottom = (round(share * side) for share, side in zip(rng.uniform(0.02, 0.05, 4), sides))
        image = image.crop((left, top, image.width - right, image.height - bottom))
        offset = np.array([-left, -top], np.float32)
    elif kind == "letterboxed":
        bar = round(0.15 * image.height)
        canvas = Image.new("RGB", (image.width, image.height + 2 * bar), "black")
        canvas.paste(image, (0, bar))
        image, offset = canvas, np.array([0, bar], np.float32)
    elif kind in DRAWN_OVER:
        image = with_overlay(image, kind, f"{int(rng.integers(16**6)):06X}")
    else:
        raise ValueError(f"unknown copy {kind!r}: one of {', '.join(COPY_KINDS)}")
    return image, quality, scale, offset


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
