"""One detector for all classes versus one detector per class, trained and scored alike.

Every run is `train` with the same config and seed; the per-class runs differ only in
``data.module.single_class`` and read the joint run's split manifests, so all see the same
images, augmentation and epochs. Their best checkpoints then predict the same split; the
per-class predictions are merged into one set and both sets go to the one evaluator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from detkit.analysis.multitask_report import ModelCost, build_comparison, write_comparison
from detkit.data.formats.coco import predictions_to_array
from detkit.evaluation.coco import evaluate_coco
from detkit.exceptions import ConfigError
from detkit.models.inference import Detections
from detkit.runs.layout import child_run
from detkit.training.object_fit import detector_of
from detkit.training.run import TrainedRun, check_single_process, child_config, train
from detkit.workflows.prediction import device_trainer, predict_detections


def compare_multitask(cfg: DictConfig) -> dict[str, Any]:
    """Train ``<out>/joint`` and ``<out>/per_class/<class>`` (`detkit.runs.layout`), score both
    on ``compare.split`` and write ``comparison.{json,md,png}`` to ``out`` (``paths.output_dir``);
    returns the comparison."""
    out = Path(cfg.paths.output_dir)
    _check_comparable(cfg, out)
    joint = train(child_config(cfg, child_run(out, "joint")))
    # the joint run's splits and detector (model=auto chose it from all the classes' objects)
    same = {"data.module.splits_dir": str(joint.run.splits_dir), "model": detector_of(joint.run.config)}
    per_class = {}
    for name in joint.run.class_names:
        child = child_config(cfg, child_run(out, "per_class", name), {"data.module.single_class": name, **same})
        per_class[name] = train(child)
    data = joint.run.data
    loader = joint.run.loader(cfg.compare.split)
    joint_detections, joint_cost = _predict(joint, loader, cfg.compare.device)
    merged: dict[int, list[Detections]] = {}
    per_class_costs = {}
    for label, (name, run) in enumerate(per_class.items()):
        detections, per_class_costs[name] = _predict(run, loader, cfg.compare.device)
        for image_id, found in detections.items():
            merged.setdefault(image_id, []).append({**found, "labels": np.full_like(found["labels"], label)})
    ground_truth = data.ground_truth(cfg.compare.split)
    category_ids = data.category_ids

    def score(detections: dict[int, Detections]) -> dict[str, float]:
        results = predictions_to_array(detections, category_ids)
        return evaluate_coco(ground_truth, results, cfg.evaluation.backend, cfg.evaluation.partial_labels)

    comparison = build_comparison(
        joint.run.class_names,
        score(joint_detections),
        score({image_id: _concatenate(parts) for image_id, parts in merged.items()}),
        joint_cost,
        per_class_costs,
        cfg.compare.split,
        len(ground_truth["images"]),
    )
    write_comparison(comparison, out)
    return comparison


def _check_comparable(cfg: DictConfig, out: Path) -> None:
    if child_run(out, "joint").exists():
        raise ConfigError(f"{out} already holds a comparison; pass name=<another name> for a new one")
    check_single_process(cfg.trainer, "compare_multitask trains its models one after another in one process")


def _predict(run: TrainedRun, loader: Any, device: str) -> tuple[dict[int, Detections], ModelCost]:
    model = run.run.detector()
    detections, seconds = predict_detections(model, loader, device_trainer(device), warm_up=True)
    parameters = sum(p.numel() for p in model.parameters())
    return detections, ModelCost(parameters, run.fit_seconds, run.steps, seconds)


def _concatenate(parts: list[Detections]) -> Detections:
    return {key: np.concatenate([p[key] for p in parts]) for key in ("boxes", "scores", "labels")}
