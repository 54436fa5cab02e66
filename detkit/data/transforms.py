"""Box-aware augmentation with albumentations: boxes follow the pixels (``pascal_voc`` = xyxy)."""

from __future__ import annotations

import albumentations as A

from detkit.exceptions import ConfigError

# ImageNet's mean colour: what FCOS, RetinaNet and Faster R-CNN normalise to 0 and pad batches with (SSDlite: 128 grey)
MEAN_PIXEL = (124, 116, 104)


def build_transforms(
    train: bool,
    hflip: float = 0.5,
    scale: tuple[float, float] = (0.75, 1.25),
    translate: float = 0.1,
    affine_p: float = 0.5,
    color: float = 0.5,
    min_visibility: float = 0.3,
    mosaic: float = 0.0,
    mosaic_size: int | None = None,
    seed: int | None = None,
) -> A.Compose | None:
    """The training pipeline (mosaic, flip, scale / crop by affine, colour) or, if not ``train``,
    none (``None``: the images and boxes as they are; an empty pipeline would only warn).

    Boxes are absolute ``xyxy`` with a ``labels`` field; a box less than ``min_visibility``
    visible after cropping, or under 1 px wide or high, is dropped with its label. With probability
    ``mosaic`` an image becomes a ``mosaic_size`` square cut from a 2 x 2 grid of it and three
    other training images (YOLOv4's mosaic, albumentations' `A.Mosaic`), each fitted in the square
    as the detector fits its input; the others come in the image's ``mosaic_metadata``
    (`DetectionImages` reads them).
    """
    if not train:
        return None
    steps = []
    if mosaic:
        if not mosaic_size:
            raise ConfigError("data.module.augment.mosaic needs data.module.read_size (the mosaic's side in px)")
        size = (mosaic_size, mosaic_size)
        steps.append(A.Mosaic(target_size=size, cell_shape=size, fit_mode="contain", fill=MEAN_PIXEL, p=mosaic))
    steps += [
        A.HorizontalFlip(p=hflip),
        A.Affine(scale=tuple(scale), translate_percent=(-translate, translate), p=affine_p),
        A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1, p=color),
    ]
    params = A.BboxParams(
        format="pascal_voc",
        label_fields=["labels"],
        min_visibility=min_visibility,
        min_width=1,
        min_height=1,
        clip=True,
    )
    return A.Compose(steps, bbox_params=params, seed=seed)
