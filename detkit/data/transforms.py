"""Box-aware augmentation with albumentations: boxes follow the pixels (``pascal_voc`` = xyxy)."""

from __future__ import annotations

import albumentations as A


def build_transforms(
    train: bool,
    hflip: float = 0.5,
    scale: tuple[float, float] = (0.75, 1.25),
    translate: float = 0.1,
    affine_p: float = 0.5,
    color: float = 0.5,
    min_visibility: float = 0.3,
    seed: int | None = None,
) -> A.Compose | None:
    """The training pipeline (flip, scale / crop by affine, colour) or, if not ``train``, none
    (``None``: the images and boxes as they are; an empty pipeline would only warn).

    Boxes are absolute ``xyxy`` with a ``labels`` field; a box less than ``min_visibility``
    visible after cropping is dropped with its label.
    """
    if not train:
        return None
    steps = [
        A.HorizontalFlip(p=hflip),
        A.Affine(scale=tuple(scale), translate_percent=(-translate, translate), p=affine_p),
        A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1, p=color),
    ]
    params = A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=min_visibility, clip=True)
    return A.Compose(steps, bbox_params=params, seed=seed)
