"""Is choosing what to label worth it? Each strategy of tools/label_next.py against random.

  python benchmarks/selection.py [--seeds 0 1 2] [--labelled 0.2] [--added 0.2] [--out outputs/selection]
      [-- <training overrides, e.g. data=auto data.root=<export>>]

For each seed: the data is split (tools/split.py); a run trains on a seeded share ``--labelled``
of train (the rest of train is the unlabelled pool); each strategy picks ``--added`` of train
from the pool with that run's detector; a run per strategy then trains on the labelled share and
its picks, from the first run's weights (``init.checkpoint``), with the same epochs and seed, and
is scored on the same dev images (a finished run already in ``--out`` is read, not retrained,
so an interrupted benchmark continues). The table gives dev mAP50 per strategy and its difference to
random, paired by seed, with a 95 % Student's t interval.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from detkit.analysis.selection import STRATEGIES, select
from detkit.data.splits.seeded import write_manifests
from detkit.runs.layout import metrics_file
from detkit.runs.run_dir import RunDir
from detkit.workflows.label_next import run_on_images, seen_features

ROOT = Path(__file__).resolve().parents[1]


def tool(name: str, *overrides: str) -> None:
    command = [sys.executable, str(ROOT / "tools" / f"{name}.py"), *overrides]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")


def train(target: Path, *overrides: str) -> None:
    """tools/train.py into ``target``, unless a finished run is there (a rerun resumes the table)."""
    if not metrics_file(target).exists():
        tool("train", *overrides, f"hydra.run.dir={target}")


def dev_map50(run: Path) -> float:
    return float(json.loads(metrics_file(run).read_text())["dev"]["mAP50"])


def one_seed(seed: int, args: argparse.Namespace, overrides: list[str]) -> dict[str, float]:
    out = Path(args.out) / f"seed{seed}"
    common = [f"seed={seed}", f"data_seed={seed}", *overrides]
    full = out / "splits"
    first = out / "labelled"
    if not (full / "train.json").exists():
        data_overrides = [o for o in overrides if o.startswith("data")]
        tool("split", f"out={full}", f"seed={seed}", f"data_seed={seed}", *data_overrides)
    train(first, *common, f"data.module.splits_dir={full}", f"data.module.train_fraction={args.labelled}")
    run = RunDir.open(first)
    data = run.data
    full_train = json.loads((full / "train.json").read_text())["image_ids"]
    labelled = set(data.split_ids["train"])
    pool = data.dataset.subset([i for i in full_train if i not in labelled])
    budget = round(args.added * len(full_train))
    model = run.detector()
    outputs = run_on_images(model, pool, 8, "cpu")
    seen = seen_features(run, model, 8, "cpu", seed)  # as tools/label_next.py counts the labelled share
    scores = {"labelled only": dev_map50(first)}
    epochs = run.config.trainer.max_epochs
    for strategy in STRATEGIES:
        chosen = select(strategy, budget, [d["scores"] for d in outputs.detections], outputs.features, seen, seed)
        picked = [pool.records[k].image_id for k in chosen]
        manifests = out / f"splits_{strategy}"
        splits = {**data.split_ids, "train": sorted(labelled | set(picked))}
        write_manifests(manifests, splits, data.dataset, {"splits": f"selection_{strategy}", "seed": seed})
        target = out / strategy
        start = [f"init.checkpoint={first}", f"trainer.max_epochs={epochs}"]
        train(target, *common, f"data.module.splits_dir={manifests}", *start)
        scores[strategy] = dev_map50(target)
        print(f"seed {seed}: {strategy:12s} dev mAP50 {scores[strategy]:.3f}", flush=True)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labelled", type=float, default=0.2)
    parser.add_argument("--added", type=float, default=0.2)
    parser.add_argument("--out", default="outputs/selection")
    args, overrides = parser.parse_known_args()
    results = [one_seed(seed, args, [o for o in overrides if o != "--"]) for seed in args.seeds]
    print(f"\n| strategy | dev mAP50 (mean over {len(results)} seeds) | minus random (95 % t-interval) |")
    print("|---|---:|---:|")
    for name in ["labelled only", *STRATEGIES]:
        values = np.array([r[name] for r in results])
        differences = values - np.array([r["random"] for r in results])
        half = (
            stats.t.ppf(0.975, len(values) - 1) * differences.std(ddof=1) / np.sqrt(len(values))
            if len(values) > 1
            else float("nan")
        )
        print(f"| {name} | {values.mean():.3f} | {differences.mean():+.3f} ± {half:.3f} |")


if __name__ == "__main__":
    main()
