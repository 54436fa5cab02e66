"""Error analysis of a finished run (`tools/errors.py`): predictions made once per checkpoint and
split, cached in the run directory, then analysed (`detkit.analysis.tide`) and written out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detkit.analysis.error_report import render_errors
from detkit.analysis.gallery import draw_worst, write_gallery
from detkit.analysis.grids import same_size
from detkit.analysis.tide import KINDS, ErrorAnalysis
from detkit.data.formats.coco import predictions_to_results
from detkit.files import write_json_atomic
from detkit.runs import layout
from detkit.runs.lock import writing_into
from detkit.runs.run_dir import RunDir
from detkit.training.loggers import ReportLog
from detkit.workflows.error_outputs import (
    ErrorOptions,
    check_error_options,
    error_report,
    write_error_report,
    write_label_issues,
    write_tag_summary,
)
from detkit.workflows.outputs import output_folder
from detkit.workflows.prediction import predict_detections, predicting_trainer

PR_THRESHOLDS = 101


def analyse_run_errors(cfg: ErrorOptions) -> Path | None:
    """Analyse the errors of ``cfg.run``'s checkpoint on ``cfg.split`` (``configs/errors.yaml``)
    and write the report to ``cfg.out`` (default ``<run>/errors/<split>``); with ``cfg.tags``,
    summarise a tagged error sheet instead. The output folder; None on ranks other than 0."""
    check_error_options(cfg)
    run = RunDir.open(cfg.run, cfg.checkpoint)
    with writing_into(run.path):  # the predictions' cache and TensorBoard are the run's, wherever ``out`` is
        return _analyse_run_errors(cfg, run)


def _analyse_run_errors(cfg: ErrorOptions, run: RunDir) -> Path | None:
    run.data.require(cfg.split)
    results = split_results(run, cfg.split, cfg.trainer)
    if results is None:
        return None
    out = output_folder(cfg, run.errors_dir(cfg.split))
    partial_labels = run.partial_labels
    ground_truth = run.data.ground_truth(cfg.split)
    analysis = ErrorAnalysis(ground_truth, results, partial_labels)
    if cfg.tags:
        write_tag_summary(out, analysis, cfg.tags, cfg.mislabelled_tag)
        return out
    dataset = run.data.subset(cfg.split)
    file_names = {r.image_id: r.file_name for r in dataset.records}
    report = error_report(analysis, ground_truth, results, file_names, cfg.split, cfg, partial_labels)
    report |= {"run": str(run.path), "checkpoint": str(run.checkpoint)}
    images = draw_worst(analysis, dataset.root, file_names, report, cfg.score_threshold)
    write_error_report(out, report, analysis, file_names)
    write_gallery(out, report, images, cfg.score_threshold)
    log_errors(run, report, analysis, images)
    if cfg.label_issues:
        write_label_issues(out, ground_truth, results, file_names, report, cfg, partial_labels, dataset.root)
    return out


def split_results(run: RunDir, split: str, trainer_cfg: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The checkpoint's detections on the split as COCO results, predicted once and cached in
    ``<run>/predictions/<split>.json`` (remade when the checkpoint file changes). Predicted
    through the configured trainer, so under DDP every rank predicts a share and the shares are
    gathered, each image once. None on ranks other than 0."""
    cache = run.predictions_file(split)
    key = prediction_key(run.checkpoint, [r.image_id for r in run.data.subset(split).records])
    cached = cached_results(cache, key)
    if cached is not None:
        return cached
    trainer = predicting_trainer(trainer_cfg)
    detections, _ = predict_detections(run.detector(), run.loader(split), trainer)
    if not trainer.is_global_zero:
        return None
    results = predictions_to_results(detections, run.data.category_ids)
    write_json_atomic(cache, {"key": key, "results": results}, indent=None)
    return results


def prediction_key(checkpoint: Path, image_ids: list[int]) -> dict[str, Any]:
    """What cached predictions were made from: the checkpoint file as it is now (name, size,
    modification time: a retrained or replaced checkpoint changes them) and the images."""
    stat = checkpoint.stat()
    return {
        "checkpoint": checkpoint.name,
        "bytes": stat.st_size,
        "modified_ns": stat.st_mtime_ns,
        "images": sorted(image_ids),
    }


def cached_results(cache: Path, key: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The COCO results cached in ``cache`` if they were made for ``key``; None otherwise."""
    stored = json.loads(cache.read_text(encoding="utf-8")) if cache.is_file() else None
    return stored["results"] if stored is not None and stored.get("key") == key else None


def log_errors(run: RunDir, report: dict[str, Any], analysis: ErrorAnalysis, images: list[torch.Tensor]) -> None:
    """The breakdown as scalars, the report as text, PR curves per class and the worst images,
    to every logger of the run, under ``errors/<split>/``."""
    prefix = f"errors/{report['split']}"
    with ReportLog.of_run(run.config, run.path, layout.REPORTS.errors) as log:
        kinds = report["breakdown"]["kinds"]
        log.scalars({f"{prefix}/dAP_{kind}": kinds[kind]["dAP"] for kind in KINDS})  # undefined: not logged
        log.text(f"{prefix}/report", render_errors(report))
        for k, name in enumerate(analysis.class_names):
            log.pr_curve(f"{prefix}/pr/{name}", pr_counts(*analysis.detection_outcomes(k)), PR_THRESHOLDS)
        if images:
            log.images(f"{prefix}/worst", same_size(images))


def pr_counts(scores: np.ndarray, matched: np.ndarray, boxes: int) -> dict[str, np.ndarray]:
    """A PR curve's counts at each of ``PR_THRESHOLDS`` score thresholds: every box the detector
    never matched counts as a false negative, which ``add_pr_curve`` on detections alone would miss."""
    thresholds = np.linspace(0, 1, PR_THRESHOLDS)
    above = scores[None, :] >= thresholds[:, None]
    true_positives = (above & matched[None, :]).sum(1).astype(float)
    false_positives = (above & ~matched[None, :]).sum(1).astype(float)
    false_negatives = boxes - true_positives
    found = true_positives + false_positives
    precision = np.divide(true_positives, found, out=np.ones_like(found), where=found > 0)
    recall = true_positives / boxes if boxes else np.zeros_like(true_positives)
    return {
        "true_positive_counts": true_positives,
        "false_positive_counts": false_positives,
        "true_negative_counts": np.zeros_like(found),
        "false_negative_counts": false_negatives,
        "precision": precision,
        "recall": recall,
    }
