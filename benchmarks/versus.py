"""detkit's defaults against a tuned Ultralytics YOLO11n at equal wall time: same CPU, same split,
both scored by detkit's evaluator on the same dev images.

    python -m venv --system-site-packages ../yolo-venv        # ultralytics only here, never in detkit
    ../yolo-venv/bin/pip install ultralytics -c constraints.txt
    ../yolo-venv/bin/python benchmarks/versus.py --root <export> [--root ...] [--seeds 0 1 2] [--imgsz 320]
        [--detkit "model=cspdet_n ..."]

For each export and seed, one at a time (timings on a shared CPU mean nothing):
1. `tools/train.py data=auto data.root=<export> seed=<seed>` with detkit's defaults (or the
   overrides ``--detkit`` gives); its fit time
   (training epochs, validation and the sanity check, from PhaseTimes) is the budget.
2. YOLO11n from scratch (``yolo11n.yaml``, no pretrained weights, as detkit's run) on a copy of
   that run's own train and dev manifests in YOLO form (images linked, labels written from detkit's
   records), trained with ``time=<the budget>``: Ultralytics re-plans its epochs and learning-rate
   schedule after the first epoch to end on time, validating on dev every epoch and keeping its
   best weights, as detkit keeps its best checkpoint.
   Short-schedule settings, as Ultralytics' docs describe them: warm-up 1 epoch (not 3), no
   gradient accumulation beyond the batch (``nbs`` = batch 8, detkit's), mosaic on and closed for
   the last 2 epochs (its default 10 is meant for 100), every core for torch (Ultralytics uses
   cores - 1 = one thread on a 2-core machine; two measured faster; ``OMP_NUM_THREADS``, when set,
   for both tools), workers 0 (its CPU choice),
   AdamW with the learning rate Ultralytics fits to the class count (``0.002 * 5 / (4 + classes)``,
   momentum 0.9): what its ``optimizer=auto`` picks for a run under 10,000 iterations, as these
   are. Left to ``auto``, a ``time=`` run is planned as ``epochs=1000`` first, so 8.4.190 picks
   MuSGD, whose Newton-Schulz steps run in bfloat16: on a CPU without AVX512-BF16 (an AVX2 EPYC)
   its step took 8.7 s on one thread where AdamW's took 1.2 s (torch 2.14.1, batch 8 at 320 px),
   two epochs in the road signs' budget and dev mAP50 0. (The 2026-12-04 tables' YOLO11n rows
   were MuSGD's, run on a CPU with AVX512-BF16, where they trained for their whole budget.)
3. YOLO's best weights predict the dev images (confidence 0.001, 100 per image, its own letterbox)
   and detkit's evaluator scores them against the dev ground truth detkit's run was scored on.

Each finished run is appended to ``--results`` (json lines: export, detector, seed, dev mAP50,
mAP, lowest class AP, fit and wall seconds), so that runs of several invocations make one table;
it prints per export and detector: dev mAP50 / mAP with 95 % t-intervals over the seeds, the
lowest class AP, the fit seconds and the whole wall time of each command (start-up included).
``--imgsz`` is YOLO's input: 320 (detkit's SSDlite input); 640, its default, trains about 3
epochs in BCCD's budget (dev mAP50 0.157 at seed 0, against 0.776 at 320).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from real_data import interval, lowest_class_ap, run

from detkit.evaluation.coco import evaluate_coco
from detkit.markdown import markdown_table
from detkit.runs.run_dir import RunDir

FIT_PHASES = ("training", "validation", "sanity check")
BATCH = 8  # detkit's training batch (configs/data/_module.yaml)


def fit_seconds(detkit_run: dict) -> float:
    """detkit's fit time: what YOLO gets to train and validate in."""
    return sum(detkit_run["seconds"].get(phase, 0.0) for phase in FIT_PHASES)


def write_yolo_copy(run_dir: Path, folder: Path) -> tuple[Path, dict, dict[int, Path]]:
    """The run's train and dev splits as a YOLO dataset under ``folder`` (images linked, labels
    from detkit's records, crowd regions left out); returns its data.yaml, the dev ground truth
    detkit scored, and the dev images' paths by image id."""
    data = RunDir.open(run_dir).data
    dev_paths = {}
    for split in ("train", "dev"):
        dataset = data.subset(split)
        (folder / "images" / split).mkdir(parents=True)
        (folder / "labels" / split).mkdir(parents=True)
        for record in dataset.records:
            source = dataset.image_path(record)
            link = folder / "images" / split / f"{record.image_id}{source.suffix.lower()}"
            link.symlink_to(source.resolve())
            keep = ~record.iscrowd.astype(bool)
            boxes, labels = record.boxes[keep].astype(np.float64), record.labels[keep]
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2 / [record.width, record.height]
            sizes = (boxes[:, 2:] - boxes[:, :2]) / [record.width, record.height]
            lines = [f"{int(c)} {x:.6f} {y:.6f} {w:.6f} {h:.6f}" for c, (x, y), (w, h) in zip(labels, centres, sizes)]
            (folder / "labels" / split / f"{link.stem}.txt").write_text("".join(f"{line}\n" for line in lines))
            if split == "dev":
                dev_paths[record.image_id] = link
    data_yaml = folder / "data.yaml"
    names = dict(enumerate(data.class_names))
    layout = {"path": str(folder), "train": "images/train", "val": "images/dev", "names": names}
    data_yaml.write_text(yaml.safe_dump(layout))
    return data_yaml, data.ground_truth("dev"), dev_paths


def train_yolo(data_yaml: Path, seed: int, seconds: float, imgsz: int, folder: Path) -> tuple[Path, float, dict]:
    """YOLO11n from scratch for ``seconds`` of fit time; its best weights, whole wall time, and
    its own dev mAP50 and mAP (Ultralytics' evaluator, a cross-check of the scoring) with the
    images it trained on a second of its fit (training and validation, from its results.csv)."""
    from ultralytics import YOLO
    from ultralytics.utils import torch_utils

    # every core (the module docstring: two threads beat one here), or OMP_NUM_THREADS as detkit's run has it
    torch_utils.NUM_THREADS = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    started = time.perf_counter()
    model = YOLO("yolo11n.yaml")
    classes = len(yaml.safe_load(data_yaml.read_text())["names"])
    metrics = model.train(
        optimizer="AdamW",  # what optimizer=auto picks for a short run (the module docstring)
        lr0=round(0.002 * 5 / (4 + classes), 6),
        momentum=0.9,
        data=str(data_yaml),
        time=seconds / 3600,
        epochs=1000,  # re-planned from `time` after the first epoch
        imgsz=imgsz,
        batch=BATCH,
        nbs=BATCH,
        warmup_epochs=1,
        close_mosaic=2,
        seed=seed,
        deterministic=False,
        device="cpu",
        pretrained=False,
        amp=False,
        plots=False,
        project=str(folder),
        name="yolo",
        exist_ok=True,
        verbose=False,
    )
    wall = time.perf_counter() - started
    epochs = [row for row in csv.DictReader((folder / "yolo" / "results.csv").open()) if row.get("epoch")]
    train_images = len(list((data_yaml.parent / "images" / "train").iterdir()))
    own = {
        "Ultralytics mAP50": float(metrics.box.map50) if metrics is not None else None,
        "Ultralytics mAP": float(metrics.box.map) if metrics is not None else None,
        "epochs": len(epochs),
        "images/s": len(epochs) * train_images / float(epochs[-1]["time"]) if epochs else None,
    }
    return folder / "yolo" / "weights" / "best.pt", wall, own


def yolo_run(
    data_yaml: Path, seed: int, seconds: float, imgsz: int, folder: Path, ground_truth: dict, dev_paths: dict
) -> tuple[dict[str, float], float, dict]:
    """`train_yolo`, then `score_yolo`: detkit's metrics, the wall time and what `train_yolo` says of itself."""
    weights, wall, own = train_yolo(data_yaml, seed, seconds, imgsz, folder)
    return score_yolo(weights, imgsz, ground_truth, dev_paths), wall, own


def score_yolo(weights: Path, imgsz: int, ground_truth: dict, dev_paths: dict[int, Path]) -> dict[str, float]:
    """detkit's evaluator on YOLO's dev predictions."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    category_of = {c["name"]: c["id"] for c in ground_truth["categories"]}
    detections = []
    for image_id, path in dev_paths.items():
        result = model.predict(str(path), imgsz=imgsz, conf=0.001, max_det=100, device="cpu", verbose=False)[0]
        for (x1, y1, x2, y2), score, label in zip(
            result.boxes.xyxy.tolist(), result.boxes.conf.tolist(), result.boxes.cls.tolist()
        ):
            detections.append(
                {
                    "image_id": image_id,
                    "category_id": category_of[result.names[int(label)]],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": score,
                }
            )
    return evaluate_coco(ground_truth, detections)


def record(
    export: str, detector: str, seed: int, metrics: dict, fit: float, wall: float | None, results: Path, **more
) -> None:
    """One finished run (and ``more`` of it), appended to ``results`` as a json line and printed."""
    lowest = lowest_class_ap(metrics)
    line = {"export": Path(export).name, "detector": detector, "seed": seed, "fit": fit, "wall": wall}
    line |= {"mAP50": metrics["mAP50"], "mAP": metrics["mAP"], "lowest class AP": lowest, **more}
    with results.open("a") as out:
        out.write(json.dumps(line) + "\n")
    print(json.dumps(line), flush=True)


def table(results: Path) -> list[str]:
    """Per export and detector, over the seeds recorded in ``results``: the markdown table (for
    YOLO also its own evaluator's mAP50 / mAP; images/s: images trained a second of fit)."""
    runs: dict[tuple[str, str], list[dict]] = {}
    for line in results.read_text().splitlines():
        found = json.loads(line)
        runs.setdefault((found["export"], found["detector"]), []).append(found)
    header = ["export", "detector", "seeds", "dev mAP50", "dev mAP", "lowest class AP", "fit s", "wall s"]
    header += ["epochs", "images/s", "Ultralytics' mAP50 / mAP"]
    rows = [
        [
            export,
            detector,
            len(found),
            interval([r["mAP50"] for r in found]),
            interval([r["mAP"] for r in found]),
            f"{min(r['lowest class AP'] for r in found):.2f}",
            f"{np.mean([r['fit'] for r in found]):.0f}",
            f"{np.mean([r['wall'] for r in found if r['wall'] is not None]):.0f}",  # None: not timed
            _mean(found, "epochs", "{:.0f}"),
            _mean(found, "images/s", "{:.1f}"),
            " / ".join(_mean(found, f"Ultralytics {metric}", "{:.3f}") for metric in ("mAP50", "mAP")).strip(" /"),
        ]
        for (export, detector), found in runs.items()
    ]
    return markdown_table(header, rows, align="llrrrrrrrrr")


def _mean(runs: list[dict], key: str, form: str) -> str:
    """The mean of ``key`` over the runs that recorded it (earlier result files lack it), or blank."""
    values = [r[key] for r in runs if r.get(key) is not None]
    return form.format(np.mean(values)) if values else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", action="append", default=[], help="an export data=auto reads")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--imgsz", type=int, nargs="+", default=[320], help="YOLO input sizes")
    parser.add_argument("--results", type=Path, default=Path("versus.jsonl"), help="json lines, appended to")
    parser.add_argument(
        "--detkit", default="", metavar="OVERRIDES", help="overrides for detkit's run, space-separated (default: none)"
    )
    args = parser.parse_args()
    overrides = args.detkit.split()
    detector = f"detkit {args.detkit}" if overrides else "detkit defaults"
    with tempfile.TemporaryDirectory() as work:
        for export in args.root:
            for seed in args.seeds:
                detkit_run = run(export, seed, overrides, Path(work))
                budget = fit_seconds(detkit_run)
                folder = Path(tempfile.mkdtemp(dir=work))
                data_yaml, ground_truth, dev_paths = write_yolo_copy(detkit_run["run_dir"], folder / "data")
                speed = {"epochs": detkit_run["epochs"], "images/s": detkit_run["images seen"] / budget}
                record(export, detector, seed, detkit_run["metrics"], budget, detkit_run["wall"], args.results, **speed)
                for imgsz in args.imgsz:
                    yolo = (data_yaml, seed, budget, imgsz, folder / f"yolo{imgsz}", ground_truth, dev_paths)
                    # a process of its own: nothing Ultralytics starts (its threads) outlives it into detkit's next run
                    with multiprocessing.get_context("spawn").Pool(1) as alone:
                        metrics, wall, own = alone.apply(yolo_run, yolo)
                    record(export, f"YOLO11n tuned, {imgsz} px", seed, metrics, budget, wall, args.results, **own)
    print("\n".join(table(args.results)))


if __name__ == "__main__":
    main()
