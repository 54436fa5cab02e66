"""A run's checkpoints: written atomically, read back (config, checkpoint, detector), and a new
model started from one of them."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from detkit.errors import ConfigError
from detkit.files import write_bytes_atomic
from detkit.models.transfer import BACKGROUND, read_checkpoint, transfer_state

CONFIG_FILE = "config.yaml"


def load_run_config(run_dir: str | Path) -> DictConfig:
    """The resolved config a run saved."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {CONFIG_FILE} there; pass a run directory made by tools/train.py")
    return OmegaConf.load(path)


def find_run(run: str | Path, checkpoint: str | Path | None) -> tuple[Path, Path]:
    """The run directory and checkpoint from ``run`` (a run directory, or a checkpoint inside
    one) and an optional explicit ``checkpoint``; ``best.ckpt`` by default."""
    path = Path(run)
    if path.is_file():
        run_dir, chosen = path.parent.parent, path
    else:
        run_dir, chosen = path, Path(checkpoint) if checkpoint else path / "checkpoints" / "best.ckpt"
    if not chosen.is_file():
        raise ConfigError(f"checkpoint {chosen} not found; pass run=<run dir> or checkpoint=<path to a .ckpt>")
    read_checkpoint(chosen)  # one clear message for a file that is not a detkit checkpoint, before Lightning
    return run_dir, chosen


def build_architecture(model_cfg: DictConfig) -> nn.Module:
    """The configured detector without pretrained weights (none are downloaded): its weights
    come from a checkpoint. Frozen batch norm (torchvision's, with pretrained weights) loads
    into plain batch norm, which computes the same in eval mode."""
    return instantiate(model_cfg, weights=None, weights_backbone=None, trainable_backbone_layers=None)


def load_detector(run_dir: str | Path, checkpoint: str | Path) -> nn.Module:
    """The detector of the run in ``run_dir`` with the weights of a Lightning ``checkpoint``
    (loaded with ``weights_only=True``), in eval mode on the CPU."""
    model = build_architecture(load_run_config(run_dir).model)
    state, _ = read_checkpoint(checkpoint)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [key for key in missing if not key.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ConfigError(
            f"{checkpoint} does not fit the model of {run_dir}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model.eval()


def init_checkpoint_path(checkpoint: str | Path) -> Path:
    """The file ``init.checkpoint`` names: a .ckpt, or a run directory's best checkpoint."""
    path = Path(checkpoint)
    path = path / "checkpoints" / "best.ckpt" if path.is_dir() else path
    if not path.is_file():
        raise ConfigError(f"init.checkpoint={checkpoint}: {path} not found; pass a detkit run directory or a .ckpt")
    return path


def read_init_checkpoint(checkpoint: str | Path) -> tuple[dict[str, Tensor], list[str]]:
    """The detector state and class names of ``init.checkpoint`` (names from the run's config
    for checkpoints written before checkpoints recorded them)."""
    path = init_checkpoint_path(checkpoint)
    state, names = read_checkpoint(path)
    return state, names if names is not None else list(load_run_config(path.parent.parent).data.class_names)


def initialise_from_checkpoint(
    model: nn.Module, checkpoint: str | Path, class_names: Sequence[str], class_map: Mapping[str, str] | None = None
) -> list[str]:
    """Fill ``model`` (built for ``class_names``) from a detkit ``checkpoint`` (or a run directory:
    its best checkpoint), re-initialising the classification rows of classes the checkpoint
    lacks; returns the classes whose rows were carried over (`detkit.models.transfer`)."""
    state, source_names = read_init_checkpoint(checkpoint)
    return transfer_state(model, state, [BACKGROUND, *source_names], [BACKGROUND, *class_names], class_map)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written whole or not at all: serialised in memory, then a temp file beside
    the target, renamed over it (`detkit.files.write_bytes_atomic`). Lightning's own save goes
    through fsspec's transaction, whose temp file is in the system's temp directory: when that is
    another file system the final move is a copy, which a kill can leave half-written."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes_atomic(path, buffer.getvalue())
