"""An exported detector run from its file and sidecar alone: onnxruntime for ONNX, torch.jit
for TorchScript. Neither Lightning nor the run directory is needed."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detkit.data.formats.fields import parse_json, read_text
from detkit.data.regular_files import open_regular
from detkit.deploy.deployed import INPUT_NAME, OUTPUT_NAMES
from detkit.exceptions import ConfigError, DatasetError
from detkit.models.inference import Detections, parse_device, torch_device

EXPORT_FIX = "pass model=<a model.onnx or model.torchscript written by tools/export.py>"


def sidecar_path(model: str | Path) -> Path:
    """The json that describes an exported model: ``model.onnx`` -> ``model.onnx.json``."""
    model = Path(model)
    return model.with_name(model.name + ".json")


@dataclass(frozen=True)
class ExportedModel:
    """An exported detector, ready to run: its file, its sidecar (``card``) and its runtime."""

    path: Path
    card: dict[str, Any]
    run_batch: Callable[[np.ndarray], Sequence[np.ndarray]]

    @classmethod
    def open(cls, path: str | Path, device: str = "cpu") -> ExportedModel:
        """The model at ``path`` (with its sidecar beside it) on ``device``: ``cpu``, ``cuda``,
        ``cuda:<index>`` or ``auto``."""
        path = Path(path)
        if not os.path.lexists(path):
            raise ConfigError(f"model={path}: no such file; {EXPORT_FIX}")
        try:
            os.close(open_regular(path))
        except OSError as error:
            raise ConfigError(f"model={path}: cannot read it ({error.strerror}); {EXPORT_FIX}") from None
        return cls.load(path, _read_card(path), device)

    @classmethod
    def load(cls, path: Path, card: dict[str, Any], device: str = "cpu") -> ExportedModel:
        """The model at ``path`` described by ``card`` (what its sidecar holds)."""
        opener = {"onnx": _onnx_runner, "torchscript": _torchscript_runner}.get(card.get("format"))
        if opener is None:
            raise ConfigError(f"{sidecar_path(path)}: format {card.get('format')!r} is not onnx or torchscript")
        return cls(path, card, opener(path, device))

    @property
    def class_names(self) -> list[str]:
        return list(self.card["classes"])

    def detect(self, image: np.ndarray) -> Detections:
        """Detections of one float32 ``[3, H, W]`` RGB image in ``[0, 1]``: ``boxes`` xyxy,
        ``scores`` and ``labels`` (``0..C-1``), as `detkit.models.inference.detect` gives them."""
        return self.detect_batch(image[None])[0]

    def detect_batch(self, images: np.ndarray) -> list[Detections]:
        """Detections of each image of ``images`` ``[B, 3, H, W]`` (an ONNX export takes B = 1)."""
        try:
            outputs = [np.asarray(out) for out in self.run_batch(images)]
        except Exception as error:  # the runtime's own types: a model that fails on its input (memory, shapes)
            cause = " ".join(str(error).split()) or type(error).__name__
            cause = cause if len(cause) <= 400 else "..." + cause[-400:]  # the runtime says what failed last
            raise ConfigError(
                f"model={self.path} failed on a {images.shape[3]}x{images.shape[2]} image ({cause}); {EXPORT_FIX}"
            ) from None
        _check_outputs(self.path, outputs, len(self.class_names), len(images))
        boxes, scores, labels, image_index = outputs
        return [
            {
                "boxes": boxes[mine].astype(np.float32),
                "scores": scores[mine].astype(np.float32),
                "labels": labels[mine].astype(np.int64),
            }
            for mine in (image_index == i for i in range(len(images)))
        ]


def _check_outputs(path: Path, outputs: list[np.ndarray], num_classes: int, batch: int) -> None:
    """Refuse what no model tools/export.py wrote would give: other outputs than boxes ``[N, 4]``,
    scores, labels and image indices ``[N]``, values that are not finite, labels outside the
    sidecar's classes, detections of images not in the batch."""
    problem = None
    if len(outputs) != len(OUTPUT_NAMES):
        problem = f"{len(outputs)} outputs instead of {list(OUTPUT_NAMES)}"
    else:
        boxes, scores, labels, image_index = outputs
        count = len(scores)
        if boxes.shape != (count, 4) or any(a.shape != (count,) for a in (scores, labels, image_index)):
            problem = f"outputs of shapes {[a.shape for a in outputs]}, not [N, 4], [N], [N], [N]"
        elif not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
            problem = "boxes or scores that are not finite"
        elif count and not (labels.min() >= 0 and labels.max() < num_classes):
            problem = f"labels {labels.min()}..{labels.max()} for the {num_classes} classes of its sidecar"
        elif count and not (image_index.min() >= 0 and image_index.max() < batch):
            problem = f"image indices {image_index.min()}..{image_index.max()} for {batch} image(s)"
    if problem:
        raise ConfigError(f"model={path} gave {problem}; it is not the model its sidecar describes: {EXPORT_FIX}")


def _read_card(path: Path) -> dict[str, Any]:
    card_path = sidecar_path(path)
    if not os.path.lexists(card_path):
        raise ConfigError(f"{card_path} not found: an exported model needs the json tools/export.py writes beside it")
    try:
        card = parse_json(read_text(card_path), str(card_path))
    except (DatasetError, ValueError) as error:
        raise ConfigError(f"{card_path}: cannot read it ({error}); export the model again") from None
    classes = card.get("classes") if isinstance(card, dict) else None
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        raise ConfigError(f"{card_path}: no 'classes' list of names; it is not a sidecar written by tools/export.py")
    return card


def _onnx_runner(path: Path, device: str) -> Callable[[np.ndarray], Sequence[np.ndarray]]:
    import onnxruntime  # imported when asked for: 0.3 s that TorchScript users need not pay

    kind, index = parse_device(device)
    available = onnxruntime.get_available_providers()
    if kind == "cuda" and "CUDAExecutionProvider" not in available:
        raise ConfigError(
            f"device={device} but this onnxruntime has no CUDA provider (it has {available}); use device=cpu"
        )
    providers: list[Any] = ["CPUExecutionProvider"]
    if kind == "cuda" or (kind == "auto" and "CUDAExecutionProvider" in available):
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": index or 0}))
    _check_onnx_file(path)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # fatal only: its errors reach the user as detkit's one message
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=providers)
    except Exception as error:  # onnxruntime raises its own types for a file that is not a model
        raise ConfigError(f"model={path}: onnxruntime cannot load it ({error}); {EXPORT_FIX}") from None
    inputs = [i.name for i in session.get_inputs()]
    if inputs != [INPUT_NAME]:
        raise ConfigError(f"model={path} takes inputs {inputs}, not [{INPUT_NAME!r}]; {EXPORT_FIX}")
    return lambda images: session.run(None, {INPUT_NAME: np.ascontiguousarray(images, dtype=np.float32)})


def _check_onnx_file(path: Path) -> None:
    """Refuse an ONNX file whose tensors live in other files (``external_data``: a path inside
    the model, which onnxruntime would read from wherever it points) before onnxruntime opens it."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and others for a file that is not a model
        raise ConfigError(f"model={path}: not an ONNX model ({error}); {EXPORT_FIX}") from None
    if any(uses_external_data(tensor) for tensor in model.graph.initializer):
        raise ConfigError(
            f"model={path} keeps tensors in other files (external data), which detkit never reads; {EXPORT_FIX}"
        )


def _torchscript_runner(path: Path, device: str) -> Callable[[np.ndarray], Sequence[np.ndarray]]:
    import torch

    target = torch_device(device)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated", category=FutureWarning)
            module = torch.jit.load(str(path), map_location=target)
    except Exception as error:  # torch.jit raises RuntimeError and others for a file that is not a module
        raise ConfigError(f"model={path}: torch.jit cannot load it ({error}); {EXPORT_FIX}") from None

    def run(images: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*returns a \\(Losses, Detections\\) tuple in scripting")
            found = module(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(target))
        return [out.cpu().numpy() for out in found]

    return run
