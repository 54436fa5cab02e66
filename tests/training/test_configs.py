"""Every config group composes and instantiates."""

import os
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from detkit.models import DETECTORS
from detkit.models.families import family_named
from detkit.training import object_fit, run
from detkit.training.datamodule import DetectionDataModule
from detkit.training.object_fit import detector_of
from detkit.training.run import build_datamodule, build_module, build_trainer, child_config, train
from detkit.training.schedules import epochs_for
from detkit.training.trainers import instantiate_trainer
from tests.conftest import CONFIGS, compose_train


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml") if not p.stem.startswith("_"))  # _base: shared


def test_train_config_builds_data_model_module_and_trainer(tmp_path):
    cfg = compose_train(tmp_path)
    datamodule = build_datamodule(cfg)
    assert isinstance(datamodule, DetectionDataModule)
    assert cfg.data.num_classes == 4 and list(cfg.data.class_names) == ["circle", "square", "triangle", "star"]
    module = build_module(cfg)
    optimizer = module.optimizer_factory([torch.nn.Parameter(torch.zeros(1))])
    assert type(optimizer).__name__ == cfg.optimizer._target_.rsplit(".", 1)[-1]
    assert optimizer.defaults["lr"] == cfg.optimizer.lr, "the optimizer the config names, with its rate"
    assert module.scheduler_factory is not None, "and its schedule"
    trainer = build_trainer(cfg, Path(cfg.paths.output_dir))
    assert isinstance(trainer, L.Trainer) and trainer.max_epochs == cfg.trainer.max_epochs
    assert sorted((Path(cfg.paths.output_dir) / "splits").glob("*.json")), "manifests are written to the run"


def test_processes_share_the_cpu_unless_started_with_omp_num_threads(tmp_path, monkeypatch):
    cfg = compose_train(tmp_path, ["trainer=ddp_cpu"])
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(7)
        monkeypatch.setattr(run, "THREADS_SET_BY_ENVIRONMENT", True)
        build_trainer(cfg, tmp_path / "given")
        assert torch.get_num_threads() == 7, "OMP_NUM_THREADS decides"
        monkeypatch.setattr(run, "THREADS_SET_BY_ENVIRONMENT", False)
        build_trainer(cfg, tmp_path / "shared")
        assert torch.get_num_threads() == max(1, len(os.sched_getaffinity(0)) // 2), "two processes share the cores"
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("model", _options("model"))
def test_every_model_config_instantiates(tmp_path, model):
    smallest = family_named(model).smallest_input.get(model) if model in DETECTORS else None
    cfg = compose_train(tmp_path, [f"model={model}", *([f"model.image_size={smallest}"] if smallest else [])])
    build_datamodule(cfg)
    detector = instantiate(cfg.model)
    assert sum(p.numel() for p in detector.parameters()) > 1e6


SMALL_OBJECTS = ["data.module.source.min_object_size=5", "data.module.source.max_object_size=12"]
# 96 px images with objects of 5-12 px: under half of torchvision's smallest box at 320 px (32 px)
SSDLITE = "model=ssdlite320_mobilenet_v3_large"


def test_default_boxes_set_to_auto_are_settled_from_the_training_objects_before_the_model(tmp_path, caplog):
    for model in (SSDLITE, "model=auto"):  # sized boxes keep model=auto on SSDlite
        cfg = compose_train(tmp_path, [*SMALL_OBJECTS, model, "model.anchor_size_range=auto"])
        with caplog.at_level("INFO", logger=object_fit.__name__):
            build_datamodule(cfg)
        smallest, largest = cfg.model.anchor_size_range
        assert cfg.model.name == "ssdlite320_mobilenet_v3_large"
        assert 0.02 <= smallest < 0.1 and largest == 0.95
        assert instantiate(cfg.model).anchor_generator.scales[0] == pytest.approx(smallest)
        assert f"default boxes from {smallest} of the input" in caplog.text
        caplog.clear()
    with caplog.at_level("INFO", logger=object_fit.__name__):
        build_datamodule(compose_train(tmp_path, [*SMALL_OBJECTS, SSDLITE]))
    assert "model.anchor_size_range=auto starts the boxes" in caplog.text, "with torchvision's boxes: named"
    assert object_fit.SMALL_OBJECT_MODEL in caplog.text, "and the detector with a stride-8 level"
    named = compose_train(tmp_path, [*SMALL_OBJECTS, *object_fit.SMALL_OBJECT_MODEL.split()])
    build_datamodule(named)
    detector = instantiate(named.model)  # as named, it builds, for these classes
    assert detector.head.levels[0].cls_pred.out_channels == named.data.num_classes + 1 and 8 in detector.strides


def test_the_default_model_is_chosen_by_the_training_objects_sizes_and_recorded(tmp_path, caplog):
    small = compose_train(tmp_path, SMALL_OBJECTS)  # the default: model=auto
    assert small.model.name == "auto"
    with caplog.at_level("INFO", logger=object_fit.__name__):
        build_datamodule(small)
    assert "model=auto trains cspdet_n (detkit's one-stage detector with a stride-8 level" in caplog.text
    assert small.model.name == "cspdet_n" and "choices" not in small.model
    assert small.model.channels_last and small.model.batch_norm_momentum is None
    named = compose_train(tmp_path, [*SMALL_OBJECTS, *object_fit.SMALL_OBJECT_MODEL.split()])
    build_datamodule(named)
    assert small.model == named.model, "the same detector as CSPDet-n named by hand"
    assert instantiate(small.model).strides == [8, 16, 32], "the stride-8 level is there"

    large = compose_train(tmp_path)  # tiny shapes: objects of 40-213 px at 320 px
    caplog.clear()
    with caplog.at_level("INFO", logger=object_fit.__name__):
        build_datamodule(large)
    assert "model=auto: ssdlite320_mobilenet_v3_large" in caplog.text
    ssdlite = compose_train(tmp_path, [SSDLITE])
    build_datamodule(ssdlite)
    assert large.model == ssdlite.model, "SSDlite as its own config sets it"
    assert instantiate(large.model).anchor_generator.scales[0] == pytest.approx(0.2)


@pytest.mark.parametrize("optimizer", _options("optimizer"))
@pytest.mark.parametrize("scheduler", _options("scheduler"))
def test_every_optimizer_and_scheduler_config_instantiates(tmp_path, optimizer, scheduler):
    cfg = compose_train(tmp_path, [f"optimizer={optimizer}", f"scheduler={scheduler}"])
    params = [torch.nn.Parameter(torch.zeros(2))]
    opt = instantiate(cfg.optimizer)(params)
    sched = instantiate(cfg.scheduler)(opt, total_steps=200)
    lrs = []
    for _ in range(200):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak = cfg.optimizer.lr
    assert lrs[0] < 0.01 * peak and max(lrs) == pytest.approx(peak, rel=0.05) and lrs[-1] < 0.05 * peak


@pytest.mark.parametrize("trainer", _options("trainer"))
def test_every_trainer_config_composes(tmp_path, trainer):
    cfg = compose_train(tmp_path, [f"trainer={trainer}"])
    assert cfg.trainer._target_ == "lightning.Trainer"
    if trainer in ("default", "cpu", "ddp_cpu"):  # the GPU ones need a GPU to instantiate
        built = instantiate_trainer(cfg.trainer, logger=False, enable_checkpointing=False)
        assert built.num_devices == cfg.trainer.devices


@pytest.mark.parametrize(
    ("overrides", "optional"),
    [
        ([], ["LearningRateMonitor", "DevImageLogger"]),
        (["callbacks=early_stopping"], ["LearningRateMonitor", "DevImageLogger", "EarlyStopping"]),
        (["~callbacks.dev_images"], ["LearningRateMonitor"]),
        (["+callbacks.swa={_target_: lightning.pytorch.callbacks.StochasticWeightAveraging, swa_lrs: 0.001}"], None),
    ],
)
def test_callbacks_are_dropped_and_added_by_config_and_detkits_own_stay(tmp_path, overrides, optional):
    trainer = build_trainer(compose_train(tmp_path, overrides), tmp_path / "run")
    names = [type(callback).__name__ for callback in trainer.callbacks]
    own = ["ModelCheckpoint", "ModelCheckpoint", "RandomStateCheckpoint", "SameConfigEverywhere"]
    assert all(names.count(name) >= own.count(name) for name in own), names
    if optional is None:
        assert "StochasticWeightAveraging" in names and "DevImageLogger" in names
    else:
        added = {"LearningRateMonitor", "DevImageLogger", "EarlyStopping"} & set(names)
        assert sorted(added) == sorted(optional), names


@pytest.mark.parametrize("experiment", _options("experiment"))
def test_every_experiment_config_composes_and_instantiates(tmp_path, experiment):
    cfg = compose_train(tmp_path, [f"experiment={experiment}"])
    assert cfg.name.startswith(experiment), "runs of an experiment land under its name"
    build_datamodule(cfg)
    detector = instantiate(cfg.model).eval()
    with torch.no_grad():
        (detections,) = detector([torch.rand(3, 64, 80)])
    assert {"boxes", "scores", "labels"} <= set(detections), "the detector it builds runs on an image"
    assert ((detections["labels"] >= 1) & (detections["labels"] <= cfg.data.num_classes)).all()  # 0: background


def test_coco_data_config_trains_on_a_coco_export(tmp_path, tiny_shapes):
    cfg = compose_train(
        tmp_path,
        [
            "data=coco",
            f"data.root={tiny_shapes.root.parent / 'annotations.json'}",
            f"data.images={tiny_shapes.root}",
            "model.image_size=96",
            "data.module.num_workers=0",
        ],
        tiny_shapes=False,
    )
    datamodule = build_datamodule(cfg)
    assert cfg.data.num_classes == tiny_shapes.num_classes and len(datamodule.data.dataset) == len(tiny_shapes)
    train_images = len(datamodule.data.subset("train"))
    assert cfg.trainer.max_epochs == epochs_for(train_images) > 4, "a small export trains longer"
    steps = {type(step).__name__: step.p for step in datamodule.train_dataloader().dataset.transform}
    assert steps == {"HorizontalFlip": 0.5, "Affine": 0.5, "ColorJitter": 0.5}, "a user's export trains augmented"
    assert datamodule.val_dataloader().dataset.transform is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [([], 4), (["trainer.max_epochs=2"], 2), (["data.max_epochs=3"], 3), (["trainer.max_steps=5"], None)],
    ids=["shapes-its-own", "given", "given-in-data", "by-steps"],
)
def test_epochs_are_the_datas_unless_given(tmp_path, tiny_shapes, overrides, expected):
    export = [
        "data=coco",
        f"data.root={tiny_shapes.root.parent / 'annotations.json'}",
        f"data.images={tiny_shapes.root}",
    ]
    data = [] if overrides == [] else export  # the shapes config says 4; an export says auto
    cfg = compose_train(tmp_path, [*data, *overrides, "data.module.num_workers=0"], tiny_shapes=not data)
    build_datamodule(cfg)
    assert cfg.trainer.max_epochs == expected


@pytest.mark.parametrize("data_format", ["voc", "yolo"])
def test_voc_and_yolo_data_configs_read_a_converted_dataset(tmp_path, tiny_shapes, data_format):
    from detkit.data.formats import convert_dataset

    convert_dataset("coco", tiny_shapes.root.parent, data_format, tmp_path / data_format)
    overrides = [f"data={data_format}", f"data.root={tmp_path / data_format}", "model.image_size=96"]
    cfg = compose_train(tmp_path, [*overrides, "data.module.num_workers=0"], tiny_shapes=False)
    datamodule = build_datamodule(cfg)
    assert sorted(cfg.data.class_names) == sorted(tiny_shapes.class_names)
    assert len(datamodule.data.dataset) == len(tiny_shapes)
    assert instantiate(cfg.model).transform.fixed_size == (96, 96)
    fast = [*overrides, "data.module.num_workers=0", "+trainer.fast_dev_run=true"]
    trained = train(compose_train(tmp_path, fast, tiny_shapes=False)).metrics
    assert {"mAP", "mAP50"} <= set(trained["dev"])


def test_the_runs_of_a_comparison_train_the_detector_the_first_one_chose(tmp_path):
    # compare_multitask's per-class runs and compare_transfer's scratch run take the first run's
    # detector: model=auto on another subset of the data must not choose another one
    first = compose_train(tmp_path, SMALL_OBJECTS)
    build_datamodule(first)
    assert first.model.name == "cspdet_n"
    saved = OmegaConf.create(OmegaConf.to_container(first, resolve=True))  # as config.yaml holds it
    large = compose_train(tmp_path, ["data.module.source.classes=[circle]"])  # large objects, one class
    child = child_config(large, tmp_path / "child", {"model": detector_of(saved)})
    build_datamodule(child)
    assert child.model.name == "cspdet_n" and child.model.options.reg_max == 16
    assert instantiate(child.model).head.levels[0].cls_pred.out_channels == 1 + 1, "its own classes"
