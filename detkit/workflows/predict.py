"""A trained detector (a run's checkpoint, or a file tools/export.py wrote) on new images:
COCO results and the images with their detections drawn."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.io import encode_jpeg

from detkit.analysis.gallery import detection_boxes, draw_image
from detkit.data import limits
from detkit.data.formats.coco import predictions_to_results
from detkit.data.formats.fields import is_whole, parse_json, read_text
from detkit.data.images.folder import find_images, ids_by_file_name, image_dataset, readable_images
from detkit.data.records import DetectionDataset, Record
from detkit.data.torch_dataset import DetectionImages, collate_detections
from detkit.data.transforms import build_transforms
from detkit.deploy.runtime import ExportedModel
from detkit.exceptions import ConfigError, DatasetError
from detkit.files import json_list_atomic, write_bytes_atomic, write_json_atomic
from detkit.models.inference import Detections, Sink, scoring_at_least
from detkit.progress import progress
from detkit.runs import layout
from detkit.runs.layout import predict_dir
from detkit.runs.lock import writing_into
from detkit.workflows.outputs import output_folder


@dataclass(frozen=True)
class PredictOptions:
    """What ``tools/predict.py`` takes (``configs/predict/predict.yaml`` states each default)."""

    run: str | None
    model: str | None
    images: str
    checkpoint: str | None
    out: str | None
    annotations: str | None
    score_threshold: float
    draw: bool
    draw_threshold: float
    batch_size: int
    num_workers: int
    device: str


@dataclass
class Predicted:
    """Where the outputs went, and how many images and detections they hold."""

    out: Path
    images: int
    detections: int


@dataclass(frozen=True)
class DetectorSource:
    """What predicts: a run's checkpoint or an exported file (``origin``, as images.json
    records it), its classes, the default output folder, ``detect`` (which hands the detections
    of a dataset's images to a sink a batch at a time, as they come) and the run folder it
    belongs to (None for an exported file)."""

    origin: dict[str, str]
    class_names: list[str]
    out: Path
    detect: Callable[[DetectionDataset, Sink], None]
    run: Path | None = None


def predict_images(cfg: PredictOptions) -> Predicted:
    """Run the checkpoint of ``cfg.run`` (or the exported ``cfg.model``) on ``cfg.images`` and
    write ``predictions.json`` (COCO results with score >= ``score_threshold``), ``images.json``
    (the image ids and categories they refer to) and, with ``draw``, ``drawn/<image>.jpg``
    (detections >= ``draw_threshold``). Detections are written as they come: memory does not
    grow with the number of images, and predictions.json appears whole when all are done."""
    if bool(cfg.run) == bool(cfg.model):
        raise ConfigError("give run=<a run directory made by tools/train.py> or model=<a file tools/export.py wrote>")
    source = exported_source(cfg) if cfg.model else checkpoint_source(cfg)
    root, found = find_images(str(cfg.images))
    paths = readable_images(found)  # a file that does not decode is skipped with one line, the rest predicted
    category_ids, image_ids = list(range(1, len(source.class_names) + 1)), None
    if cfg.annotations:
        coco = _read_coco(Path(cfg.annotations))
        names = [p.relative_to(root).as_posix() for p in paths]
        image_ids = ids_by_file_name(coco, names, str(cfg.annotations))
        category_ids = _category_ids(coco, source.class_names, str(cfg.annotations))
    dataset = image_dataset(root, paths, source.class_names, image_ids)
    out = output_folder(cfg, source.out)
    records = {record.image_id: record for record in dataset.records}
    with writing_into(source.run, out) if source.run else contextlib.nullcontext():
        with json_list_atomic(layout.report_file(out, "predicted", ".json")) as results:

            def write(detections: dict[int, Detections]) -> None:
                kept = {i: scoring_at_least(d, cfg.score_threshold) for i, d in detections.items()}
                results.extend(predictions_to_results(kept, category_ids))
                if cfg.draw:
                    for image_id, found_here in kept.items():
                        _draw(dataset, records[image_id], found_here, cfg.draw_threshold, out / layout.LAYOUT.drawn)

            source.detect(dataset, write)
        write_json_atomic(
            layout.report_file(out, "predicted_images", ".json"), _images_file(dataset, category_ids, source.origin)
        )
    return Predicted(out, len(dataset), results.count)


def checkpoint_source(cfg: PredictOptions) -> DetectorSource:
    """The run's checkpoint, predicting in batches through a Lightning Trainer on ``cfg.device``."""
    # Imported here, not above: an exported model predicts without Lightning (seconds of imports).
    from detkit.runs.run_dir import RunDir
    from detkit.workflows.prediction import device_trainer, predict_detections

    run = RunDir.open(cfg.run, cfg.checkpoint)
    if not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ConfigError(f"batch_size must be a whole number >= 1, got {cfg.batch_size!r}")

    def detect(dataset: DetectionDataset, sink: Sink) -> None:
        trainer = device_trainer(cfg.device)
        loader = torch.utils.data.DataLoader(
            DetectionImages(dataset, build_transforms(train=False)),
            batch_size=cfg.batch_size,
            num_workers=cfg.num_workers,
            collate_fn=collate_detections,
            pin_memory=trainer.strategy.root_device.type == "cuda",
        )
        predict_detections(run.detector(), loader, trainer, sink=sink)

    return DetectorSource({"checkpoint": str(run.checkpoint)}, run.class_names, run.predict_dir, detect, run.path)


def exported_source(cfg: PredictOptions) -> DetectorSource:
    """An exported model (`detkit.deploy.runtime`), one image a call, on ``cfg.device``."""
    model = ExportedModel.open(cfg.model, cfg.device)

    def detect(dataset: DetectionDataset, sink: Sink) -> None:
        images = DetectionImages(dataset)
        for index in progress(range(len(images)), "predicting"):
            image, target = images[index]
            sink({target["image_id"]: model.detect(image.numpy())})

    return DetectorSource({"model": str(model.path)}, model.class_names, predict_dir(model.path.parent), detect)


def _read_coco(path: Path) -> dict:
    """The COCO json ``annotations=`` names: its images (a whole ``id`` and a ``file_name``
    each) and categories (a whole ``id`` and a ``name`` each) are what predict uses."""
    try:
        coco = parse_json(read_text(path, limit=limits.JSON_BYTES), str(path))
    except ValueError as error:
        raise DatasetError(f"cannot read a COCO json ({error})", source=str(path)) from None
    for key, name in (("images", "file_name"), ("categories", "name")):
        entries = coco.get(key) if isinstance(coco, dict) else None
        if not (isinstance(entries, list) and all(_has_id_and(entry, name) for entry in entries)):
            raise DatasetError(
                f"not a COCO json: '{key}' must be a list of objects with a whole 'id' and a '{name}'", source=str(path)
            )
    return coco


def _has_id_and(entry: object, name: str) -> bool:
    return isinstance(entry, dict) and is_whole(entry.get("id")) and isinstance(entry.get(name), str)


def _category_ids(coco: dict, class_names: list[str], source: str) -> list[int]:
    by_name = {c["name"]: c["id"] for c in coco.get("categories", [])}
    missing = [name for name in class_names if name not in by_name]
    if missing:
        raise DatasetError(f"no categories named {missing} (the model's classes: {class_names})", source=source)
    return [by_name[name] for name in class_names]


def _images_file(dataset: DetectionDataset, category_ids: list[int], origin: dict[str, str]) -> dict:
    images = [
        {"id": r.image_id, "file_name": r.file_name, "width": r.width, "height": r.height} for r in dataset.records
    ]
    categories = [{"id": i, "name": n} for i, n in zip(category_ids, dataset.class_names)]
    return {**origin, "root": str(dataset.root), "images": images, "categories": categories}


def _draw(dataset: DetectionDataset, record: Record, detections: Detections, threshold: float, out: Path) -> None:
    boxes = detection_boxes(scoring_at_least(detections, threshold), dataset.class_names)
    drawn = draw_image(dataset.image_path(record), boxes, longest_side=None)
    write_bytes_atomic((out / record.file_name).with_suffix(".jpg"), encode_jpeg(drawn, quality=90).numpy().tobytes())
