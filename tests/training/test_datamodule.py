"""The data module trains on `train` only and evaluates the other splits."""

import json

import pytest

from detkit.data.split_report import write_splits
from detkit.data.splits import split_dataset
from detkit.errors import DatasetError
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
    assert sorted(again.split_names) == ["dev", "test", "train", "train_dev"]
    assert again.subset("dev").records == first.subset("dev").records


def test_reads_what_tools_split_writes_report_included(tmp_path, tiny_shapes):
    write_splits(tiny_shapes, tmp_path / "splits", {"fractions": FOUR}, seed=2)
    assert (tmp_path / "splits" / "report.json").is_file()
    datamodule = DetectionDataModule(lambda: tiny_shapes, splits_dir=str(tmp_path / "splits"))
    assert _ids(datamodule.train_dataloader()) == split_dataset(tiny_shapes, FOUR, seed=2)["train"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no split manifests"):
        DetectionDataModule(lambda: tiny_shapes, splits_dir=str(empty)).load()
