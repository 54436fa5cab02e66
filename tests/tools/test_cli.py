"""The tools' contract: exit code 2 with one clear message on bad input; results on disk."""

import base64
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torchvision.io import decode_jpeg

from detkit.analysis.tide import KINDS
from detkit.exceptions import ConfigError
from detkit.runs.command_line import check_resumable, check_run_dir_can_be_made
from tests.conftest import ROOT, TINY_SHAPES_OVERRIDES
from tests.evaluation.test_coco_eval import _ground_truth, _pycocotools_on_files, _random_detections
from tests.tools.conftest import tool_command


@pytest.mark.parametrize(
    ("tool", "overrides", "message"),
    [
        ("train", ["model=yolov99"], "model/yolov99"),
        ("train", ["model.name=yolov99"], "not a known detector"),
        ("train", ["data.module.batch_size=-1"], "batch_size must be >= 1"),
        ("train", ["data=coco", "data.root=missing/instances.json"], "data.root=missing/instances.json does not exist"),
        ("train", ["data=voc"], "data.root is missing: data.root=<the export's folder"),
        ("train", ["trainer.max_epochs=oops"], "max_epochs"),
        ("train", ["init.checkpoint=missing.ckpt"], "init.checkpoint=missing.ckpt: missing.ckpt not found"),
        ("train", ["finetune.freeze=head"], "choose one of ('none', 'backbone')"),
        ("train", ["optimizer.lr=-1"], "optimizer.lr must be a number > 0.0, got -1"),
        ("train", ["seed=abc"], "seed must be a whole number (its default is 0), got 'abc'"),
        ("train", ["model=fcos_resnet50_fpn", "model.image_size=1.5"], "model.image_size must be a whole number"),
        ("train", ["data.module.augment.hflip=yes"], "hflip must be a finite number (its default is 0.5), got 'yes'"),
        ("train", ["trainer.ddp_timeout_s=-5"], "trainer.ddp_timeout_s must be a number of seconds > 0, got -5"),
        ("train", ["evaluation.backend=faster_coco_eval"], "unknown evaluation backend 'faster_coco_eval'; choose"),
        ("train", ["objective=test/mAP"], "objective=test/mAP: 'test' is not scored at the end of the run"),
        ("train", ["objective=dev/accuracy"], "objective=dev/accuracy: no metric 'accuracy'; choose one of"),
        ("compare", ["sweep=nowhere"], "sweep=nowhere: not a folder"),
        ("compare", ["sweep=.", "runs=[a,b]"], "give runs=[...] or sweep=<folder>, not both"),
        ("evaluate", ["annotations=a.json", "predictions=b.json", "backend=hot"], "unknown evaluation backend 'hot'"),
        ("errors", ["run=nowhere", "worst=many"], "worst must be a whole number (its default is 16), got 'many'"),
        ("predict", ["run=nowhere", "images=nowhere/*.jpg"], "nowhere/checkpoints/best.ckpt not found"),
        ("predict", ["images=photos"], "give run="),
        ("predict", ["model=missing.onnx", "images=photos"], "model=missing.onnx: no such file"),
        ("predict", ["run=r", "model=m.onnx", "images=photos"], "give run=<a run directory made by tools/train.py> or"),
        ("export", [], "give run=<a run directory made by tools/train.py> and format=onnx or torchscript"),
        ("export", ["run=r", "format=tflite"], "format='tflite'; give one of ['onnx', 'torchscript']"),
        ("export", ["run=r", "dynamic_batch=true"], "use format=torchscript, whose compiled loop takes any batch"),
        ("export", ["run=r", "image_size=16"], "image_size=16; give a whole number of pixels >= 32"),
        ("export", ["run=nowhere"], "nowhere/checkpoints/best.ckpt not found"),
    ],
)
def test_bad_config_ends_with_one_message_and_exit_code_2(run_tool_here, tool, overrides, message):
    result = run_tool_here(tool, *overrides, tiny=not any(o.startswith("data=") for o in overrides))
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["evaluate", "errors"])
def test_scoring_files_starts_without_torch_or_lightning(tmp_path, tool):
    """Their imports are most of a tool's start-up (8 s of 12 here): scoring files needs neither."""
    rng = np.random.default_rng(0)
    gt = _ground_truth(rng)
    _pycocotools_on_files(tmp_path, gt, _random_detections(rng, gt))
    files = [f"annotations={tmp_path / 'gt.json'}", f"predictions={tmp_path / 'dt.json'}"]
    argv = [str(ROOT / "tools" / f"{tool}.py"), *files]
    check = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('loaded:', sorted({'torch', 'lightning'} & set(sys.modules))))\n"
        f"sys.argv = {argv!r}\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "AP50" in result.stdout and "loaded: []" in result.stdout, result.stdout[-2000:]


def test_errors_analyses_a_results_file_without_a_model(run_tool_here, tmp_path):
    """Any system's detections: the breakdown of a results file, its AP50 pycocotools', the worst
    images drawn from ``images=``."""
    rng = np.random.default_rng(0)
    gt = _ground_truth(rng)
    reference = _pycocotools_on_files(tmp_path, gt, _random_detections(rng, gt))
    (tmp_path / "images").mkdir()
    for image in gt["images"]:
        Image.new("RGB", (image["width"], image["height"]), (90, 120, 150)).save(
            tmp_path / "images" / image["file_name"]
        )
    files = [f"annotations={tmp_path / 'gt.json'}", f"predictions={tmp_path / 'dt.json'}"]
    result = run_tool_here("errors", *files, f"images={tmp_path / 'images'}", "worst=4")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "errors" / "errors.json").read_text())
    assert report["metrics"]["mAP50"] == pytest.approx(reference.stats[1], abs=1e-12)
    assert report["predictions"] == str(tmp_path / "dt.json") and len(report["worst_images"]) == 4
    assert set(report["breakdown"]["kinds"]) == set(KINDS)
    assert (tmp_path / "errors" / "gallery.html").read_text().count("<figure>") == 4
    assert f"written to {tmp_path / 'errors'}" in result.stdout


def test_evaluate_scores_a_results_file_without_images(run_tool_here, tmp_path):
    rng = np.random.default_rng(0)
    gt = _ground_truth(rng)
    reference = _pycocotools_on_files(tmp_path, gt, _random_detections(rng, gt))
    result = run_tool_here(
        "evaluate",
        f"annotations={tmp_path / 'gt.json'}",
        f"predictions={tmp_path / 'dt.json'}",
        f"out={tmp_path / 'scores'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "scores" / "metrics.json").read_text())["predictions"]
    assert metrics["mAP"] == pytest.approx(reference.stats[0]) and metrics["AR100"] == pytest.approx(reference.stats[8])
    assert "mAP50" in result.stdout


def test_an_output_folder_that_cannot_be_written_is_one_message(run_tool_here, tmp_path):
    rng = np.random.default_rng(0)
    gt = _ground_truth(rng)
    _pycocotools_on_files(tmp_path, gt, _random_detections(rng, gt))
    files = [f"annotations={tmp_path / 'gt.json'}", f"predictions={tmp_path / 'dt.json'}"]
    result = run_tool_here("evaluate", *files, "out=/sys")  # not writable, even by root
    assert result.returncode == 2 and "cannot write /sys/" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_without_inputs_says_what_to_give(run_tool):
    result = run_tool("evaluate")  # a real process: exit code 2, no traceback
    assert result.returncode == 2 and "give run=<run dir>" in result.stderr and "Traceback" not in result.stderr


def test_diagnose_without_a_run_says_what_to_give(run_tool_here, tmp_path):
    result = run_tool_here("diagnose")
    assert result.returncode == 2 and "give run=" in result.stderr
    result = run_tool_here("diagnose", f"run={tmp_path / 'nowhere'}")
    assert result.returncode == 2 and "checkpoint" in result.stderr and "not found" in result.stderr
    result = run_tool_here("diagnose", f"run={tmp_path / 'nowhere'}", "bootstrap.confidence=95")
    assert result.returncode == 2 and "0 < confidence < 1" in result.stderr


def _assert_quiet(result: subprocess.CompletedProcess) -> None:
    """What a tool printed holds no third-party warning and no noise (issue 39), and no FLOPs count
    (Lightning's summary printed 0 for every detector)."""
    printed = result.stdout + result.stderr
    noise = [
        line
        for line in printed.splitlines()
        if re.search(r"warn|v_num|^INFO: |available: False|\b1 classes\b|flops|summary callback", line, re.IGNORECASE)
    ]
    assert not noise, noise


@pytest.mark.slow
def test_a_run_that_an_iteration_budget_ends_before_validation_is_quiet_and_logs_its_steps(run_tool, tmp_path):
    result = run_tool("train", "hydra.run.dir=run", "trainer.max_steps=2", "trainer.log_every_n_steps=50")
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_quiet(result)
    assert re.search(r"^0 +\| model +\| SSD +\| 2\.\d M", result.stdout + result.stderr, re.M), "the model summary"
    assert re.search(r"2\.\d M +Total params", result.stdout + result.stderr)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    assert events.Scalars("train/loss"), "logged at least once, though the run is shorter than 50 steps"


@pytest.mark.slow
def test_train_then_evaluate_end_to_end(run_tool, tmp_path):
    result = run_tool("train", "hydra.run.dir=run", "callbacks.dev_images.every_n_epochs=1")
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_quiet(result)
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
    _assert_quiet(result)
    again = json.loads((run / "eval" / "dev" / "metrics.json").read_text())["dev"]
    assert again == pytest.approx(metrics["dev"])

    dev_coco, dev_images = _dev_images(tmp_path / "data" / "shapes", run, tmp_path / "dev")
    result = run_tool("predict", f"run={run}", f"images={dev_images}", f"annotations={dev_coco}", "score_threshold=0")
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_quiet(result)
    results = json.loads((run / "predict" / "predictions.json").read_text())
    assert {"image_id", "category_id", "bbox", "score"} == set(results[0])
    drawn = sorted(p.name for p in (run / "predict" / "drawn").iterdir())
    assert drawn == sorted(p.name for p in dev_images.iterdir())
    result = run_tool("evaluate", f"annotations={dev_coco}", f"predictions={run / 'predict' / 'predictions.json'}")
    assert result.returncode == 0, result.stderr[-3000:]
    scored = json.loads((run / "predict" / "eval" / "metrics.json").read_text())["predictions"]
    assert scored["mAP"] == pytest.approx(metrics["dev"]["mAP"], abs=1e-6), "the same detections, read back"

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


def _dev_images(data: Path, run: Path, out: Path) -> tuple[Path, Path]:
    """The run's dev images copied to ``out/images`` and their annotations as ``out/dev.json``."""
    coco = json.loads((data / "annotations.json").read_text())
    dev = set(json.loads((run / "splits" / "dev.json").read_text())["image_ids"])
    coco["images"] = [image for image in coco["images"] if image["id"] in dev]
    coco["annotations"] = [ann for ann in coco["annotations"] if ann["image_id"] in dev]
    (out / "images").mkdir(parents=True)
    for image in coco["images"]:
        shutil.copy(data / "images" / image["file_name"], out / "images" / image["file_name"])
    (out / "dev.json").write_text(json.dumps(coco))
    return out / "dev.json", out / "images"


@pytest.mark.slow
def test_errors_tool_end_to_end(run_tool, tmp_path):
    result = run_tool("train", "hydra.run.dir=run", "trainer.max_epochs=3")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    result = run_tool("errors", f"run={run}", "worst=2", "label_issues=true")
    assert result.returncode == 0, result.stderr[-3000:]
    out = run / "errors" / "dev"
    issues = json.loads((out / "label_issues.json").read_text())
    assert issues["split"] == "dev" and issues["in_sample"] is None and len(issues["worth"]["AP50"]) == 2
    report = json.loads((out / "errors.json").read_text())
    dev = json.loads((run / "metrics.json").read_text())["dev"]
    assert report["breakdown"]["AP50"] == pytest.approx(dev["mAP50"], abs=1e-9), "the one evaluator"
    assert report["metrics"]["mAP_small"] == pytest.approx(dev["mAP_small"], abs=1e-9)
    with (out / "errors.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == sum(kind["count"] for kind in report["breakdown"]["kinds"].values()) > 0
    assert len(report["worst_images"]) == 2 and "AP50 gained by fixing it" in result.stdout
    assert "| class |" not in result.stdout and "errors.md" in result.stdout, "a summary; the report is the file"
    for name in ("breakdown.png", "confusion.png", "pr_curves.png", "worst.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    sources = _gallery_sources((out / "gallery.html").read_text())
    assert len(sources) == 2, "one embedded image per worst image, nothing fetched from elsewhere"
    for source in sources:
        assert source.startswith("data:image/jpeg;base64,")
        image = decode_jpeg(torch.frombuffer(bytearray(base64.b64decode(source.split(",", 1)[1])), dtype=torch.uint8))
        assert max(image.shape[1:]) == 480
    events = EventAccumulator(str(run / "tensorboard")).Reload()
    assert {"errors/dev/dAP_localisation", "errors/dev/dAP_missed"} <= set(events.Tags()["scalars"])
    assert "errors/dev/worst" in events.Tags()["images"]
    assert any(tag.startswith("errors/dev/pr/") for tag in events.Tags()["tensors"])

    cache = run / "predictions" / "dev.json"
    made = cache.stat().st_mtime_ns
    rows[0]["tags"], rows[-1]["tags"] = "mislabelled", "blurry; mislabelled"
    with (tmp_path / "tagged.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = run_tool("errors", f"run={run}", f"tags={tmp_path / 'tagged.csv'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert cache.stat().st_mtime_ns == made, "predictions made once, then read from the cache"
    tags = json.loads((out / "tags.json").read_text())
    assert tags["reviewed"] == 2 and tags["tags"]["mislabelled"]["share"] == 1.0
    with (out / "mislabelled.csv").open() as handle:
        assert [r["error_id"] for r in csv.DictReader(handle)] == [rows[0]["error_id"], rows[-1]["error_id"]]
    result = run_tool("errors", f"run={run}", "split=nowhere")
    assert result.returncode == 2 and "not one of the run's splits" in result.stderr


def _gallery_sources(page: str) -> list[str]:
    """The src of every element of an HTML page; fails on any href (the gallery links nowhere)."""
    sources = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            assert "href" not in attrs, f"<{tag}> links to {attrs['href']}"
            if "src" in attrs:
                sources.append(attrs["src"])

    Collect().feed(page)
    return sources


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_training_and_one_vs_two_process_evaluation_agree(run_tool, tmp_path):
    # One dev scene of 3 images: DistributedSampler pads 2 ranks to 4, the repeat must not count twice.
    # The data and its split are data seed 0's whatever DETKIT_TEST_SEED says (seed 1 puts 2 scenes
    # in dev: nothing to pad); the tests' seed still draws the model's start and the shuffles.
    split = [
        "data_seed=0",
        "data.module.source.classes=[square]",  # one class, held by the dev scene: no group moves in
        "data.module.split.fractions={train: 0.875, train_dev: 0, dev: 0.125, test: 0}",
        "evaluation.splits=[dev]",
        "data.module.eval_batch_size=1",
    ]
    result = run_tool("train", "trainer=ddp_cpu", "hydra.run.dir=run", *split)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "effective batch size 8 = 4 per process x 2 processes x 1 accumulated" in result.stdout + result.stderr
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
    reports = {}
    for trainer in ("cpu", "ddp_cpu"):
        (run / "predictions" / "dev.json").unlink(missing_ok=True)  # predict again, on 1 and on 2 processes
        result = run_tool("errors", f"run={run}", f"trainer={trainer}", f"out={tmp_path / ('errors_' + trainer)}")
        assert result.returncode == 0, result.stderr[-3000:]
        reports[trainer] = json.loads((tmp_path / f"errors_{trainer}" / "errors.json").read_text())
    cached = json.loads((run / "predictions" / "dev.json").read_text())
    assert sorted({r["image_id"] for r in cached["results"]}) == cached["key"]["images"], "each dev image once"
    assert reports["cpu"]["breakdown"] == reports["ddp_cpu"]["breakdown"]


@pytest.mark.slow
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
    assert len(report["warnings"]) > 1 and result.stdout.count("warning:") == 1, "one line, the rest in report.md"
    assert f"and {len(report['warnings']) - 1} more like it, listed in report.md" in result.stdout
    assert (out / "report.md").read_text().startswith("# Splits")

    bad = run_tool("split", f"out={tmp_path / 'bad'}", *tiny, "data.module.split.fractions={train: 0.9}")
    assert bad.returncode == 2 and "sum to 1" in bad.stderr


@pytest.mark.slow
def test_convert_tool_end_to_end_and_bad_input_exits_2(run_tool, tmp_path, tiny_shapes):
    source = tiny_shapes.root.parent
    before = {p: p.read_bytes() for p in source.rglob("*") if p.is_file()}
    result = run_tool("convert", f"data.root={source}", "to=voc", f"dst={tmp_path / 'voc'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"converted {len(tiny_shapes)} images" in result.stdout
    assert len(list((tmp_path / "voc" / "Annotations").glob("*.xml"))) == len(tiny_shapes)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "annotations.json").write_text('{"images": [}')
    result = run_tool("convert", "data=coco", f"data.root={broken}", "to=yolo", f"dst={tmp_path / 'y'}")
    assert result.returncode == 2 and "line 1, column 13" in result.stderr and "annotations.json" in result.stderr
    assert not (tmp_path / "y").exists()
    assert {p: p.read_bytes() for p in source.rglob("*") if p.is_file()} == before, "inputs untouched"


def _start_training(tmp_path: Path, overrides: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    command = tool_command("train", *overrides)  # the same data, seed and epochs as run_tool's
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=None if env is None else {**os.environ, **env},
    )


def _checkpoint_of_epoch(process: subprocess.Popen, runs: Path, epoch: int) -> Path:
    """``checkpoints/last.ckpt`` of the run under ``runs`` once it holds ``epoch`` and the next
    epoch has started."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        last = next(runs.glob("*/checkpoints/last.ckpt"), None)
        if last is not None and torch.load(last, weights_only=True)["epoch"] >= epoch:
            time.sleep(0.3)  # into the next epoch's steps
            return last
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint of epoch {epoch} appeared under {runs}")


def _stopped_line(signum: int, stopped_dir: Path, epoch: int) -> list[str]:
    return [
        f"error: training interrupted by {signal.Signals(signum).name} during epoch {epoch} (counted from 0); "
        f"{stopped_dir}/checkpoints/last.ckpt holds the last whole epoch: continue with "
        f"python tools/train.py resume={stopped_dir}"
    ]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


@pytest.mark.slow
def test_a_run_stopped_by_a_signal_says_how_to_resume_and_resumes_to_the_same_result(run_tool, tmp_path):
    """From outside, as a scheduler sends them (where in a run SIGTERM or SIGINT may land, and
    that each point resumes bit for bit: tests/training/test_interruption.py)."""
    steps = ["trainer.max_epochs=4", "data.module.source.num_scenes=32", "evaluation.splits=[dev]"]
    steps += ["callbacks.dev_images.every_n_epochs=0"]
    result = run_tool("train", *steps, "hydra.run.dir=whole")
    assert result.returncode == 0, result.stderr[-3000:]
    whole = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", weights_only=True)

    # SLURM before a time limit (sbatch --signal=USR1@90): Lightning's auto-requeue saves its own
    # checkpoint and calls `scontrol requeue <job>` (a stand-in records it); the SIGTERM of the
    # requeue then stops the run, which continues from its last whole epoch.
    scontrol = tmp_path / "bin" / "scontrol"
    scontrol.parent.mkdir()
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(0o755)
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "train", "SLURM_NTASKS": "1", "SLURM_PROCID": "0"}
    slurm |= {"SLURM_LOCALID": "0", "SLURM_NODEID": "0", "PATH": f"{scontrol.parent}:{os.environ['PATH']}"}
    process = _start_training(tmp_path, [*steps, "name=requeued"], slurm)
    try:
        stopped_dir = _checkpoint_of_epoch(process, tmp_path / "outputs" / "requeued", 1).parents[1]
        os.kill(process.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 60
        while not (tmp_path / "scontrol.log").is_file() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=300)  # a hang guard: a loaded 2-core machine took over 120 s to stop
    stderr = process.stderr.read()
    epoch = torch.load(stopped_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] + 1  # the one stopped
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n", stderr[-3000:]
    assert list(stopped_dir.glob("hpc_ckpt_*.ckpt")), "Lightning's own checkpoint, which detkit does not resume from"
    assert process.returncode == 143, stderr[-3000:]
    assert _error_lines(stderr) == _stopped_line(signal.SIGTERM, stopped_dir, epoch)

    copy = tmp_path / "moved" / "stopped"  # the requeued run, moved: it continues where it is now
    shutil.copytree(stopped_dir, copy)
    before = {p: p.read_bytes() for p in stopped_dir.rglob("*") if p.is_file()}
    result = run_tool("train", f"resume={copy}", tiny=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p: p.read_bytes() for p in stopped_dir.rglob("*") if p.is_file()} == before, "the original is untouched"
    assert (copy / "metrics.json").is_file() and not (copy / ".lock").exists()
    resumed = torch.load(copy / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == whole["global_step"] and resumed["epoch"] == whole["epoch"] == 3
    for key, value in whole["state_dict"].items():
        assert torch.equal(resumed["state_dict"][key], value), key


@pytest.mark.parametrize(
    ("tool", "run_dir", "cause"),
    [
        ("train", "{tmp}/notes.txt/run", "notes.txt is a file, not a folder"),
        ("train", "/sys/detkit_run/${{now:%H}}", "(/sys: "),  # not writable, even by root
        ("compare_transfer", "/sys/detkit_run", "(/sys: "),
    ],
)
def test_a_run_directory_that_cannot_be_made_is_one_message(run_tool_here, tmp_path, tool, run_dir, cause):
    (tmp_path / "notes.txt").write_text("mine\n")
    result = run_tool_here(tool, f"hydra.run.dir={run_dir.format(tmp=tmp_path)}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot be made" in result.stderr and cause in result.stderr, result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_the_default_run_directory_is_checked_where_the_tool_runs(monkeypatch):
    monkeypatch.chdir("/sys")
    with pytest.raises(ConfigError, match=r"the run directory under /sys: cannot be made \(/sys: "):
        check_run_dir_can_be_made([])
    with pytest.raises(ConfigError, match=r"hydra.sweep.dir=/sys/sweep: cannot be made"):
        check_run_dir_can_be_made(["-m", "seed=0,1", "hydra.sweep.dir=/sys/sweep", "hydra.run.dir=/tmp"])


@pytest.mark.parametrize("key", ["resume", "hydra.run.dir"])
def test_a_folder_that_is_not_a_run_is_refused_before_anything_is_written_into_it(run_tool_here, tmp_path, key):
    folder = tmp_path / "my_dataset"
    folder.mkdir()
    (folder / "labels.txt").write_text("mine\n")
    result = run_tool_here("train", f"{key}={folder}")
    assert result.returncode == 2 and f"{key}={folder}" in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["labels.txt"], "no .hydra/, no train.log"
    missing = tmp_path / "nowhere"
    assert run_tool_here("train", f"resume={missing}").returncode == 2 and not missing.exists()


def test_resume_takes_a_run_stopped_before_its_first_checkpoint_but_never_a_finished_one(tmp_path):
    with pytest.raises(ConfigError, match=r"resume=.*: no checkpoints/last\.ckpt there; pass a detkit run directory"):
        check_resumable(tmp_path)
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    check_resumable(tmp_path)  # interrupted in its first epoch: it starts again
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"a finished run without checkpoints/last\.ckpt; train a new run instead"):
        check_resumable(tmp_path)
