"""The comparison of runs as a report: ``comparison.md`` (tables), ``.json`` and ``.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detkit.analysis.figures import bars_with_intervals, subplots, to_png
from detkit.files import write_report
from detkit.markdown import markdown_table
from detkit.runs import layout


def render_comparison(comparison: dict[str, Any]) -> str:
    """Markdown: each run's metric with its interval; with several seeds of a config, the seeds'
    spread beside the images'; each pair's difference, its intervals and verdict; and the
    classes that differ most."""
    metric, level = comparison["metric"], round(comparison["confidence"] * 100)
    lines = [
        f"# Is it better? {metric} on {comparison['split']} ({comparison['images']} images, the same in every run)",
        "",
    ]
    configs = comparison["configs"]
    grouped = any(len(c["runs"]) > 1 for c in configs.values())
    runs = [
        [name, *([r["config"], str(r["seed"])] if grouped else []), f"{r['value']:.3f}", _interval(r["interval"])]
        for name, r in comparison["runs"].items()
    ]
    header = ["run", *(["config", "seed"] if grouped else []), metric, f"{level}% interval"]
    lines += [*markdown_table(header, runs, "l" * (len(header) - 2) + "rl"), ""]
    if grouped:
        lines += ["## Seeds and images: which noise is larger", "", *_config_table(configs, metric, level), ""]
    seeded = any(p["seed_interval"] is not None for p in comparison["pairs"])
    pairs = [
        [
            f"{p['b']} − {p['a']}",
            f"{p['difference']:+.3f}",
            _interval(p["interval"], signed=True),
            *([_interval(p["seed_interval"], signed=True) if p["seed_interval"] else "-"] if seeded else []),
            _interval(p["unpaired_interval"], signed=True),
            _noise(p),
        ]
        for p in comparison["pairs"]
    ]
    header = ["difference", metric, f"paired {level}% interval", *(["with seeds"] if seeded else []), "unpaired", ""]
    if pairs:
        lines += [*markdown_table(header, pairs, "lr" + "l" * (len(header) - 2)), ""]
        lines.append(
            "Paired: every bootstrap draw of the images scores both runs on the same images, so what the "
            "images have in common cancels; unpaired intervals (independent draws) are shown for contrast."
        )
    if seeded:
        lines.append(
            "With seeds: the spread of each config's seeds added to the paired image noise (Welch); where "
            "both configs have several seeds, the verdict is this interval's."
        )
    if comparison.get("passed_over"):
        lines += [""] if lines[-1] else []
        lines.append(f"Passed over (no best checkpoint): {', '.join(comparison['passed_over'])}")
    if comparison["classes"]:
        lines += ["", "## Classes that differ most", ""]
        rows = [
            [f"{c['b']} − {c['a']}", c["class"], f"{c['difference']:+.3f}", _interval(c["interval"], True), _noise(c)]
            for c in comparison["classes"]
        ]
        lines += markdown_table(["difference", "class", "AP", f"paired {level}% interval", ""], rows, "llrll")
    return "\n".join(lines) + "\n"


def _config_table(configs: dict[str, Any], metric: str, level: int) -> list[str]:
    """Each config's mean over its seeds, the seeds' spread and the images' (a run's bootstrap
    standard deviation), and which is larger."""
    rows = []
    for name, c in configs.items():
        seeded = c["seed_std"] is not None
        rows.append(
            [
                name,
                str(len(c["runs"])),
                f"{c['mean']:.3f}",
                _interval(c["image_interval"]),
                f"{c['seed_std']:.3f}" if seeded else "-",
                _interval(c["seed_range"]) if seeded else "-",
                f"{c['image_std']:.3f}",
                c["larger_noise"] or "-",
            ]
        )
    header = ["config", "runs", f"mean {metric}", f"images {level}%", "seed std", "seed range", "image std", "larger"]
    table = markdown_table(header, rows, "lrrlrlrl")
    note = (
        "Seed std: the spread of a config's runs, which differ in their training seed alone (same data, "
        "same split, same images scored); image std: a run's bootstrap standard deviation over the images."
    )
    return [*table, "", note]


def _interval(bounds: list[float] | tuple[float, float], signed: bool = False) -> str:
    form = "{:+.3f}" if signed else "{:.3f}"
    return f"[{form.format(bounds[0])}, {form.format(bounds[1])}]"


def _noise(pair: dict[str, Any]) -> str:
    return "beyond the noise" if pair["beyond_noise"] else "within the noise"


def plot_comparison(comparison: dict[str, Any]) -> bytes:
    """A PNG: each run's metric with its interval, and each pair's difference with the interval
    its verdict used (paired; with the seeds' noise where measured), beyond the noise in orange."""
    figure, (left, right) = subplots(1, 2, figsize=(11, 4))
    names = list(comparison["runs"])
    values = [comparison["runs"][n]["value"] for n in names]
    intervals = [comparison["runs"][n]["interval"] for n in names]
    bars_with_intervals(left, names, values, intervals, "steelblue", "runs")
    left.set_ylabel(f"{comparison['metric']} ({comparison['split']})")
    pairs = comparison["pairs"]
    labels = [f"{p['b']} − {p['a']}" for p in pairs]
    colours = ["darkorange" if p["beyond_noise"] else "grey" for p in pairs]
    title = "differences and their intervals (beyond the noise in orange)"
    differences = [p["difference"] for p in pairs]
    intervals = [p["seed_interval"] or p["interval"] for p in pairs]
    bars_with_intervals(right, labels, differences, intervals, colours, title, around_zero=True)
    return to_png(figure)


def write_comparison(comparison: dict[str, Any], out: str | Path) -> None:
    """``comparison.json``, ``comparison.md`` and ``comparison.png`` in ``out``, each atomically."""
    write_report(out, layout.REPORTS.comparison, comparison, render_comparison(comparison), plot_comparison(comparison))
