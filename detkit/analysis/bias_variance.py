"""Bias / variance / data-mismatch diagnosis: errors side by side, the gaps between them, the
largest gap and the next steps that usually close it.

Errors run human -> train -> train_dev -> dev -> test; each gap is the later error minus the
earlier one. Every error carries bootstrap samples over its images; a gap's interval comes from
the differences of the two errors' samples (their images are disjoint, so the draws are
independent), and a gap whose interval reaches zero is reported as within the noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from detkit.evaluation.bootstrap import percentile_interval

ERROR_NAMES = ("human", "train", "train_dev", "dev", "test")
GAPS = {
    "avoidable_bias": ("human", "train"),
    "variance": ("train", "train_dev"),
    "data_mismatch": ("train_dev", "dev"),
    "dev_overfitting": ("dev", "test"),
}
NEXT_STEPS = {
    "avoidable_bias": [
        "a bigger model: a larger backbone or input size (model=..., model.image_size=...)",
        "train longer (trainer.max_epochs=...)",
        "a better optimiser or schedule (optimizer=adamw, learning rate, warm-up)",
        "less regularisation (lower optimizer.weight_decay, lighter data.module.augment)",
    ],
    "variance": [
        "more training data (tools/diagnose.py learning_curve=[...] shows whether it helps)",
        "more augmentation (data.module.augment)",
        "more regularisation (optimizer.weight_decay)",
        "early stopping (the checkpoint best on dev is the one kept; fewer epochs)",
    ],
    "data_mismatch": [
        "error analysis of dev against train_dev: what do dev images have that training images lack?",
        "collect training data like dev (with split.dev_test_from, raise split.target_in_train)",
        "synthesise data like dev or augment towards it (colour, blur, noise, scale)",
    ],
    "dev_overfitting": [
        "a bigger dev set (split.fractions)",
        "fewer decisions tuned on dev; keep test untouched until the end",
    ],
}


@dataclass
class ErrorEstimate:
    """An error (1 - metric) over ``images`` images, with its bootstrap ``samples``."""

    value: float
    images: int
    samples: np.ndarray = field(repr=False)

    def interval(self, confidence: float) -> tuple[float, float]:
        return percentile_interval(self.samples, confidence)


def error_of(metric: float) -> float | None:
    """The error ``1 - metric`` of a COCO metric, None where COCO gives -1 (undefined: no
    ground truth that the metric covers, e.g. no large objects for ``mAP_large``)."""
    return None if metric < 0 else 1.0 - metric


def error_from_metrics(
    point: dict[str, float], samples: list[dict[str, float]], key: str, images: int
) -> ErrorEstimate:
    """The error ``1 - metrics[key]`` of a split, from its point metrics and bootstrap draws; a
    draw where the metric is undefined (-1: none of its classes drawn) is NaN, left out of intervals."""
    drawn = np.array([s[key] for s in samples], dtype=float)
    return ErrorEstimate(1.0 - point[key], images, np.where(drawn < 0, np.nan, 1.0 - drawn))


def fixed_error(value: float, samples: int) -> ErrorEstimate:
    """A known error (human level given as a number): no images behind it, no spread."""
    return ErrorEstimate(value, 0, np.full(samples, value))


@dataclass
class Gap:
    """A later error minus an earlier one, with its interval; ``bound``: the earlier error is
    unknown and taken as 0, so the gap is at most ``value``."""

    value: float
    low: float
    high: float
    beyond_noise: bool
    bound: bool = False


def measure_gap(earlier: ErrorEstimate | None, later: ErrorEstimate, confidence: float) -> Gap:
    """``later - earlier``; an unknown ``earlier`` (human level) counts as error 0."""
    bound = earlier is None
    earlier = earlier if earlier is not None else fixed_error(0.0, len(later.samples))
    low, high = percentile_interval(later.samples - earlier.samples, confidence)
    return Gap(later.value - earlier.value, low, high, beyond_noise=low > 0 or high < 0, bound=bound)


def measure_gaps(errors: dict[str, ErrorEstimate | None], confidence: float) -> dict[str, Gap | None]:
    """Every gap of `GAPS` whose later error is known (a missing split leaves its gaps None)."""
    gaps: dict[str, Gap | None] = {}
    for name, (earlier, later) in GAPS.items():
        known = errors.get(later) is not None and (earlier == "human" or errors.get(earlier) is not None)
        gaps[name] = measure_gap(errors.get(earlier), errors[later], confidence) if known else None  # type: ignore[arg-type]
    return gaps


def largest_gap(gaps: dict[str, Gap | None]) -> str | None:
    """The name of the largest known gap."""
    known = {name: gap.value for name, gap in gaps.items() if gap is not None}
    return max(known, key=known.__getitem__) if known else None


def build_diagnosis(
    metric: str,
    errors: dict[str, ErrorEstimate | None],
    per_class: dict[str, dict[str, float | None]],
    human_source: str,
    confidence: float,
) -> dict[str, Any]:
    """The diagnosis as plain data (what ``diagnosis.json`` holds).

    ``per_class``: class -> split -> error, for the worst classes; ``human_source`` says where
    the human level came from (``"config"``, a file, or ``"unknown"``).
    """
    gaps = measure_gaps(errors, confidence)
    largest = largest_gap(gaps)
    return {
        "metric": metric,
        "confidence": confidence,
        "human_source": human_source,
        "errors": {name: None if e is None else e.value for name, e in ((n, errors.get(n)) for n in ERROR_NAMES)},
        "intervals": {n: list(e.interval(confidence)) for n, e in errors.items() if e is not None},
        "images": {n: e.images for n, e in errors.items() if e is not None},
        "gaps": {name: None if gap is None else gap.value for name, gap in gaps.items()},
        "gap_details": {name: None if gap is None else asdict(gap) for name, gap in gaps.items()},
        "largest_gap": largest,
        "largest_gap_beyond_noise": bool(largest and gaps[largest].beyond_noise),  # type: ignore[union-attr]
        "next_steps": NEXT_STEPS.get(largest, []) if largest else [],
        "per_class": per_class,
    }
