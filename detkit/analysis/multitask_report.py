"""The joint-versus-per-class comparison: per-class AP both ways and what each approach costs.

Inputs are numbers already measured (COCO metrics from the one evaluator, seconds, parameter
counts); this module only arranges them into ``comparison.json``, ``comparison.md`` and
``comparison.png``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from detkit.analysis.figures import subplots, to_png
from detkit.files import write_report
from detkit.markdown import markdown_table
from detkit.runs import layout


@dataclass
class ModelCost:
    """What one trained model cost: its parameters, the seconds and optimiser steps of fitting,
    and the seconds its forward passes took over the evaluated split."""

    parameters: int
    train_seconds: float
    steps: int
    inference_seconds: float


def build_comparison(
    class_names: list[str],
    joint_metrics: dict[str, float],
    per_class_metrics: dict[str, float],
    joint_cost: ModelCost,
    per_class_costs: dict[str, ModelCost],
    split: str,
    num_images: int,
) -> dict[str, Any]:
    """The comparison as a json-ready dict. Metrics are `evaluate_coco` outputs of the joint
    detector and of the per-class detectors' merged predictions, on the same ground truth."""
    keys = [f.name for f in fields(ModelCost)]
    total = ModelCost(**{key: sum(getattr(cost, key) for cost in per_class_costs.values()) for key in keys})
    return {
        "split": split,
        "images": num_images,
        "metric": "COCO AP at IoU .50:.95 (mean: mAP over the classes with ground truth)",
        "classes": {
            name: {"joint_ap": joint_metrics[f"AP/{name}"], "per_class_ap": per_class_metrics[f"AP/{name}"]}
            for name in class_names
        },
        "mean": {
            "joint_ap": joint_metrics["mAP"],
            "per_class_ap": per_class_metrics["mAP"],
            "joint_ap50": joint_metrics["mAP50"],
            "per_class_ap50": per_class_metrics["mAP50"],
        },
        "joint": {"models": 1, **asdict(joint_cost)},
        "per_class": {
            "models": len(per_class_costs),
            **asdict(total),
            "runs": {k: asdict(c) for k, c in per_class_costs.items()},
        },
        "ratios_per_class_to_joint": {key: _ratio(getattr(total, key), getattr(joint_cost, key)) for key in keys},
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def render_comparison(comparison: dict[str, Any]) -> str:
    """The comparison as a markdown report."""
    mean, joint, per_class = comparison["mean"], comparison["joint"], comparison["per_class"]
    lines = [
        f"# One detector for all classes vs one detector per class ({comparison['split']}, "
        f"{comparison['images']} images)",
        "",
        f"Metric: {comparison['metric']}; per-class detectors are scored on their merged predictions.",
        "",
    ]
    classes = [
        *(
            [name, _ap(row["joint_ap"]), _ap(row["per_class_ap"]), _delta(row)]
            for name, row in comparison["classes"].items()
        ),
        ["**mean (mAP)**", f"**{_ap(mean['joint_ap'])}**", f"**{_ap(mean['per_class_ap'])}**", _delta(mean)],
        ["mAP50", _ap(mean["joint_ap50"]), _ap(mean["per_class_ap50"]), ""],
    ]
    lines += markdown_table(["class", "joint AP", "per-class AP", "per-class − joint"], classes, "lrrr")
    images = max(1, comparison["images"])
    costs: list[list[object]] = [["models", 1, per_class["models"], ""]]
    rows = (
        ("parameters", "parameters", "{:,.0f}"),
        ("training time (s)", "train_seconds", "{:.1f}"),
        ("optimiser steps", "steps", "{:,.0f}"),
        ("inference, all classes (s)", "inference_seconds", "{:.2f}"),
    )
    ratios = comparison["ratios_per_class_to_joint"]
    for label, key, fmt in rows:
        ratio = "" if ratios[key] is None else f"{ratios[key]:.2f}×"
        costs.append([label, fmt.format(joint[key]), fmt.format(per_class[key]), ratio])
    per_image = (1000 * joint["inference_seconds"] / images, 1000 * per_class["inference_seconds"] / images)
    costs.append(["inference per image (ms)", f"{per_image[0]:.1f}", f"{per_image[1]:.1f}", ""])
    lines += ["", *markdown_table(["cost", "joint", "per-class", "ratio"], costs, "lrrr")]
    lines += ["", _verdict(comparison), ""]
    return "\n".join(lines)


def _ap(value: float) -> str:
    return "n/a" if value < 0 else f"{value:.3f}"


def _delta(row: dict[str, float]) -> str:
    if row["joint_ap"] < 0 or row["per_class_ap"] < 0:
        return ""
    return f"{row['per_class_ap'] - row['joint_ap']:+.3f}"


def _verdict(comparison: dict[str, Any]) -> str:
    mean = comparison["mean"]
    gap = mean["joint_ap"] - mean["per_class_ap"]
    ratio = comparison["ratios_per_class_to_joint"]["inference_seconds"]
    better = "the joint detector" if gap >= 0 else "the per-class detectors"
    cost = f"; per-class inference takes {ratio:.1f}× the joint model's time" if ratio else ""
    return f"Mean AP favours {better} by {abs(gap):.3f}{cost}."


def plot_comparison(comparison: dict[str, Any]) -> bytes:
    """A PNG: per-class AP both ways, and the cost ratios per-class / joint."""
    names = [*comparison["classes"], "mean"]
    rows = [*comparison["classes"].values(), comparison["mean"]]
    figure, (left, right) = subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    positions = range(len(names))
    left.bar([p - 0.2 for p in positions], [max(r["joint_ap"], 0) for r in rows], 0.4, label="joint")
    left.bar([p + 0.2 for p in positions], [max(r["per_class_ap"], 0) for r in rows], 0.4, label="per-class")
    left.set_xticks(list(positions), names)
    left.set_ylabel("AP (IoU .50:.95)")
    left.set_ylim(0, 1)
    left.legend()
    left.set_title(f"AP on {comparison['split']}")
    ratios = {k: v for k, v in comparison["ratios_per_class_to_joint"].items() if v is not None}
    right.bar(list(ratios), list(ratios.values()), color="grey")
    right.axhline(1.0, color="black", linewidth=0.8)
    right.set_title("cost, per-class / joint")
    right.tick_params(axis="x", labelrotation=30)
    return to_png(figure)


def write_comparison(comparison: dict[str, Any], out: str | Path) -> None:
    """``comparison.json``, ``comparison.md`` and ``comparison.png`` in ``out``, each atomically."""
    write_report(out, layout.REPORTS.comparison, comparison, render_comparison(comparison), plot_comparison(comparison))
