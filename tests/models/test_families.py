"""Each detector family states its traits once (`detkit.models.families`), and adding one is its
module and its yaml: nothing else in detkit names a family."""

import shutil
import textwrap

import pytest
import torch
from hydra import compose, initialize_config_dir

from detkit.exceptions import ConfigError
from detkit.models import DETECTORS, build_detector, families
from detkit.models.families import family_named, family_of, keeps_aspect_ratio, partial_label_detectors
from detkit.runs.run_dir import RunDir
from detkit.training.launch import register_resolvers
from detkit.training.run import train
from tests.conftest import ROOT, TINY_SHAPES_OVERRIDES, TRAINING_SEED

LIGHT = [
    "ssdlite320_mobilenet_v3_large",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "fcos_mobilenet_v3_large_fpn",
    "cspdet_n",
]


def test_every_detector_is_of_one_family():
    named = [name for family in families.families() for name in family.detectors]
    assert sorted(named) == sorted(DETECTORS) and len(set(named)) == len(named)
    assert {family.name for family in families.families()} == {"cspdet", "faster_rcnn", "fcos", "retinanet", "ssd"}
    with pytest.raises(ConfigError, match="not a known detector"):
        family_named("yolo_v1")


@pytest.mark.parametrize("name", LIGHT)
def test_a_built_detector_is_of_the_family_that_names_it(name):
    family = family_named(name)
    assert family_of(build_detector(name, num_classes=2, image_size=96)) is family
    assert keeps_aspect_ratio(name, None) == (family.name != "ssd")
    assert (name in partial_label_detectors()) == family.partial_labels


def test_a_model_of_no_family_is_named():
    with pytest.raises(ConfigError, match="Linear is not a detector family"):
        family_of(torch.nn.Linear(2, 2))


FAMILY_MODULE = '''
"""A family no detkit code names: FCOS on MobileNetV3 under a class of its own."""
from torchvision.models.detection import FCOS

from detkit.models.families import DetectorFamily, class_logits_tensors, fcos
from detkit.models.mobile_fcos import fcos_mobilenet_v3_large_fpn


class LeanFCOS(FCOS):
    pass


def lean_fcos(**kwargs):
    model = fcos_mobilenet_v3_large_fpn(**kwargs)
    model.__class__ = LeanFCOS
    return model


FAMILY = DetectorFamily(
    name="lean_fcos",
    model_type=LeanFCOS,
    detectors={"lean_fcos_mobilenet": lean_fcos},
    class_tensors=class_logits_tensors,
    replace_classifier=fcos.replace_classifier,
)
'''
MODEL_YAML = """defaults:
  - _base
  - _self_

name: lean_fcos_mobilenet
image_size: 96
"""


@pytest.mark.slow  # trains a tiny run
def test_a_family_added_as_one_module_and_one_yaml_trains_and_reopens(tmp_path, monkeypatch):
    package = tmp_path / "more_families"
    package.mkdir()
    (package / "lean_fcos.py").write_text(textwrap.dedent(FAMILY_MODULE))
    monkeypatch.setattr(families, "__path__", [*families.__path__, str(package)])
    families.families.cache_clear()
    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs)
    (configs / "model" / "lean_fcos_mobilenet.yaml").write_text(MODEL_YAML)
    register_resolvers()
    overrides = [*TINY_SHAPES_OVERRIDES, "model=lean_fcos_mobilenet", "trainer.max_epochs=1"]
    overrides += [f"paths.output_dir={tmp_path / 'run'}", f"paths.data_dir={tmp_path / 'data'}"]
    overrides += [f"seed={TRAINING_SEED}", f"data_seed={TRAINING_SEED}"]
    try:
        with initialize_config_dir(config_dir=str(configs), version_base="1.3"):
            cfg = compose(config_name="train", overrides=overrides)
        trained = train(cfg)
        assert "mAP" in trained.metrics["dev"]
        detector = RunDir.open(tmp_path / "run").detector()
        assert family_of(detector).name == "lean_fcos", "its own family, before FCOS's"
        assert not family_of(detector).partial_labels
    finally:
        monkeypatch.undo()
        families.families.cache_clear()
