"""Seeded, group-aware random splits and the manifest files that record them.

No group (scene, video, source) ever lands in two splits. The datasets/splits issue adds
class stratification; the manifest format stays.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from detkit.data.records import DetectionDataset
from detkit.errors import ConfigError, DatasetError
from detkit.files import write_json_atomic


def split_by_group(dataset: DetectionDataset, fractions: dict[str, float], seed: int) -> dict[str, list[int]]:
    """Image ids per split: whole groups are shuffled with ``seed`` and dealt out by ``fractions``."""
    if not fractions or any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise ConfigError(f"split fractions must be non-negative and sum to 1, got {dict(fractions)}")
    groups = sorted({r.group for r in dataset.records})
    order = np.random.default_rng(seed).permutation(len(groups))
    bounds = np.round(np.cumsum(list(fractions.values())) * len(groups)).astype(int)
    group_split = {}
    start = 0
    for name, end in zip(fractions, bounds):
        group_split.update({groups[i]: name for i in order[start:end]})
        start = end
    ids: dict[str, list[int]] = {name: [] for name in fractions}
    for record in dataset.records:
        ids[group_split[record.group]].append(record.image_id)
    return {name: sorted(v) for name, v in ids.items()}


def dataset_fingerprint(dataset: DetectionDataset) -> str:
    """A hash of the dataset's content (images, boxes, labels, classes), to tie manifests to it."""
    digest = hashlib.sha256(json.dumps(dataset.class_names).encode())
    for r in sorted(dataset.records, key=lambda r: r.image_id):
        digest.update(f"{r.image_id}|{r.file_name}|{r.group}|".encode())
        digest.update(r.boxes.tobytes() + r.labels.tobytes())
    return digest.hexdigest()[:16]


def write_manifests(
    directory: str | Path, splits: dict[str, list[int]], dataset: DetectionDataset, meta: dict[str, Any]
) -> None:
    """One ``<split>.json`` per split: its image ids, the dataset's fingerprint and how it was made."""
    fingerprint = dataset_fingerprint(dataset)
    for name, ids in splits.items():
        manifest = {"split": name, "dataset": fingerprint, **meta, "image_ids": ids}
        write_json_atomic(Path(directory) / f"{name}.json", manifest, indent=None)


def read_manifest(path: str | Path, dataset: DetectionDataset) -> list[int]:
    """The image ids of a manifest, refusing one made from different data."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError("split manifest not found; make splits first or fix data.splits_dir", source=str(path))
    manifest = json.loads(path.read_text())
    if manifest.get("dataset") != dataset_fingerprint(dataset):
        raise DatasetError("this manifest was made from different data; make the splits again", source=str(path))
    return list(manifest["image_ids"])
