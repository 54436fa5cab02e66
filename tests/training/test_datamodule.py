"""The data module trains on `train` only and evaluates the other splits."""

import json

from detkit.data.splits import split_dataset
from detkit.training.datamodule import DetectionDataModule

FOUR = {"train": 0.5, "train_dev": 0.125, "dev": 0.25, "test": 0.125}


def _ids(loader):
    return sorted(int(t["image_id"]) for _, targets in loader for t in targets)


def test_trains_on_train_only_and_validates_on_dev(tmp_path, tiny_shapes):
    datamodule = DetectionDataModule(
        lambda: tiny_shapes, batch_size=4, split={"fractions": FOUR}, manifest_dir=str(tmp_path / "splits"), seed=3
    )
    expected = split_dataset(tiny_shapes, FOUR, seed=3)
    assert _ids(datamodule.train_dataloader()) == expected["train"]
    assert _ids(datamodule.val_dataloader()) == expected["dev"]
    datamodule.test_split = "train_dev"
    assert _ids(datamodule.test_dataloader()) == expected["train_dev"]
    assert not set(expected["train_dev"]) & set(expected["train"])
    assert json.loads((tmp_path / "splits" / "test.json").read_text())["image_ids"] == expected["test"]


def test_reads_the_manifests_it_is_given(tmp_path, tiny_shapes):
    first = DetectionDataModule(
        lambda: tiny_shapes, split={"fractions": FOUR}, manifest_dir=str(tmp_path / "m"), seed=5
    )
    first.load()
    again = DetectionDataModule(lambda: tiny_shapes, splits_dir=str(tmp_path / "m"), seed=0)
    assert again.split_names == ["dev", "test", "train", "train_dev"]
    assert again.subset("dev").records == first.subset("dev").records
