"""The diagnosis of `bias_variance.build_diagnosis` as ``diagnosis.md``, ``.json`` and ``.png``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from detkit.analysis.bias_variance import ERROR_NAMES, GAPS
from detkit.analysis.figures import bars_with_intervals, subplots, to_png
from detkit.files import write_bytes_atomic, write_json_atomic, write_report
from detkit.markdown import markdown_table
from detkit.runs import layout

GAP_LABELS = {
    "avoidable_bias": "avoidable bias",
    "variance": "variance",
    "data_mismatch": "data mismatch",
    "dev_overfitting": "dev overfitting",
}


def render_diagnosis(diagnosis: dict[str, Any]) -> str:
    """The diagnosis as a markdown report: errors, gaps, the largest gap, next steps, worst classes."""
    level = f"{round(100 * diagnosis['confidence'])}%"
    lines = [
        f"# Bias / variance diagnosis: error = 1 − {diagnosis['metric']}",
        "",
        *markdown_table(["error", "value", f"{level} interval", "images"], _error_rows(diagnosis), "lrlr"),
        "",
        *markdown_table(["gap", "value", f"{level} interval", ""], _gap_rows(diagnosis), "lrll"),
        "",
        _verdict(diagnosis),
        "",
        *[f"- {step}" for step in diagnosis["next_steps"]],
    ]
    if diagnosis["per_class"]:
        lines += ["", *_class_rows(diagnosis)]
    return "\n".join(lines) + "\n"


def _error_rows(diagnosis: dict[str, Any]) -> list[list[object]]:
    rows = []
    for name in ERROR_NAMES:
        value = diagnosis["errors"][name]
        label = f"human ({diagnosis['human_source']})" if name == "human" else name
        if value is None:
            note = "unknown: taken as 0" if name == "human" else "not measured: no such split, or no labels in it"
            rows.append([label, "—", note, ""])
            continue
        interval = diagnosis["intervals"].get(name)
        spread = f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval and diagnosis["images"][name] else ""
        images = diagnosis["images"].get(name) or ""
        rows.append([label, f"{value:.3f}", spread, images])
    return rows


def _gap_rows(diagnosis: dict[str, Any]) -> list[list[object]]:
    rows = []
    for name, (earlier, later) in GAPS.items():
        gap = diagnosis["gap_details"][name]
        label = f"{GAP_LABELS[name]} ({later} − {earlier})"
        if gap is None:
            rows.append([label, "—", "", "needs both errors"])
            continue
        noise = "beyond the noise" if gap["beyond_noise"] else "within the noise"
        bound = "; at most this (human level unknown)" if gap["bound"] else ""
        rows.append([label, f"{gap['value']:+.3f}", f"[{gap['low']:+.3f}, {gap['high']:+.3f}]", f"{noise}{bound}"])
    return rows


def _verdict(diagnosis: dict[str, Any]) -> str:
    largest = diagnosis["largest_gap"]
    if largest is None:
        return "**No gap can be measured**: the run needs train and at least one of train_dev, dev."
    value = diagnosis["gaps"][largest]
    if not diagnosis["largest_gap_beyond_noise"]:
        return (
            f"**Largest gap: {GAP_LABELS[largest]} ({value:+.3f}), but within the noise**: more images "
            "in the splits would tell the gaps apart. If it holds, the usual next steps are:"
        )
    return f"**Largest gap: {GAP_LABELS[largest]} ({value:+.3f})**, beyond the noise. Next steps that fit it:"


def _class_rows(diagnosis: dict[str, Any]) -> list[str]:
    splits = [n for n in ERROR_NAMES if any(n in row for row in diagnosis["per_class"].values())]
    lines = [
        "## Worst classes (highest dev error)",
        "",
    ]
    rows = [
        [name, *("—" if row.get(split) is None else f"{row[split]:.3f}" for split in splits)]
        for name, row in diagnosis["per_class"].items()
    ]
    return lines + markdown_table(["class", *splits], rows, "l" + "r" * len(splits))


def plot_diagnosis(diagnosis: dict[str, Any]) -> bytes:
    """A PNG: the errors with their intervals, and the gaps with theirs (the largest in colour)."""
    figure, (left, right) = subplots(1, 2, figsize=(11, 4))
    names = [n for n in ERROR_NAMES if diagnosis["errors"][n] is not None]
    values = [diagnosis["errors"][n] for n in names]
    intervals = [diagnosis["intervals"].get(n, [v, v]) for n, v in zip(names, values)]
    bars_with_intervals(left, names, values, intervals, "steelblue", "errors")
    left.set_ylabel(f"error (1 − {diagnosis['metric']})")
    gaps = {n: g for n, g in diagnosis["gap_details"].items() if g is not None}
    colours = ["darkorange" if n == diagnosis["largest_gap"] else "grey" for n in gaps]
    gap_values = [g["value"] for g in gaps.values()]
    gap_intervals = [[g["low"], g["high"]] for g in gaps.values()]
    labels = [GAP_LABELS[n] for n in gaps]
    bars_with_intervals(right, labels, gap_values, gap_intervals, colours, "gaps (largest in orange)", around_zero=True)
    return to_png(figure)


def write_diagnosis(diagnosis: dict[str, Any], out: str | Path) -> None:
    """``diagnosis.json``, ``diagnosis.md`` and ``diagnosis.png`` in ``out``, each atomically."""
    out = Path(out)
    write_report(out, layout.REPORTS.diagnosis, diagnosis, render_diagnosis(diagnosis), plot_diagnosis(diagnosis))


def plot_learning_curve(points: list[dict[str, Any]], metric: str) -> bytes:
    """A PNG: train and dev error against the number of training images."""
    figure, axes = subplots(figsize=(6, 4))
    sizes = [p["train_images"] for p in points]
    for split, style in (("train", "o-"), ("dev", "s-")):
        errors = [math.nan if p[f"{split}_error"] is None else p[f"{split}_error"] for p in points]  # gaps
        axes.plot(sizes, errors, style, label=f"{split} error")
    axes.set_xscale("log")
    axes.set_xlabel("training images")
    axes.set_ylabel(f"error (1 − {metric})")
    axes.set_title("learning curve")
    axes.legend()
    return to_png(figure)


def write_learning_curve(points: list[dict[str, Any]], metric: str, out: str | Path) -> None:
    """``learning_curve.json`` and ``learning_curve.png`` in ``out``, each atomically."""
    out = Path(out)
    write_json_atomic(layout.report_file(out, "learning_curve", ".json"), {"metric": metric, "points": points})
    write_bytes_atomic(layout.report_file(out, "learning_curve", ".png"), plot_learning_curve(points, metric))
