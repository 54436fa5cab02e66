"""Splits settled apart from any loader: from manifests, anew, a share of train, one class alone."""

import dataclasses
import json

import numpy as np
import pytest

from detkit.data.shapes import ensure_shapes
from detkit.data.splits.report import write_splits
from detkit.data.splits.seeded import split_dataset
from detkit.data.splits.split_data import SplitPlan
from detkit.exceptions import ConfigError, DatasetError
from tests.conftest import TINY_SHAPES

FOUR = {"train": 0.5, "train_dev": 0.125, "dev": 0.25, "test": 0.125}


def plan(**changes) -> SplitPlan:
    return SplitPlan(**{"splits": "auto", "split": {"fractions": FOUR}, "split_seed": 1, **changes})


def test_settles_seeded_splits_and_writes_their_manifests(tmp_path, tiny_shapes):
    data = plan(split_seed=3, manifest_dir=str(tmp_path / "splits")).settle(tiny_shapes)
    expected = split_dataset(tiny_shapes, FOUR, seed=3)
    assert data.split_ids == expected and data.mode == "resplit" and data.split_names == list(FOUR)
    assert [r.image_id for r in data.subset("dev").records] == expected["dev"]
    assert json.loads((tmp_path / "splits" / "test.json").read_text())["image_ids"] == expected["test"]
    truth = data.ground_truth("dev", expected["dev"][:2])
    assert [image["id"] for image in truth["images"]] == expected["dev"][:2]
    with pytest.raises(ConfigError, match=r"parity.split='val' is not one of the run's splits \['train'"):
        data.require("val", "parity.split")


def test_reads_the_manifests_it_is_given(tmp_path, tiny_shapes):
    first = plan(split_seed=5, manifest_dir=str(tmp_path / "m")).settle(tiny_shapes)
    again = SplitPlan.saved(tmp_path / "m").settle(tiny_shapes)
    assert again.mode == "manifests" and again.split_ids == first.split_ids


def test_reads_what_tools_split_writes_report_included(tmp_path, tiny_shapes):
    write_splits(tiny_shapes, tmp_path / "splits", {"fractions": FOUR}, seed=2)
    assert (tmp_path / "splits" / "report.json").is_file()
    data = SplitPlan.saved(tmp_path / "splits").settle(tiny_shapes)
    assert data.split_ids == split_dataset(tiny_shapes, FOUR, seed=2)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no split manifests"):
        SplitPlan.saved(empty).settle(tiny_shapes)


@pytest.fixture(scope="module")
def half_labelled(tmp_path_factory):
    """Tiny shapes with half of the classes of each image left unlabelled."""
    params = dataclasses.replace(TINY_SHAPES, hidden_label_fraction=0.5)
    return ensure_shapes(tmp_path_factory.mktemp("half") / "shapes", params)


def test_single_class_keeps_the_images_labelled_for_it_on_the_same_splits(half_labelled):
    joint = plan().settle(half_labelled)
    single = plan(single_class="square").settle(half_labelled)
    square = half_labelled.class_names.index("square")
    assert single.class_names == ["square"]
    assert single.category_ids == [half_labelled.category_ids[square]]
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
        plan(single_class="hexagon").settle(tiny_shapes)


def test_train_fraction_keeps_nested_seeded_shares_of_train_only(tiny_shapes):
    whole = plan(split_seed=2).settle(tiny_shapes)
    train = whole.split_ids["train"]
    shares = {f: plan(split_seed=2, train_fraction=f).settle(tiny_shapes) for f in (0.25, 0.5)}
    assert [len(shares[f].split_ids["train"]) for f in shares] == [round(f * len(train)) for f in shares]
    assert set(shares[0.25].split_ids["train"]) < set(shares[0.5].split_ids["train"]) < set(train), "nested"
    assert shares[0.5].split_ids["dev"] == whole.split_ids["dev"]
    with pytest.raises(ConfigError, match="train_fraction"):
        plan(train_fraction=0.0)
