"""benchmarks/real_data.py's summaries (shared by benchmarks/versus.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import real_data  # noqa: E402  (a script's module, beside its imports in benchmarks/)


def test_the_lowest_class_ap_leaves_out_classes_the_split_has_no_objects_of():
    # A Roboflow chess export: one class ('bishop') has no box in dev, which pycocotools scores -1
    metrics = {"mAP": 0.53, "mAP50": 0.74, "AP/bishop": -1.0, "AP/black-king": 0.31, "AP/white-pawn": 0.62}
    assert real_data.lowest_class_ap(metrics) == 0.31
    assert real_data.lowest_class_ap({**metrics, "AP/white-king": 0.0}) == 0.0, "a class never found shows as 0"
