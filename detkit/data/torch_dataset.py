"""A torch ``Dataset`` over a `DetectionDataset`: images read once, transformed, as torchvision targets."""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np
import torch

from detkit.data.images.files import read_rgb
from detkit.data.records import DetectionDataset
from detkit.exceptions import DatasetError

MOSAIC_PARTNERS = 3  # the other images of a 2 x 2 mosaic


class DetectionImages(torch.utils.data.Dataset):
    """Items are ``(image, target)``: ``image`` float32 ``[3, H, W]`` in ``[0, 1]``; ``target``
    has ``boxes`` float32 ``[N, 4]`` absolute xyxy (``(0, 4)`` when empty), ``labels`` int64 ``[N]``
    in ``0..C-1``, ``annotated`` bool ``[C]`` (the classes labelled in this image; unlabelled ones
    are unknown, not absent) and ``image_id``. Crowd regions are left out: they are for the
    evaluator only. ``transform`` (albumentations) augments; without one, images are as read.
    With ``shorter_side``, larger images are read shrunk to it (`read_rgb`), boxes with them:
    for training, where the detector would shrink them anyway and the loader's time goes into
    decoding and augmenting pixels it never sees.
    """

    def __init__(self, dataset: DetectionDataset, transform: A.Compose | None = None, shorter_side: int | None = None):
        self.dataset = dataset
        self.transform = transform
        self.shorter_side = shorter_side
        mosaics = [t for t in (transform.transforms if transform is not None else []) if isinstance(t, A.Mosaic)]
        self._mosaic = mosaics[0] if mosaics else None

    def _read(self, index: int) -> dict[str, np.ndarray]:
        """Image ``index``'s pixels (as read: shrunk to ``shorter_side``), its boxes (crowd
        regions left out) and their labels, as albumentations takes them."""
        record = self.dataset.records[index]
        path = self.dataset.image_path(record)
        try:
            pixels = read_rgb(path, self.shorter_side)
        except OSError as e:
            raise DatasetError(
                f"image {record.image_id}: cannot read {path} ({e})", fix="replace the file or remove it"
            ) from None
        keep = ~record.iscrowd
        boxes = record.boxes[keep]
        height, width = pixels.shape[:2]
        if (width, height) != (record.width, record.height):  # read shrunk: the boxes follow
            boxes = boxes * np.array([width / record.width, height / record.height] * 2, np.float32)
        return {"image": pixels, "bboxes": boxes, "labels": record.labels[keep]}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        record = self.dataset.records[index]
        out = self._read(index)
        if self.transform is not None:
            if self._mosaic is not None:
                partners = self._mosaic.random_generator.integers(len(self.dataset), size=MOSAIC_PARTNERS)
                out[self._mosaic.metadata_key] = [self._read(int(i)) for i in partners]
            out = self.transform(**out)
        image = torch.from_numpy(np.ascontiguousarray(out["image"])).permute(2, 0, 1).float().div_(255)
        boxes = torch.as_tensor(np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4))
        labels = torch.as_tensor(np.asarray(out["labels"], dtype=np.int64).reshape(-1))
        annotated = torch.ones(self.dataset.num_classes, dtype=torch.bool)
        if record.annotated is not None:
            annotated[:] = False
            annotated[list(record.annotated)] = True
        return image, {"boxes": boxes, "labels": labels, "annotated": annotated, "image_id": record.image_id}

    def reseed(self, seed: int) -> None:
        """Give this copy of the augmentation its own random stream (one per loader worker)."""
        if self.transform is not None:
            self.transform.set_random_seed(seed)


def collate_detections(batch: list[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list, list]:
    """torchvision's convention: a list of images and a list of target dicts."""
    images, targets = zip(*batch)
    return list(images), list(targets)


def reseed_worker(worker_id: int) -> None:
    """``worker_init_fn``: derive the worker's augmentation seed from its torch seed."""
    info = torch.utils.data.get_worker_info()
    info.dataset.reseed(info.seed % 2**32)
