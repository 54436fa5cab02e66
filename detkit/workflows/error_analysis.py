"""Error analysis of a finished run (`tools/errors.py`): predictions made once per checkpoint and
split, cached in the run directory, then analysed (`detkit.analysis.tide`) and written out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from detkit.analysis.error_report import render_errors
from detkit.analysis.gallery import draw_worst, write_gallery
from detkit.analysis.grids import same_size
from detkit.analysis.tide import KINDS, ErrorAnalysis
from detkit.data.formats.coco import predictions_to_results
from detkit.files import write_json_atomic
from detkit.runs.layout import tensorboard_dir
from detkit.runs.lock import writing_into
from detkit.runs.run_dir import RunDir
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
    log_errors(run.path, report, analysis, images)
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


def log_errors(run_dir: Path, report: dict[str, Any], analysis: ErrorAnalysis, images: list[torch.Tensor]) -> None:
    """The breakdown as scalars, the report as text, PR curves per class and the worst images,
    in the run's TensorBoard folder under ``errors/<split>/``."""
    prefix = f"errors/{report['split']}"
    with SummaryWriter(log_dir=str(tensorboard_dir(run_dir))) as writer:
        for kind in KINDS:
            if (gained := report["breakdown"]["kinds"][kind]["dAP"]) is not None:  # undefined: not a number
                writer.add_scalar(f"{prefix}/dAP_{kind}", gained, 0)
        writer.add_text(f"{prefix}/report", render_errors(report), 0)
        for k, name in enumerate(analysis.class_names):
            _add_pr_curve(writer, f"{prefix}/pr/{name}", *analysis.detection_outcomes(k))
        if images:
            writer.add_images(f"{prefix}/worst", same_size(images), 0, dataformats="NCHW")


def _add_pr_curve(writer: SummaryWriter, tag: str, scores: np.ndarray, matched: np.ndarray, boxes: int) -> None:
    """A TensorBoard PR curve from counts at each score threshold: every box the detector never
    matched counts as a false negative, which ``add_pr_curve`` on detections alone would miss."""
    thresholds = np.linspace(0, 1, PR_THRESHOLDS)
    above = scores[None, :] >= thresholds[:, None]
    true_positives = (above & matched[None, :]).sum(1).astype(float)
    false_positives = (above & ~matched[None, :]).sum(1).astype(float)
    false_negatives = boxes - true_positives
    found = true_positives + false_positives
    precision = np.divide(true_positives, found, out=np.ones_like(found), where=found > 0)
    recall = true_positives / boxes if boxes else np.zeros_like(true_positives)
    writer.add_pr_curve_raw(
        tag, true_positives, false_positives, np.zeros_like(found), false_negatives, precision, recall, 0, PR_THRESHOLDS
    )
