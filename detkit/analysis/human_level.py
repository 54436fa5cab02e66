"""Human-level performance measured the way a team measures it: a second person labels some of
the images again, and their boxes are scored as detections against the reference labels by the
same evaluator as the model."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import numpy as np

from detkit.data.formats.coco import dataset_to_coco, predictions_to_results
from detkit.data.records import DetectionDataset
from detkit.exceptions import DatasetError

HUMAN_SCORE = 1.0  # a person's boxes carry no confidence: every one is a detection at score 1


def annotator_results(
    annotator: DetectionDataset, reference: DetectionDataset, source: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The reference labels of the images the second annotator labelled (a COCO dict) and the
    annotator's boxes as COCO results on them.

    Images are matched by file name and classes by name; an image or class the reference does
    not have is a `DatasetError` naming ``source``, since the two must describe the same data.
    """
    by_name = {_key(r.file_name): r.image_id for r in reference.records}
    unknown_images = [r.file_name for r in annotator.records if _key(r.file_name) not in by_name]
    unknown_classes = [c for c in annotator.class_names if c not in reference.class_names]
    problems = []
    if unknown_images:
        problems.append(f"{len(unknown_images)} image(s) not in the dataset, e.g. {unknown_images[:3]}")
    if unknown_classes:
        problems.append(f"class(es) {unknown_classes} not in the dataset's {reference.class_names}")
    if problems:
        raise DatasetError(
            "the second annotator's labels must cover images and classes of the run's dataset: "
            + "; ".join(problems)
            + ". Fix: give a file labelling the same images (same file names) with the same class names",
            source=source,
        )
    to_reference = [reference.class_names.index(c) for c in annotator.class_names]
    predictions = {
        by_name[_key(r.file_name)]: {
            "boxes": r.boxes,
            "scores": np.full(len(r.labels), HUMAN_SCORE),
            "labels": np.asarray(to_reference, dtype=np.int64)[r.labels],
        }
        for r in annotator.records
    }
    labelled = reference.subset(list(predictions))
    # With every score tied, pycocotools ranks by image id and, within an image, by the order
    # given: the annotator's own order is kept.
    return dataset_to_coco(labelled), predictions_to_results(predictions, reference.category_ids)


def _key(file_name: str) -> str:
    return str(PurePosixPath(file_name.replace("\\", "/")))
