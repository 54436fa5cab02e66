"""CSPDet through detkit's tools as any detector goes: partial labels, two processes, error
analysis and label issues on a trained run (export and predict: tests/tools/test_export.py;
fine-tuning's class rows: tests/models/test_weight_transfer.py; resuming: tests/training/test_ema.py),
and on a timm backbone."""

import json

import pytest
import timm
import torch

CSPDET = ["model=cspdet_n", "model.image_size=96"]


@pytest.mark.slow
def test_cspdet_trains_on_partially_labelled_images_with_the_gated_loss(run_tool, tmp_path):
    hidden = ["data.module.source.hidden_label_fraction=0.5", "loss.partial_labels=gated", "trainer.max_steps=2"]
    result = run_tool("train", "hydra.run.dir=run", *CSPDET, *hidden, "evaluation.splits=[dev]")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "labelled for only some classes" not in result.stderr
    assert set(json.loads((tmp_path / "run" / "metrics.json").read_text())["dev"]) >= {"mAP", "mAP50"}


@pytest.mark.slow
@pytest.mark.ddp
def test_cspdet_trains_on_two_processes(run_tool, tmp_path):
    result = run_tool("train", "trainer=ddp_cpu", "hydra.run.dir=run", *CSPDET, "trainer.max_steps=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "effective batch size 8 = 4 per process x 2 processes" in result.stdout + result.stderr
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["dev"]["mAP50"] >= 0.0


@pytest.mark.slow
def test_error_analysis_and_label_issues_of_a_cspdet_run(easy_run, run_tool, tmp_path):
    run = easy_run("cspdet_n")
    result = run_tool("errors", f"run={run}", "worst=2", "label_issues=true", f"out={tmp_path / 'errors'}", tiny=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "errors" / "errors.json").read_text())
    dev = json.loads((run / "metrics.json").read_text())["dev"]
    assert report["breakdown"]["AP50"] == pytest.approx(dev["mAP50"], abs=1e-9) and dev["mAP50"] > 0.3
    assert json.loads((tmp_path / "errors" / "label_issues.json").read_text())["split"] == "dev"


@pytest.mark.slow
def test_cspdet_on_a_timm_backbone_trains_from_its_weights_file_and_exports(run_tool, tmp_path):
    torch.save(timm.create_model("test_resnet").state_dict(), tmp_path / "backbone.pth")
    timm_backbone = ["model.options.backbone=test_resnet", f"model.weights_backbone={tmp_path / 'backbone.pth'}"]
    low_scores_kept = "model.options.score_thresh=0.001"  # two steps: scores near the class prior, 0.01
    result = run_tool("train", "hydra.run.dir=run", *CSPDET, *timm_backbone, low_scores_kept, "trainer.max_steps=2")
    assert result.returncode == 0, result.stderr[-3000:]
    # TorchScript (PyTorch's kernels) must match eager exactly; two steps leave near-equal scores whose NMS
    # order ONNX's kernels may flip (tests/deploy/test_formats.py holds the ONNX file of this backbone)
    exported = run_tool("export", f"run={tmp_path / 'run'}", "format=torchscript", f"out={tmp_path / 'export'}")
    assert exported.returncode == 0, exported.stderr[-3000:]
    parity = json.loads((tmp_path / "export" / "model.torchscript.json").read_text())["parity"]
    assert parity["detections"] > 0 and parity["max_box_difference"] == 0.0
