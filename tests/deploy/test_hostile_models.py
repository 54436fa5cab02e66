"""Exported model files not written by tools/export.py (issue 38): another input name, outputs
that cannot be the sidecar's classes, tensors kept in other files, a bad sidecar, a FIFO: one
message (`ConfigError`), exit 2 from tools/predict.py, never a traceback."""

import json
import os

import numpy as np
import pytest
from onnx import TensorProto, helper

from detkit.deploy.runtime import ExportedModel
from detkit.exceptions import ConfigError

CARD = {"format": "onnx", "classes": ["cat", "dog"]}


def _onnx(path, input_name="images", label=1, box=(1.0, 2.0, 10.0, 12.0), external=False):
    """A model of the exported signature answering one fixed detection, whatever the image."""
    constants = {
        "boxes": (TensorProto.FLOAT, [1, 4], list(box)),
        "scores": (TensorProto.FLOAT, [1], [0.9]),
        "labels": (TensorProto.INT64, [1], [label]),
        "image_index": (TensorProto.INT64, [1], [0]),
    }
    nodes = [helper.make_node("Identity", [f"{name}_value"], [name]) for name in constants]
    inits = [
        helper.make_tensor(f"{name}_value", kind, dims, values) for name, (kind, dims, values) in constants.items()
    ]
    if external:
        inits[0].ClearField("float_data")
        inits[0].data_location = TensorProto.EXTERNAL
        inits[0].external_data.add(key="location", value="../../../etc/passwd")
    graph = helper.make_graph(
        nodes,
        "fixed",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info(name, kind, None) for name, (kind, _, _) in constants.items()],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    (path.parent / f"{path.name}.json").write_text(json.dumps(CARD))
    return path


def test_a_model_of_the_exported_signature_runs(tmp_path):
    model = ExportedModel.open(_onnx(tmp_path / "model.onnx"))
    found = model.detect(np.zeros((3, 8, 8), dtype=np.float32))
    assert found["labels"].tolist() == [1] and found["boxes"].tolist() == [[1.0, 2.0, 10.0, 12.0]]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"input_name": "input"}, r"takes inputs \['input'\], not \['images'\]"),
        ({"label": 7}, "gave labels 7..7 for the 2 classes of its sidecar"),
        ({"label": -1}, "gave labels -1..-1"),
        ({"box": (float("nan"), 0.0, 1.0, 1.0)}, "boxes or scores that are not finite"),
        ({"external": True}, r"keeps tensors in other files \(external data\)"),
    ],
)
def test_a_model_that_is_not_what_export_writes_is_one_message(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        ExportedModel.open(_onnx(tmp_path / "model.onnx", **options)).detect(np.zeros((3, 8, 8), dtype=np.float32))


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("{", "cannot read it"),
        ('{"format": "onnx", "classes": []}', "no 'classes' list of names"),
        ('{"format": "onnx", "classes": [1, 2]}', "no 'classes' list of names"),
        ('{"format": "onnx", "classes": ["a"], "classes": ["b"]}', "appears twice"),
        ('{"format": "exe", "classes": ["a"]}', "is not onnx or torchscript"),
        ("[" * 100_000 + "]" * 100_000, "nest"),
    ],
)
def test_a_bad_sidecar_is_one_message(tmp_path, card, message):
    path = _onnx(tmp_path / "model.onnx")
    (tmp_path / "model.onnx.json").write_text(card)
    with pytest.raises(ConfigError, match=message):
        ExportedModel.open(path)


@pytest.mark.parametrize("victim", ["model.onnx", "model.onnx.json"])
def test_a_fifo_as_the_model_or_its_sidecar_is_named(tmp_path, victim):
    _onnx(tmp_path / "model.onnx")
    os.remove(tmp_path / victim)
    os.mkfifo(tmp_path / victim)
    with pytest.raises(ConfigError, match="a FIFO"):
        ExportedModel.open(tmp_path / "model.onnx")


def _huge(model, where):
    """``model`` made to need 4 TB: an initializer declaring it (``load``) or a node making it
    on every image (``run``)."""
    if where == "load":
        tensor = model.graph.initializer[0]
        tensor.ClearField("float_data")
        tensor.dims[:] = [1 << 20, 1 << 20]
        tensor.raw_data = bytes(16)
        return
    model.graph.initializer.append(helper.make_tensor("shape", TensorProto.INT64, [2], [1 << 20, 1 << 20]))
    model.graph.node.insert(0, helper.make_node("ConstantOfShape", ["shape"], ["big"]))
    model.graph.node.append(helper.make_node("ReduceSum", ["big"], ["big_sum"]))
    model.graph.output.append(helper.make_tensor_value_info("big_sum", TensorProto.FLOAT, None))


@pytest.mark.parametrize("where", ["load", "run"])
def test_a_model_with_a_huge_tensor_is_one_message_and_quiet(tmp_path, capfd, where):
    """A tensor of 4 TB, declared or made while running: onnxruntime's error becomes one
    message naming the model, and onnxruntime prints nothing of its own."""
    import onnx

    path = _onnx(tmp_path / "model.onnx")
    model = onnx.load(str(path))
    _huge(model, where)
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ConfigError, match=f"model={path}.*4398046511104") as refused:
        ExportedModel.open(path).detect(np.zeros((3, 8, 8), dtype=np.float32))
    assert "\n" not in str(refused.value)
    assert capfd.readouterr().err == ""
