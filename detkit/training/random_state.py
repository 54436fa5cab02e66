"""Random state that a resumed run needs to continue exactly as if it had never stopped.

Lightning's checkpoints restore weights, optimiser, scheduler and step counters, but not the
random streams: torch's, numpy's and Python's global generators (data-loader shuffling, worker
seeds, detectors that sample boxes) and the training augmentation's own generators. This
callback saves them with every checkpoint (written after each epoch's validation) and puts them
back on resume: the global ones as the checkpoint is restored, before the first training
iterator draws its shuffling seed (Lightning runs the sanity check with its random state
isolated), the augmentation's when training starts. A run killed mid-epoch repeats that epoch
from its start, as the uninterrupted run did it.
"""

from __future__ import annotations

import random
from typing import Any

import albumentations as A
import lightning as L
import numpy as np
import torch


class RandomStateCheckpoint(L.Callback):
    """Saves the random streams in checkpoints and restores them at the next training epoch."""

    def __init__(self) -> None:
        self._transform: A.Compose | None = None
        self._restore: list | None = None  # the augmentation's generator states, until training starts

    def state_dict(self) -> dict[str, Any]:
        name, keys, position, has_gauss, gauss = np.random.get_state()
        state = {
            "torch": torch.get_rng_state(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
            "python": random.getstate(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        if self._transform is not None:
            state["augmentation"] = [
                (t.random_generator.bit_generator.state, t.py_random.getstate()) for t in _walk(self._transform)
            ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        name, keys, position, has_gauss, gauss = state_dict["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
        random.setstate(state_dict["python"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        self._restore = state_dict.get("augmentation")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._transform = _train_transform(trainer)
        if self._restore is None or self._transform is None:
            return
        for transform, (generator_state, python_state) in zip(_walk(self._transform), self._restore):
            transform.random_generator.bit_generator.state = generator_state
            transform.py_random.setstate(python_state)
        self._restore = None


def _walk(transform: A.BasicTransform | A.BaseCompose) -> list:
    """The transform and, depth first, every transform inside it: each has its own generators."""
    children = transform.transforms if isinstance(transform, A.BaseCompose) else []
    return [transform] + [inner for child in children for inner in _walk(child)]


def _train_transform(trainer: L.Trainer) -> A.Compose | None:
    """The augmentation of the training loader in this process (loader workers reseed their own)."""
    dataset = getattr(trainer.train_dataloader, "dataset", None)
    return getattr(dataset, "transform", None)
