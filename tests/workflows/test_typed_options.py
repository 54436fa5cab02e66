"""Each tool's config mirrors the typed options of its workflow: every key a field, nested
groups nested dataclasses, the config's defaults arriving as the fields' values."""

import pytest

from detkit.workflows.diagnose import Bootstrap, DiagnoseOptions, HumanLevel
from detkit.workflows.error_outputs import ErrorOptions
from detkit.workflows.export import ExportOptions, ParityOptions
from detkit.workflows.options import typed
from detkit.workflows.predict import PredictOptions
from tests.conftest import compose_config


@pytest.mark.parametrize(("tool", "options"), [("predict/predict", PredictOptions), ("errors", ErrorOptions)])
def test_a_tools_config_is_its_workflows_options(tool, options):
    built = typed(options, compose_config(tool, ["run=outputs/x", "score_threshold=0.25"]))
    assert built.run == "outputs/x" and built.score_threshold == 0.25


def test_the_export_config_is_its_options_with_parity_nested():
    built = typed(ExportOptions, compose_config("export", ["run=outputs/x", "parity.images=3"]))
    assert built.run == "outputs/x" and built.format == "onnx" and built.dynamic_batch is False
    assert built.parity == ParityOptions(split="dev", images=3, box_tolerance=0.01, score_tolerance=1e-4)


def test_nested_groups_become_nested_options():
    built = typed(DiagnoseOptions, compose_config("diagnose", ["human.error=0.04", "learning_curve=[0.5,1.0]"]))
    assert built.human == HumanLevel(error=0.04, annotations=None, format="coco")
    assert isinstance(built.bootstrap, Bootstrap) and built.bootstrap.samples == 200
    assert built.learning_curve == [0.5, 1.0] and built.metric == "mAP50"


def test_a_key_the_options_lack_is_refused():
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        typed(HumanLevel, {"error": None, "annotations": None, "format": "coco", "colour": "red"})
