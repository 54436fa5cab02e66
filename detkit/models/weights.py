"""torchvision's pretrained weights: which files a detector needs, and what to do without internet.

torchvision downloads weights once into torch.hub's checkpoint directory
(``$TORCH_HOME/hub/checkpoints``, ``~/.cache/torch/hub/checkpoints`` by default) and reads them
from there afterwards; a machine without internet needs the file placed there by hand.
"""

from __future__ import annotations

import typing
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torchvision.models import WeightsEnum

from detkit.exceptions import ConfigError
from detkit.models.families import family_named


def detector_weights(name: str, weights: str | None) -> WeightsEnum | None:
    """torchvision's weights entry for detector ``name`` ("DEFAULT", "COCO_V1", ...), or None."""
    if weights is None or family_named(name).detectors[name] is not None:  # an assembled detector has none
        return None
    try:
        return torchvision.models.get_model_weights(name).verify(weights)
    except (ValueError, KeyError) as error:
        raise ConfigError(f"model.weights={weights!r} is not a weight of {name}: {error}") from None


def backbone_weights(name: str, weights_backbone: str | None) -> WeightsEnum | None:
    """torchvision's weights entry of the backbone of detector ``name``, or None."""
    family = family_named(name)
    if weights_backbone is None or family.loads_backbone_weights:
        return None
    enum = family.backbone_weights.get(name) or _declared_backbone_enum(name)
    try:
        return enum.verify(weights_backbone)
    except (ValueError, KeyError) as error:
        raise ConfigError(
            f"model.weights_backbone={weights_backbone!r} is not a weight of {enum.__name__}: {error}"
        ) from None


def _declared_backbone_enum(name: str) -> type[WeightsEnum]:
    """The weights enum a torchvision builder declares for ``weights_backbone`` (``Optional[X]``)."""
    hint = typing.get_type_hints(torchvision.models.get_model_builder(name))["weights_backbone"]
    return next(arg for arg in typing.get_args(hint) if isinstance(arg, type) and issubclass(arg, WeightsEnum))


def hub_file(entry: WeightsEnum) -> Path:
    """Where torch.hub looks for (and saves) the file of a weights entry."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(entry.url).path).name


def offline_message(entries: list[WeightsEnum], error: BaseException) -> str:
    """One message saying which weight files could not be downloaded and where to place them."""
    needed = [entry for entry in entries if not hub_file(entry).is_file()] or entries
    places = "; ".join(f"{entry.url} -> {hub_file(entry)}" for entry in needed)
    return (
        f"could not download pretrained weights ({error}). On a machine with internet, download "
        f"{places} (torch.hub's checkpoint directory; TORCH_HOME moves it), then run again; "
        "or train without them: model.weights=null model.weights_backbone=null"
    )
