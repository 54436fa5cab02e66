"""How far a split is from train on what its images look like: a two-sample test per image
statistic, and how well a classifier tells the split's images from train's (its
cross-validated ROC AUC: 0.5 when they come from one distribution, near 1 when any image
gives its split away, so that data mismatch is built in before the first epoch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import ks_2samp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedGroupKFold, cross_val_score

from detkit.data.images.signatures import FEATURES
from detkit.data.records import Record

IMAGE_FEATURES = (*FEATURES, "width", "height", "boxes", "box_size")  # box_size: median sqrt(box / image area)
FOLDS = 5
MAX_PER_SIDE = 5000  # images of each side the classifier sees at most (seeded sample): AUC settles long before
HIGH_AUC = 0.75  # above this, the split is said to differ from train


def image_features(records: Sequence[Record], statistics: Sequence[tuple[float, ...]]) -> np.ndarray:
    """``[N, len(IMAGE_FEATURES)]``: each image's pixel ``statistics`` (`FEATURES`), its size
    and its boxes' count and median relative size (0 without boxes)."""
    rows = []
    for record, values in zip(records, statistics):
        sides = np.sqrt(np.clip(record.areas, 0, None) / max(record.width * record.height, 1))
        box_size = float(np.median(sides)) if len(sides) else 0.0
        rows.append((*values, record.width, record.height, len(record.boxes), box_size))
    return np.array(rows, dtype=np.float64).reshape(-1, len(IMAGE_FEATURES))


@dataclass(frozen=True)
class Shift:
    """How ``split`` differs from train: per feature the Kolmogorov-Smirnov statistic and p-value
    (`ks_2samp`), and the domain classifier's ROC AUC over `FOLDS` group-aware folds
    (``auc`` None when either side has too few images or groups to cross-validate)."""

    split: str
    images: int
    tests: dict[str, tuple[float, float]]
    auc: float | None

    @property
    def differs(self) -> bool:
        return self.auc is not None and self.auc >= HIGH_AUC

    def summary(self) -> str:
        """One line: the AUC in words and the features that differ most."""
        if self.auc is None:
            return f"{self.split}: too few images or groups to tell apart from train"
        ranked = sorted(self.tests.items(), key=lambda item: -item[1][0])[:3]
        named = ", ".join(f"{name} (KS {stat:.2f})" for name, (stat, _) in ranked)
        verdict = "expect data mismatch (tools/diagnose.py measures it)" if self.differs else "no sign of a shift"
        return f"{self.split} is told apart from train with AUC {self.auc:.2f}: {verdict}; most different: {named}"


def measure_shift(
    split: str,
    train: np.ndarray,
    other: np.ndarray,
    train_groups: Sequence[str],
    other_groups: Sequence[str],
    seed: int = 0,
) -> Shift:
    """`Shift` of the images with features ``other`` (groups ``other_groups``) from those of
    train. The classifier is gradient-boosted trees on the features; folds keep each group on one
    side (images of one scene in both would let it recognise the scene, not the split)."""
    tests = {}
    for k, name in enumerate(IMAGE_FEATURES):
        result = ks_2samp(train[:, k], other[:, k])
        tests[name] = (float(result.statistic), float(result.pvalue))
    return Shift(split, len(other), tests, _domain_auc(train, other, train_groups, other_groups, seed))


def _domain_auc(
    train: np.ndarray, other: np.ndarray, train_groups: Sequence[str], other_groups: Sequence[str], seed: int
) -> float | None:
    rng = np.random.default_rng(seed)
    sides = []
    for label, (features, groups) in enumerate(((train, train_groups), (other, other_groups))):
        keep = np.sort(rng.permutation(len(features))[:MAX_PER_SIDE])
        sides.append((features[keep], np.asarray(groups, dtype=object)[keep], np.full(len(keep), label)))
    if any(len(set(groups)) < FOLDS for _, groups, _ in sides):
        return None
    features, groups, labels = (np.concatenate(parts) for parts in zip(*sides))
    _, group_codes = np.unique(groups.astype(str), return_inverse=True)
    folds = StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed)
    model = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    scores = cross_val_score(model, features, labels, groups=group_codes, cv=folds, scoring="roc_auc")
    return float(np.mean(scores))
