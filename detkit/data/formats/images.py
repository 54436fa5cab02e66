"""What the writers and readers of every format do alike with images and their borders."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from detkit.data.records import DetectionDataset
from detkit.progress import progress


def copy_images(dataset: DetectionDataset, folder: Path) -> None:
    """Copy every image of ``dataset`` to ``folder / file_name`` (the source is only read)."""
    for record in progress(dataset.records, "images copied"):
        target = folder / record.file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(dataset.image_path(record), target)
        except OSError as error:  # a full disk: named by the file being written
            raise OSError(error.errno, error.strerror, str(target)) from None


def border_overshoot(box: list[float], width: int, height: int) -> float:
    """How far an ``xyxy`` box reaches beyond a ``width`` x ``height`` image, in pixels."""
    x1, y1, x2, y2 = box
    return max(0.0, -x1, -y1, x2 - width, y2 - height)


def border_overshoots(boxes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """`border_overshoot` of each of ``[N, 4]`` ``xyxy`` boxes, ``sizes`` the ``[N, 2]`` width and
    height of each box's image."""
    return np.maximum(-boxes[:, :2], boxes[:, 2:] - sizes).max(axis=1, initial=0.0)
