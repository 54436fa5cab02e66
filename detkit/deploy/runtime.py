"""An exported detector run from its file and sidecar alone: onnxruntime for ONNX, torch.jit
for TorchScript. Neither Lightning nor the run directory is needed."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detkit.deploy.deployed import INPUT_NAME
from detkit.exceptions import ConfigError
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
        if not path.is_file():
            raise ConfigError(f"model={path}: no such file; {EXPORT_FIX}")
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
        boxes, scores, labels, image_index = (np.asarray(out) for out in self.run_batch(images))
        return [
            {
                "boxes": boxes[mine].astype(np.float32),
                "scores": scores[mine].astype(np.float32),
                "labels": labels[mine].astype(np.int64),
            }
            for mine in (image_index == i for i in range(len(images)))
        ]


def _read_card(path: Path) -> dict[str, Any]:
    card_path = sidecar_path(path)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{card_path} not found: an exported model needs the json tools/export.py writes beside it"
        ) from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"{card_path}: cannot read it ({error}); export the model again") from None
    if not isinstance(card, dict) or not isinstance(card.get("classes"), list):
        raise ConfigError(f"{card_path}: no 'classes' list; it is not a sidecar written by tools/export.py")
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
    try:
        session = onnxruntime.InferenceSession(str(path), providers=providers)
    except Exception as error:  # onnxruntime raises its own types for a file that is not a model
        raise ConfigError(f"model={path}: onnxruntime cannot load it ({error}); {EXPORT_FIX}") from None
    return lambda images: session.run(None, {INPUT_NAME: np.ascontiguousarray(images, dtype=np.float32)})


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
