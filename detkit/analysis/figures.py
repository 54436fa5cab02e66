"""Matplotlib figures drawn off-screen and handed back as PNG bytes (for atomic writes)."""

from __future__ import annotations

import io
from typing import Any


def subplots(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """``pyplot.subplots`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def to_png(figure: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def interval_spread(values: list[float], intervals: list[list[float]]) -> list[list[float]]:
    """Matplotlib's ``yerr`` rows (below, above) from intervals, never negative."""
    below = [max(v - low, 0.0) for v, (low, _) in zip(values, intervals)]
    above = [max(high - v, 0.0) for v, (_, high) in zip(values, intervals)]
    return [below, above]


def bars_with_intervals(
    axes: Any,
    labels: list[str],
    values: list[float],
    intervals: list[list[float]],
    color: str | list[str],
    title: str,
    around_zero: bool = False,
) -> None:
    """Bars of ``values`` with their intervals as error bars, titled, the labels turned; with
    ``around_zero`` (differences, gaps) a line at 0."""
    positions = range(len(labels))  # labels as tick labels: a label like "0" is not read as a number
    axes.bar(positions, values, yerr=interval_spread(values, intervals), capsize=4, color=color)
    axes.set_xticks(positions, labels)
    if around_zero:
        axes.axhline(0.0, color="black", linewidth=0.8)
    axes.set_title(title)
    axes.tick_params(axis="x", labelrotation=20)
