"""The tools' contract: exit code 2 with one clear message on bad input; results on disk."""

import json

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import TINY_SHAPES_OVERRIDES
from tests.evaluation.test_coco_eval import _ground_truth, _pycocotools_on_files, _random_detections


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=yolov99"], "model/yolov99"),
        (["model.name=yolov99"], "not a known detector"),
        (["data.module.batch_size=-1"], "batch_size must be >= 1"),
        (["data=coco", "data.root=missing/instances.json"], "file not found"),
        (["trainer.max_epochs=oops"], "max_epochs"),
    ],
)
def test_bad_config_ends_with_one_message_and_exit_code_2(run_tool, overrides, message):
    result = run_tool("train", *overrides, tiny=False)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_scores_a_results_file_without_images(run_tool, tmp_path):
    rng = np.random.default_rng(0)
    gt = _ground_truth(rng)
    reference = _pycocotools_on_files(tmp_path, gt, _random_detections(rng, gt))
    result = run_tool(
        "evaluate",
        f"annotations={tmp_path / 'gt.json'}",
        f"predictions={tmp_path / 'dt.json'}",
        f"out={tmp_path / 'scores'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "scores" / "metrics.json").read_text())["predictions"]
    assert metrics["mAP"] == pytest.approx(reference.stats[0]) and metrics["AR100"] == pytest.approx(reference.stats[8])
    assert "mAP50" in result.stdout


def test_evaluate_without_inputs_says_what_to_give(run_tool):
    result = run_tool("evaluate")
    assert result.returncode == 2 and "give run=<run dir>" in result.stderr


def test_diagnose_without_a_run_says_what_to_give(run_tool, tmp_path):
    result = run_tool("diagnose")
    assert result.returncode == 2 and "give run=" in result.stderr
    result = run_tool("diagnose", f"run={tmp_path / 'nowhere'}")
    assert result.returncode == 2 and "checkpoint" in result.stderr and "not found" in result.stderr
    result = run_tool("diagnose", f"run={tmp_path / 'nowhere'}", "bootstrap.confidence=95")
    assert result.returncode == 2 and "0 < confidence < 1" in result.stderr


@pytest.mark.slow
def test_train_then_evaluate_end_to_end(run_tool, tmp_path):
    result = run_tool("train", "hydra.run.dir=run", "evaluation.images.every_n_epochs=1")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "metrics.json",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "splits/train.json",
        "splits/dev.json",
        ".hydra/overrides.yaml",
    ):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["dev"]["mAP"] <= 1 and "AP/star" in metrics["dev"]
    assert "tensorboard --logdir" in result.stdout and "mAP50" in result.stdout

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"dev/mAP", "dev/mAP50", "dev/AP/circle", "train/loss", "lr-AdamW"} <= scalars
    assert any(tag.startswith("train/") and tag != "train/loss" for tag in scalars), "each loss term"
    assert "dev/images" in events.Tags()["images"]
    assert len(events.Scalars("dev/mAP")) >= 2, "evaluated once per epoch"

    result = run_tool("evaluate", f"run={run}", "split=dev")
    assert result.returncode == 0, result.stderr[-3000:]
    again = json.loads((run / "eval" / "dev" / "metrics.json").read_text())["dev"]
    assert again == pytest.approx(metrics["dev"])

    human = "human.annotations=data/shapes/annotator2.json"
    result = run_tool("diagnose", f"run={run}", human, "bootstrap.samples=20", "learning_curve=[0.5,1.0]")
    assert result.returncode == 0, result.stderr[-3000:]
    diagnosis = json.loads((run / "diagnosis.json").read_text())
    assert diagnosis["errors"]["dev"] == pytest.approx(1 - metrics["dev"]["mAP50"]), "the one evaluator"
    assert diagnosis["errors"]["train_dev"] == pytest.approx(1 - metrics["train_dev"]["mAP50"])
    assert diagnosis["human_source"].endswith("annotator2.json") and 0 <= diagnosis["errors"]["human"] < 0.2
    assert diagnosis["images"]["train"] == diagnosis["images"]["train_dev"], "train sampled to train_dev's size"
    assert "Largest gap" in result.stdout and (run / "diagnosis.png").is_file()
    curve = json.loads((run / "learning_curve.json").read_text())["points"]
    assert [p["fraction"] for p in curve] == [0.5, 1.0]
    assert curve[0]["train_images"] == round(0.5 * curve[1]["train_images"]), "half of train, once"
    assert (run / "learning_curve" / "train_0.5" / "checkpoints" / "best.ckpt").is_file()
    events = EventAccumulator(str(run / "tensorboard")).Reload()
    assert {"diagnosis/error_dev", "diagnosis/gap_variance", "learning_curve/dev_error"} <= set(
        events.Tags()["scalars"]
    )
    assert "diagnosis/report/text_summary" in events.Tags()["tensors"]


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_training_and_one_vs_two_process_evaluation_agree(run_tool, tmp_path):
    # One dev scene of 3 images: DistributedSampler pads 2 ranks to 4, the repeat must not count twice.
    split = [
        "data.module.split.fractions={train: 0.875, train_dev: 0, dev: 0.125, test: 0}",
        "evaluation.splits=[dev]",
        "data.module.eval_batch_size=1",
    ]
    result = run_tool("train", "trainer=ddp_cpu", "hydra.run.dir=run", *split)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    trained = json.loads((run / "metrics.json").read_text())["dev"]
    assert len(json.loads((run / "splits" / "dev.json").read_text())["image_ids"]) == 3
    scores = {}
    for trainer in ("cpu", "ddp_cpu"):
        result = run_tool("evaluate", f"run={run}", f"trainer={trainer}", f"out={tmp_path / trainer}")
        assert result.returncode == 0, result.stderr[-3000:]
        scores[trainer] = json.loads((tmp_path / trainer / "metrics.json").read_text())["dev"]
    assert scores["cpu"] == pytest.approx(scores["ddp_cpu"], abs=1e-9)
    assert scores["cpu"] == pytest.approx(trained, abs=1e-9)


def test_split_tool_writes_manifests_and_report_then_training_uses_them(run_tool, tmp_path):
    tiny = [o for o in TINY_SHAPES_OVERRIDES if o.startswith("data.module.source")]
    out = tmp_path / "splits"
    result = run_tool(
        "split", f"out={out}", *tiny, "min_instances=1000", "data.module.split.group_regex='^\\d{5}(\\d)'"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "dev.json").read_text())["split"]["group_regex"] == "^\\d{5}(\\d)"
    for name in ("train", "train_dev", "dev", "test"):
        assert json.loads((out / f"{name}.json").read_text())["image_ids"]
    report = json.loads((out / "report.json").read_text())
    assert report["warnings"] and "warning:" in result.stdout
    assert (out / "report.md").read_text().startswith("# Splits")

    bad = run_tool("split", f"out={tmp_path / 'bad'}", *tiny, "data.module.split.fractions={train: 0.9}")
    assert bad.returncode == 2 and "sum to 1" in bad.stderr


def test_convert_tool_end_to_end_and_bad_input_exits_2(run_tool, tmp_path, tiny_shapes):
    source = tiny_shapes.root.parent
    before = {p: p.read_bytes() for p in source.rglob("*") if p.is_file()}
    result = run_tool("convert", "from=coco", f"src={source}", "to=voc", f"dst={tmp_path / 'voc'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"converted {len(tiny_shapes)} images" in result.stdout
    assert len(list((tmp_path / "voc" / "Annotations").glob("*.xml"))) == len(tiny_shapes)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "annotations.json").write_text('{"images": [}')
    result = run_tool("convert", "from=coco", f"src={broken}", "to=yolo", f"dst={tmp_path / 'y'}")
    assert result.returncode == 2 and "line 1, column 13" in result.stderr and "annotations.json" in result.stderr
    assert not (tmp_path / "y").exists()
    assert {p: p.read_bytes() for p in source.rglob("*") if p.is_file()} == before, "inputs untouched"
