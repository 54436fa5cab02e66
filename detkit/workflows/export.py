"""Export a finished run's detector to ONNX or TorchScript, and prove the file gives the eager
model's detections on the run's own images before it is kept."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detkit.data.torch_dataset import DetectionImages
from detkit.deploy.deployed import INPUT_NAME, OUTPUT_NAMES, deployable
from detkit.deploy.parity import Parity, check_parity, compare_detections
from detkit.deploy.runtime import ExportedModel, sidecar_path
from detkit.deploy.writers import FORMATS, check_format, write_model
from detkit.exceptions import ConfigError
from detkit.files import write_json_atomic
from detkit.models.families import family_of
from detkit.models.inference import Detections, detect
from detkit.runs import layout
from detkit.runs.lock import writing_into
from detkit.runs.run_dir import RunDir
from detkit.workflows.outputs import output_folder


@dataclass(frozen=True)
class ParityOptions:
    """Which of the run's images the exported model is checked on, and how close it must be."""

    split: str
    images: int
    box_tolerance: float
    score_tolerance: float


@dataclass(frozen=True)
class ExportOptions:
    """What ``tools/export.py`` takes (``configs/export.yaml`` states each default)."""

    run: str
    checkpoint: str | None
    format: str
    image_size: int | None
    dynamic_batch: bool
    out: str | None
    parity: ParityOptions


@dataclass(frozen=True)
class Exported:
    """The exported file, its sidecar's content and how close it came to eager PyTorch."""

    path: Path
    card: dict[str, Any]
    parity: Parity


def export_run(cfg: ExportOptions) -> Exported:
    """Write ``<out>/model.onnx`` or ``model.torchscript`` (``out``: ``<run>/export``) and its
    sidecar ``<file>.json`` (classes, input, normalisation, thresholds, parity), after checking
    the file's detections against eager PyTorch's on ``parity.images`` images of the run's
    ``parity.split``; beyond tolerance, a `ParityError` and nothing is written."""
    check_format(cfg.format, cfg.dynamic_batch)
    if cfg.image_size is not None and (not isinstance(cfg.image_size, int) or cfg.image_size < 32):
        raise ConfigError(f"image_size={cfg.image_size!r}; give a whole number of pixels >= 32, or null for the run's")
    if not isinstance(cfg.parity.images, int) or cfg.parity.images < 1:
        raise ConfigError(f"parity.images={cfg.parity.images!r}; give a whole number >= 1")
    run = RunDir.open(cfg.run, cfg.checkpoint)
    detector = run.detector(cfg.image_size)
    image_ids, images = _parity_images(run, cfg.parity)
    with torch.inference_mode():  # the reference: the detector as evaluate.py and predict.py run it
        eager = [detect(detector, [image])[0] for image in images]
    model = deployable(detector)
    path = layout.report_file(output_folder(cfg, run.export_dir), "model", FORMATS[cfg.format])
    card = _card(cfg, run, model.detector, path.name)
    with writing_into(run.path, path.parent):
        parity = _write_if_equal(model, cfg, card, path, images[0][None], image_ids, images, eager)
        card["parity"] = {
            **parity.to_json(),
            "split": cfg.parity.split,
            "box_tolerance": cfg.parity.box_tolerance,
            "score_tolerance": cfg.parity.score_tolerance,
        }
        write_json_atomic(sidecar_path(path), card)
    return Exported(path, card, parity)


def _write_if_equal(
    model: nn.Module,
    cfg: ExportOptions,
    card: dict[str, Any],
    path: Path,
    example: torch.Tensor,
    image_ids: list[int],
    images: list[torch.Tensor],
    eager: list[Detections],
) -> Parity:
    """Export to a temporary file beside ``path``, run it, and move it into place only when
    its detections match ``eager``: a failed export never replaces a good one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_model(model, cfg.format, example, Path(scratch))
        exported = ExportedModel.load(Path(scratch), card, "cpu")
        found = [exported.detect(image.numpy()) for image in images]
        parity = compare_detections(image_ids, eager, found, card["score_threshold"], cfg.parity.score_tolerance)
        check_parity(parity, cfg.parity.box_tolerance, cfg.parity.score_tolerance, f"the {cfg.format} export")
        os.replace(scratch, path)  # write_model's atomic write gave it ordinary permissions
    finally:
        Path(scratch).unlink(missing_ok=True)
    return parity


def parity_sample(sizes: Sequence[tuple[int, int]], count: int) -> list[int]:
    """``count`` indices of images to check an export on: the first image of each size first (an
    exported model resizes by arithmetic of its own: other sizes, other code paths), then the
    others in order."""
    first_of_size: dict[tuple[int, int], int] = {}
    for i, size in enumerate(sizes):
        first_of_size.setdefault(size, i)
    firsts = list(first_of_size.values())
    rest = sorted(set(range(len(sizes))) - set(firsts))
    return [*firsts, *rest][:count]


def _parity_images(run: RunDir, parity: ParityOptions) -> tuple[list[int], list[torch.Tensor]]:
    """``parity.images`` images of the run's ``parity.split`` (`parity_sample`), as the evaluator reads them."""
    run.data.require(parity.split, "parity.split")
    subset = run.data.subset(parity.split)
    images = DetectionImages(subset)
    chosen = [images[i] for i in parity_sample([(r.width, r.height) for r in subset.records], parity.images)]
    if not chosen:
        raise ConfigError(f"the run's {parity.split} split has no images to check the export on; choose parity.split")
    return [int(target["image_id"]) for _, target in chosen], [image for image, _ in chosen]


def _card(cfg: ExportOptions, run: RunDir, detector: nn.Module, file_name: str) -> dict[str, Any]:
    """What a user of the exported file needs to know: classes, input, what the model does inside."""
    transform = detector.transform
    postprocess = family_of(detector).postprocess(detector)
    return {
        "format": cfg.format,
        "file": file_name,
        "detector": run.config.model.name,
        "classes": run.class_names,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch" if cfg.format == "torchscript" else 1, 3, "height", "width"],
            "dtype": "float32",
            "channels": "RGB",
            "value_range": [0, 1],
        },
        "resized_to": {
            "min_size": list(transform.min_size),
            "max_size": transform.max_size,
            "fixed_size": list(transform.fixed_size) if transform.fixed_size else None,
        },
        "normalisation": {"mean": list(transform.image_mean), "std": list(transform.image_std), "inside_model": True},
        "score_threshold": float(postprocess.score_thresh),
        "detections_per_image": int(postprocess.detections_per_img),
        "outputs": {
            OUTPUT_NAMES[0]: "[N, 4] float32 x1 y1 x2 y2 in the input image's pixels",
            OUTPUT_NAMES[1]: "[N] float32",
            OUTPUT_NAMES[2]: "[N] int64 index into classes",
            OUTPUT_NAMES[3]: "[N] int64 the image of the batch each detection is of",
        },
        "run": str(run.path.resolve()),
        "checkpoint": str(run.checkpoint.resolve()),
        "torch": torch.__version__,
    }
