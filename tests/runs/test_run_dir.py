"""A run's folder, opened once: which checkpoint a tool's arguments name, its config, its classes,
its detector, and one message for each thing missing."""

import pytest
import torch
from omegaconf import OmegaConf

from detkit.exceptions import ConfigError
from detkit.models.detectors import build_detector
from detkit.runs.checkpoints import CHECKPOINT_CLASSES, MODEL_PREFIX
from detkit.runs.run_dir import RunDir, init_run
from tests.conftest import run_config

MODEL = {"_target_": "detkit.models.build_detector", "name": "ssdlite320_mobilenet_v3_large"}
MODEL |= {"num_classes": 2, "image_size": 64}


def _run(folder, classes_in_checkpoint=True):
    """A run folder as tools/train.py leaves one: config.yaml, checkpoints/{best,last}.ckpt."""
    model = build_detector("ssdlite320_mobilenet_v3_large", num_classes=2, image_size=64)
    config = run_config(model=MODEL)
    (folder / "checkpoints").mkdir(parents=True)
    OmegaConf.save(config, folder / "config.yaml")
    for name, scale in (("best", 1.0), ("last", 2.0)):
        state = {f"{MODEL_PREFIX}{k}": v * scale if v.is_floating_point() else v for k, v in model.state_dict().items()}
        checkpoint = {"state_dict": state, **({CHECKPOINT_CLASSES: ["cat", "dog"]} if classes_in_checkpoint else {})}
        torch.save(checkpoint, folder / "checkpoints" / f"{name}.ckpt")
    return folder, model


def test_a_run_opens_at_its_best_checkpoint_from_its_folder_or_a_checkpoint_in_it(tmp_path):
    folder, model = _run(tmp_path / "run")
    best, last = folder / "checkpoints" / "best.ckpt", folder / "checkpoints" / "last.ckpt"
    assert RunDir.open(folder) == RunDir(folder, best)
    assert RunDir.open(last) == RunDir(folder, last)
    assert RunDir.open(folder, last) == RunDir(folder, last)
    assert RunDir.resumed(folder) == RunDir(folder, last) and init_run(folder) == RunDir(folder, best)
    run = RunDir.open(folder)
    assert run.class_names == ["cat", "dog"] and run.partial_labels == "lvis", "runs made before partial labels"
    detector = run.detector()
    assert not detector.training
    for name, value in detector.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name
    assert RunDir.open(last).weights()[0]["head.classification_head.module_list.0.1.weight"].abs().sum() > 0


def test_checkpoints_without_their_classes_take_the_runs(tmp_path):
    folder, _ = _run(tmp_path / "run", classes_in_checkpoint=False)
    assert RunDir.open(folder).weights()[1] == ["cat", "dog"]


def test_what_is_missing_is_named_with_what_to_pass(tmp_path):
    folder, _ = _run(tmp_path / "run")
    with pytest.raises(ConfigError, match=r"other\.ckpt not found; pass run=<run dir> or checkpoint="):
        RunDir.open(folder, folder / "other.ckpt")
    (folder / "checkpoints" / "last.ckpt").unlink()
    resume_message = r"resume=.*run: .*last\.ckpt not found; pass resume=.*checkpoints/last\.ckpt>"
    with pytest.raises(ConfigError, match=resume_message):
        RunDir.resumed(folder)
    init_message = r"init\.checkpoint=.*nowhere: .*nowhere/checkpoints/best\.ckpt not found; pass a detkit run"
    with pytest.raises(ConfigError, match=init_message):
        init_run(tmp_path / "nowhere")
    (folder / "config.yaml").unlink()
    with pytest.raises(ConfigError, match=r"no config\.yaml there; pass a run directory made by tools/train\.py"):
        _ = RunDir.open(folder).config


def test_a_checkpoint_of_another_model_does_not_fit_the_run(tmp_path):
    folder, _ = _run(tmp_path / "run")
    checkpoint = torch.load(folder / "checkpoints" / "best.ckpt", weights_only=True)
    weight = f"{MODEL_PREFIX}head.regression_head.module_list.0.1.weight"
    checkpoint["state_dict"][f"{MODEL_PREFIX}extra.weight"] = checkpoint["state_dict"].pop(weight)
    torch.save(checkpoint, folder / "checkpoints" / "best.ckpt")
    with pytest.raises(
        ConfigError, match=r"does not fit the model of .*run: missing \['head.*'\], unexpected \['extra"
    ):
        RunDir.open(folder).detector()
