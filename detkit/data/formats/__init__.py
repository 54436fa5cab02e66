"""One conversion point per annotation format: readers produce Records, writers consume them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detkit.data.formats.coco import load_coco, write_coco
from detkit.data.formats.images import copy_images
from detkit.data.formats.voc import load_voc, write_voc
from detkit.data.formats.yolo import load_yolo, write_yolo
from detkit.data.records import DetectionDataset
from detkit.errors import ConfigError

COCO_FILE = "annotations.json"


def load_coco_folder(src: str | Path, image_root: str | Path | None = None, **options: Any) -> DetectionDataset:
    """A COCO json path or a folder holding ``annotations.json``; images in ``image_root``,
    by default ``images/`` beside the json. ``options`` go to `load_coco`."""
    src = Path(src)
    return load_coco(src / COCO_FILE if src.is_dir() else src, image_root, **options)


def write_coco_folder(dataset: DetectionDataset, dst: Path) -> Path:
    """``dst/annotations.json`` and the images copied into ``dst/images``."""
    copy_images(dataset, dst / "images")
    return write_coco(dataset, dst / COCO_FILE)


READERS: dict[str, Callable[[Path], DetectionDataset]] = {"coco": load_coco_folder, "voc": load_voc, "yolo": load_yolo}
WRITERS: dict[str, Callable[[DetectionDataset, Path], Path]] = {
    "coco": write_coco_folder,
    "voc": write_voc,
    "yolo": write_yolo,
}


def convert_dataset(source_format: str, src: str | Path, target_format: str, dst: str | Path) -> DetectionDataset:
    """Read ``src`` in one format and write it, images included, as a new folder ``dst`` in another."""
    for name in (source_format, target_format):
        if name not in READERS:
            raise ConfigError(f"unknown format {name!r}; choose one of {sorted(READERS)}")
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if dst.exists():
        raise ConfigError(f"dst={dst} already exists; choose a new folder (inputs are never overwritten)")
    if dst.is_relative_to(src if src.is_dir() else src.parent):
        raise ConfigError(f"dst={dst} lies inside the source; choose a folder outside it")
    dataset = READERS[source_format](src)
    staging = dst.with_name(f".{dst.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    WRITERS[target_format](dataset, staging)
    staging.rename(dst)
    return dataset


__all__ = ["READERS", "WRITERS", "convert_dataset", "load_coco", "load_voc", "load_yolo"]
