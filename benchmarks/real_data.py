"""Training defaults on real exports: dev mAP50 of config variants over seeds, with the time each took.

    python benchmarks/real_data.py --root <export> [--root <export> ...] [--seeds 0 1 2] \
        --variant "today=model.anchor_size_range=[0.2,0.95]" --variant "new=" [-- overrides for every run]

Each variant is ``name=overrides`` (space-separated `tools/train.py` overrides; empty for the
defaults as they are). Every (export, variant, seed) trains with `tools/train.py data=auto
data.root=<export> seed=<seed>` (``--root shapes``: the quick start's generated data), one run at
a time (timings on a shared CPU mean nothing), and is scored by detkit's evaluator on the export's
dev split (its own, or detkit's seeded split: the same images for every variant and seed).
Prints one line per run as it ends (seed, dev mAP50 and mAP, lowest class AP, training seconds:
runs of separate invocations can be pooled later) and, per export and variant: dev mAP50 and mAP
as a mean with a 95 % Student-t interval over the seeds, the lowest per-class AP (a class the
detector never finds shows as 0.00), and the seconds spent training and validating (PhaseTimes),
so that variants can be compared at equal wall time.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from scipy import stats

from detkit.markdown import markdown_table

ROOT = Path(__file__).resolve().parents[1]
SHAPES = "shapes"  # --root shapes: the quick start's generated data
TIMER = "+callbacks.phase_times={_target_: detkit.training.phase_times.PhaseTimes}"


def run(export: str, seed: int, overrides: list[str], work: Path) -> dict:
    """One training run: its dev metrics, phase seconds, whole wall seconds and folder."""
    run_dir = work / f"run_{len(list(work.iterdir()))}"
    data = ["data=shapes"] if export == SHAPES else ["data=auto", f"data.root={export}"]
    command = [
        sys.executable,
        str(ROOT / "tools" / "train.py"),
        *data,
        f"seed={seed}",
        f"hydra.run.dir={run_dir}",
        TIMER,
        *overrides,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {shlex.join(command)}\n{done.stderr[-3000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())["dev"]
    seconds = json.loads((run_dir / "phase_times.json").read_text())["seconds"]
    lowest = lowest_class_ap(metrics)
    print(
        f"  seed {seed}: dev mAP50 {metrics['mAP50']:.3f} mAP {metrics['mAP']:.3f} lowest class AP {lowest:.2f}"
        f" train {seconds.get('training', 0.0):.0f} s ({shlex.join(overrides) or 'defaults'})",
        flush=True,
    )
    epochs = int(yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]["max_epochs"])  # resolved
    train_images = len(json.loads((run_dir / "splits" / "train.json").read_text())["image_ids"])
    return {
        "metrics": metrics,
        "seconds": seconds,
        "wall": wall,
        "run_dir": run_dir,
        "epochs": epochs,
        "images seen": epochs * train_images,
    }


def lowest_class_ap(metrics: dict[str, float]) -> float:
    """The lowest per-class AP among the classes the split has objects of (pycocotools gives -1
    to a class with none there: not a score)."""
    return min(v for k, v in metrics.items() if k.startswith("AP/") and v >= 0)


def interval(values: list[float]) -> str:
    """``mean ± half-width`` of a 95 % Student-t interval (the mean alone for one value)."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return f"{mean:.3f}"
    half = stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
    return f"{mean:.3f} ± {half:.3f}"


def row(export: str, name: str, runs: list[dict]) -> list[str]:
    class_aps = [lowest_class_ap(r["metrics"]) for r in runs]
    train = np.mean([r["seconds"].get("training", 0.0) for r in runs])
    validation = np.mean([r["seconds"].get("validation", 0.0) for r in runs])
    return [
        Path(export).name,
        name,
        interval([r["metrics"]["mAP50"] for r in runs]),
        interval([r["metrics"]["mAP"] for r in runs]),
        f"{min(class_aps):.2f}",
        f"{train:.0f}",
        f"{validation:.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", action="append", required=True, help="an export data=auto reads, or shapes")
    parser.add_argument("--variant", action="append", required=True, help="name=overrides")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args, common = parser.parse_known_args()
    common = [o for o in common if o != "--"]
    variants = [v.split("=", 1) for v in args.variant]
    header = ["export", "variant", "dev mAP50", "dev mAP", "lowest class AP", "train s", "validation s"]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for export in args.root:
            for name, overrides in variants:
                runs = [run(export, seed, [*common, *shlex.split(overrides)], Path(work)) for seed in args.seeds]
                rows.append(row(export, name, runs))
                print(" | ".join(rows[-1]), flush=True)
    print()
    print(f"seeds {args.seeds}; every run: {shlex.join(common) or '(defaults)'}")
    print("\n".join(markdown_table(header, rows, align="llrrrrr")))


if __name__ == "__main__":
    main()
