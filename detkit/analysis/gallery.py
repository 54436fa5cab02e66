"""The worst images put in front of a person: boxes coloured by error kind, as a self-contained
HTML gallery (images embedded, opens offline) and a PNG contact sheet."""

from __future__ import annotations

import base64
import functools
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import encode_jpeg, encode_png
from torchvision.utils import draw_bounding_boxes, make_grid

from detkit.analysis.error_report import image_errors
from detkit.analysis.grids import same_size
from detkit.analysis.label_issues import FIXES, ISSUE_KINDS
from detkit.analysis.tide import KINDS, ErrorAnalysis
from detkit.data.boxes import xywh_to_xyxy, xyxy_to_xywh
from detkit.data.images.files import read_rgb
from detkit.files import write_bytes_atomic, write_text_atomic
from detkit.models.inference import Detections
from detkit.runs import layout

DISPLAY_SIZE = 480  # longest side of a drawn image, in pixels
JPEG_SIDE = 65_500  # libjpeg's JPEG_MAX_DIMENSION: torchvision's encode_jpeg crashes (SIGSEGV) past it
LABEL_SIZE = 13
COLOURS = {
    "match": "#2ca02c",
    "truth": "#ffffff",
    "classification": "#ff7f0e",
    "localisation": "#ffd700",
    "both": "#9467bd",
    "duplicate": "#17becf",
    "background": "#d62728",
    "missed": "#e377c2",
}
ISSUE_COLOURS = {"overlooked": COLOURS["missed"], "swap": COLOURS["classification"], "badloc": COLOURS["localisation"]}
SHORT = {"classification": "cls", "localisation": "loc", "both": "both", "duplicate": "dup", "background": "bkg"}


@dataclass(frozen=True)
class DrawnBox:
    """A box to draw: xywh in image pixels, its colour and its label."""

    bbox: tuple[float, float, float, float]
    colour: str
    label: str


def detection_boxes(found: Detections, class_names: list[str], colour: str = COLOURS["match"]) -> list[DrawnBox]:
    """Every detection of ``found`` (filter it first) to draw, labelled with its class and score."""
    xywh = xyxy_to_xywh(np.asarray(found["boxes"], dtype=np.float64)).tolist()
    return [
        DrawnBox(tuple(box), colour, f"{class_names[label]} {score:.2f}")
        for box, score, label in zip(xywh, found["scores"].tolist(), found["labels"].tolist())
    ]


def boxes_to_draw(analysis: ErrorAnalysis, image_id: int, score_threshold: float) -> list[DrawnBox]:
    """The image's boxes (white; missed ones in the missed colour) and its detections scoring at
    least ``score_threshold`` (matches green, errors in their kind's colour)."""
    names = analysis.matching.names
    detections, truths = analysis.image_outcomes(image_id)
    kind_of = {e.detection_id: e.kind for e in analysis.errors if e.image_id == image_id and e.is_false_positive}
    missed = {e.truth_id for e in analysis.errors if e.image_id == image_id and e.kind == "missed"}
    drawn = []
    for truth in truths:
        if not truth["ignore"]:
            kind = "missed" if truth["id"] in missed else "truth"
            label = f"missed {names[truth['category_id']]}" if kind == "missed" else names[truth["category_id"]]
            drawn.append(DrawnBox(tuple(truth["bbox"]), COLOURS[kind], label))
    for detection in detections:
        if detection["outcome"] == "ignored" or detection["score"] < score_threshold:
            continue
        kind = kind_of.get(detection["id"], "match")
        prefix = "" if kind == "match" else f"{SHORT[kind]} "
        label = f"{prefix}{names[detection['category_id']]} {detection['score']:.2f}"
        drawn.append(DrawnBox(tuple(detection["bbox"]), COLOURS[kind], label))
    return drawn


def draw_image(path: Path, boxes: list[DrawnBox], longest_side: int | None = DISPLAY_SIZE) -> torch.Tensor:
    """The image at ``path`` scaled so its longest side is ``longest_side`` (None: as it is, or
    shrunk to `JPEG_SIDE`), boxes drawn: uint8 [3, H, W]."""
    image = torch.from_numpy(read_rgb(path)).permute(2, 0, 1)
    longest = max(image.shape[1:])
    scale = (longest_side or min(longest, JPEG_SIDE)) / longest
    if scale != 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[2] * scale)))
        image = F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False)[0]
        image = image.round().clamp(0, 255).to(torch.uint8)
    if not boxes:
        return image
    xyxy = torch.tensor(xywh_to_xyxy(np.array([b.bbox for b in boxes], dtype=np.float64)).tolist()) * scale
    labels, colours = [b.label for b in boxes], [b.colour for b in boxes]
    return draw_bounding_boxes(image, xyxy, labels, colours, width=2, font=label_font(), font_size=LABEL_SIZE)


@functools.cache
def label_font() -> str:
    """A TrueType font file for readable labels: the one matplotlib ships (PIL's default is tiny)."""
    from matplotlib import font_manager

    return font_manager.findfont("DejaVu Sans")


def contact_sheet(images: list[torch.Tensor], columns: int = 4) -> torch.Tensor:
    """The images on one grid, uint8 [3, H, W]."""
    return make_grid(same_size(images), nrow=columns, padding=4, pad_value=255)


def write_gallery(out: Path, report: dict[str, Any], images: list[torch.Tensor], score_threshold: float) -> None:
    """``gallery.html`` (JPEGs embedded) and ``worst.png`` (contact sheet) of the worst images."""
    cards = [
        _card(image, item, f"error weight {item['weight']:.2f}: {image_errors(item)}")
        for item, image in zip(report["worst_images"], images)
    ]
    legend = "".join(
        f'<span style="border-bottom:4px solid {COLOURS[k]}">{html.escape(label)}</span> '
        for k, label in [("truth", "labelled box"), ("match", "correct detection"), *((k, k) for k in KINDS)]
    )
    page = _PAGE.format(
        style=_STYLE,
        split=html.escape(report["split"]),
        count=len(cards),
        threshold=score_threshold,
        legend=legend,
        cards="\n".join(cards),
    )
    write_text_atomic(layout.report_file(out, "gallery", ".html"), page)
    if images:
        write_bytes_atomic(
            layout.report_file(out, "worst", ".png"), encode_png(contact_sheet(images)).numpy().tobytes()
        )


def _card(image: torch.Tensor, item: dict[str, Any], caption: str) -> str:
    """One image of a gallery page, embedded as a JPEG, with its file name and ``caption``."""
    data = base64.b64encode(encode_jpeg(image, quality=90).numpy().tobytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/jpeg;base64,{data}" alt="{html.escape(item["file_name"])}">'
        f"<figcaption><b>{html.escape(item['file_name'])}</b> (image {item['image_id']}), "
        f"{html.escape(caption)}</figcaption></figure>"
    )


def label_issue_boxes(issue: dict[str, Any]) -> list[DrawnBox]:
    """A suspected label error's boxes: the label (white; none for an overlooked object) and the
    model's box behind the suggestion, in the kind's colour."""
    boxes = []
    if issue["kind"] != "overlooked":
        boxes.append(DrawnBox(tuple(issue["bbox"]), COLOURS["truth"], f"label: {issue['class']}"))
    if issue["suggested_bbox"] is not None:
        label = f"model: {issue['suggested_class']} {issue['model_score']:.2f}"
        boxes.append(DrawnBox(tuple(issue["suggested_bbox"]), ISSUE_COLOURS[issue["kind"]], label))
    return boxes


def _says(issue: dict[str, Any]) -> str:
    """What the label and the model say, and the fix: the caption under a label issue."""
    model = (
        f"model {issue['suggested_class']} ({issue['model_score']:.2f})" if issue["suggested_class"] else "no model box"
    )
    label = "no label" if issue["kind"] == "overlooked" else f"label {issue['class']}"
    return f"{label}, {model}; {FIXES[issue['kind']]}" + (" (doubtful)" if issue["doubtful"] else "")


def draw_label_issues(report: dict[str, Any], root: Path, count: int) -> list[torch.Tensor]:
    """The first ``count`` suspected label errors of ``report``, each on its image (``root / file_name``)."""
    return [draw_image(Path(root) / i["file_name"], label_issue_boxes(i)) for i in report["issues"][:count]]


def write_label_issue_gallery(out: Path, report: dict[str, Any], images: list[torch.Tensor]) -> None:
    """``label_issues.html``: the suspected label errors drawn, most likely first (opens offline)."""
    cards = [
        _card(image, issue, f"#{issue['issue_id']} {issue['kind']}, score {issue['score']:.3f}: {_says(issue)}")
        for issue, image in zip(report["issues"], images)
    ]
    legend = "".join(
        f'<span style="border-bottom:4px solid {colour}">{html.escape(label)}</span> '
        for colour, label in [(COLOURS["truth"], "label"), *((ISSUE_COLOURS[k], f"model ({k})") for k in ISSUE_KINDS)]
    )
    page = _ISSUE_PAGE.format(
        style=_STYLE, split=html.escape(report["split"]), count=len(cards), legend=legend, cards="\n".join(cards)
    )
    write_text_atomic(layout.report_file(out, "label_issues", ".html"), page)


_STYLE = """body { font-family: sans-serif; margin: 1em; background: #222; color: #eee; }
figure { display: inline-block; margin: 0.5em; max-width: 480px; vertical-align: top; }
img { max-width: 100%; } span { margin-right: 1em; }"""

_ISSUE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>detkit likely label errors: {split}</title>
<style>{style}</style></head><body>
<h1>The {count} labels of {split} most likely wrong</h1>
<p>Each image shows one suspected error: the label as given and the model's box that disagrees with it.
Check by eye before fixing: the model can be the one that is wrong.</p>
<p>{legend}</p>
{cards}
</body></html>
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>detkit errors: {split}</title>
<style>{style}</style></head><body>
<h1>The {count} images of {split} with the most error</h1>
<p>Detections scoring at least {threshold}; error weight = false positives' scores + one per object not found.</p>
<p>{legend}</p>
{cards}
</body></html>
"""


def draw_worst(
    analysis: ErrorAnalysis, root: Path, file_names: dict[int, str], report: dict[str, Any], threshold: float
) -> list[torch.Tensor]:
    """The report's worst images (``root / file_name``) with their boxes and errors drawn."""
    return [
        draw_image(Path(root) / file_names[item["image_id"]], boxes_to_draw(analysis, item["image_id"], threshold))
        for item in report["worst_images"]
    ]
