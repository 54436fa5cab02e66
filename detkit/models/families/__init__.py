"""Each detector family states its traits once, in its own module of this package: the
detectors it builds, how its class layer is swapped and which tensors run over the classes,
whether its loss can leave unlabelled classes out, and how it fits images and objects. Every
place that asks a question of a detector (building it, transferring weights between class
sets, partial labels, export, the data's check, the object fit) reads the answer here.

Adding a family is its module here (a `DetectorFamily` named ``FAMILY``) and
``configs/model/<detector>.yaml``: the modules of this package are found by name."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn
from torchvision.models import WeightsEnum

from detkit.exceptions import ConfigError

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class DetectorFamily:
    """One kind of detector (a torchvision class) and what detkit needs to know of it."""

    name: str
    model_type: type[nn.Module]  # a built model is of this family when it is an instance of it
    # detector name -> detkit's builder from torchvision parts; None: torchvision's builder of that name
    detectors: Mapping[str, Builder | None]
    # the state-dict keys whose first dimension runs over the outputs, each with its blocks (anchors per location)
    class_tensors: Callable[[nn.Module], dict[str, int]]
    replace_classifier: Callable[[nn.Module, int], None]  # a fresh class layer with that many outputs
    # a sigmoid classifier's heads swapped for the partial-label loss (True) or torchvision's own (False,
    # which TorchScript compiles); None: a softmax classifier, which cannot leave a class out
    partial_label_heads: Callable[[nn.Module, bool], None] | None = None
    # the input size and box options set on a built model (the builder fixes its input); None: the
    # builder takes min_size / max_size and the options, and keeps every image's shape
    fit_input: Callable[[nn.Module, int, dict[str, Any], Any, bool], None] | None = None
    # the backbone weights of detectors detkit assembles (torchvision's builders declare theirs) ...
    backbone_weights: Mapping[str, type[WeightsEnum]] = field(default_factory=dict)
    # ... unless its builders read model.weights_backbone themselves (not torchvision's weight names)
    loads_backbone_weights: bool = False
    # detectors whose layers need more than the usual 32 px a side: the smallest square input they take
    smallest_input: Mapping[str, int] = field(default_factory=dict)
    # the module that holds its score threshold, NMS threshold and detections per image
    postprocess: Callable[[nn.Module], nn.Module] = lambda model: model

    @property
    def partial_labels(self) -> bool:
        """Whether its loss can leave the classes an image does not label out (sigmoid classifiers)."""
        return self.partial_label_heads is not None

    @property
    def fixed_input(self) -> bool:
        """Whether its builder fixes the input (SSD): images are stretched to the square unless
        ``keep_aspect_ratio``, and its default boxes take ``model.anchor_size_range``."""
        return self.fit_input is not None


@functools.cache
def families() -> tuple[DetectorFamily, ...]:
    """Every family, one per module of this package, in the modules' order."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        family = getattr(importlib.import_module(f"{__name__}.{module.name}"), "FAMILY", None)
        if isinstance(family, DetectorFamily):
            found.append(family)
    return tuple(found)


def detector_names() -> tuple[str, ...]:
    """Every detector detkit builds, family by family."""
    return tuple(name for family in families() for name in family.detectors)


def family_named(detector: str) -> DetectorFamily:
    """The family of the detector named ``detector`` (``model.name``)."""
    family = _building(detector)
    if family is not None:
        return family
    raise ConfigError(f"model.name={detector!r} is not a known detector; choose one of {list(detector_names())}")


def _building(detector: str) -> DetectorFamily | None:
    return next((family for family in families() if detector in family.detectors), None)


def family_of(model: nn.Module) -> DetectorFamily:
    """The family of a built detector: the one of its nearest class (a family of a subclass,
    Mask R-CNN's of Faster R-CNN, say, answers for it before its parent's)."""
    lineage = type(model).__mro__
    found = [family for family in families() if family.model_type in lineage]
    if found:
        return min(found, key=lambda family: lineage.index(family.model_type))
    raise ConfigError(f"{type(model).__name__} is not a detector family detkit knows: {family_names()}")


def family_names() -> list[str]:
    return [family.name for family in families()]


def partial_label_detectors() -> list[str]:
    """The detectors whose loss can leave unlabelled classes out."""
    return [name for family in families() if family.partial_labels for name in family.detectors]


def keeps_aspect_ratio(detector: str, keep_aspect_ratio: bool | None) -> bool:
    """Whether ``detector`` fits images into its input keeping their shape: a family with a
    fixed input stretches them unless ``keep_aspect_ratio``; every other keeps it, and so does a
    name no family builds (``model=auto`` before it is settled)."""
    family = _building(detector)
    return family is None or not family.fixed_input or bool(keep_aspect_ratio)


def class_logits_tensors(model: nn.Module) -> dict[str, int]:
    """The class tensors of a one-stage head with one ``cls_logits`` convolution over anchors x
    classes (RetinaNet, FCOS)."""
    anchors = model.head.classification_head.num_anchors
    return {f"head.classification_head.cls_logits.{p}": anchors for p in ("weight", "bias")}


def with_partial_label_loss(model: nn.Module, partial: bool = True) -> nn.Module:
    """``model`` with the heads of the partial-label loss (or, ``partial=False``, torchvision's own),
    keeping every weight; a softmax detector is left as it is."""
    swap = family_of(model).partial_label_heads
    if swap is not None:
        swap(model, partial)
    return model
