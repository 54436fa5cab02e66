"""The one number ``tools/train.py`` returns to a Hydra sweeper (``objective: dev/mAP``): a metric
of one of the splits the run scores with its best checkpoint."""

from __future__ import annotations

from detkit.evaluation.coco import SUMMARY_NAMES
from detkit.exceptions import ConfigError

CLASS_PREFIXES = ("AP/", "AP50/")


def parse_objective(objective: str, splits: list[str]) -> tuple[str, str]:
    """``<split>/<metric>`` as (split, metric), refused before training unless the split is one of
    ``evaluation.splits`` and the metric one COCO evaluation reports (a class's ``AP/<class>``
    is checked once the classes are known, by `objective_value`)."""
    split, _, metric = objective.partition("/")
    if split not in splits:
        raise ConfigError(
            f"objective={objective}: {split!r} is not scored at the end of the run; give <split>/<metric> with "
            f"a split of evaluation.splits {splits} (or add it there)"
        )
    if metric not in SUMMARY_NAMES and not metric.startswith(CLASS_PREFIXES):
        raise ConfigError(
            f"objective={objective}: no metric {metric!r}; choose one of {list(SUMMARY_NAMES)}, "
            "or AP/<class>, AP50/<class>"
        )
    return split, metric


def objective_value(metrics: dict[str, dict[str, float]], objective: str) -> float:
    """The objective's value in the run's final ``metrics`` (split -> metric -> value)."""
    split, metric = parse_objective(objective, list(metrics))
    if metric not in metrics[split]:
        known = sorted(k for k in metrics[split] if k.startswith(CLASS_PREFIXES))
        raise ConfigError(f"objective={objective}: {split} has no {metric!r}; its classes' metrics: {known}")
    return float(metrics[split][metric])
