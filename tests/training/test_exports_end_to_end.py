"""Every tool on real exports' layouts, on their own splits: train on Roboflow's COCO folders,
fine-tune from that run on official COCO, VOC and an Ultralytics yaml, then score the given test
split, analyse its errors, diagnose the run and predict (converting each is in tests/data)."""

import json

import pytest

from detkit.runs.run_dir import RunDir
from detkit.training.run import train
from detkit.workflows.diagnose import DiagnoseOptions, diagnose_run
from detkit.workflows.error_analysis import analyse_run_errors
from detkit.workflows.error_outputs import ErrorOptions
from detkit.workflows.evaluate import evaluate_run
from detkit.workflows.options import typed
from detkit.workflows.predict import PredictOptions, predict_images
from tests.conftest import compose_config, compose_train
from tests.exports import (
    cvat_project_export,
    labelme_export,
    official_coco,
    roboflow_coco,
    ultralytics_export,
    voc_export,
)

FAST = ["data=auto", "model.image_size=96", "data.module.batch_size=4", "data.module.num_workers=0"]
FAST += ["trainer.max_epochs=1", "callbacks.dev_images.every_n_epochs=0"]


def _manifests(run_dir):
    return {p.stem: json.loads(p.read_text()) for p in (run_dir / "splits").glob("*.json")}


@pytest.mark.slow
def test_train_finetune_score_analyse_diagnose_and_predict_on_each_exports_own_splits(tmp_path, tiny_shapes):
    roboflow = roboflow_coco(tmp_path / "roboflow", tiny_shapes)
    first = train(compose_train(tmp_path, [*FAST, f"data.root={roboflow}"], tiny_shapes=False, out="roboflow_run"))
    assert set(first.metrics) == {"train_dev", "dev", "test"}, "the export's test split is scored"
    assert json.loads((first.run_dir / "metrics.json").read_text()) == {**first.metrics, "splits": "given"}
    manifests = _manifests(first.run_dir)
    assert {m["splits"] for m in manifests.values()} == {"given"}
    assert {name: len(m["image_ids"]) for name, m in manifests.items() if name != "train"} == {
        "train_dev": 2,
        "dev": 6,
        "test": 3,
    }, "train_dev carved from the export's 15 train images; dev and test as given"

    runs = {"roboflow": (first, roboflow / "test")}
    for name, build, has_test in [
        ("official", official_coco, False),
        ("voc", voc_export, True),
        ("yolo", ultralytics_export, True),
    ]:
        export = build(tmp_path / name, tiny_shapes)
        overrides = [*FAST, f"data.root={export}", f"init.checkpoint={first.run_dir}"]
        run = train(compose_train(tmp_path, overrides, tiny_shapes=False, out=f"{name}_run"))
        assert set(run.metrics) == {"train_dev", "dev"} | ({"test"} if has_test else set()), name
        assert all(m["splits"] == "given" for m in _manifests(run.run_dir).values()), name
        runs[name] = (run, next(p.parent for p in export.rglob("img0*") if p.suffix in (".jpg", ".png")))

    for name, (run, images) in runs.items():
        split = "test" if "test" in run.metrics else "dev"
        scored = evaluate_run(RunDir.open(run.run_dir), split, compose_config("evaluate").trainer)
        assert scored["mAP"] == pytest.approx(run.metrics[split]["mAP"]), name
        errors = analyse_run_errors(
            typed(ErrorOptions, compose_config("errors", [f"run={run.run_dir}", f"split={split}"]))
        )
        assert json.loads((errors / "errors.json").read_text())["images"] == len(
            _manifests(run.run_dir)[split]["image_ids"]
        )
        options = compose_config("diagnose", [f"run={run.run_dir}", "human.error=0.02", "bootstrap.samples=20"])
        diagnosis = diagnose_run(typed(DiagnoseOptions, options))
        assert diagnosis["errors"]["dev"] is not None and (diagnosis["errors"]["test"] is not None) == (split == "test")
        out = tmp_path / f"{name}_predicted"
        overrides = [f"run={run.run_dir}", f"images={images}", f"out={out}"]
        predicted = predict_images(typed(PredictOptions, compose_config("predict/predict", overrides)))
        assert predicted.images == len(list((out / "drawn").glob("*.jpg"))) > 0, name


@pytest.mark.slow
@pytest.mark.parametrize("build", [cvat_project_export, labelme_export])
def test_cvat_and_labelme_exports_train_on_their_own_splits_and_score_their_test(tmp_path, tiny_shapes, build):
    export = build(tmp_path / build.__name__, tiny_shapes)
    overrides = [*FAST, f"data.root={export}", "trainer.max_epochs=null", "trainer.max_steps=2"]
    run = train(compose_train(tmp_path, overrides, tiny_shapes=False, out="run"))
    assert set(run.metrics) == {"train_dev", "dev", "test"}, "the export's test split is scored"
    manifests = _manifests(run.run_dir)
    assert {name: len(m["image_ids"]) for name, m in manifests.items() if name != "train"} == {
        "train_dev": 2,
        "dev": 6,
        "test": 3,
    }, "train_dev carved from the export's 15 train images; dev and test as given"
