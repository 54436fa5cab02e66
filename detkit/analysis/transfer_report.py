"""Fine-tuned versus from scratch on the same data and step budget: the table and the curves.

Inputs are numbers already measured (each run's metrics from the one evaluator, its dev mAP
after every epoch as logged to TensorBoard, its steps and seconds); this module arranges
them into ``comparison.json``, ``comparison.md`` and ``comparison.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detkit.analysis.figures import subplots, to_png
from detkit.files import write_report
from detkit.markdown import markdown_table
from detkit.runs import layout

CURVE_METRIC = "dev/mAP"


def build_transfer_comparison(
    runs: dict[str, dict[str, Any]], init_checkpoint: str, carried_classes: list[str], class_names: list[str]
) -> dict[str, Any]:
    """The comparison as a json-ready dict. ``runs`` maps a run's name ("finetuned", "scratch")
    to ``metrics`` (per split, best checkpoint), ``curve`` ([step, dev mAP] per epoch),
    ``steps``, ``train_seconds`` and ``run_dir``."""
    finetuned, scratch = runs["finetuned"]["metrics"]["dev"], runs["scratch"]["metrics"]["dev"]
    return {
        "init_checkpoint": init_checkpoint,
        "classes": class_names,
        "carried_classes": carried_classes,
        "runs": runs,
        "dev_gain": {key: finetuned[key] - scratch[key] for key in ("mAP", "mAP50") if key in finetuned},
    }


def render_transfer(comparison: dict[str, Any]) -> str:
    """The comparison as markdown: final dev metrics side by side, then dev mAP per epoch."""
    runs = comparison["runs"]
    new = [c for c in comparison["classes"] if c not in comparison["carried_classes"]]
    lines = [
        "# Transfer: fine-tuned vs from scratch",
        "",
        f"Initial weights: `{comparison['init_checkpoint']}`; class rows carried over: "
        f"{', '.join(comparison['carried_classes']) or 'none'}; new: {', '.join(new) or 'none'}.",
        "",
    ]
    rows = []
    for name, run in runs.items():
        dev = run["metrics"]["dev"]
        rows.append([name, f"{dev['mAP']:.3f}", f"{dev['mAP50']:.3f}", run["steps"], f"{run['train_seconds']:.0f}"])
    lines += markdown_table(["run", "dev mAP", "dev mAP50", "steps", "train s"], rows, "lrrrr")
    gain = comparison["dev_gain"]
    lines += ["", f"Fine-tuning gains {gain['mAP']:+.3f} dev mAP ({gain['mAP50']:+.3f} mAP50) at the same steps.", ""]
    curves = [run["curve"] for run in runs.values()]
    rows = [
        [epoch, points[0][0], *(f"{value:.3f}" for _, value in points)]
        for epoch, points in enumerate(zip(*curves), start=1)
    ]
    lines += markdown_table(["epoch", "step", *(f"{name} dev mAP" for name in runs)], rows, "r" * (len(runs) + 2))
    return "\n".join(lines) + "\n"


def plot_transfer(comparison: dict[str, Any]) -> bytes:
    figure, axis = subplots(figsize=(6, 4))
    for name, run in comparison["runs"].items():
        steps, values = zip(*run["curve"]) if run["curve"] else ((), ())
        axis.plot(steps, values, marker="o", label=name)
    axis.set_xlabel("optimiser step")
    axis.set_ylabel(CURVE_METRIC)
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend()
    return to_png(figure)


def write_transfer(comparison: dict[str, Any], out: str | Path) -> None:
    """``comparison.json``, ``comparison.md`` and ``comparison.png`` in ``out``, each atomically."""
    write_report(out, layout.REPORTS.comparison, comparison, render_transfer(comparison), plot_transfer(comparison))
