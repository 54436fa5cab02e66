"""The manual half of error analysis: a person tags rows of ``errors.csv`` ("blurry",
"occluded", "mislabelled", ...); each tag's share of the reviewed errors bounds what fixing that
cause can gain, and the oracle says what fixing exactly those errors is worth."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path
from typing import Any

from detkit.analysis.error_report import CSV_COLUMNS, format_gain
from detkit.analysis.label_issues import ISSUE_KINDS
from detkit.analysis.tide import ErrorAnalysis
from detkit.exceptions import DatasetError
from detkit.markdown import markdown_table

TAG_SEPARATORS = re.compile(r"[;,|]")


def read_sheet(path: str | Path) -> list[dict[str, str]]:
    """The rows of a tagged ``errors.csv`` or ``label_issues.csv`` (its columns checked)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            "tagged error sheet not found; pass tags=<errors.csv with its tags column filled in>", source=str(path)
        )
    with path.open(newline="", encoding="utf-8-sig") as handle:  # utf-8-sig: spreadsheets add a BOM
        reader = csv.DictReader(handle)
        missing = [c for c in ("error_id", "image_id", "kind", "tags") if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(
                f"columns {missing} missing; keep the header of the errors.csv detkit wrote", source=str(path)
            )
        return list(reader)


def is_label_issue_sheet(rows: list[dict[str, str]]) -> bool:
    """Whether the rows are ``label_issues.csv``'s (suspected label errors), not ``errors.csv``'s."""
    return bool(rows) and all(row["kind"].strip() in ISSUE_KINDS for row in rows)


def sheet_tags(rows: list[dict[str, str]], analysis: ErrorAnalysis, path: str | Path) -> dict[int, list[str]]:
    """Each tagged error's tags (``a; b`` or ``a, b``) in the rows of the sheet at ``path``,
    checked against the errors of ``analysis`` (the same run, split and checkpoint that wrote it)."""
    errors = {e.error_id: e for e in analysis.errors}
    tags, problems = {}, []
    for line, row in enumerate(rows, start=2):
        error = errors.get(_integer(row["error_id"]))
        if error is None or str(error.image_id) != row["image_id"].strip() or error.kind != row["kind"].strip():
            problems.append(
                f"line {line} (error_id {row['error_id']!r}): no such error in this analysis; tag the errors.csv "
                "that tools/errors.py wrote for the same run, split and checkpoint"
            )
            continue
        names = _tags(row)
        if names:
            tags[error.error_id] = names
    if problems:
        raise DatasetError(problems, source=str(path))
    return tags


def _integer(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def summarise_tags(analysis: ErrorAnalysis, tags: dict[int, list[str]]) -> dict[str, Any]:
    """Per tag: how many reviewed errors carry it, its share of them, the kinds it covers, the
    AP50 gained by fixing those errors, and the ceiling if the share held for every error."""
    reviewed = len(tags)
    counts = Counter(name for names in tags.values() for name in set(names))
    kinds = {e.error_id: e.kind for e in analysis.errors}
    fixes = {name: (lambda e, name=name: name in tags.get(e.error_id, ())) for name in counts}
    gained = analysis.breakdown(fixes)["kinds"] if counts else {}
    fix_everything = analysis.breakdown({"all": lambda e: True})["kinds"]["all"]["dAP"]
    summary = {}
    for name, count in counts.most_common():
        share = count / reviewed
        summary[name] = {
            "count": count,
            "share": share,
            "kinds": dict(Counter(kinds[i] for i, names in tags.items() if name in names)),
            "dAP_tagged": gained[name]["dAP"],
            "dAP_ceiling": None if fix_everything is None else share * fix_everything,
        }
    return {"errors": len(analysis.errors), "reviewed": reviewed, "dAP_all": fix_everything, "tags": summary}


def render_tags(summary: dict[str, Any]) -> str:
    """The tag summary as markdown, largest share first."""
    lines = [
        f"# What the tags explain: {summary['reviewed']} of {summary['errors']} errors reviewed",
        "",
    ]
    header = ["tag", "errors", "share of reviewed", "kinds", "AP50 gained fixing these", "ceiling (share × all errors)"]
    rows = [
        [
            name,
            tag["count"],
            f"{tag['share']:.0%}",
            ", ".join(f"{n} {k}" for k, n in sorted(tag["kinds"].items())),
            format_gain(tag["dAP_tagged"]),
            format_gain(tag["dAP_ceiling"]),
        ]
        for name, tag in summary["tags"].items()
    ]
    lines += markdown_table(header, rows, "lrrlrr")
    lines += ["", f"Fixing every error would gain {format_gain(summary['dAP_all'])} AP50."]
    return "\n".join(lines) + "\n"


def summarise_issue_tags(rows: list[dict[str, str]]) -> dict[str, Any]:
    """A tagged ``label_issues.csv``: per tag, how many reviewed issues carry it, its share of
    them and their kinds (a ``mislabelled`` share is the finder's precision on this data)."""
    tagged = {i: names for i, row in enumerate(rows) if (names := _tags(row))}
    counts = Counter(name for names in tagged.values() for name in set(names))
    return {
        "issues": len(rows),
        "reviewed": len(tagged),
        "tags": {
            name: {
                "count": count,
                "share": count / len(tagged),
                "kinds": dict(Counter(rows[i]["kind"].strip() for i, names in tagged.items() if name in names)),
            }
            for name, count in counts.most_common()
        },
    }


def render_issue_tags(summary: dict[str, Any]) -> str:
    """The label-issue tag summary as markdown, largest share first."""
    lines = [f"# What the tags say: {summary['reviewed']} of {summary['issues']} suspected label errors reviewed", ""]
    rows = [
        [name, tag["count"], f"{tag['share']:.0%}", ", ".join(f"{n} {k}" for k, n in sorted(tag["kinds"].items()))]
        for name, tag in summary["tags"].items()
    ]
    return "\n".join([*lines, *markdown_table(["tag", "issues", "share of reviewed", "kinds"], rows, "lrrl")]) + "\n"


def _tags(row: dict[str, str]) -> list[str]:
    return [t.strip() for t in TAG_SEPARATORS.split(row.get("tags") or "") if t.strip()]


def rows_tagged(rows: list[dict[str, str]], tag: str) -> list[dict[str, str]]:
    """The sheet's rows carrying ``tag``, in the sheet's columns (e.g. labels to fix)."""
    return [{column: row.get(column, "") for column in CSV_COLUMNS} for row in rows if tag in _tags(row)]
