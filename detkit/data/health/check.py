"""Is the data sound before training: what each split holds, copies of one image within and
across splits (leaks), and how far dev and test look from train, gathered into one `Health`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detkit.data.health.duplicates import NEAR_SIMILARITY, Cluster, dataset_clusters, leaks
from detkit.data.health.profile import profile_split, small_object_warning
from detkit.data.health.shift import Shift, image_features, measure_shift
from detkit.data.splits.split_data import SplitData

TRAIN = "train"


@dataclass(frozen=True)
class Health:
    """The findings on one dataset's splits. ``clusters`` and ``leaks`` hold positions in
    ``data.dataset.records``; ``split_of`` maps a position to its split."""

    data: SplitData
    profiles: dict[str, dict[str, Any]]
    clusters: list[Cluster]
    leaks: list[tuple[Cluster, list[str]]]
    shifts: dict[str, Shift]
    unreadable: dict[str, str]  # file name: why
    features: dict[str, np.ndarray] = field(repr=False)  # per split, `IMAGE_FEATURES` of its readable images
    split_of: dict[int, str] = field(repr=False)

    def findings(self, sizes: bool = True) -> list[str]:
        """One line per problem found (none when the data looks sound); ``sizes=False`` leaves out
        the objects too small at the input (training says that itself)."""
        lines = []
        if self.unreadable:
            lines.append(f"{len(self.unreadable)} image(s) could not be read (e.g. {next(iter(self.unreadable))})")
        if self.leaks:
            copied = {name: len(self.images_with_copies_in(TRAIN, name)) for name in self.data.split_names}
            counts = ", ".join(f"{name} {count}" for name, count in copied.items() if name != TRAIN and count)
            lines.append(
                f"{len(self.leaks)} cluster(s) of copies or near-identical images span splits (images with one in "
                f"train: {counts or 'none'}): those splits' scores are inflated; data.dedupe=group keeps them together"
            )
        lines += [shift.summary() for shift in self.shifts.values() if shift.differs]
        train_profile = self.profiles.get(TRAIN)
        if sizes and train_profile and (warning := small_object_warning(train_profile)):
            lines.append(f"train: {warning}")
        lines += [f"{name}: empty split" for name, profile in self.profiles.items() if not profile["images"]]
        return lines

    def images_with_copies_in(self, source: str, split: str) -> list[int]:
        """The image ids of ``split`` that have a copy in ``source``."""
        records = self.data.dataset.records
        found = []
        for cluster, splits in self.leaks:
            if source in splits and split in splits:
                found += [records[m].image_id for m in cluster.members if self.split_of.get(m) == split]
        return sorted(found)

    def to_json(self) -> dict[str, Any]:
        records = self.data.dataset.records
        leaked = {cluster for cluster, _ in self.leaks}

        def described(cluster: Cluster) -> dict[str, Any]:
            members = [
                {"image_id": records[m].image_id, "file_name": records[m].file_name, "split": self.split_of.get(m)}
                for m in cluster.members
            ]
            return {"kinds": sorted(cluster.kinds), "least_similarity": round(cluster.similarity, 3), "images": members}

        return {
            "splits": self.profiles,
            "duplicates": {
                "clusters": len(self.clusters),
                "images_in_clusters": sum(len(c.members) for c in self.clusters),
                "leaks": [described(cluster) | {"splits": splits} for cluster, splits in self.leaks],
                "within_splits": [described(c) for c in self.clusters if c not in leaked],
            },
            "shift": {
                name: {"images": s.images, "auc": s.auc, "differs": s.differs, "tests": s.tests, "summary": s.summary()}
                for name, s in self.shifts.items()
            },
            "unreadable": self.unreadable,
            "findings": self.findings(),
        }


def check_health(
    data: SplitData, image_size: int, keep_aspect_ratio: bool, min_similarity: float = NEAR_SIMILARITY, seed: int = 0
) -> Health:
    """`Health` of ``data``'s splits, objects sized at an ``image_size`` model input."""
    dataset = data.dataset
    records = dataset.records
    position = {r.image_id: k for k, r in enumerate(records)}
    split_of = {position[i]: name for name, ids in data.split_ids.items() for i in ids}
    found, clusters = dataset_clusters(dataset, min_similarity)
    unreadable = {records[k].file_name: s.error for k, s in enumerate(found) if s.error}
    profiles = {name: profile_split(data.subset(name), image_size, keep_aspect_ratio) for name in data.split_names}
    sides = {}
    for name, ids in data.split_ids.items():
        readable = data.dataset.subset([i for i in ids if not found[position[i]].error]).records
        features = image_features(readable, [found[position[r.image_id]].features for r in readable])
        sides[name] = (features, [r.group for r in readable])
    shifts = _shifts(sides, seed)
    features = {name: features for name, (features, _) in sides.items()}
    return Health(data, profiles, clusters, leaks(clusters, split_of), shifts, unreadable, features, split_of)


def _shifts(sides: dict[str, tuple[np.ndarray, list[str]]], seed: int) -> dict[str, Shift]:
    """The `Shift` of each split from train (none without a train split or images in it)."""
    if TRAIN not in sides or not len(sides[TRAIN][0]):
        return {}
    train_features, train_groups = sides[TRAIN]
    return {
        name: measure_shift(name, train_features, features, train_groups, groups, seed)
        for name, (features, groups) in sides.items()
        if name != TRAIN and len(features)
    }


def dev_without_train_copies(health: Health) -> list[int]:
    """The dev image ids with no copy in train (to score the dev metric without its leaks)."""
    copied = set(health.images_with_copies_in(TRAIN, "dev"))
    return [i for i in health.data.split_ids.get("dev", []) if i not in copied]
