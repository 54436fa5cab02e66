"""Writing a `DeployedDetector` to ONNX or TorchScript, atomically."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import Tensor

from detkit.deploy.deployed import INPUT_NAME, OUTPUT_NAMES, DeployedDetector
from detkit.exceptions import ConfigError
from detkit.files import write_bytes_atomic

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript"}  # each format's file suffix
# nms and roi_align have ONNX symbolics (torchvision's) from opset 11 and 16; 17 is what
# onnxruntime releases of the last years all run.
ONNX_OPSET = 17


def check_format(format: str, dynamic_batch: bool) -> None:
    """Refuse, before anything is built, a format that does not exist or cannot do ``dynamic_batch``."""
    if format not in FORMATS:
        raise ConfigError(f"format={format!r}; give one of {sorted(FORMATS)}")
    if format == "onnx" and dynamic_batch:
        raise ConfigError(
            "dynamic_batch=true cannot be exported to ONNX: torchvision's detectors decode and NMS "
            "each image of a batch in a Python loop, which ONNX's tracing unrolls for the traced batch "
            "size. Export with dynamic_batch=false (one image per call, any size), or use "
            "format=torchscript, whose compiled loop takes any batch"
        )


def write_model(model: DeployedDetector, format: str, example: Tensor, path: Path) -> Path:
    """``model`` written to ``path`` as ``format``; ``example`` ``[1, 3, H, W]`` is the image
    ONNX traces (its batch is fixed at 1; height and width stay free)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # tracing's and the exporter's warnings are about code paths torchvision guards
        warnings.simplefilter("ignore")
        if format == "onnx":
            # The TorchScript-based exporter (dynamo=False): torchvision registers the ONNX
            # symbolics of nms and roi_align for it, and its tracing keeps a detector's
            # data-dependent shapes (boxes after NMS) dynamic.
            torch.onnx.export(
                model,
                (example,),
                buffer,
                dynamo=False,
                opset_version=ONNX_OPSET,
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_axes={INPUT_NAME: {2: "height", 3: "width"}},
            )
        else:
            torch.jit.save(torch.jit.script(model), buffer)
    return write_bytes_atomic(path, buffer.getvalue())
