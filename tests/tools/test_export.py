"""tools/export.py and tools/predict.py model=: exported detectors give the run's detections,
predict without Lightning and score the run's mAP."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detkit.data.images.files import read_rgb
from detkit.deploy.runtime import ExportedModel
from tests.tools.conftest import tool_command
from tests.tools.test_cli import _dev_images

# The default detector, a sigmoid one (partial-label heads, swapped for torchvision's on export) and
# detkit's own (CSPDet), trained until their scores mean something (`EASY_AT_160`): an untrained model's near-equal
# scores rank in float noise, and its mAP with them.
FAMILIES = {"ssdlite": "ssdlite320_mobilenet_v3_large", "fcos": "fcos_mobilenet_v3_large_fpn", "cspdet": "cspdet_n"}


@pytest.fixture(scope="module")
def trained(easy_run, tmp_path_factory):
    """Each family's easy run and its dev images as a folder."""
    runs = {}
    for family, model in FAMILIES.items():
        run = easy_run(model)
        dev_coco, dev_images = _dev_images(run.parent / "data" / "shapes", run, tmp_path_factory.mktemp(family))
        runs[family] = (run, dev_coco, dev_images)
    return runs


def _without_lightning(tool: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    """``tools/<tool>.py`` in a Python where importing Lightning fails, saying at exit whether it was."""
    argv = tool_command(tool, *overrides)[1:]
    check = (
        "import atexit, runpy, sys\n"
        "sys.modules['lightning'] = None  # an import of it raises ImportError\n"
        "loaded = lambda: [m for m, module in sys.modules.items() if m.startswith('lightning') and module]\n"
        "atexit.register(lambda: print('lightning imported:', bool(loaded())))\n"
        f"sys.argv = {argv!r}\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    return subprocess.run([sys.executable, "-c", check], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_exports_predict_without_lightning_and_score_the_runs_map(trained, family, run_tool_here, tmp_path):
    run, dev_coco, dev_images = trained[family]
    predict = [f"images={dev_images}", f"annotations={dev_coco}", "score_threshold=0", "draw=false"]
    result = run_tool_here("predict", f"run={run}", *predict, f"out={tmp_path / 'eager'}")
    assert result.returncode == 0, result.stderr[-3000:]
    eager_results = tmp_path / "eager" / "predictions.json"
    result = run_tool_here("evaluate", f"annotations={dev_coco}", f"predictions={eager_results}")
    eager = json.loads((tmp_path / "eager" / "eval" / "metrics.json").read_text())["predictions"]
    assert eager["mAP50"] > 0.3, "a model that finds its objects: parity is about real detections"
    for format, file_name in (("onnx", "model.onnx"), ("torchscript", "model.torchscript")):
        result = run_tool_here("export", f"run={run}", f"format={format}", f"out={tmp_path / 'export'}")
        assert result.returncode == 0, result.stderr[-3000:]
        model = tmp_path / "export" / file_name
        card = json.loads((tmp_path / "export" / f"{file_name}.json").read_text())
        assert card["format"] == format and card["classes"] == ["square"]
        assert card["parity"]["images"] == 8 and card["parity"]["max_box_difference"] <= 0.01
        assert card["parity"]["detections"] > 0 and "parity with eager PyTorch on 8 dev images" in result.stdout

        out = tmp_path / format
        if family == "ssdlite":  # a new Python (8 s) for one family: the other predicts in this one
            result = _without_lightning("predict", f"model={model}", *predict, f"out={out}", cwd=tmp_path)
            assert "lightning imported: False" in result.stdout, result.stderr[-3000:]
        else:
            result = run_tool_here("predict", f"model={model}", *predict, f"out={out}")
        assert result.returncode == 0, result.stderr[-3000:]
        images = json.loads((out / "images.json").read_text())
        assert images["model"] == str(model) and len(images["images"]) == len(list(dev_images.iterdir()))
        result = run_tool_here("evaluate", f"annotations={dev_coco}", f"predictions={out / 'predictions.json'}")
        assert result.returncode == 0, result.stderr[-3000:]
        scored = json.loads((out / "eval" / "metrics.json").read_text())["predictions"]
        for metric in ("mAP", "mAP50", "mAP75", "AR100"):
            assert scored[metric] == pytest.approx(eager[metric], abs=1e-4), (format, metric)


@pytest.mark.slow
def test_an_export_unlike_eager_is_refused_and_the_good_file_kept(trained, run_tool_here, tmp_path, monkeypatch):
    run = trained["ssdlite"][0]
    out = tmp_path / "export"
    assert run_tool_here("export", f"run={run}", f"out={out}").returncode == 0
    kept = {path.name: path.read_bytes() for path in out.iterdir()}
    detect = ExportedModel.detect

    def half_a_pixel_off(self, image):
        found = detect(self, image)
        return {**found, "boxes": found["boxes"] + 0.5}

    monkeypatch.setattr(ExportedModel, "detect", half_a_pixel_off)
    result = run_tool_here("export", f"run={run}", f"out={out}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the onnx export does not give eager PyTorch's detections on 8 image(s): boxes differ by up to 0.5" in (
        result.stderr
    )
    assert {path.name: path.read_bytes() for path in out.iterdir()} == kept, "the good export is untouched, no scraps"
    result = run_tool_here("export", f"run={run}", f"out={out}", "parity.box_tolerance=1")
    assert result.returncode == 0, "a tolerance the user chose"

    monkeypatch.undo()
    result = run_tool_here("export", f"run={run}", f"out={out}", "image_size=128")
    assert result.returncode == 0, result.stderr[-3000:]
    card = json.loads((out / "model.onnx.json").read_text())
    assert card["resized_to"]["fixed_size"] == [128, 128] and card["parity"]["max_box_difference"] <= 0.01


@pytest.mark.slow
def test_torchscript_takes_a_batch_and_broken_files_are_one_message(trained, run_tool_here, tmp_path):
    run, _, dev_images = trained["ssdlite"]
    assert run_tool_here("export", f"run={run}", "format=torchscript", f"out={tmp_path}").returncode == 0
    model = ExportedModel.open(tmp_path / "model.torchscript")
    images = [read_rgb(path).transpose(2, 0, 1).astype(np.float32) / 255 for path in sorted(dev_images.iterdir())[:2]]
    batched = model.detect_batch(np.stack(images))
    for one_by_one, together in zip([model.detect(image) for image in images], batched):
        assert len(together["scores"]) > 0
        for key in ("boxes", "scores", "labels"):
            np.testing.assert_allclose(together[key], one_by_one[key], atol=1e-4)

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    shutil.copy(tmp_path / "model.torchscript.json", tmp_path / "broken.onnx.json")
    card = json.loads((tmp_path / "broken.onnx.json").read_text())
    (tmp_path / "broken.onnx.json").write_text(json.dumps({**card, "format": "onnx"}))
    result = run_tool_here("predict", f"model={broken}", f"images={dev_images}")
    assert result.returncode == 2 and "not an ONNX model" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "alone.torchscript").write_bytes((tmp_path / "model.torchscript").read_bytes())
    result = run_tool_here("predict", f"model={tmp_path / 'alone.torchscript'}", f"images={dev_images}")
    assert result.returncode == 2 and "alone.torchscript.json not found" in result.stderr
