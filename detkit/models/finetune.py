"""What trains when fine-tuning: a frozen backbone, and a smaller learning rate for it.

The backbone is what torchvision calls ``model.backbone``: the feature extractor with its FPN
(SSD: with its extra layers); the heads (and Faster R-CNN's RPN) always train. A frozen
backbone keeps its parameters and its batch-norm statistics: its parameters stop asking for
gradients and its batch norms stay in eval mode.

Lightning's ``BackboneFinetuning`` callback is not used: it adds the backbone's parameters to
the optimizer when it unfreezes them, which a step scheduler built at the start does not
schedule, and it freezes batch norm by switching to batch statistics instead of keeping the
learned ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from torch import nn

from detkit.exceptions import ConfigError

FREEZE_CHOICES = ("none", "backbone")


@dataclass(frozen=True)
class Finetune:
    """``freeze``: "backbone" or "none"; a frozen backbone is released at ``unfreeze_epoch``
    (0-based; None: never); the backbone learns at ``backbone_lr_multiplier`` times the rate.
    The defaults are the config's (``finetune`` in ``configs/train.yaml``)."""

    freeze: str
    unfreeze_epoch: int | None
    backbone_lr_multiplier: float

    def __post_init__(self) -> None:
        if self.freeze not in FREEZE_CHOICES:
            raise ConfigError(f"finetune.freeze={self.freeze!r}; choose one of {FREEZE_CHOICES}")
        if self.unfreeze_epoch is not None and (self.freeze == "none" or self.unfreeze_epoch < 1):
            raise ConfigError(
                f"finetune.unfreeze_epoch={self.unfreeze_epoch} needs finetune.freeze=backbone and an epoch >= 1"
            )
        if not self.backbone_lr_multiplier > 0:
            raise ConfigError(f"finetune.backbone_lr_multiplier must be > 0, got {self.backbone_lr_multiplier}")

    @property
    def options(self) -> dict[str, object]:
        """These settings as ``finetune.*`` config overrides."""
        return {f"finetune.{name}": value for name, value in asdict(self).items()}

    def frozen_at(self, epoch: int) -> bool:
        """Whether the backbone is frozen during ``epoch``."""
        return self.freeze == "backbone" and (self.unfreeze_epoch is None or epoch < self.unfreeze_epoch)


NO_FINETUNING = Finetune(freeze="none", unfreeze_epoch=None, backbone_lr_multiplier=1.0)  # all trains at one rate


def backbone_of(model: nn.Module) -> nn.Module:
    if not isinstance(getattr(model, "backbone", None), nn.Module):
        raise ConfigError(f"{type(model).__name__} has no .backbone to freeze; use finetune.freeze=none")
    return model.backbone


@dataclass
class BackboneFreeze:
    """The backbone parameters that were trainable (torchvision may hold some frozen for good)
    and its batch norms; `apply` freezes or releases them together."""

    parameters: list[nn.Parameter]
    norms: list[nn.Module] = field(default_factory=list)

    @classmethod
    def of(cls, model: nn.Module) -> BackboneFreeze:
        backbone = backbone_of(model)
        norms = [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        return cls([p for p in backbone.parameters() if p.requires_grad], norms)

    def apply(self, frozen: bool, norms: bool = True) -> None:
        """Freeze (no gradients; with ``norms``, batch norms in eval mode) or release (gradients;
        batch norms in train mode: call it while training)."""
        for parameter in self.parameters:
            parameter.requires_grad_(not frozen)
        if norms:
            for norm in self.norms:
                norm.train(not frozen)


def parameter_groups(
    model: nn.Module, backbone_lr_multiplier: float = 1.0, include: list[nn.Parameter] | None = None
) -> list[dict]:
    """Optimiser groups named "head" (the trainable parameters outside the backbone) and
    "backbone" (with ``lr_scale`` = ``backbone_lr_multiplier``), or one group when the
    multiplier is 1; ``include`` adds parameters frozen now that will be released later.
    Empty groups are left out."""
    extra = {id(p) for p in include or []}
    trainable = [p for p in model.parameters() if p.requires_grad or id(p) in extra]
    if backbone_lr_multiplier == 1.0:  # one group in the model's order: numerically the same as no fine-tuning
        return [{"params": trainable, "lr_scale": 1.0}]
    backbone_ids = {id(p) for p in backbone_of(model).parameters()}
    head = [p for p in trainable if id(p) not in backbone_ids]
    backbone = [p for p in trainable if id(p) in backbone_ids]
    groups = [
        {"params": head, "lr_scale": 1.0, "name": "head"},
        {"params": backbone, "lr_scale": backbone_lr_multiplier, "name": "backbone"},
    ]
    return [group for group in groups if group["params"]]
