"""The data module trains on `train` only and evaluates the other splits."""

import dataclasses
import json

import numpy as np
import pytest

from detkit.data.shapes import ensure_shapes
from detkit.data.split_report import write_splits
from detkit.data.splits import split_dataset
from detkit.errors import ConfigError, DatasetError
from detkit.training.datamodule import DetectionDataModule
from tests.conftest import TINY_SHAPES

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


@pytest.fixture(scope="module")
def half_labelled(tmp_path_factory):
    """Tiny shapes with half of the classes of each image left unlabelled."""
    params = dataclasses.replace(TINY_SHAPES, hidden_label_fraction=0.5)
    return ensure_shapes(tmp_path_factory.mktemp("half") / "shapes", params)


def test_single_class_keeps_the_images_labelled_for_it_on_the_same_splits(half_labelled):
    joint = DetectionDataModule(lambda: half_labelled, split={"fractions": FOUR}, seed=1)
    single = DetectionDataModule(lambda: half_labelled, split={"fractions": FOUR}, seed=1, single_class="square")
    square = half_labelled.class_names.index("square")
    assert single.class_names == ["square"]
    assert single.load().category_ids == [half_labelled.category_ids[square]]
    for split in FOUR:
        records = joint.subset(split).records
        labelled = [r for r in records if square in r.annotated]
        assert 0 < len(labelled) < len(records), "the fixture hides square in some images of each split"
        kept = single.subset(split).records
        assert [r.image_id for r in kept] == [r.image_id for r in labelled]
        for record, original in zip(kept, labelled):
            assert record.annotated is None and (record.labels == 0).all()
            assert np.array_equal(record.boxes, original.boxes[original.labels == square])


def test_single_class_must_be_a_class_of_the_data(tiny_shapes):
    with pytest.raises(ConfigError, match=r"single_class='hexagon'.*circle"):
        DetectionDataModule(lambda: tiny_shapes, single_class="hexagon").load()
