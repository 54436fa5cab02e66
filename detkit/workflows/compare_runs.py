"""Is run B better than run A? Runs scored on the same images, each pair's difference with a
paired bootstrap interval over those images; runs of one config with several seeds (a sweep)
pooled, and the seed's noise measured beside the images'."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from detkit.analysis.run_comparison import render_comparison, write_comparison
from detkit.data.splits.seeded import dataset_fingerprint
from detkit.data.splits.split_data import SplitData
from detkit.evaluation.bootstrap import percentile_interval
from detkit.evaluation.image_matches import ImageMatches
from detkit.exceptions import ConfigError
from detkit.progress import progress
from detkit.runs import layout
from detkit.runs.run_dir import RunDir
from detkit.training.loggers import ReportLog
from detkit.workflows.prediction import device_trainer
from detkit.workflows.split_scoring import match_split
from detkit.workflows.sweeps import sweep_runs

MAX_ALL_PAIRS = 4  # configs compared pairwise; beyond, each against the best


@dataclass(frozen=True)
class CompareOptions:
    """What ``tools/compare.py`` takes (``configs/compare.yaml`` states each default)."""

    runs: list[str]
    sweep: list[str] | str
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
    report as TensorBoard text into ``cfg.out``; returns the comparison. With ``cfg.sweep``, the
    runs are those of the sweep folders, grouped into configs (`sweep_runs`)."""
    if not (cfg.samples >= 1 and 0.0 < cfg.confidence < 1.0):
        raise ConfigError(f"need samples >= 1 and 0 < confidence < 1, got {cfg.samples} and {cfg.confidence}")
    sweeps = [cfg.sweep] if isinstance(cfg.sweep, str) else list(cfg.sweep)
    if sweeps and cfg.runs:
        raise ConfigError("give runs=[...] or sweep=<folder>, not both")
    if sweeps:
        found = sweep_runs(sweeps)
        opened, configs, passed_over = found.runs, found.configs, found.passed_over
    else:
        opened, configs, passed_over = [RunDir.open(run) for run in cfg.runs], None, []
    if len(opened) < 2:
        raise ConfigError("give runs=[<run>,<run>,...] or sweep=<folder>: at least two runs to compare")
    names = run_names(opened)
    image_ids = same_images([run.data for run in opened], names, cfg.split)
    trainer = device_trainer(cfg.device)
    matches = [match_split(run, run.detector(), cfg.split, image_ids, trainer) for run in opened]
    seeds = [int(run.config.seed) for run in opened]
    comparison = paired_comparison(
        matches, names, cfg.metric, cfg.samples, cfg.confidence, cfg.seed, cfg.per_class, configs, seeds
    )
    comparison.update(
        split=cfg.split,
        images=len(image_ids),
        run_dirs={n: str(r.path) for n, r in zip(names, opened)},
        passed_over=passed_over,
    )
    out = Path(cfg.out)
    write_comparison(comparison, out)
    with ReportLog.of_run(opened[0].config, out, layout.REPORTS.comparison) as log:  # the first run's loggers
        metric = comparison["metric"]
        values = {f"comparison/{name}_{metric}": run["value"] for name, run in comparison["runs"].items()}
        log.scalars({**values, **{f"comparison/{p['b']}-{p['a']}": p["difference"] for p in comparison["pairs"]}})
        log.text("comparison/report", render_comparison(comparison))
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


def same_images(data: list[SplitData], names: list[str], split: str) -> list[int]:
    """The image ids of ``split``, the same images with the same labels in every run (the
    split's fingerprint: ids, file names, boxes, labels); else one error naming the runs that
    differ from the first and how."""
    first: tuple[list[int], str] | None = None
    differ = []
    for name, splits in zip(names, data):
        if split not in splits.split_names:
            raise ConfigError(f"run {name} has no split {split!r} (its splits: {splits.split_names})")
        subset = splits.subset(split)
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
            "same data and split (the same data_seed and data settings)"
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
    configs: list[str] | None = None,
    seeds: list[int] | None = None,
) -> dict[str, Any]:
    """Each run's ``metric`` with its interval; each config's (``configs[i]`` is run i's, each run
    its own by default) mean over its runs, with the spread across its seeds beside the images'
    noise; and for pairs of configs (all pairs up to `MAX_ALL_PAIRS` configs, else each against
    the best) the difference of their means with a paired interval (the same image draws for
    every run), an unpaired one (independent draws) and, where both configs have several seeds,
    an interval that adds the seeds' noise. Per class, the classes whose difference is largest
    between the first config (the best beyond `MAX_ALL_PAIRS`) and the others."""
    points = [m.metrics() for m in matches]
    if metric not in points[0]:
        raise ConfigError(f"metric={metric!r} is not measured; choose one of {sorted(points[0])}")
    configs = configs or names
    members: dict[str, list[int]] = {}
    for index, config in enumerate(configs):
        members.setdefault(config, []).append(index)
    count = matches[0].num_images
    rng = np.random.default_rng(seed)
    draws = [rng.integers(count, size=count) for _ in range(samples)]
    counted = progress(matches, "bootstrap draws of each run", unit="runs")
    drawn = [[m.metrics(draw) for draw in draws] for m in counted]  # the same draws for every run
    independent = np.random.default_rng(seed + 1)
    counted = progress(matches, "independent draws of each run", unit="runs")
    redrawn = [[m.metrics(independent.integers(count, size=count)) for _ in range(samples)] for m in counted]
    runs = {
        name: {
            "value": point[metric],
            "interval": percentile_interval(_draw_values(drawn, [i], metric), confidence),
            "config": config,
            "seed": None if seeds is None else seeds[i],
        }
        for i, (name, point, config) in enumerate(zip(names, points, configs))
    }
    summaries = {
        config: _config_summary(indices, names, points, drawn, metric, confidence, seeds)
        for config, indices in members.items()
    }
    order = list(members)
    if len(order) <= MAX_ALL_PAIRS:
        pairs_of = [(a, b) for i, a in enumerate(order) for b in order[i + 1 :]]
        class_pairs = [(order[0], b) for b in order[1:]]
    else:
        ranked = sorted(order, key=lambda c: summaries[c]["mean"], reverse=True)
        pairs_of = [(other, ranked[0]) for other in ranked[1:]]
        class_pairs = [(ranked[1], ranked[0])]
    pairs = []
    for a, b in pairs_of:
        pair = _difference(points, drawn, members[a], members[b], metric, confidence)
        unpaired = _draw_values(redrawn, members[b], metric) - _draw_values(redrawn, members[a], metric)
        pair["unpaired_interval"] = percentile_interval(unpaired, confidence)
        pair["seed_interval"] = _with_seed_noise(pair, points, members[a], members[b], metric, confidence)
        if pair["seed_interval"] is not None:
            pair["beyond_noise"] = _excludes_zero(pair["seed_interval"])
        pairs.append({"a": a, "b": b, **pair})
    classes = _class_differences(points, drawn, members, class_pairs, metric, confidence, per_class)
    return {
        "metric": metric,
        "confidence": confidence,
        "samples": samples,
        "runs": runs,
        "configs": summaries,
        "pairs": pairs,
        "classes": classes,
    }


def _draw_values(drawn: list[list[dict[str, float]]], runs: list[int], key: str) -> np.ndarray:
    """``key`` in each draw, averaged over ``runs`` (NaN where a draw leaves it undefined, which
    the images decide: the same draw for every run)."""
    return np.mean([[_defined(d[key]) for d in drawn[run]] for run in runs], axis=0)


def _config_summary(
    indices: list[int],
    names: list[str],
    points: list[dict[str, float]],
    drawn: list[list[dict[str, float]]],
    metric: str,
    confidence: float,
    seeds: list[int] | None,
) -> dict[str, Any]:
    """One config's runs: their mean, the interval of that mean over image draws, the images'
    noise (a run's bootstrap standard deviation, averaged over its runs) and, with two runs or
    more, the seeds' noise (their standard deviation, range) and which of the two is larger."""
    values = [points[i][metric] for i in indices]
    image_std = float(np.mean([np.nanstd(_draw_values(drawn, [i], metric), ddof=1) for i in indices]))
    summary: dict[str, Any] = {
        "runs": [names[i] for i in indices],
        "seeds": None if seeds is None else [seeds[i] for i in indices],
        "mean": float(np.mean(values)),
        "image_interval": percentile_interval(_draw_values(drawn, indices, metric), confidence),
        "image_std": image_std,
        "seed_std": None,
        "seed_range": None,
        "larger_noise": None,
    }
    if len(values) > 1:
        seed_std = float(np.std(values, ddof=1))
        summary.update(
            seed_std=seed_std,
            seed_range=(min(values), max(values)),
            larger_noise="seed" if seed_std > image_std else "images",
        )
    return summary


def _difference(
    points: list[dict[str, float]],
    drawn: list[list[dict[str, float]]],
    a: list[int],
    b: list[int],
    key: str,
    confidence: float,
) -> dict[str, Any]:
    """``b - a`` in ``key`` (each the mean of its runs): the point difference, and its paired
    interval (the same draws for every run) and whether that holds 0."""
    paired = _draw_values(drawn, b, key) - _draw_values(drawn, a, key)
    interval = percentile_interval(paired, confidence)
    return {
        "difference": float(np.mean([points[i][key] for i in b]) - np.mean([points[i][key] for i in a])),
        "interval": interval,
        "image_std": float(np.nanstd(paired, ddof=1)) if len(paired) > 1 else 0.0,
        "beyond_noise": _excludes_zero(interval),
    }


def _excludes_zero(interval: tuple[float, float]) -> bool:
    return bool(interval[0] > 0 or interval[1] < 0)


def _with_seed_noise(
    pair: dict[str, Any], points: list[dict[str, float]], a: list[int], b: list[int], key: str, confidence: float
) -> tuple[float, float] | None:
    """The difference's interval with the seeds' noise added to the images' (independent sources:
    the runs are scored on the same images, so their spread is the training's alone): Welch's
    interval on the seeds' variances plus the paired bootstrap variance, with Welch-Satterthwaite
    degrees of freedom (the bootstrap's counted as many). None unless both configs have two
    runs or more: one run measures no seed noise."""
    if len(a) < 2 or len(b) < 2:
        return None
    seed_parts = [np.var([points[i][key] for i in runs], ddof=1) / len(runs) for runs in (a, b)]
    total = pair["image_std"] ** 2 + sum(seed_parts)
    spread = sum(part**2 / (len(runs) - 1) for part, runs in zip(seed_parts, (a, b)))
    freedom = total**2 / spread if spread > 0 else np.inf
    half = float(stats.t.ppf((1 + confidence) / 2, freedom) * np.sqrt(total))
    return pair["difference"] - half, pair["difference"] + half


def _defined(value: float) -> float:
    """A metric, NaN where a draw left it undefined (-1: no ground truth of its classes drawn)."""
    return value if value >= 0 else float("nan")


def _class_differences(
    points: list[dict[str, float]],
    drawn: list[list[dict[str, float]]],
    members: dict[str, list[int]],
    pairs: list[tuple[str, str]],
    metric: str,
    confidence: float,
    count: int,
) -> list[dict[str, Any]]:
    """For each config pair ``(a, b)``, the ``count`` classes whose AP (AP50 for mAP50) differs
    most between them, with paired intervals; none for a metric without a per-class form."""
    prefix = {"mAP": "AP/", "mAP50": "AP50/"}.get(metric)
    if prefix is None or count < 1:
        return []
    keys = [k for k in points[0] if k.startswith(prefix) and points[0][k] >= 0]
    rows = []
    for a, b in pairs:
        pair_of = {k: _difference(points, drawn, members[a], members[b], k, confidence) for k in keys}
        ranked = sorted(keys, key=lambda k: abs(pair_of[k]["difference"]), reverse=True)[:count]
        rows += [{"a": a, "b": b, "class": key.removeprefix(prefix), **pair_of[key]} for key in ranked]
    return rows
