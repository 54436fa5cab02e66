"""Which unlabelled images to label next: acquisition functions over a detector's outputs.

- ``uncertainty``: how unsure the detector is about an image: the mean binary entropy of the
  boxes a person would be shown (scoring at least `SHOWN`: a box at 0.5 is a coin toss, one at
  0.95 decided), plus the doubt about its best box (1 - its score; 1 when it finds nothing).
  The many boxes below `SHOWN` are left out: every image has them, and summed they would rank
  images by their clutter.
- ``diversity``: k-centre greedy (Sener & Savarese, "Active Learning for Convolutional Neural
  Networks: A Core-Set Approach", 2018) on the images' pooled backbone features: each pick is
  the image farthest from everything picked (and already labelled), so a batch never holds
  fifty frames of one scene.
- ``hybrid``: k-centre greedy weighted by uncertainty: each pick the image with the largest
  product of its (scaled) uncertainty and its distance to everything picked or labelled, so an
  unsure image is taken once, not with its fifty near copies.
- ``random``: the baseline every strategy is measured against.

Written here rather than taken from a library: the active-learning packages (modAL,
baal, ALiPy) rank classifiers' probability vectors and take a scikit-learn or PyTorch model of
their own; a detector's per-box scores and a few lines of numpy do not need one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detkit.exceptions import ConfigError

STRATEGIES = ("uncertainty", "diversity", "hybrid", "random")
FROM_LABELLED = ("diversity", "hybrid")  # the strategies that measure distance to the labelled images
SHOWN = 0.3  # the boxes that count: those tools/label_next.py draws and pre-labels (its prelabel_threshold)
HYBRID_FLOOR = 0.1  # hybrid: an image the detector is sure of still weighs this much (distance alone then decides)


def uncertainty(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Per image: the mean binary entropy (bits) of its detections' ``scores`` at or above
    `SHOWN` (0 without any), plus 1 minus its top score (1 without detections)."""
    values = []
    for image_scores in scores:
        s = np.clip(np.asarray(image_scores, dtype=np.float64), 1e-6, 1 - 1e-6)
        top = float(s.max()) if len(s) else 0.0
        shown = s[s >= SHOWN]
        entropy = -(shown * np.log2(shown) + (1 - shown) * np.log2(1 - shown))
        values.append((float(entropy.mean()) if len(shown) else 0.0) + 1.0 - top)
    return np.array(values, dtype=np.float64)


def k_center_greedy(
    features: np.ndarray, budget: int, labelled: np.ndarray | None = None, weights: np.ndarray | None = None
) -> list[int]:
    """``budget`` rows of ``features`` ``[N, D]``, each the farthest (Euclidean; times its
    ``weights``, when given) from the rows picked before it and from ``labelled`` ``[M, D]``
    (without it, from the features' mean, which stands for what the detector has seen)."""
    features = np.asarray(features, dtype=np.float64)
    if labelled is not None and len(labelled):
        nearest = _min_distances(features, np.asarray(labelled, dtype=np.float64))
    else:
        nearest = np.linalg.norm(features - features.mean(axis=0), axis=1)
    weights = np.ones(len(features)) if weights is None else np.asarray(weights, dtype=np.float64)
    picked: list[int] = []
    for _ in range(min(budget, len(features))):
        gains = weights * nearest
        gains[picked] = -1.0
        choice = int(np.argmax(gains))
        picked.append(choice)
        nearest = np.minimum(nearest, np.linalg.norm(features - features[choice], axis=1))
    return picked


def _min_distances(features: np.ndarray, others: np.ndarray, block: int = 1024) -> np.ndarray:
    """Each row's distance to its nearest row of ``others``."""
    nearest = np.full(len(features), np.inf)
    for start in range(0, len(others), block):
        part = others[start : start + block]
        squared = (features**2).sum(1)[:, None] - 2 * features @ part.T + (part**2).sum(1)[None, :]
        nearest = np.minimum(nearest, np.sqrt(np.clip(squared, 0, None)).min(axis=1))
    return nearest


def select(
    strategy: str,
    budget: int,
    scores: Sequence[np.ndarray],
    features: np.ndarray,
    labelled: np.ndarray | None = None,
    seed: int = 0,
) -> list[int]:
    """The positions of the ``budget`` images to label next, in the order to label them."""
    count = len(scores)
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy={strategy!r}; choose one of {list(STRATEGIES)}")
    budget = min(budget, count)
    if strategy == "random":
        return [int(i) for i in np.random.default_rng(seed).permutation(count)[:budget]]
    unsure = uncertainty(scores)
    if strategy == "uncertainty":
        return [int(i) for i in np.argsort(-unsure, kind="stable")[:budget]]
    if strategy == "diversity":
        return k_center_greedy(features, budget, labelled)
    scaled = unsure / unsure.max() if unsure.max() > 0 else np.zeros_like(unsure)
    return k_center_greedy(features, budget, labelled, HYBRID_FLOOR + (1 - HYBRID_FLOOR) * scaled)
