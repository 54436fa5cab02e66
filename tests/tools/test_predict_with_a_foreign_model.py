"""tools/predict.py model= with a file tools/export.py did not write: exit 2, one line (issue 38)."""

from tests.data.test_formats import _write_image
from tests.deploy.test_hostile_models import _onnx


def test_predict_with_such_a_model_exits_2_with_one_line(run_tool_here, tmp_path):
    _write_image(tmp_path / "photos" / "a.png", (16, 16))
    result = run_tool_here(
        "predict", f"model={_onnx(tmp_path / 'model.onnx', label=9)}", f"images={tmp_path / 'photos'}"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.startswith("error: model=") and "gave labels 9..9" in result.stderr
