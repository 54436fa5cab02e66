"""Detectors trained on partially labelled shapes, scored on dev against its complete labels.

    python benchmarks/partial_label_scores.py outputs/partial_labels_<choice>_masked_seed0/<run> \
        outputs/partial_labels_<choice>_naive_seed0/<run>

The generator hides labels without touching pixels, so the same dev images, generated with
``hidden_label_fraction=0``, carry every box. Two tables per run:
- COCO AP per class against the complete labels (what a fully annotated dev set would say);
- for each dev box of a class labelled in its image, the best score of a same-class detection
  at IoU >= 0.5, and the share found at fixed score thresholds. AP ranks scores within a class,
  so a loss that scales every score of a class down leaves AP alone; a threshold does not.
"""

import sys
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from detkit.data.formats.coco import dataset_to_coco, predictions_to_results
from detkit.data.records import DetectionDataset
from detkit.data.shapes import load_shapes
from detkit.evaluation.coco import evaluate_coco
from detkit.models.inference import Detections
from detkit.runs.run_dir import RunDir
from detkit.workflows.prediction import device_trainer, predict_detections

THRESHOLDS = (0.3, 0.5, 0.7)
SPLIT = "dev"


def dev_detections(run: Path) -> tuple[DetectionDataset, dict[int, Detections]]:
    """The run's dev split (as labelled for training) and its best checkpoint's detections on it."""
    opened = RunDir.open(run)
    detections, _ = predict_detections(opened.detector(), opened.loader(SPLIT), device_trainer("cpu"))
    return opened.data.subset(SPLIT), detections


def complete_labels(run: Path, dev: DetectionDataset) -> DetectionDataset:
    """The dev images with every box: the run's shapes data generated again with nothing hidden."""
    source = dict(RunDir.open(run).config.data.module.source)
    source.pop("_target_"), source.pop("_partial_")
    source.update(root=str(Path(source["root"]).with_name(Path(source["root"]).name + "_complete")))
    source.update(hidden_label_fraction=0.0, hidden_label_choice="random")
    return load_shapes(**source).subset([r.image_id for r in dev.records])


def best_match_scores(dev: DetectionDataset, detections: dict[int, Detections]) -> np.ndarray:
    """Per labelled box of ``dev``: the highest score of a same-class detection with IoU >= 0.5 (0 if none)."""
    scores = []
    for record in dev.records:
        found = detections[record.image_id]
        for label in sorted(record.annotated if record.annotated is not None else set(record.labels.tolist())):
            truth = torch.as_tensor(record.boxes[record.labels == label])
            same = found["labels"] == label
            if not len(truth):
                continue
            if not same.any():
                scores += [0.0] * len(truth)
                continue
            iou = box_iou(truth, torch.as_tensor(found["boxes"][same]))
            scores += ((iou >= 0.5) * torch.as_tensor(found["scores"][same])[None, :]).max(1).values.tolist()
    return np.asarray(scores)


def main(runs: list[str]) -> None:
    rows, score_rows = [], []
    for run in map(Path, runs):
        dev, detections = dev_detections(run)
        complete = complete_labels(run, dev)
        metrics = evaluate_coco(dataset_to_coco(complete), predictions_to_results(detections, complete.category_ids))
        names = complete.class_names
        per_class = " | ".join(f"{metrics[f'AP/{n}']:.3f}" for n in names)
        rows.append(f"| {run} | {per_class} | {metrics['mAP']:.3f} |")
        scores = best_match_scores(dev, detections)
        recalls = " | ".join(f"{(scores >= t).mean():.3f}" for t in THRESHOLDS)
        score_rows.append(f"| {run} | {len(scores)} | {scores.mean():.3f} | {recalls} |")
    print(f"Dev AP against complete labels ({len(dev)} images):\n")
    print("| run | " + " | ".join(names) + " | mAP |")
    print("|---|" + "---:|" * (len(names) + 1))
    print("\n".join(rows))
    print("\nBest score per labelled dev box:\n")
    print("| run | labelled boxes | mean best score | " + " | ".join(f"recall@{t}" for t in THRESHOLDS) + " |")
    print("|---|---:|---:|" + "---:|" * len(THRESHOLDS))
    print("\n".join(score_rows))


if __name__ == "__main__":
    main(sys.argv[1:])
