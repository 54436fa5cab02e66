"""Diagnose a trained run: its checkpoint scored on every split by the one evaluator, human level
beside it, and the bias / variance / mismatch report (`detkit.analysis.bias_variance`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detkit.analysis.bias_variance import (
    ERROR_NAMES,
    ErrorEstimate,
    build_diagnosis,
    error_from_metrics,
    error_of,
    fixed_error,
)
from detkit.analysis.diagnosis_report import render_diagnosis, write_diagnosis
from detkit.analysis.human_level import annotator_results
from detkit.data.formats import READERS, load_coco
from detkit.data.records import DetectionDataset
from detkit.evaluation.bootstrap import bootstrap_metrics
from detkit.evaluation.image_matches import ImageMatches
from detkit.exceptions import ConfigError
from detkit.runs import layout
from detkit.runs.lock import writing_into
from detkit.runs.run_dir import RunDir
from detkit.training.loggers import ReportLog
from detkit.workflows.learning_curve import ShareScoring, learning_curve
from detkit.workflows.outputs import output_folder
from detkit.workflows.prediction import device_trainer
from detkit.workflows.split_scoring import diagnosis_images, match_split

SPLITS = ERROR_NAMES[1:]


@dataclass(frozen=True)
class HumanLevel:
    """Human-level error: a number, or a second person's labels (COCO json, VOC or YOLO folder)."""

    error: float | None
    annotations: str | None
    format: str


@dataclass(frozen=True)
class Bootstrap:
    """Intervals over images: draws, their confidence level and seed."""

    samples: int
    confidence: float
    seed: int


@dataclass(frozen=True)
class DiagnoseOptions:
    """What ``tools/diagnose.py`` takes (``configs/diagnose.yaml`` states each default)."""

    run: str
    checkpoint: str | None
    metric: str
    train_sample: str | int
    human: HumanLevel
    bootstrap: Bootstrap
    worst_classes: int
    learning_curve: list[float] | None
    device: str
    seed: int
    out: str | None


PER_CLASS_PREFIX = {"mAP": "AP/", "mAP50": "AP50/"}


def diagnose_run(cfg: DiagnoseOptions) -> dict[str, Any]:
    """Score ``cfg.run``'s checkpoint on train (a sample), train_dev, dev and test, set human
    level beside them and write ``diagnosis.{json,md,png}`` to ``cfg.out`` (default: the run
    directory); the report also goes to the run's TensorBoard. With ``cfg.learning_curve``, also
    the learning curve (`learning_curve`). Returns the diagnosis."""
    boot = cfg.bootstrap
    if not (isinstance(boot.samples, int) and boot.samples >= 1 and 0.0 < boot.confidence < 1.0):
        raise ConfigError(
            f"bootstrap needs samples >= 1 (got {boot.samples}) and 0 < confidence < 1 (got {boot.confidence})"
        )
    run = RunDir.open(cfg.run, cfg.checkpoint)
    with writing_into(run.path):  # its TensorBoard is the run's, wherever ``out`` is
        return _diagnose(cfg, run)


def recorded_shift(run: RunDir) -> str | None:
    """What the run's data check (``<run>/data_health/health.json``) said of dev's shift from
    train, when it found one; None when it did not, or the run has no check."""
    try:
        report = json.loads(layout.report_file(run.data_health_dir, "health", ".json").read_text(encoding="utf-8"))
        dev = report["shift"]["dev"]
        return str(dev["summary"]) if dev.get("differs") else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _diagnose(cfg: DiagnoseOptions, run: RunDir) -> dict[str, Any]:
    boot = cfg.bootstrap
    model, trainer = run.detector(), device_trainer(cfg.device)
    errors: dict[str, ErrorEstimate | None] = {}
    points: dict[str, dict[str, float]] = {}
    for index, split in enumerate(SPLITS):
        if split not in run.data.split_names:
            errors[split] = None
            continue
        image_ids = diagnosis_images(run.data, split, cfg.train_sample, cfg.seed)
        matches = match_split(run, model, split, image_ids, trainer)
        points[split], errors[split] = measure_error(matches, cfg.metric, boot.samples, boot.seed + index)
    errors["human"], human_source = human_error(cfg.human, run.data.dataset, cfg.metric, boot, run.partial_labels)
    diagnosis = build_diagnosis(
        cfg.metric, errors, worst_classes(points, cfg.metric, cfg.worst_classes), human_source, boot.confidence
    )
    diagnosis["run"], diagnosis["checkpoint"] = str(run.path), str(run.checkpoint)
    if diagnosis["largest_gap"] == "data_mismatch" and (shift := recorded_shift(run)):
        diagnosis["next_steps"] = [
            f"the data check at the start of training saw it coming: {shift}",
            *diagnosis["next_steps"],
        ]
    out = output_folder(cfg, run.path)
    write_diagnosis(diagnosis, out)
    log_diagnosis(run, diagnosis)
    if cfg.learning_curve:
        scoring = ShareScoring(cfg.metric, cfg.train_sample, cfg.seed, cfg.device)
        diagnosis["learning_curve"] = learning_curve(cfg.learning_curve, run, out, scoring)
    return diagnosis


def measure_error(
    matches: ImageMatches, metric: str, samples: int, seed: int
) -> tuple[dict[str, float], ErrorEstimate | None]:
    """The point metrics and the bootstrapped error ``1 - metric`` of matched images; no error
    (None) where the metric is undefined (no ground truth of the classes it covers)."""
    point = matches.metrics()
    if metric not in point:
        raise ConfigError(f"metric={metric!r} is not measured; choose one of {sorted(point)}")
    if point[metric] < 0:
        return point, None
    draws = bootstrap_metrics(matches, samples, seed)
    return point, error_from_metrics(point, draws, metric, matches.num_images)


def human_error(
    human: HumanLevel, reference: DetectionDataset, metric: str, boot: Bootstrap, partial_labels: str
) -> tuple[ErrorEstimate | None, str]:
    """Human-level error: a number from config, measured from a second annotator's file, or
    unknown (None); and where it came from."""
    if human.error is not None and human.annotations:
        raise ConfigError("give human.error (a number) or human.annotations (a file), not both")
    if human.error is not None:
        if not 0.0 <= float(human.error) <= 1.0:
            raise ConfigError(f"human.error must be an error in [0, 1], got {human.error}")
        return fixed_error(float(human.error), boot.samples), "config"
    if not human.annotations:
        return None, "unknown"
    annotator = read_annotator(human.annotations, human.format)
    truth, results = annotator_results(annotator, reference, str(human.annotations))
    matches = ImageMatches(truth, results, partial_labels)
    _, estimate = measure_error(matches, metric, boot.samples, boot.seed + len(SPLITS))
    return estimate, str(human.annotations)


def read_annotator(path: str | Path, format: str) -> DetectionDataset:
    """A second annotator's labels in any supported format (COCO: no images needed)."""
    if format not in READERS:
        raise ConfigError(f"human.format={format!r}; choose one of {sorted(READERS)}")
    if format == "coco":
        return load_coco(path, check_images=False)
    return READERS[format](Path(path))


def worst_classes(points: dict[str, dict[str, float]], metric: str, count: int) -> dict[str, dict[str, float | None]]:
    """Per-class errors on each split for the ``count`` classes with the highest error on the
    latest split scored (dev, else train_dev); empty for a metric with no per-class form."""
    prefix = PER_CLASS_PREFIX.get(metric)
    if prefix is None or not points or count < 1:
        return {}
    names = [key.removeprefix(prefix) for key in next(iter(points.values())) if key.startswith(prefix)]
    table = {name: {split: error_of(values[prefix + name]) for split, values in points.items()} for name in names}
    ranking = next((s for s in ("dev", "train_dev", "test", "train") if s in points), None)
    ranked = sorted(
        table, key=lambda name: -1.0 if table[name][ranking] is None else table[name][ranking], reverse=True
    )
    return {name: table[name] for name in ranked[:count]}


def log_diagnosis(run: RunDir, diagnosis: dict[str, Any]) -> None:
    """Errors and gaps as scalars and the report as text, to every logger of the run."""
    with ReportLog.of_run(run.config, run.path, layout.REPORTS.diagnosis) as log:
        errors = {f"diagnosis/error_{name}": value for name, value in diagnosis["errors"].items()}
        log.scalars({**errors, **{f"diagnosis/gap_{name}": value for name, value in diagnosis["gaps"].items()}})
        log.text("diagnosis/report", render_diagnosis(diagnosis))
