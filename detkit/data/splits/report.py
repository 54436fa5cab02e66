"""What each split holds: images, boxes and groups, per class and per domain, with warnings."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from detkit.data.records import DetectionDataset
from detkit.data.splits.seeded import EVALUATED, group_key, make_splits, write_manifests
from detkit.files import write_json_atomic, write_text_atomic
from detkit.markdown import markdown_table


def summarize_splits(
    dataset: DetectionDataset, splits: dict[str, list[int]], min_instances: int = 10, group_regex: str | None = None
) -> dict[str, Any]:
    """Counts per split (images, boxes, groups as the split made them: ``group_regex`` on file
    names, else the records' own, instances per class, images per domain) and a warning for
    each class with fewer than ``min_instances`` boxes in dev or test."""
    by_id = {r.image_id: r for r in dataset.records}
    pattern = re.compile(group_regex) if group_regex else None
    summary: dict[str, Any] = {"splits": {}, "warnings": []}
    for name, ids in splits.items():
        records = [by_id[i] for i in ids]
        instances = Counter(dataset.class_names[int(label)] for r in records for label in r.labels)
        summary["splits"][name] = {
            "images": len(records),
            "boxes": int(sum(len(r.boxes) for r in records)),
            "groups": len({group_key(r, pattern) for r in records}),
            "instances": {c: instances.get(c, 0) for c in dataset.class_names},
            "domains": dict(sorted(Counter(r.domain for r in records).items())),
        }
    for name in EVALUATED:
        for cls, count in summary["splits"].get(name, {}).get("instances", {}).items():
            if count < min_instances:
                summary["warnings"].append(
                    f"class {cls!r} has {count} instance(s) in {name} (< {min_instances}): its AP there is noise"
                )
    return summary


def render_split_report(summary: dict[str, Any]) -> str:
    """The summary as a markdown report."""
    splits = summary["splits"]
    names = list(splits)
    how = {"given": "the export's own splits (train_dev carved from its train)", "resplit": "pooled and split anew"}
    lines = ["# Splits", "", f"From {how[summary['mode']]}.", ""] if "mode" in summary else ["# Splits", ""]
    lines += markdown_table(
        ["", *names], [[key, *(splits[n][key] for n in names)] for key in ("images", "boxes", "groups")]
    )
    classes = next(iter(splits.values()))["instances"] if splits else {}
    lines += ["", "## Instances per class", ""]
    lines += markdown_table(["", *names], [[c, *(splits[n]["instances"][c] for n in names)] for c in classes])
    domains = sorted({d for n in names for d in splits[n]["domains"]})
    lines += ["", "## Images per domain", ""]
    lines += markdown_table(["", *names], [[d, *(splits[n]["domains"].get(d, 0) for n in names)] for d in domains])
    if summary["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in summary["warnings"]]
    return "\n".join(lines) + "\n"


def write_splits(
    dataset: DetectionDataset,
    out: str | Path,
    split: dict[str, Any],
    seed: int,
    min_instances: int = 10,
    mode: str = "auto",
) -> dict[str, Any]:
    """Split ``dataset`` (on its own splits or anew, as ``mode`` says: `make_splits`),
    write one manifest per split and ``report.md`` / ``report.json`` to ``out``."""
    mode, splits = make_splits(dataset, mode, split, seed)
    write_manifests(out, splits, dataset, {"splits": mode, "seed": seed, "split": split})
    summary = summarize_splits(dataset, splits, min_instances, split.get("group_regex"))
    summary["mode"] = mode
    write_json_atomic(Path(out) / "report.json", summary)
    write_text_atomic(Path(out) / "report.md", render_split_report(summary))
    return summary
