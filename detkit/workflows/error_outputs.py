"""What an error analysis writes, from a run or from a results file: the report (breakdown,
per class and size, confusions, worst images) as errors.json / errors.md / errors.csv and its
figures, or, after a person tagged the sheet, the tag summary. Imports neither torch nor
Lightning, so that analysing files starts in a second or two."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detkit.analysis.confusion import confusion_matrix
from detkit.analysis.error_report import (
    build_error_report,
    error_rows,
    render_errors,
    write_error_figures,
    write_error_sheet,
)
from detkit.analysis.error_tags import (
    is_label_issue_sheet,
    read_sheet,
    render_issue_tags,
    render_tags,
    rows_tagged,
    sheet_tags,
    summarise_issue_tags,
    summarise_tags,
)
from detkit.analysis.tide import ErrorAnalysis
from detkit.evaluation.coco import evaluate_coco
from detkit.exceptions import ConfigError
from detkit.files import write_json_atomic, write_text_atomic
from detkit.runs import layout


@dataclass(frozen=True)
class LabelIssueOptions:
    """How suspected label errors are scored and what fixing them is worth (``label_issue_options``)."""

    max_score: float
    high_score: float
    low_score: float
    fix_top: int


@dataclass(frozen=True)
class ErrorOptions:
    """What ``tools/errors.py`` takes (``configs/errors.yaml`` states each default): a run, or a
    results file against annotations, and how the report is made."""

    run: str | None
    annotations: str | None
    predictions: str | None
    images: str | None
    partial_labels: str
    checkpoint: str | None
    split: str
    worst: int
    score_threshold: float
    tags: str | None
    mislabelled_tag: str
    label_issues: bool
    label_issue_options: LabelIssueOptions
    out: str | None
    trainer: dict[str, Any]


def check_error_options(cfg: ErrorOptions) -> None:
    """``score_threshold`` and ``worst`` of ``configs/errors.yaml``, before any work."""
    if not 0.0 <= cfg.score_threshold <= 1.0:
        raise ConfigError(f"score_threshold must be a score in [0, 1], got {cfg.score_threshold!r}")
    if not (isinstance(cfg.worst, int) and cfg.worst >= 0):
        raise ConfigError(f"worst must be a number of images >= 0, got {cfg.worst!r}")
    scores = cfg.label_issue_options
    for key in ("max_score", "high_score", "low_score"):
        if not 0.0 <= getattr(scores, key) <= 1.0:
            raise ConfigError(f"label_issue_options.{key} must be a score in [0, 1], got {getattr(scores, key)!r}")
    if not scores.fix_top >= 0:
        raise ConfigError(f"label_issue_options.fix_top must be a number of issues >= 0, got {scores.fix_top!r}")


def error_report(
    analysis: ErrorAnalysis,
    ground_truth: dict[str, Any],
    results: list[dict[str, Any]],
    file_names: dict[int, str],
    split: str,
    cfg: ErrorOptions,
    partial_labels: str,
) -> dict[str, Any]:
    """The report of ``analysis``: its breakdown, the metrics, the confusion matrix at
    ``cfg.score_threshold`` and the ``cfg.worst`` images."""
    metrics = evaluate_coco(ground_truth, results, partial_labels=partial_labels)
    matrix = confusion_matrix(analysis.matching.ground_truth, analysis.matching.detections, cfg.score_threshold)
    confusion = {
        "labels": [*analysis.class_names, "background"],
        "iou": 0.5,
        "score_threshold": cfg.score_threshold,
        "matrix": matrix.tolist(),
    }
    return build_error_report(analysis, split, file_names, metrics, confusion, cfg.worst, cfg.score_threshold)


def write_error_report(out: Path, report: dict[str, Any], analysis: ErrorAnalysis, file_names: dict[int, str]) -> None:
    """errors.json, errors.md, the errors.csv sheet to tag and the figures, in ``out``."""
    write_json_atomic(layout.report_file(out, "errors", ".json"), report)
    write_text_atomic(layout.report_file(out, "errors", ".md"), render_errors(report))
    write_error_sheet(layout.report_file(out, "errors", ".csv"), error_rows(analysis, file_names))
    write_error_figures(out, report, analysis)


def write_label_issues(
    out: Path,
    ground_truth: dict[str, Any],
    results: list[dict[str, Any]],
    file_names: dict[int, str],
    error_report: dict[str, Any],
    cfg: ErrorOptions,
    partial_labels: str,
    images: Path | None,
) -> dict[str, Any]:
    """label_issues.json, label_issues.md, the label_issues.csv sheet and, with ``images`` (the
    folder of the file names), the label_issues.html gallery of the ``cfg.worst`` most likely
    label errors; returns the report."""
    # Imported here: cleanlab and drawing (torch) only when label errors are asked for.
    from detkit.analysis.label_issue_report import label_issue_report, label_issue_rows, render_label_issues
    from detkit.analysis.label_issues import find_label_issues

    options = cfg.label_issue_options
    found = find_label_issues(ground_truth, results, options.max_score, options.high_score, options.low_score)
    report = label_issue_report(found, ground_truth, results, file_names, error_report, options.fix_top, partial_labels)
    write_json_atomic(layout.report_file(out, "label_issues", ".json"), report)
    write_text_atomic(layout.report_file(out, "label_issues", ".md"), render_label_issues(report))
    write_error_sheet(layout.report_file(out, "label_issues", ".csv"), label_issue_rows(report))
    if images is not None:
        from detkit.analysis.gallery import draw_label_issues, write_label_issue_gallery

        write_label_issue_gallery(out, report, draw_label_issues(report, images, cfg.worst))
    return report


def write_tag_summary(out: Path, analysis: ErrorAnalysis, sheet: str, mislabelled_tag: str) -> None:
    """tags.json / tags.md from a tagged errors.csv (or label_issues.csv), and the rows tagged
    ``mislabelled_tag``: the labels to fix."""
    rows = read_sheet(sheet)
    if is_label_issue_sheet(rows):
        summary = summarise_issue_tags(rows)
        text = render_issue_tags(summary)
    else:
        summary = summarise_tags(analysis, sheet_tags(rows, analysis, sheet))
        text = render_tags(summary)
    write_json_atomic(layout.report_file(out, "tags", ".json"), summary)
    write_text_atomic(layout.report_file(out, "tags", ".md"), text)
    mislabelled = rows_tagged(rows, mislabelled_tag)
    if mislabelled:
        write_error_sheet(out / f"{mislabelled_tag}.csv", mislabelled)
