"""How much a COCO metric moves when the images behind it are drawn again: a bootstrap over images.

A resample of the images with replacement pools the same per-image matching results with
repeats, so `ImageMatches` matches once and scores each draw without matching again. Scoring
each resample from scratch gives the same numbers but repeats the matching (measured 0.17 s per
80-image sample here, hours for a large dev set at 200 samples); no library offers image
weights in COCOeval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detkit.evaluation.image_matches import ImageMatches
from detkit.progress import progress


def bootstrap_metrics(matches: ImageMatches, samples: int, seed: int = 0) -> list[dict[str, float]]:
    """The metrics of ``samples`` seeded draws, with replacement, of as many images as there are."""
    rng = np.random.default_rng(seed)
    draws = progress(range(samples), "bootstrap draws", unit="draws")
    return [matches.metrics(rng.integers(matches.num_images, size=matches.num_images)) for _ in draws]


def percentile_interval(values: Sequence[float], confidence: float) -> tuple[float, float]:
    """The central ``confidence`` interval of bootstrap ``values`` (percentile method; NaN
    values, draws where the metric was undefined, are left out)."""
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.nanpercentile(np.asarray(values, dtype=float), [tail, 100 - tail])
    return float(low), float(high)
