"""An error analysis written down: ``errors.json``, ``errors.md``, the ``errors.csv`` sheet a
person tags, and the breakdown, confusion and precision–recall PNGs."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from detkit.analysis.figures import subplots, to_png
from detkit.analysis.tide import KINDS, SPECIAL, ErrorAnalysis
from detkit.evaluation.matching import mean_defined
from detkit.files import write_bytes_atomic, write_text_atomic
from detkit.markdown import markdown_table
from detkit.runs import layout

KIND_LABELS = {
    "classification": "classification (right box, wrong class)",
    "localisation": "localisation (right class, IoU 0.1–0.5)",
    "both": "both (wrong class, poor box)",
    "duplicate": "duplicate (object already found)",
    "background": "background (nothing there)",
    "missed": "missed objects",
    "false_positives": "every false positive removed",
    "false_negatives": "every object found",
}
NEXT_STEPS = {
    "classification": "look at the confused pairs in the confusion matrix; more (or harder) examples of them, "
    "class-balanced sampling, a larger model",
    "localisation": "a higher input resolution (model.image_size), longer training, or a two-stage detector",
    "both": "open the gallery: often objects at an unusual scale, truncated or occluded",
    "duplicate": "a stricter non-maximum suppression (a lower NMS IoU threshold of the detector)",
    "background": "background images without objects in training, and the gallery's background boxes: "
    "unlabelled objects there are label errors, not model errors (tag them 'mislabelled')",
    "missed": "more small or occluded objects in training, a higher input resolution; see AP by size",
}
CSV_COLUMNS = (
    "error_id",
    "image_id",
    "file_name",
    "kind",
    "class",
    "true_class",
    "score",
    "iou",
    "x",
    "y",
    "w",
    "h",
    "truth_id",
    "tags",
)
SIZES = ("small", "medium", "large")


COUNTED_LABELS = 21  # 20 classes and background: a heat map with every count written in
MAX_FIGURE_INCHES = 24.0


def error_rows(analysis: ErrorAnalysis, file_names: dict[int, str]) -> list[dict[str, Any]]:
    """One row per error, as in ``errors.csv`` (``tags`` empty, for a person to fill in)."""
    names = analysis.matching.names
    rows = []
    for e in analysis.errors:
        rows.append(
            {
                "error_id": e.error_id,
                "image_id": e.image_id,
                "file_name": file_names.get(e.image_id, ""),
                "kind": e.kind,
                "class": names[e.category_id],
                "true_class": names[e.truth_category_id] if e.truth_category_id is not None else "",
                "score": "" if math.isnan(e.score) else round(e.score, 4),
                "iou": round(e.iou, 4),
                **dict(zip("xywh", (round(v, 2) for v in e.bbox))),
                "truth_id": e.truth_id if e.truth_id is not None else "",
                "tags": "",
            }
        )
    return rows


def write_error_sheet(path: Path, rows: list[dict[str, Any]]) -> None:
    """``errors.csv``: the manual error-analysis sheet."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def render_error_summary(report: dict[str, Any]) -> str:
    """The head of the report: AP50 and what fixing each kind of error is worth (what tools print)."""
    kinds, special = report["breakdown"]["kinds"], report["breakdown"]["special"]
    ranked = sorted(KINDS, key=lambda k: (kinds[k]["dAP"] is None, -(kinds[k]["dAP"] or 0), -kinds[k]["count"]))
    with_errors = [k for k in ranked if kinds[k]["count"]]
    worth = ", ".join(f"{_short(k)} {format_gain(kinds[k]['dAP'])}" for k in with_errors[:2])
    lines = [
        f"# Error analysis: {report['split']} ({report['images']} images), AP50 {_ap(report['breakdown']['AP50'])}",
        "",
        f"{sum(kinds[k]['count'] for k in KINDS)} errors. Fixing {worth} AP50 (each kind fixed alone, TIDE's oracle)."
        if with_errors
        else "No errors.",
        "",
        *markdown_table(
            ["kind", "errors", "AP50 gained by fixing it", "next step"],
            [
                *[[KIND_LABELS[k], kinds[k]["count"], format_gain(kinds[k]["dAP"]), NEXT_STEPS[k]] for k in ranked],
                *[[KIND_LABELS[s], "", format_gain(special[s]["dAP"]), "bound"] for s in SPECIAL],
            ],
            "lrrl",
        ),
    ]
    return "\n".join(lines) + "\n"


def render_errors(report: dict[str, Any]) -> str:
    """The report as markdown: the summary, then per class, by size, confusion, the worst images."""
    lines = [
        render_error_summary(report),
        *_class_rows(report),
        "",
        *_size_rows(report["metrics"]),
        "",
        *_confusion_rows(report["confusion"]),
        "",
        f"## The {len(report['worst_images'])} images with the most error (gallery.html, worst.png)",
        "",
        *[f"- {w['file_name']} (weight {w['weight']:.2f}): {image_errors(w)}" for w in report["worst_images"]],
    ]
    return "\n".join(lines) + "\n"


def _short(kind: str) -> str:
    return "missed objects" if kind == "missed" else f"{kind} errors"


def image_errors(item: dict[str, Any]) -> str:
    """A worst image's errors in words: counts by kind, then boxes not found."""
    words = [f"{n} {kind}" for kind, n in item["errors"].items() if n]
    words += [f"{item['not_found']} not found at this score"] if item["not_found"] else []
    return ", ".join(words) or "no errors"


def _class_rows(report: dict[str, Any]) -> list[str]:
    kinds = report["breakdown"]["kinds"]
    rows = []
    for name in report["classes"]:
        per_kind = {k: kinds[k]["per_class"][name] for k in KINDS}
        count = sum(v["count"] for v in per_kind.values())
        gains = {k: v["dAP"] for k, v in per_kind.items() if v["dAP"] is not None}
        top = max(gains, key=gains.get) if gains else None
        ap50, ap = report["class_ap50"][name], report["metrics"].get(f"AP/{name}", -1.0)
        largest = f"{top} ({gains[top]:+.3f})" if top and count else "—"
        rows.append([name, _value(ap50), _value(ap), count, largest])
    return markdown_table(["class", "AP50", "AP", "errors", "largest kind (AP50 gained)"], rows, "lrrrl")


def _size_rows(metrics: dict[str, float]) -> list[str]:
    return [
        "AP (IoU .50:.95) by object size (COCO: small < 32², medium < 96², large):",
        "",
        *markdown_table(SIZES, [[_value(metrics[f"mAP_{size}"]) for size in SIZES]], "rrr"),
    ]


def _confusion_rows(confusion: dict[str, Any]) -> list[str]:
    labels = confusion["labels"]
    rows = [
        f"Confusion at IoU {confusion['iou']} for detections scoring >= {confusion['score_threshold']} "
        "(rows: truth, columns: prediction; background: nothing there / not found):",
        "",
    ]
    return rows + markdown_table(
        ["truth \\ predicted", *labels], [[label, *row] for label, row in zip(labels, confusion["matrix"])]
    )


def format_gain(value: float | None) -> str:
    """An AP50 gain, or why there is none: fixing left no box to find (AP undefined, never -1)."""
    return "undefined (no boxes left)" if value is None else f"{value:+.3f}"


def _ap(value: float) -> str:
    return "undefined (no boxes)" if value < 0 else f"{value:.3f}"


def _value(value: float) -> str:
    return "—" if value is None or value < 0 else f"{value:.3f}"


def breakdown_png(report: dict[str, Any]) -> bytes:
    """A bar per kind: the AP50 gained by fixing it alone; the two bounds below."""
    names = [*KINDS, *SPECIAL]
    values = [report["breakdown"]["kinds"][k]["dAP"] for k in KINDS]
    values += [report["breakdown"]["special"][s]["dAP"] for s in SPECIAL]
    values = [np.nan if v is None else v for v in values]  # undefined: no bar
    figure, axes = subplots(figsize=(7, 3.8))
    colours = [*(["tab:red"] * len(KINDS)), *(["tab:gray"] * len(SPECIAL))]
    axes.barh([KIND_LABELS[n] for n in names][::-1], values[::-1], color=colours[::-1])
    axes.set_xlabel("AP50 gained by fixing (TIDE oracle)")
    axes.set_title(f"{report['split']}: AP50 {_ap(report['breakdown']['AP50'])}")
    return to_png(figure)


def confusion_png(confusion: dict[str, Any]) -> bytes:
    """The confusion matrix as a heat map, with its counts up to `COUNTED_LABELS` labels (COCO's
    81 would be 6,561 numbers on a 90-inch figure: half a minute to draw, unreadable; the counts
    are in errors.json and the confused pairs in errors.md)."""
    matrix, labels = np.asarray(confusion["matrix"]), confusion["labels"]
    side = min(1.1 * len(labels) + 2, MAX_FIGURE_INCHES)
    figure, axes = subplots(figsize=(side, side - 0.5))
    axes.imshow(matrix, cmap="Blues")
    if len(labels) <= COUNTED_LABELS:
        for (row, column), count in np.ndenumerate(matrix):
            colour = "white" if count > matrix.max() / 2 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour)
    font = "medium" if len(labels) <= COUNTED_LABELS else "xx-small"
    axes.set_xticks(range(len(labels)), labels, rotation=45 if font == "medium" else 90, ha="right", fontsize=font)
    axes.set_yticks(range(len(labels)), labels, fontsize=font)
    axes.set_xlabel("predicted")
    axes.set_ylabel("truth")
    axes.set_title(f"IoU {confusion['iou']}, score >= {confusion['score_threshold']}")
    return to_png(figure)


def pr_curves_png(analysis: ErrorAnalysis) -> bytes:
    """Interpolated precision against recall per class at IoU 0.5 (pycocotools' 101 points)."""
    precision = analysis.matching.precision()[0]
    recall = np.linspace(0, 1, precision.shape[0])
    figure, axes = subplots(figsize=(6, 4.5))
    for k, name in enumerate(analysis.class_names):
        if precision[:, k].max() > -1:
            axes.plot(
                recall, np.clip(precision[:, k], 0, None), label=f"{name} (AP50 {mean_defined(precision[:, k]):.3f})"
            )
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.legend(loc="lower left")
    return to_png(figure)


def write_error_figures(out: Path, report: dict[str, Any], analysis: ErrorAnalysis) -> None:
    write_bytes_atomic(layout.report_file(out, "breakdown", ".png"), breakdown_png(report))
    write_bytes_atomic(layout.report_file(out, "confusion", ".png"), confusion_png(report["confusion"]))
    write_bytes_atomic(layout.report_file(out, "pr_curves", ".png"), pr_curves_png(analysis))


def build_error_report(
    analysis: ErrorAnalysis,
    split: str,
    file_names: dict[int, str],
    metrics: dict[str, float],
    confusion: dict[str, Any],
    worst: int,
    score_threshold: float,
) -> dict[str, Any]:
    """What ``errors.json`` holds: the breakdown per kind (count, dAP; overall and per class),
    AP50 per class, the evaluator's metrics (per class, by size), the confusion matrix and the
    ``worst`` images by error weight at ``score_threshold`` (`ErrorAnalysis.image_weights`),
    with their errors scoring at least that (and missed boxes) counted by kind and the boxes
    not found at that score."""
    weights, not_found = analysis.image_weights(score_threshold), analysis.boxes_not_found(score_threshold)
    shown = [e for e in analysis.errors if e.kind == "missed" or e.score >= score_threshold]
    worst_ids = sorted(weights, key=lambda image_id: (-weights[image_id], image_id))[:worst]
    return {
        "split": split,
        "images": analysis.matching.num_images,
        "classes": analysis.class_names,
        "breakdown": analysis.breakdown(),
        "class_ap50": {name: float(ap) for name, ap in zip(analysis.class_names, analysis.class_ap)},
        "metrics": metrics,
        "confusion": confusion,
        "worst_images": [
            {
                "image_id": image_id,
                "file_name": file_names.get(image_id, ""),
                "weight": round(weights[image_id], 4),
                "errors": {k: sum(e.kind == k for e in shown if e.image_id == image_id) for k in KINDS},
                "not_found": not_found[image_id],
            }
            for image_id in worst_ids
        ],
    }
