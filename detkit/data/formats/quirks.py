"""What real exports carry that a detector should not take as it is: classes no box uses
(Roboflow's dataset-name category 0, COCO's unused ids), class names that differ only in case
or spaces, and boxes too small on a side to be an object (a click without a drag)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace

import numpy as np

from detkit.data.records import DetectionDataset

log = logging.getLogger(__name__)
SHOWN = 5  # examples a warning lists; the count says the rest


def drop_empty_classes(dataset: DetectionDataset) -> DetectionDataset:
    """The dataset without the classes no box (crowd regions included) uses anywhere, said in one
    line with the classes whose index (a YOLO class id) that moves."""
    used = Counter(int(label) for record in dataset.records for label in record.labels)
    empty = [name for index, name in enumerate(dataset.class_names) if used[index] == 0]
    if not empty or len(empty) == dataset.num_classes:
        return dataset
    kept = [name for name in dataset.class_names if name not in empty]
    moved = [
        f"{name!r} {dataset.class_names.index(name)} -> {k}"
        for k, name in enumerate(kept)
        if dataset.class_names.index(name) != k
    ]
    ids = (
        f"; the class indices after them move down ({', '.join(moved[:SHOWN])}{', ...' if len(moved) > SHOWN else ''})"
    )
    log.info(
        "data: left out %d class(es) no box uses: %s%s (data.keep_empty_classes=true keeps them)",
        len(empty),
        ", ".join(repr(name) for name in empty),
        ids if moved else "",
    )
    return dataset.without_classes(empty)


def warn_similar_names(dataset: DetectionDataset) -> None:
    """Warn about class names equal up to case and spaces: one kind of object split in two."""
    by_key: dict[str, list[str]] = {}
    for name in dataset.class_names:
        by_key.setdefault("".join(name.lower().split()), []).append(name)
    similar = [names for names in by_key.values() if len(names) > 1]
    if similar:
        listed = "; ".join(" and ".join(repr(n) for n in names) for names in similar)
        log.warning("data: class names equal up to case and spaces: %s; rename them to one name in the export", listed)


def small_boxes(dataset: DetectionDataset, min_box_size: float) -> list[tuple[int, int, str]]:
    """``(image id, object index, description)`` of each box (not crowd) narrower or lower than ``min_box_size`` px."""
    found = []
    for record in dataset.records:
        sizes = record.boxes[:, 2:] - record.boxes[:, :2]
        for k in np.flatnonzero((sizes.min(axis=1) < min_box_size) & ~record.iscrowd):
            width, height = sizes[k].tolist()
            name = dataset.class_names[int(record.labels[k])]
            found.append(
                (record.image_id, int(k), f"{record.file_name}: object {k} ({name!r}) is {width:.1f}x{height:.1f} px")
            )
    return found


def settle_small_boxes(dataset: DetectionDataset, min_box_size: float, on_invalid: str) -> DetectionDataset:
    """Report the boxes smaller than ``min_box_size`` px on a side as likely annotation errors,
    in one warning; with ``on_invalid="drop"`` they are also left out."""
    found = small_boxes(dataset, min_box_size)
    if not found:
        return dataset
    shown = "\n  - ".join(description for _, _, description in found[:SHOWN])
    more = f"\n  ... and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    action = "dropped (data.on_invalid=drop)" if on_invalid == "drop" else "kept; data.on_invalid=drop drops them"
    log.warning(
        "data: %d box(es) smaller than data.min_box_size=%g px on a side, likely annotation errors, %s:\n  - %s%s",
        len(found),
        min_box_size,
        action,
        shown,
        more,
    )
    if on_invalid != "drop":
        return dataset
    drop: dict[int, set[int]] = {}
    for image_id, k, _ in found:
        drop.setdefault(image_id, set()).add(k)
    records = [
        record.select(np.array([k not in drop[record.image_id] for k in range(len(record.boxes))], dtype=bool))
        if record.image_id in drop
        else record
        for record in dataset.records
    ]
    return replace(dataset, records=records)
