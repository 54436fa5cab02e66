"""Plain-text rendering of metrics for the terminal."""

from __future__ import annotations

HEADLINE = ("mAP", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large", "AR100")


def format_metrics_table(metrics: dict[str, dict[str, float]], columns: tuple[str, ...] = HEADLINE) -> str:
    """One row per split, one column per metric (``-`` where undefined, as pycocotools' -1)."""
    width = max([len(split) for split in metrics] + [5])
    lines = ["split".ljust(width) + "".join(f"{c:>11}" for c in columns)]
    for split, values in metrics.items():
        cells = [f"{values[c]:>11.3f}" if values.get(c, -1) >= 0 else f"{'-':>11}" for c in columns]
        lines.append(split.ljust(width) + "".join(cells))
    return "\n".join(lines)
