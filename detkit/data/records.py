"""The one internal representation of a detection dataset: a list of `Record`s plus class names."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from detkit.data.health.copy_names import source_name


def _empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), dtype=np.float32)


@dataclass
class Record:
    """One image and its annotations.

    Boxes are absolute ``xyxy`` float32 pixels, shape ``[N, 4]``; ``labels`` are int64 in
    ``0..C-1``; ``iscrowd`` marks COCO crowd regions (ignored by training, honoured by the
    evaluator); ``areas`` are the annotations' own areas (segment areas in COCO, box areas
    where a format has none), used for COCO's small / medium / large ranges.
    ``group`` is the source the image comes from (never split across sets; by default its file's
    stem, Roboflow's copies of one upload sharing it: `source_name`), ``domain`` the
    distribution it belongs to, ``annotated`` the class indices exhaustively labelled in this
    image (``None``: all of them).
    """

    image_id: int
    file_name: str
    width: int
    height: int
    boxes: np.ndarray = field(default_factory=_empty_boxes)
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.int64))
    iscrowd: np.ndarray | None = None
    areas: np.ndarray | None = None
    group: str = ""
    domain: str = "default"
    annotated: frozenset[int] | None = None

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        n = len(self.boxes)
        if len(self.labels) != n:
            raise ValueError(f"record {self.image_id}: {n} boxes but {len(self.labels)} labels")
        crowd = np.zeros(n, dtype=bool) if self.iscrowd is None else self.iscrowd
        self.iscrowd = np.asarray(crowd, dtype=bool).reshape(-1)
        areas = box_areas(self.boxes) if self.areas is None else self.areas
        self.areas = np.asarray(areas, dtype=np.float32).reshape(-1)
        if not self.group:  # the file's source: its stem, or the upload a Roboflow copy was made from
            # (os.path takes 1.1 us, a Path 2.8 us: records come by the 100,000)
            self.group = source_name(os.path.splitext(os.path.basename(self.file_name))[0])

    def select(self, keep: np.ndarray, **changes: object) -> Record:
        """A copy with only the objects ``keep`` (a boolean mask over the boxes) and ``changes``
        (e.g. new ``labels`` for the kept boxes)."""
        kept = {
            "boxes": self.boxes[keep],
            "labels": self.labels[keep],
            "iscrowd": self.iscrowd[keep],
            "areas": self.areas[keep],
        }
        return replace(self, **{**kept, **changes})


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of ``[N, 4]`` xyxy boxes."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


@dataclass
class DetectionDataset:
    """Records, the directory their ``file_name``s are relative to, and the class names.

    ``category_ids[i]`` is the id class ``i`` had in the source format (COCO category id), so
    that writers and the evaluator can speak the source's ids again. ``given_splits`` are the
    export's own splits (detkit's split name -> image ids), empty when it has none.
    """

    root: Path
    class_names: list[str]
    records: list[Record]
    category_ids: list[int] | None = None
    given_splits: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if self.category_ids is None:
            self.category_ids = list(range(1, len(self.class_names) + 1))
        if len(self.category_ids) != len(self.class_names):
            raise ValueError("category_ids and class_names differ in length")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.records)

    def image_path(self, record: Record) -> Path:
        return self.root / record.file_name

    def subset(self, image_ids: Iterable[int]) -> DetectionDataset:
        """The records with these image ids, in the order given."""
        image_ids = list(image_ids)
        by_id = {r.image_id: r for r in self.records}
        missing = [i for i in image_ids if i not in by_id]
        if missing:
            raise KeyError(f"image ids not in the dataset: {missing[:10]}")
        chosen = [by_id[i] for i in image_ids]
        return DetectionDataset(self.root, list(self.class_names), chosen, list(self.category_ids))

    def only_class(self, name: str) -> DetectionDataset:
        """A one-class dataset for class ``name``: the images labelled for it (the others say
        nothing about it), each with only that class's boxes (crowd regions included)."""
        index = self.class_names.index(name)
        records = []
        for record in self.records:
            if record.annotated is not None and index not in record.annotated:
                continue
            keep = record.labels == index
            records.append(record.select(keep, labels=np.zeros(int(keep.sum()), dtype=np.int64), annotated=None))
        return DetectionDataset(self.root, [name], records, [self.category_ids[index]])

    def without_classes(self, names: Iterable[str]) -> DetectionDataset:
        """The dataset without the classes ``names`` (their boxes removed), labels renumbered."""
        dropped = set(names)
        kept = [i for i, name in enumerate(self.class_names) if name not in dropped]
        new_index = {old: new for new, old in enumerate(kept)}
        records = []
        for record in self.records:
            keep = np.isin(record.labels, kept)
            labels = np.array([new_index[int(i)] for i in record.labels[keep]], dtype=np.int64)
            annotated = (
                None
                if record.annotated is None
                else frozenset(new_index[i] for i in record.annotated if i in new_index)
            )
            records.append(record.select(keep, labels=labels, annotated=annotated))
        names_kept = [self.class_names[i] for i in kept]
        ids_kept = [self.category_ids[i] for i in kept]
        return DetectionDataset(
            self.root, names_kept, records, ids_kept, {s: list(ids) for s, ids in self.given_splits.items()}
        )
