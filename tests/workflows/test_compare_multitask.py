"""tools/compare_multitask.py's logic: joint vs per-class detectors, trained and scored alike."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from detkit.exceptions import ConfigError
from detkit.runs.run_dir import RunDir
from detkit.workflows.compare_multitask import compare_multitask
from tests.conftest import compose_train


def _compose(tmp_path, overrides=()):
    fixed = [
        "data.module.source.classes=[circle,square]",
        "trainer.max_epochs=2",
        "callbacks.dev_images.every_n_epochs=0",
        "trainer.log_every_n_steps=1",
    ]
    return compose_train(tmp_path, [*fixed, *overrides], config_name="compare_multitask", out="multitask")


def _scalar_tags(run_dir):
    files = (run_dir / "tensorboard").glob("events.out.tfevents.*")
    return {tag for events in files for tag in EventAccumulator(str(events)).Reload().Tags()["scalars"]}


@pytest.mark.slow
@pytest.mark.parametrize("hidden", [0.0, 0.5])
def test_joint_and_per_class_detectors_are_trained_alike_and_scored_by_one_evaluator(tmp_path, hidden):
    overrides = [f"data.module.source.hidden_label_fraction={hidden}"]
    if hidden:
        overrides += ["model=retinanet_resnet50_fpn_v2", "model.image_size=96"]
    comparison = compare_multitask(_compose(tmp_path, overrides))
    out = tmp_path / "multitask"
    joint = json.loads((out / "joint" / "metrics.json").read_text())["dev"]
    assert set(comparison["classes"]) == {"circle", "square"}
    for name, row in comparison["classes"].items():
        run = out / "per_class" / name
        assert RunDir.open(run).config.data.class_names == [name]
        assert {"dev/mAP", "train/loss"} <= _scalar_tags(run) & _scalar_tags(out / "joint"), "tags overlay"
        # The best checkpoints' predictions, scored again here, give what each run scored itself:
        # a class's AP depends only on its own boxes, so merging per-class outputs changes nothing.
        assert row["joint_ap"] == pytest.approx(joint[f"AP/{name}"])
        own = json.loads((run / "metrics.json").read_text())["dev"]
        assert row["per_class_ap"] == pytest.approx(own[f"AP/{name}"])
        assert comparison["per_class"]["runs"][name]["steps"] > 0
    assert comparison["mean"]["joint_ap"] == pytest.approx(joint["mAP"])
    assert comparison["per_class"]["models"] == 2
    assert comparison["per_class"]["parameters"] > comparison["joint"]["parameters"]
    assert comparison["joint"]["inference_seconds"] > 0 and comparison["per_class"]["inference_seconds"] > 0
    assert json.loads((out / "comparison.json").read_text()) == comparison
    assert "| **mean (mAP)** |" in (out / "comparison.md").read_text()
    assert (out / "comparison.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ConfigError, match="already holds a comparison"):
        compare_multitask(_compose(tmp_path, overrides))


def test_refuses_a_multi_process_trainer(tmp_path):
    with pytest.raises(ConfigError, match="single-device trainer"):
        compare_multitask(_compose(tmp_path, ["trainer=ddp_cpu"]))
