"""The comparison of runs as a report: ``comparison.md`` (tables), ``.json`` and ``.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detkit.analysis.figures import bars_with_intervals, subplots, to_png
from detkit.files import write_report
from detkit.markdown import markdown_table


def render_comparison(comparison: dict[str, Any]) -> str:
    """Markdown: each run's metric with its interval, each pair's paired difference and verdict,
    and the classes that differ most."""
    metric, level = comparison["metric"], round(comparison["confidence"] * 100)
    lines = [
        f"# Is it better? {metric} on {comparison['split']} ({comparison['images']} images, the same in every run)",
        "",
    ]
    runs = [[name, f"{r['value']:.3f}", _interval(r["interval"])] for name, r in comparison["runs"].items()]
    lines += [*markdown_table(["run", metric, f"{level}% interval"], runs, "lrl"), ""]
    pairs = [
        [
            f"{p['b']} − {p['a']}",
            f"{p['difference']:+.3f}",
            _interval(p["interval"], signed=True),
            _interval(p["unpaired_interval"], signed=True),
            _noise(p),
        ]
        for p in comparison["pairs"]
    ]
    header = ["difference", metric, f"paired {level}% interval", "unpaired", ""]
    lines += [*markdown_table(header, pairs, "lrlll"), ""]
    lines.append(
        "Paired: every bootstrap draw of the images scores both runs on the same images, so what the "
        "images have in common cancels; unpaired intervals (independent draws) are shown for contrast."
    )
    if comparison["classes"]:
        lines += ["", "## Classes that differ most", ""]
        rows = [
            [f"{c['b']} − {c['a']}", c["class"], f"{c['difference']:+.3f}", _interval(c["interval"], True), _noise(c)]
            for c in comparison["classes"]
        ]
        lines += markdown_table(["difference", "class", "AP", f"paired {level}% interval", ""], rows, "llrll")
    return "\n".join(lines) + "\n"


def _interval(bounds: list[float] | tuple[float, float], signed: bool = False) -> str:
    form = "{:+.3f}" if signed else "{:.3f}"
    return f"[{form.format(bounds[0])}, {form.format(bounds[1])}]"


def _noise(pair: dict[str, Any]) -> str:
    return "beyond the noise" if pair["beyond_noise"] else "within the noise"


def plot_comparison(comparison: dict[str, Any]) -> bytes:
    """A PNG: each run's metric with its interval, and each pair's difference with its paired
    interval (beyond the noise in orange)."""
    figure, (left, right) = subplots(1, 2, figsize=(11, 4))
    names = list(comparison["runs"])
    values = [comparison["runs"][n]["value"] for n in names]
    intervals = [comparison["runs"][n]["interval"] for n in names]
    bars_with_intervals(left, names, values, intervals, "steelblue", "runs")
    left.set_ylabel(f"{comparison['metric']} ({comparison['split']})")
    pairs = comparison["pairs"]
    labels = [f"{p['b']} − {p['a']}" for p in pairs]
    colours = ["darkorange" if p["beyond_noise"] else "grey" for p in pairs]
    title = "differences, paired intervals (beyond the noise in orange)"
    differences, intervals = [p["difference"] for p in pairs], [p["interval"] for p in pairs]
    bars_with_intervals(right, labels, differences, intervals, colours, title, around_zero=True)
    return to_png(figure)


def write_comparison(comparison: dict[str, Any], out: str | Path) -> None:
    """``comparison.json``, ``comparison.md`` and ``comparison.png`` in ``out``, each atomically."""
    write_report(out, "comparison", comparison, render_comparison(comparison), plot_comparison(comparison))
