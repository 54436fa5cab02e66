"""The data module trains on `train` only and evaluates the other splits."""

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from detkit.data.shapes import ensure_shapes
from detkit.data.split_report import write_splits
from detkit.data.splits import dataset_fingerprint, split_dataset
from detkit.exceptions import ConfigError, DatasetError
from detkit.training.datamodule import DetectionDataModule
from detkit.training.run import build_datamodule, save_config
from detkit.training.run_dir import RunDir
from tests.conftest import TINY_SHAPES, compose_train

FOUR = {"train": 0.5, "train_dev": 0.125, "dev": 0.25, "test": 0.125}


def _ids(loader):
    return sorted(int(t["image_id"]) for _, targets in loader for t in targets)


def test_trains_on_train_only_and_validates_on_dev(tmp_path, tiny_shapes):
    datamodule = DetectionDataModule(
        lambda: tiny_shapes,
        batch_size=4,
        split={"fractions": FOUR},
        manifest_dir=str(tmp_path / "splits"),
        split_seed=3,
    )
    expected = split_dataset(tiny_shapes, FOUR, seed=3)
    assert _ids(datamodule.train_dataloader()) == expected["train"]
    assert _ids(datamodule.val_dataloader()) == expected["dev"]
    datamodule.test_split = "train_dev"
    assert _ids(datamodule.test_dataloader()) == expected["train_dev"]
    assert not set(expected["train_dev"]) & set(expected["train"])
    assert json.loads((tmp_path / "splits" / "test.json").read_text())["image_ids"] == expected["test"]


def test_no_process_ends_an_epoch_on_a_batch_of_one_image(tiny_shapes):
    """Batch norm cannot train on one image of 1x1 features; that one image waits for the next epoch."""
    split = {"fractions": {"train": 1.0}}
    datamodule = DetectionDataModule(lambda: tiny_shapes, batch_size=len(tiny_shapes) - 1, split=split)
    assert len(datamodule.train_dataloader()) == 1, "24 images in batches of 23: the 24th is left out"
    assert len(datamodule.loader("train")) == 2, "not training: every image"
    datamodule.batch_size = 11
    assert not datamodule.train_dataloader().drop_last, "24 = 2 x 11 + 2: nothing left out"
    datamodule.trainer = SimpleNamespace(world_size=2)  # DistributedSampler: 12 images on each process
    assert datamodule.train_dataloader().drop_last, "12 = 11 + 1 on each process"


def test_reads_the_manifests_it_is_given(tmp_path, tiny_shapes):
    first = DetectionDataModule(
        lambda: tiny_shapes, split={"fractions": FOUR}, manifest_dir=str(tmp_path / "m"), split_seed=5
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
    joint = DetectionDataModule(lambda: half_labelled, split={"fractions": FOUR}, split_seed=1)
    single = DetectionDataModule(lambda: half_labelled, split={"fractions": FOUR}, split_seed=1, single_class="square")
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


def test_train_fraction_keeps_nested_seeded_shares_of_train_only(tmp_path, tiny_shapes):
    def module(fraction, **kwargs):
        options = {"split": {"fractions": FOUR}, "split_seed": 2, "train_fraction": fraction, **kwargs}
        return DetectionDataModule(lambda: tiny_shapes, **options)

    whole = module(1.0)
    train = [r.image_id for r in whole.subset("train").records]
    shares = {f: [r.image_id for r in module(f).subset("train").records] for f in (0.25, 0.5)}
    assert len(shares[0.25]) == round(0.25 * len(train)) and len(shares[0.5]) == round(0.5 * len(train))
    assert set(shares[0.25]) < set(shares[0.5]) < set(train), "nested"
    assert module(0.5).subset("dev").records == whole.subset("dev").records
    with pytest.raises(ConfigError, match="train_fraction"):
        module(0.0)


def test_a_finished_run_with_a_share_of_train_is_rebuilt_on_that_share(tmp_path):
    cfg = compose_train(tmp_path, ["data.module.train_fraction=0.5"])
    run_dir = Path(cfg.paths.output_dir)
    trained = build_datamodule(cfg)
    save_config(cfg, run_dir)
    expected = [r.image_id for r in trained.subset("train").records]
    reopened = RunDir(run_dir, run_dir / "checkpoints" / "best.ckpt").datamodule()
    rebuilt = [r.image_id for r in reopened.subset("train").records]
    assert rebuilt == expected, "the saved manifest already holds the share: not halved again"


def test_runs_that_differ_in_seed_alone_share_their_data_and_splits(tmp_path):
    """``seed`` draws the training (weights, shuffles, augmentation); ``data_seed`` the data and splits."""

    def splits(override):
        datamodule = build_datamodule(compose_train(tmp_path, [override], out=override.replace("=", "")))
        return {name: dataset_fingerprint(datamodule.subset(name)) for name in datamodule.split_names}, datamodule

    (base, first), (reseeded, second), (other_data, _) = splits("seed=0"), splits("seed=1"), splits("data_seed=9")
    assert base == reseeded and first.seed != second.seed
    assert base["dev"] != other_data["dev"]
