"""Is run B better than run A? Runs scored on the same images, each pair's difference with a
paired bootstrap interval over those images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.tensorboard import SummaryWriter

from detkit.analysis.run_comparison import render_comparison, write_comparison
from detkit.data.splits import dataset_fingerprint
from detkit.evaluation.bootstrap import ImageMatches, percentile_interval
from detkit.exceptions import ConfigError
from detkit.training.datamodule import DetectionDataModule
from detkit.training.run_dir import RunDir
from detkit.workflows.prediction import device_trainer
from detkit.workflows.split_scoring import match_split


@dataclass(frozen=True)
class CompareOptions:
    """What ``tools/compare.py`` takes (``configs/compare.yaml`` states each default)."""

    runs: list[str]
    split: str
    metric: str
    samples: int
    confidence: float
    seed: int
    per_class: int
    device: str
    out: str


def compare_runs(cfg: CompareOptions) -> dict[str, Any]:
    """Score every run's best checkpoint on the same images of ``cfg.split`` (refused when the
    runs' splits hold different images), bootstrap the images once and score every run on the
    same draws: each run's metric with its interval, and each pair's difference with its paired
    interval (and the unpaired one, for contrast). Writes ``comparison.{json,md,png}`` and the
    report as TensorBoard text into ``cfg.out``; returns the comparison."""
    if len(cfg.runs) < 2:
        raise ConfigError("give runs=[<run>,<run>,...]: at least two run directories to compare")
    if not (cfg.samples >= 1 and 0.0 < cfg.confidence < 1.0):
        raise ConfigError(f"need samples >= 1 and 0 < confidence < 1, got {cfg.samples} and {cfg.confidence}")
    opened = [RunDir.open(run) for run in cfg.runs]
    names = run_names(opened)
    datamodules = [run.datamodule() for run in opened]
    image_ids = same_images(datamodules, names, cfg.split)
    trainer = device_trainer(cfg.device)
    matches = [
        match_split(run.detector(), datamodule, cfg.split, image_ids, trainer, run.partial_labels)
        for run, datamodule in zip(opened, datamodules)
    ]
    comparison = paired_comparison(matches, names, cfg.metric, cfg.samples, cfg.confidence, cfg.seed, cfg.per_class)
    comparison.update(split=cfg.split, images=len(image_ids), run_dirs={n: str(r.path) for n, r in zip(names, opened)})
    out = Path(cfg.out)
    write_comparison(comparison, out)
    with SummaryWriter(log_dir=str(out / "tensorboard")) as writer:
        writer.add_text("comparison/report", render_comparison(comparison), 0)
    return comparison


def run_names(runs: list[RunDir]) -> list[str]:
    """Short names for the runs: their folder names, with their parents' where two would clash."""
    names = [run.path.name for run in runs]
    if len(set(names)) < len(names):
        names = [f"{run.path.parent.name}/{run.path.name}" for run in runs]
    if len(set(names)) < len(names):
        names = [str(run.path) for run in runs]
    if len(set(names)) < len(names):
        raise ConfigError(f"runs {sorted(names)} name one run twice; give each run once")
    return names


def same_images(datamodules: list[DetectionDataModule], names: list[str], split: str) -> list[int]:
    """The image ids of ``split``, the same images with the same labels in every run (the
    split's fingerprint: ids, file names, boxes, labels); else one error naming the runs that
    differ from the first and how."""
    first: tuple[list[int], str] | None = None
    differ = []
    for name, datamodule in zip(names, datamodules):
        if split not in datamodule.split_names:
            raise ConfigError(f"run {name} has no split {split!r} (its splits: {datamodule.split_names})")
        subset = datamodule.subset(split)
        mine = ([r.image_id for r in subset.records], dataset_fingerprint(subset))
        if first is None:
            first = mine
        elif mine[1] != first[1]:
            only_here, only_first = len(set(mine[0]) - set(first[0])), len(set(first[0]) - set(mine[0]))
            how = f"{only_here} image(s) not in {names[0]}'s, {only_first} of its missing"
            differ.append(f"{name} ({how if only_here or only_first else 'the same image ids, other files or labels'})")
    if differ:
        raise ConfigError(
            f"the runs' {split} splits hold different images: {', '.join(differ)}; compare runs trained on the "
            "same data and split (the same seed and data settings)"
        )
    return first[0]


def paired_comparison(
    matches: list[ImageMatches],
    names: list[str],
    metric: str,
    samples: int,
    confidence: float,
    seed: int,
    per_class: int,
) -> dict[str, Any]:
    """Each run's ``metric`` with its interval, and for each pair (every run against the first,
    and each later pair) the difference with a paired interval (the same image draws for both
    runs) and an unpaired one (independent draws); per class, the classes whose difference is
    largest between the first run and each other."""
    points = [m.metrics() for m in matches]
    if metric not in points[0]:
        raise ConfigError(f"metric={metric!r} is not measured; choose one of {sorted(points[0])}")
    count = matches[0].num_images
    rng = np.random.default_rng(seed)
    draws = [rng.integers(count, size=count) for _ in range(samples)]
    drawn = [[m.metrics(draw) for draw in draws] for m in matches]  # the same draws for every run
    independent = np.random.default_rng(seed + 1)
    redrawn = [[m.metrics(independent.integers(count, size=count)) for _ in range(samples)] for m in matches]
    runs = {
        name: {
            "value": point[metric],
            "interval": percentile_interval([_defined(d[metric]) for d in draws_of], confidence),
        }
        for name, point, draws_of in zip(names, points, drawn)
    }
    pairs = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            pair = _difference(points, drawn, a, b, metric, confidence)
            unpaired = [_defined(db[metric]) - _defined(da[metric]) for da, db in zip(redrawn[a], redrawn[b])]
            pair["unpaired_interval"] = percentile_interval(unpaired, confidence)
            pairs.append({"a": names[a], "b": names[b], **pair})
    classes = _class_differences(points, drawn, names, metric, confidence, per_class)
    return {
        "metric": metric,
        "confidence": confidence,
        "samples": samples,
        "runs": runs,
        "pairs": pairs,
        "classes": classes,
    }


def _difference(
    points: list[dict[str, float]],
    drawn: list[list[dict[str, float]]],
    a: int,
    b: int,
    key: str,
    confidence: float,
) -> dict[str, Any]:
    """``b - a`` in ``key``: the point difference, and its paired interval (the same draws for
    both runs) and whether that holds 0."""
    paired = [_defined(db[key]) - _defined(da[key]) for da, db in zip(drawn[a], drawn[b])]
    low, high = percentile_interval(paired, confidence)
    return {
        "difference": points[b][key] - points[a][key],
        "interval": (low, high),
        "beyond_noise": bool(low > 0 or high < 0),
    }


def _defined(value: float) -> float:
    """A metric, NaN where a draw left it undefined (-1: no ground truth of its classes drawn)."""
    return value if value >= 0 else float("nan")


def _class_differences(
    points: list[dict[str, float]],
    drawn: list[list[dict[str, float]]],
    names: list[str],
    metric: str,
    confidence: float,
    count: int,
) -> list[dict[str, Any]]:
    """For each run after the first, the ``count`` classes whose AP (or AP50 for mAP50) differs
    most from the first run's, with paired intervals; none for a metric without a per-class form."""
    prefix = {"mAP": "AP/", "mAP50": "AP50/"}.get(metric)
    if prefix is None or count < 1:
        return []
    keys = [k for k in points[0] if k.startswith(prefix) and points[0][k] >= 0]
    rows = []
    for b in range(1, len(names)):
        ranked = sorted(keys, key=lambda k: abs(points[b][k] - points[0][k]), reverse=True)[:count]
        for key in ranked:
            pair = _difference(points, drawn, 0, b, key, confidence)
            rows.append({"a": names[0], "b": names[b], "class": key.removeprefix(prefix), **pair})
    return rows
