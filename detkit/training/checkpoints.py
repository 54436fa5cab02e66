"""A trained detector back from a run: its saved config builds the model, a checkpoint fills it."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from torch import nn

from detkit.errors import ConfigError
from detkit.training.run import load_run_config

MODEL_PREFIX = "model."  # DetectionModule keeps the detector as ``self.model``


def load_detector(run_dir: str | Path, checkpoint: str | Path) -> nn.Module:
    """The detector of the run in ``run_dir`` with the weights of a Lightning ``checkpoint``
    (loaded with ``weights_only=True``), in eval mode on the CPU."""
    model = instantiate(load_run_config(run_dir).model)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    weights = {k.removeprefix(MODEL_PREFIX): v for k, v in state.items() if k.startswith(MODEL_PREFIX)}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ConfigError(
            f"{checkpoint} does not fit the model of {run_dir}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model.eval()
