"""Build torchvision detectors by name, sized for the data, with their heads fitted to its classes.

Labels inside detkit are ``0..C-1``; every torchvision detector reserves index 0 for
background, so a model built here has ``C + 1`` outputs and `to_model_labels` /
`from_model_labels` shift between the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torchvision
from torch import nn

from detkit.exceptions import ConfigError
from detkit.models.families import detector_names, family_named, family_of, with_partial_label_loss
from detkit.models.weight_transfer import BACKGROUND, carry_class_rows, class_tensors
from detkit.models.weights import backbone_weights, detector_weights, offline_message

DETECTORS = detector_names()  # each family's (`detkit.models.families`)
SMALLEST_INPUT = 32  # px a side; a family states where its detector needs more


def build_detector(
    name: str,
    num_classes: int,
    image_size: int,
    weights: str | None = None,
    weights_backbone: str | None = None,
    trainable_backbone_layers: int | None = None,
    batch_norm_momentum: float | None = None,
    anchor_size_range: Sequence[float] | str | None = None,
    keep_aspect_ratio: bool | None = None,
    channels_last: bool = False,
    options: dict[str, Any] | None = None,
    class_names: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
) -> nn.Module:
    """A torchvision detector for ``num_classes`` foreground classes on ``image_size`` px inputs.

    ``weights`` / ``weights_backbone`` are torchvision weight names ("DEFAULT", "COCO_V1", ...);
    with ``weights`` the pretrained model is loaded and its classification head replaced for
    ``num_classes``, keeping the rows of the pretrained classes among ``class_names`` (by name,
    or as ``class_map`` maps ours to theirs; `detkit.models.weight_transfer`). A file that cannot be
    downloaded gives one ConfigError saying where to place it. A family with a sigmoid
    classifier (RetinaNet, FCOS) gets the partial-label classification loss
    (`detkit.models.partial_labels`), which equals torchvision's when every class is labelled.
    ``batch_norm_momentum`` overrides the momentum of every BatchNorm's running
    statistics (SSDlite's 0.03 suits its 600-epoch recipe; in a short run from scratch the
    eval-mode statistics then lag the weights). ``anchor_size_range`` (SSD) gives the smallest
    and largest anchor side as fractions of the image (torchvision's 0.2 and 0.95), to match the
    objects. ``keep_aspect_ratio`` (SSD) fits each image inside ``image_size`` x ``image_size``
    keeping its shape, as the other detectors always do, instead of stretching it to that square
    (``None``: the detector's own way).
    ``channels_last`` stores the weights channels-last, the layout CPU (oneDNN) and
    GPU convolutions run fastest in. ``options`` go to the detector (e.g. ``box_batch_size_per_image``).
    """
    family = family_named(name)
    smallest = family.smallest_input.get(name, SMALLEST_INPUT)
    if num_classes < 1 or image_size < smallest:
        raise ConfigError(f"need num_classes >= 1 and image_size >= {smallest}, got {num_classes} and {image_size}")
    if keep_aspect_ratio and name in family.smallest_input:
        raise ConfigError(
            f"model.keep_aspect_ratio=true: {name} needs {smallest} px on both sides, which a shape kept "
            "cannot promise; leave it null (each image stretched to the square)"
        )
    options = dict(options or {})
    kwargs: dict[str, Any] = {
        "weights": weights,
        "weights_backbone": weights_backbone,
        "trainable_backbone_layers": trainable_backbone_layers,
    }
    if weights is None:
        kwargs["num_classes"] = num_classes + 1
    if not family.fixed_input:  # the SSD builders pass extra kwargs to the backbone too
        kwargs.update(min_size=image_size, max_size=image_size, **options)
    pretrained = detector_weights(name, weights)
    downloads = [pretrained] if pretrained else [w for w in [backbone_weights(name, weights_backbone)] if w]
    try:
        builder = family.detectors[name]
        model = builder(**kwargs) if builder is not None else torchvision.models.get_model(name, **kwargs)
    except OSError as error:  # no network: urllib's URLError, a refused connection, ...
        if not downloads:
            raise
        raise ConfigError(offline_message(downloads, error)) from None
    if family.fit_input is not None:
        family.fit_input(model, image_size, options, anchor_size_range, bool(keep_aspect_ratio))
    elif anchor_size_range is not None:
        raise ConfigError(f"model.anchor_size_range is for SSD detectors; {name} takes its anchors from options")
    elif keep_aspect_ratio is False:
        raise ConfigError(f"model.keep_aspect_ratio=false is for SSD detectors; {name} always keeps it")
    if pretrained is not None:
        state = model.state_dict()
        pretrained_rows = {key: state[key] for key in class_tensors(model)}
        replace_classifier(model, num_classes + 1)
        if class_names is not None:
            outputs = [BACKGROUND, *class_names]
            carry_class_rows(model, pretrained_rows, pretrained.meta["categories"], outputs, class_map)
    with_partial_label_loss(model)
    if batch_norm_momentum is not None:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = batch_norm_momentum
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def replace_classifier(model: nn.Module, num_outputs: int) -> None:
    """Swap a detector's class-scoring layer for a freshly initialised one with ``num_outputs``
    (its family's way), in the model's mode."""
    family_of(model).replace_classifier(model, num_outputs)
    model.train(model.training)  # the new layer takes the model's mode


def to_model_target(
    target: dict[str, Any], partial_labels: bool = True, gate: float | None = None
) -> dict[str, torch.Tensor]:
    """A detkit target as torchvision detectors take it: labels shifted past background, and
    with ``partial_labels`` the image's ``annotated`` classes (background always labelled) and
    the ``gate`` score of `masked_focal_loss`, if any."""
    model_target = {"boxes": target["boxes"], "labels": to_model_labels(target["labels"])}
    if partial_labels and "annotated" in target:
        annotated = target["annotated"]
        model_target["annotated"] = torch.cat([annotated.new_ones(1), annotated])
        if gate is not None:
            model_target["gate"] = torch.tensor(gate)
    return model_target


def to_model_labels(labels: torch.Tensor) -> torch.Tensor:
    """detkit labels ``0..C-1`` -> torchvision labels ``1..C`` (0 is background)."""
    return labels + 1


def from_model_labels(labels: torch.Tensor) -> torch.Tensor:
    return labels - 1
