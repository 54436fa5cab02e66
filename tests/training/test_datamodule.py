"""The data module trains on `train` only and evaluates the other splits; workflows read a run's
data without it (`RunDir.data`)."""

from pathlib import Path
from types import SimpleNamespace

from detkit.data.splits.seeded import dataset_fingerprint, split_dataset
from detkit.runs.run_dir import RunDir
from detkit.training.datamodule import DetectionDataModule
from detkit.training.run import build_datamodule, save_config
from tests.conftest import compose_train

FOUR = {"train": 0.5, "train_dev": 0.125, "dev": 0.25, "test": 0.125}


def _ids(loader):
    return sorted(int(t["image_id"]) for _, targets in loader for t in targets)


def datamodule(dataset, **changes) -> DetectionDataModule:
    loading = {"batch_size": 4, "eval_batch_size": None, "num_workers": 0, "augment": {}, "seed": 0, "read_size": None}
    splitting = {"splits": "auto", "split": {"fractions": FOUR}, "split_seed": 3, "splits_dir": None}
    others = {"manifest_dir": None, "single_class": None, "train_fraction": 1.0, "dedupe": "none"}
    return DetectionDataModule(lambda: dataset, **{**loading, **splitting, **others, **changes})


def test_trains_on_train_only_and_validates_on_dev(tiny_shapes):
    module = datamodule(tiny_shapes, batch_size=1)  # every training image in an epoch (no last batch of one left out)
    expected = split_dataset(tiny_shapes, FOUR, seed=3)
    assert _ids(module.train_dataloader()) == expected["train"]
    assert _ids(module.val_dataloader()) == expected["dev"]
    module.test_split = "train_dev"
    assert _ids(module.test_dataloader()) == expected["train_dev"]
    assert not set(expected["train_dev"]) & set(expected["train"])


def test_no_process_ends_an_epoch_on_a_batch_of_one_image(tiny_shapes):
    """Batch norm cannot train on one image of 1x1 features; that one image waits for the next epoch."""
    split = {"fractions": {"train": 1.0}}
    module = datamodule(tiny_shapes, batch_size=len(tiny_shapes) - 1, split=split)
    assert len(module.train_dataloader()) == 1, "24 images in batches of 23: the 24th is left out"
    assert len(module.loading.loader(tiny_shapes)) == 2, "not training: every image"
    module = datamodule(tiny_shapes, batch_size=11, split=split)
    assert not module.train_dataloader().drop_last, "24 = 2 x 11 + 2: nothing left out"
    module.trainer = SimpleNamespace(world_size=2)  # DistributedSampler: 12 images on each process
    assert module.train_dataloader().drop_last, "12 = 11 + 1 on each process"


def test_a_finished_run_with_a_share_of_train_is_rebuilt_on_that_share(tmp_path):
    cfg = compose_train(tmp_path, ["data.module.train_fraction=0.5"])
    run_dir = Path(cfg.paths.output_dir)
    trained = build_datamodule(cfg)
    save_config(cfg, run_dir)
    reopened = RunDir(run_dir, run_dir / "checkpoints" / "best.ckpt")
    assert reopened.data.split_ids == trained.data.split_ids, "the saved manifest already holds the share"
    assert _ids(reopened.loader("dev")) == trained.data.split_ids["dev"]
    assert reopened.loader("dev").batch_size == cfg.data.module.eval_batch_size


def test_runs_that_differ_in_seed_alone_share_their_data_and_splits(tmp_path):
    """``seed`` draws the training (weights, shuffles, augmentation); ``data_seed`` the data and splits."""

    def splits(override):
        module = build_datamodule(compose_train(tmp_path, [override], out=override.replace("=", "")))
        return {name: dataset_fingerprint(module.data.subset(name)) for name in module.data.split_names}, module

    (base, first), (reseeded, second), (other_data, _) = splits("seed=0"), splits("seed=1"), splits("data_seed=9")
    assert base == reseeded and first.loading.seed != second.loading.seed
    assert base["dev"] != other_data["dev"]
