"""One conversion point per annotation format: readers produce Records, writers consume them."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detkit.data.formats.coco import load_coco, write_coco
from detkit.data.formats.exports import COCO_FILE, FORMATS, load_export
from detkit.data.formats.images import copy_images
from detkit.data.formats.roots import check_input_path
from detkit.data.formats.voc import load_voc, write_voc
from detkit.data.formats.yolo import load_yolo, write_yolo
from detkit.data.records import DetectionDataset
from detkit.data.splits.seeded import resolve_split_mode
from detkit.exceptions import ConfigError


def write_coco_folder(dataset: DetectionDataset, dst: Path) -> Path:
    """``dst/annotations.json`` and the images copied into ``dst/images``."""
    copy_images(dataset, dst / "images")
    return write_coco(dataset, dst / COCO_FILE)


READERS: dict[str, Callable[..., DetectionDataset]] = {
    name: functools.partial(load_export, format=name) for name in FORMATS
}
WRITERS: dict[str, Callable[[DetectionDataset, Path], Path]] = {
    "coco": write_coco_folder,
    "voc": write_voc,
    "yolo": write_yolo,
}


def convert_dataset(
    source_format: str,
    src: str | Path | None,
    target_format: str,
    dst: str | Path,
    splits: str = "auto",
    **read_options: Any,
) -> DetectionDataset:
    """Read ``src`` in one format (``auto``: the one its files show; ``read_options`` go to
    `load_export`) and write it, images and its own splits included (not with
    ``splits="resplit"``), as a new folder ``dst`` in another."""
    if src is None:
        raise ConfigError("data.root is missing: data.root=<the dataset's folder, or its annotation file>")
    if source_format not in (*READERS, "auto"):
        raise ConfigError(f"unknown format {source_format!r}; choose one of {['auto', *READERS]}")
    if target_format not in WRITERS:
        raise ConfigError(f"to={target_format!r}: detkit writes {sorted(WRITERS)}; choose one of them")
    src, dst = Path(os.path.realpath(src)), Path(os.path.realpath(dst))  # a link loop stays a path: named below
    check_input_path(src, "data.root", "point it at the dataset to convert")
    if dst.exists():
        raise ConfigError(f"dst={dst} already exists; choose a new folder (inputs are never overwritten)")
    if dst.is_relative_to(src if src.is_dir() else src.parent):
        raise ConfigError(f"dst={dst} lies inside the source; choose a folder outside it")
    dataset = load_export(src, source_format, **read_options)  # refuses an export with no image left
    resolve_split_mode(dataset, splits)  # refuses an unknown value, or given splits the data lacks
    if splits == "resplit":
        dataset.given_splits = {}
    staging = dst.with_name(f".{dst.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        WRITERS[target_format](dataset, staging)
        staging.rename(dst)
    except OSError as error:  # a full disk: no half-written folder stays behind; the file named as in dst
        shutil.rmtree(staging, ignore_errors=True)
        name = str(error.filename or "").replace(str(staging), str(dst), 1)
        raise OSError(error.errno, error.strerror, name or str(dst)) from None
    except BaseException:  # an interruption: the same
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dataset


__all__ = ["FORMATS", "READERS", "WRITERS", "convert_dataset", "load_coco", "load_export", "load_voc", "load_yolo"]
