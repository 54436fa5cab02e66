"""Suspected label errors written down: ``label_issues.json``, ``label_issues.md`` and the
``label_issues.csv`` sheet (the columns of ``errors.csv``), with what fixing the first ones as
suggested is worth beside what fixing each kind of model error is worth."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detkit.analysis.error_report import KIND_LABELS
from detkit.analysis.label_issues import FIXES, ISSUE_KINDS, LabelIssue, LabelIssues, fixed_ground_truth
from detkit.analysis.tide import KINDS
from detkit.evaluation.coco import evaluate_coco
from detkit.evaluation.matching import iou_matrix
from detkit.markdown import markdown_table

IN_SAMPLE = (
    "train was trained on: the model has partly learned its labels, errors included, so it "
    "agrees with them more than with other images' and finds fewer of their errors"
)


def label_issue_report(
    found: LabelIssues,
    ground_truth: dict[str, Any],
    results: list[dict[str, Any]],
    file_names: dict[int, str],
    error_report: dict[str, Any],
    fix_top: int,
    partial_labels: str,
) -> dict[str, Any]:
    """What ``label_issues.json`` holds: the issues ranked (classes by name), their count per
    kind, the images with the lowest label quality, and AP50 / mAP before (``error_report``'s
    metrics) and after fixing the first ``fix_top`` as suggested, beside the error analysis'
    AP50 gain per kind of model error (its breakdown)."""
    names = {c["id"]: c["name"] for c in ground_truth["categories"]}
    split = error_report["split"]
    before = error_report["metrics"]  # the same labels and results, scored once by the error analysis
    fixed = found.issues[:fix_top]
    after = evaluate_coco(fixed_ground_truth(ground_truth, fixed), results, partial_labels=partial_labels)
    kinds = error_report["breakdown"]["kinds"]
    return {
        "split": split,
        "in_sample": IN_SAMPLE if split == "train" else None,
        "images": len(ground_truth["images"]),
        "labels": sum(not a.get("iscrowd", 0) for a in ground_truth["annotations"]),
        "counts": {kind: sum(i.kind == kind for i in found.issues) for kind in ISSUE_KINDS},
        "worth": {
            "fixed": len(fixed),
            "AP50": [before["mAP50"], after["mAP50"]],
            "mAP": [before["mAP"], after["mAP"]],
            "model_errors_dAP50": {kind: kinds[kind]["dAP"] for kind in KINDS},
        },
        "issues": [_issue_row(issue, names, file_names) for issue in found.issues],
        "worst_images": [
            {"image_id": image_id, "file_name": file_names.get(image_id, ""), "quality": round(quality, 4)}
            for image_id, quality in sorted(found.image_quality.items(), key=lambda item: (item[1], item[0]))[:20]
        ],
    }


def _issue_row(issue: LabelIssue, names: dict[int, str], file_names: dict[int, str]) -> dict[str, Any]:
    suggested = issue.suggested_category_id
    return {
        **issue.as_dict(),
        "file_name": file_names.get(issue.image_id, ""),
        "class": names[issue.category_id],
        "suggested_class": None if suggested is None else names[suggested],
        "iou": None if issue.kind == "overlooked" else _rounded_iou(issue.bbox, issue.suggested_bbox),
    }


def _rounded_iou(box: Sequence[float], other: Sequence[float] | None) -> float | None:
    if other is None:
        return None
    return round(float(iou_matrix(*(np.array([list(x)], dtype=np.float64) for x in (box, other)))[0, 0]), 4)


def label_issue_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per suspected label error in the columns of ``errors.csv``: ``class`` the label's
    (overlooked: the model's), ``true_class`` the suggested one, ``x y w h`` the label's box (the
    model's for an overlooked object), ``iou`` between it and the suggested box, ``truth_id``
    the annotation's id; ``tags`` empty, for a person to confirm or reject."""
    rows = []
    for issue in report["issues"]:
        rows.append(
            {
                "error_id": issue["issue_id"],
                "image_id": issue["image_id"],
                "file_name": issue["file_name"],
                "kind": issue["kind"],
                "class": issue["class"],
                "true_class": issue["suggested_class"] or "",
                "score": round(issue["score"], 4),
                "iou": "" if issue["iou"] is None else issue["iou"],
                **dict(zip("xywh", (round(v, 2) for v in issue["bbox"]))),
                "truth_id": "" if issue["annotation_id"] is None else issue["annotation_id"],
                "tags": "",
            }
        )
    return rows


def render_label_issue_summary(report: dict[str, Any]) -> str:
    """Two lines for the terminal: how many labels look wrong, and what fixing the first is worth."""
    counts, worth = report["counts"], report["worth"]
    (ap50_before, ap50_after) = worth["AP50"]
    best_model_fix = max(worth["model_errors_dAP50"].items(), key=lambda item: item[1])
    return (
        f"likely label errors on {report['split']}: " + ", ".join(f"{counts[k]} {k}" for k in ISSUE_KINDS) + "\n"
        f"fixing the first {worth['fixed']} as suggested: AP50 {ap50_after - ap50_before:+.3f} "
        f"(fixing the model's {best_model_fix[0]} errors: {best_model_fix[1]:+.3f}); label_issues.md, .html"
    )


def render_label_issues(report: dict[str, Any], listed: int = 20) -> str:
    """Markdown: how many labels look wrong and of which kind, what fixing them is worth beside
    fixing the model, and the ``listed`` most likely ones."""
    counts, worth = report["counts"], report["worth"]
    lines = [
        f"# Likely label errors: {report['split']} ({report['images']} images, {report['labels']} labels)",
        "",
        f"{sum(counts.values())} suspected: "
        + ", ".join(f"{counts[k]} {k} ({FIXES[k]})" for k in ISSUE_KINDS)
        + ". Scores are cleanlab's ObjectLab box scores against the model's predictions; lower is more "
        "likely wrong. Confirm them by eye (label_issues.html) before fixing anything.",
        "",
    ]
    if report["in_sample"]:
        lines += [f"**In-sample**: {report['in_sample']}.", ""]
    (ap50_before, ap50_after), (map_before, map_after) = worth["AP50"], worth["mAP"]
    lines += [
        "## What is it worth?",
        "",
        f"Fixing the first {worth['fixed']} as suggested: AP50 {ap50_before:.3f} → {ap50_after:.3f} "
        f"({ap50_after - ap50_before:+.3f}), mAP {map_before:.3f} → {map_after:.3f} ({map_after - map_before:+.3f}). "
        "The labels move toward the model, so this is what the metric would say, an upper bound on what the "
        "labels cost it; beside it, the AP50 that fixing each kind of model error is worth:",
        "",
    ]
    gains = worth["model_errors_dAP50"]
    rows = [["label errors (first fixed)", f"{ap50_after - ap50_before:+.3f}"]]
    rows += [[KIND_LABELS[k], f"{gains[k]:+.3f}"] for k in sorted(gains, key=lambda k: -gains[k])]
    lines += [*markdown_table(["fix", "AP50 gain"], rows, "lr"), "", "## Most likely", ""]
    rows = [
        [
            str(i["issue_id"]),
            f"{i['file_name']} ({i['image_id']})",
            f"{i['kind']} (doubtful)" if i["doubtful"] else i["kind"],
            f"{i['score']:.3f}",
            i["class"],
            i["suggested_class"] or "-",
            "-" if i["iou"] is None else f"{i['iou']:.2f}",
        ]
        for i in report["issues"][:listed]
    ]
    header = ["#", "image", "kind", "score", "label", "suggested", "IoU label–model"]
    lines += markdown_table(header, rows, "rllrllr")
    lines += [
        "",
        "Doubtful: a badly placed label whose model box is another labelled object of its class; more "
        "likely the model missed this object. Ranked after the others.",
    ]
    return "\n".join(lines) + "\n"
