"""The error analysis of any system's detections, without a model: a COCO results file against
COCO annotations (`tools/errors.py annotations=... predictions=...`), as `tools/evaluate.py`
scores one. Images are needed only for the gallery of the worst ones (``images=``)."""

from __future__ import annotations

from pathlib import Path

from detkit.analysis.tide import ErrorAnalysis
from detkit.data.formats.coco import load_results
from detkit.evaluation.coco import checked_ground_truth
from detkit.runs import layout
from detkit.workflows.error_outputs import (
    ErrorOptions,
    check_error_options,
    error_report,
    write_error_report,
    write_label_issues,
    write_tag_summary,
)
from detkit.workflows.outputs import output_folder

RESULTS_SPLIT = "predictions"  # what the report calls the images scored


def analyse_file_errors(cfg: ErrorOptions) -> Path:
    """Analyse ``cfg.predictions`` against ``cfg.annotations`` and write the report (or, with
    ``cfg.tags``, the tag summary) to ``cfg.out`` (default: ``errors/`` beside the predictions).
    The annotations are checked first (with ``cfg.images``, the images' sizes too) and then
    scored exactly as written, as `detkit.evaluation.coco.score_files` scores them."""
    check_error_options(cfg)
    ground_truth = checked_ground_truth(cfg.annotations, cfg.images or None)
    results = load_results(cfg.predictions, ground_truth)
    out = output_folder(cfg, Path(cfg.predictions).parent / layout.LAYOUT.errors)
    analysis = ErrorAnalysis(ground_truth, results, cfg.partial_labels)
    if cfg.tags:
        write_tag_summary(out, analysis, cfg.tags, cfg.mislabelled_tag)
        return out
    file_names = {image["id"]: image["file_name"] for image in ground_truth["images"]}
    report = error_report(analysis, ground_truth, results, file_names, RESULTS_SPLIT, cfg, cfg.partial_labels)
    report |= {"annotations": str(cfg.annotations), "predictions": str(cfg.predictions)}
    write_error_report(out, report, analysis, file_names)
    if cfg.images:
        from detkit.analysis.gallery import draw_worst, write_gallery  # torch, for drawing only

        images = draw_worst(analysis, Path(cfg.images), file_names, report, cfg.score_threshold)
        write_gallery(out, report, images, cfg.score_threshold)
    if cfg.label_issues:
        images_folder = Path(cfg.images) if cfg.images else None
        write_label_issues(out, ground_truth, results, file_names, report, cfg, cfg.partial_labels, images_folder)
    return out
