"""The random streams a checkpoint carries: saved, written as a checkpoint is (weights_only),
restored, and every stream then draws what it drew after the save."""

import random
from types import SimpleNamespace

import numpy as np
import torch

from detkit.data.transforms import build_transforms
from detkit.training.random_state import RandomStateCheckpoint

IMAGE = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
BOXES = [[5.0, 5.0, 40.0, 50.0]]


def _trainer(transform):
    """What the callback reads of a trainer: its training loader's dataset's augmentation."""
    return SimpleNamespace(train_dataloader=SimpleNamespace(dataset=SimpleNamespace(transform=transform)))


def _draws(transform) -> list:
    augmented = [transform(image=IMAGE, bboxes=BOXES, labels=[1]) for _ in range(4)]
    return [
        torch.rand(3).tolist(),
        np.random.rand(3).tolist(),
        [random.random() for _ in range(3)],
        [(a["image"].tobytes(), list(map(list, a["bboxes"]))) for a in augmented],
    ]


def test_a_restored_checkpoint_draws_what_the_saved_run_drew_next(tmp_path):
    transform = build_transforms(train=True, seed=3)
    saving = RandomStateCheckpoint()
    saving.on_train_start(_trainer(transform), None)
    _draws(transform)  # the streams move on during the epoch
    torch.save({"callbacks": saving.state_dict()}, tmp_path / "last.ckpt")
    expected = _draws(transform)
    _draws(transform)  # ... and on, as the killed run did before it stopped

    fresh = build_transforms(train=True, seed=3)  # a new process builds its loader anew, at the seed's start
    restoring = RandomStateCheckpoint()
    restoring.load_state_dict(torch.load(tmp_path / "last.ckpt", weights_only=True)["callbacks"])
    restoring.on_train_start(_trainer(fresh), None)
    assert _draws(fresh) == expected


def test_without_a_training_loader_the_global_streams_still_round_trip():
    callback = RandomStateCheckpoint()
    state = callback.state_dict()
    assert "augmentation" not in state
    expected = [torch.rand(2).tolist(), np.random.rand(2).tolist(), random.random()]
    callback.load_state_dict(state)
    callback.on_train_start(_trainer(None), None)
    assert [torch.rand(2).tolist(), np.random.rand(2).tolist(), random.random()] == expected
