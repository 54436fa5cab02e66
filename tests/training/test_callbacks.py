"""The dev images drawn to TensorBoard, from batches of mixed image sizes as real datasets have."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

from detkit.training.callbacks import DevImageLogger, progress_bar


def test_dev_images_of_different_sizes_share_one_grid(tmp_path):
    logger = TensorBoardLogger(tmp_path, name="", version="")
    trainer = SimpleNamespace(
        sanity_checking=False,
        is_global_zero=True,
        current_epoch=0,
        max_epochs=1,
        global_step=7,
        logger=logger,
        datamodule=SimpleNamespace(data=SimpleNamespace(class_names=["cat", "dog"])),
    )
    sizes = [(640, 481), (480, 700), (300, 565)]  # (height, width): portrait, landscape, small
    images = [torch.rand(3, h, w) for h, w in sizes]
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 100.0, 90.0]]), "labels": torch.tensor([1])} for _ in sizes]
    predictions = [
        {"boxes": np.array([[12.0, 8.0, 98.0, 95.0]]), "scores": np.array([0.9]), "labels": np.array([1])}
        for _ in sizes
    ]
    callback = DevImageLogger(every_n_epochs=1, num_images=4, score_threshold=0.5)
    callback.on_validation_batch_end(trainer, SimpleNamespace(eval_split="dev"), predictions, (images, targets), 0)
    logger.experiment.flush()

    events = EventAccumulator(str(tmp_path), size_guidance={IMAGES: 0}).Reload()
    (image,) = events.Images("dev/images")
    assert image.step == 7
    # make_grid's default: 2 px around and between the cells, each cell the largest height and
    # width once shrunk to DRAWN_SIDE (480x700 -> 439x640)
    assert (image.height, image.width) == (640 + 4, 3 * 640 + 8)


def test_a_phone_photo_is_drawn_shrunk_with_its_boxes_where_its_objects_are():
    callback = DevImageLogger(score_threshold=0.5)
    photo = torch.zeros(3, 3024, 4032)
    target = {"boxes": torch.tensor([[1008.0, 756.0, 2016.0, 1512.0]]), "labels": torch.tensor([0])}
    nothing = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, dtype=int)}
    drawn = callback._draw(photo, target, nothing, ["cat"])
    assert tuple(drawn.shape) == (3, 480, 640)
    lime = torch.tensor([0, 255, 0], dtype=torch.uint8)
    assert torch.equal(drawn[:, 200, 160], lime) and torch.equal(drawn[:, 120, 250], lime)  # the box at 1/6.3 scale
    assert drawn[:, 200, 200].sum() == 0  # inside it: the photo's own black


@pytest.mark.parametrize(
    ("max_epochs", "max_steps", "shown"),
    [(-1, 20, "Epoch 1, steps ≤ 20"), (4, -1, "Epoch 1/3"), (None, -1, "Epoch 1")],
)
def test_the_progress_bar_names_the_epoch_budget_or_the_step_budget(max_epochs, max_steps, shown):
    """Under trainer.max_steps Lightning sets max_epochs to -1, which rich's bar showed as ``Epoch 1/-2``."""
    bar = progress_bar()
    if not isinstance(bar, RichProgressBar):
        pytest.skip("without rich, Lightning's tqdm bar names no epoch budget")
    bar._trainer = SimpleNamespace(max_epochs=max_epochs, max_steps=max_steps)
    assert bar._get_train_description(1).strip() == shown
