"""Scores of detectors trained on partially labelled data: how many labelled dev boxes each finds
at a fixed score threshold (IoU >= 0.5, same class), from each run's best checkpoint.

    python benchmarks/partial_label_scores.py outputs/partial_labels_masked/<run> outputs/partial_labels_naive/<run>

Only boxes of classes labelled in their image count (the others are unknown). AP ranks scores
within a class, so a loss that scales every score of a class down leaves AP alone; a
threshold does not.
"""

import sys
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from detkit.models.inference import detect_all
from detkit.training.checkpoints import load_detector
from detkit.training.run import load_run_datamodule

THRESHOLDS = (0.3, 0.5, 0.7)


def best_match_scores(run: Path, split: str = "dev") -> np.ndarray:
    """Per labelled box of ``split``: the highest score of a same-class detection with IoU >= 0.5 (0 if none)."""
    datamodule = load_run_datamodule(run)
    detections, _ = detect_all(load_detector(run, run / "checkpoints" / "best.ckpt"), datamodule.loader(split))
    scores = []
    for record in datamodule.subset(split).records:
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
    print("| run | labelled boxes | mean best score | " + " | ".join(f"recall@{t}" for t in THRESHOLDS) + " |")
    print("|---|---:|---:|" + "---:|" * len(THRESHOLDS))
    for run in runs:
        scores = best_match_scores(Path(run))
        recalls = " | ".join(f"{(scores >= t).mean():.3f}" for t in THRESHOLDS)
        print(f"| {run} | {len(scores)} | {scores.mean():.3f} | {recalls} |")


if __name__ == "__main__":
    main(sys.argv[1:])
