"""CSPDet: detkit's own one-stage detector (`detkit.models.cspdet`): a CSP backbone and PAN neck,
a decoupled anchor-free head with distribution-focal box sides, a task-aligned assigner; a
sigmoid classifier per cell (partial labels: its loss leaves unlabelled classes out)."""

from torch import nn

from detkit.models.cspdet import CSPDet, cspdet_n, cspdet_s
from detkit.models.cspdet.head import class_layer
from detkit.models.families import DetectorFamily


def class_tensors(model: nn.Module) -> dict[str, int]:
    """Each level's 1x1 class layer (one prediction a cell)."""
    levels = range(len(model.head.levels))
    return {f"head.levels.{i}.cls_pred.{p}": 1 for i in levels for p in ("weight", "bias")}


def replace_classifier(model: nn.Module, num_outputs: int) -> None:
    for level in model.head.levels:
        level.cls_pred = class_layer(level.cls_pred.in_channels, num_outputs)


def partial_label_heads(model: nn.Module, partial: bool) -> None:
    """One loss serves both: it leaves unlabelled classes out when ``partial`` (and TorchScript
    compiles the model either way)."""
    model.partial_labels = partial


FAMILY = DetectorFamily(
    name="cspdet",
    model_type=CSPDet,
    detectors={"cspdet_n": cspdet_n, "cspdet_s": cspdet_s},
    class_tensors=class_tensors,
    replace_classifier=replace_classifier,
    partial_label_heads=partial_label_heads,
    loads_backbone_weights=True,  # a timm backbone's, by timm's names or from a file
)
