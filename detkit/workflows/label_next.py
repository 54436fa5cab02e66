"""What to label next: a run's detector on a pool of unlabelled images, ranked by an acquisition
function (`detkit.analysis.selection`), with pre-labels a person corrects instead of drawing."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.io import encode_png

from detkit.analysis.gallery import contact_sheet, detection_boxes, draw_image
from detkit.analysis.selection import FROM_LABELLED, STRATEGIES, select, uncertainty
from detkit.data.boxes import xyxy_to_xywh
from detkit.data.images.folder import find_images, image_dataset, readable_images
from detkit.data.loaders import LoaderOptions
from detkit.data.records import DetectionDataset
from detkit.exceptions import ConfigError
from detkit.files import write_bytes_atomic, write_json_atomic, write_text_atomic
from detkit.models.features import pooled_backbone_features
from detkit.models.inference import Detections, detect, scoring_at_least, torch_device
from detkit.progress import progress_bar
from detkit.runs import layout
from detkit.runs.run_dir import RunDir
from detkit.workflows.outputs import output_folder

log = logging.getLogger(__name__)
LABELLED_SAMPLE = 200  # training images whose features the diversity strategies count as seen


@dataclass(frozen=True)
class LabelNextOptions:
    """What ``tools/label_next.py`` takes (``configs/label_next.yaml`` states each default)."""

    run: str
    checkpoint: str | None
    pool: str
    budget: int
    strategy: str
    out: str | None
    prelabel_threshold: float
    batch_size: int
    device: str
    seed: int


@dataclass(frozen=True)
class PoolOutputs:
    """Per readable pool image, in the pool's order: its detections and pooled backbone features."""

    dataset: DetectionDataset
    detections: list[Detections]
    features: np.ndarray


def label_next(cfg: LabelNextOptions) -> tuple[Path, list[dict[str, Any]]]:
    """Rank ``cfg.pool`` for labelling and write the selection to ``cfg.out`` (default
    ``<pool>_label_next``): ``ranking.csv`` / ``ranking.json``, ``selection.png`` and
    ``prelabels.json`` (COCO, the detector's boxes of the selected images). Returns the folder
    and the selection's rows."""
    if cfg.strategy not in STRATEGIES:
        raise ConfigError(f"strategy={cfg.strategy!r}; choose one of {list(STRATEGIES)}")
    if cfg.budget < 1:
        raise ConfigError(f"budget={cfg.budget}: give the number of images to label next (1 or more)")
    run = RunDir.open(cfg.run, cfg.checkpoint)
    root, paths = find_images(cfg.pool)
    readable = readable_images(paths)
    if cfg.budget > len(readable):
        raise ConfigError(f"budget={cfg.budget} is more than the {len(readable)} readable image(s) in pool={cfg.pool}")
    model = run.detector().to(torch_device(cfg.device))
    pool = run_on_images(model, image_dataset(root, readable, run.class_names), cfg.batch_size, cfg.device)
    seen = seen_features(run, model, cfg.batch_size, cfg.device, cfg.seed) if cfg.strategy in FROM_LABELLED else None
    chosen = select(cfg.strategy, cfg.budget, [d["scores"] for d in pool.detections], pool.features, seen, cfg.seed)
    unsure = uncertainty([d["scores"] for d in pool.detections])
    records = pool.dataset.records
    rows = [
        {"rank": rank, "file_name": records[k].file_name, "uncertainty": round(float(unsure[k]), 4)}
        for rank, k in enumerate(chosen, start=1)
    ]
    out = output_folder(cfg, f"{Path(cfg.pool).resolve()}_label_next")
    _write_ranking(out, rows, cfg)
    write_json_atomic(
        layout.report_file(out, "prelabels", ".json"), prelabels(pool, chosen, run.class_names, cfg.prelabel_threshold)
    )
    write_bytes_atomic(
        layout.report_file(out, "selection", ".png"), _sheet(pool, chosen, run.class_names, cfg.prelabel_threshold)
    )
    return out, rows


def run_on_images(model: torch.nn.Module, dataset: DetectionDataset, batch_size: int, device: str) -> PoolOutputs:
    """``model``'s detections and pooled backbone features for every image of ``dataset``, in order."""
    loader = LoaderOptions(batch_size, batch_size, 0, {}, 0, None).loader(dataset)
    where = torch_device(device)
    detections: list[Detections] = []
    bar = progress_bar(len(dataset), "predicting")
    with torch.inference_mode(), pooled_backbone_features(model) as captured, bar:
        for images, _ in loader:
            detections += detect(model, [image.to(where) for image in images])
            bar.update(len(images))
    features = torch.cat(captured).numpy() if captured else np.zeros((0, 1))
    return PoolOutputs(dataset, detections, features)


def seen_features(run: RunDir, model: torch.nn.Module, batch_size: int, device: str, seed: int) -> np.ndarray:
    """``model``'s pooled backbone features of a seeded sample of `LABELLED_SAMPLE` of the run's
    training images: what the diversity strategies count as already labelled."""
    train = run.data.subset("train")
    ids = [r.image_id for r in train.records]
    if len(ids) > LABELLED_SAMPLE:
        ids = sorted(np.random.default_rng(seed).choice(ids, LABELLED_SAMPLE, replace=False).tolist())
    return run_on_images(model, train.subset(ids), batch_size, device).features


def _write_ranking(out: Path, rows: list[dict[str, Any]], cfg: LabelNextOptions) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["rank", "file_name", "uncertainty"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(layout.report_file(out, "ranking", ".csv"), buffer.getvalue())
    meta = {"run": cfg.run, "pool": cfg.pool, "strategy": cfg.strategy, "budget": cfg.budget}
    write_json_atomic(layout.report_file(out, "ranking", ".json"), {**meta, "selection": rows})


def prelabels(pool: PoolOutputs, chosen: list[int], class_names: list[str], threshold: float) -> dict[str, Any]:
    """The selected images and the detector's boxes scoring at least ``threshold`` on them, as a
    COCO instances file (ids from 1, ``file_name`` relative to the pool folder): CVAT's "COCO 1.0"
    and Label Studio's COCO import read it as pre-annotations."""
    images, annotations = [], []
    for image_id, k in enumerate(chosen, start=1):
        record, found = pool.dataset.records[k], pool.detections[k]
        images.append({"id": image_id, "file_name": record.file_name, "width": record.width, "height": record.height})
        found = scoring_at_least(found, threshold)
        xywh = xyxy_to_xywh(found["boxes"].astype(np.float64)).tolist()
        for box, label, score in zip(xywh, found["labels"].tolist(), found["scores"].tolist()):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": label + 1,
                    "bbox": [round(v, 2) for v in box],
                    "area": round(box[2] * box[3], 2),
                    "iscrowd": 0,
                    "score": round(score, 4),
                }
            )
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def _sheet(pool: PoolOutputs, chosen: list[int], class_names: list[str], threshold: float) -> bytes:
    drawn = []
    for k in chosen:
        boxes = detection_boxes(scoring_at_least(pool.detections[k], threshold), class_names)
        drawn.append(draw_image(pool.dataset.image_path(pool.dataset.records[k]), boxes))
    return encode_png(contact_sheet(drawn)).numpy().tobytes()
