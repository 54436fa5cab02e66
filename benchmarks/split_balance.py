"""How close `split_dataset` keeps image counts and class shares to the requested fractions.

    python benchmarks/split_balance.py [--trials 300]

Random datasets of 20-80 groups (1-4 images each, 0-4 boxes over 2-5 classes, two domains),
fractions 0.7 / 0.1 / 0.1 / 0.1; deviations are reported in units of the largest group (4 images),
the granularity a group-aware split cannot go below.
"""

from __future__ import annotations

import argparse

import numpy as np

from detkit.data.records import DetectionDataset, Record
from detkit.data.splits.seeded import split_dataset

FRACTIONS = {"train": 0.7, "train_dev": 0.1, "dev": 0.1, "test": 0.1}
MAX_GROUP = 4


def random_dataset(rng: np.random.Generator) -> DetectionDataset:
    num_classes, records = int(rng.integers(2, 6)), []
    for g in range(int(rng.integers(20, 80))):
        domain = "web" if rng.random() < 0.5 else "phone"
        for k in range(int(rng.integers(1, MAX_GROUP + 1))):
            labels = rng.integers(0, num_classes, int(rng.integers(0, 5)))
            boxes = np.zeros((len(labels), 4))
            records.append(Record(len(records) + 1, f"g{g}_{k}.jpg", 8, 8, boxes, labels, group=f"g{g}", domain=domain))
    return DetectionDataset(".", [f"c{i}" for i in range(num_classes)], records)


def deviations(dataset: DetectionDataset, seed: int) -> tuple[float, list[float]]:
    splits = split_dataset(dataset, FRACTIONS, seed=seed)
    has = {r.image_id: set(r.labels.tolist()) for r in dataset.records}
    total = len(dataset.records)
    size = max(abs(len(ids) - FRACTIONS[s] * total) for s, ids in splits.items()) / MAX_GROUP
    per_class = []
    for c in range(dataset.num_classes):
        present = sum(c in labels for labels in has.values())
        if present >= 20:
            worst = max(abs(sum(c in has[i] for i in ids) - FRACTIONS[s] * present) for s, ids in splits.items())
            per_class.append(worst / MAX_GROUP)
    return size, per_class


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sizes, classes = [], []
    for trial in range(args.trials):
        size, per_class = deviations(random_dataset(rng), seed=trial)
        sizes.append(size)
        classes.extend(per_class)
    for name, values in (("image count", sizes), ("class presence", classes)):
        p50, p95, worst = np.percentile(values, [50, 95, 100])
        print(f"{name:15s} deviation in groups: median {p50:.2f}, p95 {p95:.2f}, worst {worst:.2f}")


if __name__ == "__main__":
    main()
