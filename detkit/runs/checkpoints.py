"""Lightning checkpoints as detkit reads them, known here only: their detector weights and class
names read back safely (`detkit.training.checkpoint_io` writes them, atomically)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor, nn

from detkit.exceptions import ConfigError
from detkit.runs import layout

CHECKPOINT_CLASSES = "detkit_class_names"  # where a detkit checkpoint records its classes
MODEL_PREFIX = "model."  # a Lightning checkpoint's keys of the detector


def build_architecture(model_cfg: DictConfig) -> nn.Module:
    """The configured detector without pretrained weights (none are downloaded): its weights
    come from a checkpoint. Frozen batch norm (torchvision's, with pretrained weights) loads
    into plain batch norm, which computes the same in eval mode."""
    return instantiate(model_cfg, weights=None, weights_backbone=None, trainable_backbone_layers=None)


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], list[str] | None]:
    """The detector's state dict in a detkit (Lightning) checkpoint, loaded with
    ``weights_only=True``, and the class names it records (None for checkpoints without)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"checkpoint {path}: no such file; pass a .ckpt of a detkit run ({layout.best_checkpoint('<run>')})"
        )
    try:
        if not zipfile.is_zipfile(path):  # torch.save's format; a cut-short file loses its directory at the end
            raise EOFError
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # what the safe loader raises for anything but tensors and plain data
        raise ConfigError(
            f"checkpoint {path} holds objects other than tensors and plain data, which detkit never loads: "
            "it is not a checkpoint detkit wrote; pass a .ckpt written by tools/train.py"
        ) from None
    except Exception:  # torch raises several types for a file that is cut short or not a checkpoint
        raise ConfigError(
            f"checkpoint {path} is truncated or not a checkpoint at all; pass a .ckpt written by tools/train.py"
        ) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise ConfigError(
            f"checkpoint {path} is a {type(checkpoint).__name__} without a 'state_dict': not a Lightning "
            "checkpoint; pass a .ckpt written by tools/train.py"
        )
    weights, names = checkpoint["state_dict"], checkpoint.get(CHECKPOINT_CLASSES)
    if not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in weights.items()) or not (
        names is None or (isinstance(names, list) and all(isinstance(n, str) for n in names))
    ):
        raise ConfigError(
            f"checkpoint {path}: its state_dict must map names to tensors and {CHECKPOINT_CLASSES!r} list class "
            "names; it is not a checkpoint detkit wrote; pass a .ckpt written by tools/train.py"
        )
    state = {k.removeprefix(MODEL_PREFIX): v for k, v in weights.items() if k.startswith(MODEL_PREFIX)}
    return state, names
