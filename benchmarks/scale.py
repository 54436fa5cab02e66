"""detkit at the sizes users have, each step against its baseline in the same run.

    python benchmarks/scale.py [--val-images 5000] [--train-images 118287] [--samples 200]
                               [--format-images 5000] [--skip-pycocotools-eval]

Writes COCO-size synthetic sets into a temporary folder (`coco_size_case`: 80 classes, about
7 boxes an image, 3 % crowd): a dev set of ``--val-images`` with 100 detections an image, a
training set of ``--train-images`` (COCO train2017's 118,287 by default) with a 640x480 JPEG
for every image, and ``--format-images`` of it as Pascal VOC and YOLO. Prints, as ratios:

- evaluation: detkit in memory (the array training hands it) and scoring the json files
  (`score_files`, as ``tools/evaluate.py annotations= predictions=`` does) against pycocotools'
  own load and evaluation of the files (target >= 100x and >= 50x);
- the bootstrap (matching once, ``--samples`` draws) and the whole error analysis against that
  pycocotools evaluation (target <= 0.1x each);
- reading the training set (`load_coco`, with and without reading every image's header)
  against pycocotools' ``COCO()`` on the same json (target <= 1.0x with the headers);
- splitting it four ways (`split_dataset`) against that load time (target <= 0.25x);
- the VOC and YOLO readers' cost per image against `load_coco`'s with headers (target 1x),
  each the shortest of three readings: the first reading of a dataset (no cache), and every
  later one (`detkit.data.formats.read_cache` holds what the files gave while they are unchanged).

``--skip-pycocotools-eval`` takes the pycocotools evaluation from a shorter run of it (a
tenth of the images, scaled by the image count) instead of minutes of it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from coco_cases import coco_size_case, library_alone  # benchmarks/ is the script's folder
from PIL import Image

from detkit.analysis.tide import ErrorAnalysis
from detkit.data.formats import read_cache
from detkit.data.formats.coco import load_coco, write_coco
from detkit.data.formats.voc import load_voc, write_voc
from detkit.data.formats.yolo import load_yolo, write_yolo
from detkit.data.splits.seeded import split_dataset
from detkit.evaluation.coco import evaluate_coco, results_array, score_files
from detkit.evaluation.image_matches import ImageMatches

FRACTIONS = {"train": 0.7, "train_dev": 0.1, "dev": 0.1, "test": 0.1}


def timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def best_of(call: Callable[[], object], repeats: int = 3) -> float:
    """The shortest of ``repeats`` timings: for steps of a fraction of a second, where one
    timing on a shared 2-core machine varies by a third."""
    return min(timed(call)[0] for _ in range(repeats))


def pycocotools_load(annotations: Path) -> None:
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        COCO(str(annotations))


def write_case(folder: Path, name: str, images: int, per_image: int) -> tuple[dict, list[dict], Path, Path]:
    ground_truth, detections = coco_size_case(images, per_image=per_image)
    annotations, predictions = folder / f"{name}.json", folder / f"{name}_results.json"
    annotations.write_text(json.dumps(ground_truth))
    predictions.write_text(json.dumps(detections))
    return ground_truth, detections, annotations, predictions


def write_images(folder: Path, ground_truth: dict) -> None:
    """One small smooth 640x480 JPEG, the same bytes for every image (headers are what is read)."""
    folder.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None].repeat(480, 0).repeat(3, 2)
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="JPEG", quality=50)
    data = buffer.getvalue()
    for image in ground_truth["images"]:
        (folder / image["file_name"]).write_bytes(data)


def ratio_row(step: str, seconds: float, baseline: float, target: str) -> str:
    return f"| {step} | {seconds:.2f} s | {baseline:.2f} s | {seconds / baseline:.3f} | {target} |"


def evaluation_rows(folder: Path, args: argparse.Namespace) -> list[str]:
    truth, detections, annotations, predictions = write_case(folder, "val", args.val_images, 100)
    if args.skip_pycocotools_eval:
        *_, small_gt, small_dt = write_case(folder, "val_small", max(args.val_images // 10, 1), 100)
        small, _ = timed(lambda: library_alone("pycocotools", small_gt, small_dt))
        baseline = small * args.val_images / max(args.val_images // 10, 1)
    else:
        baseline, _ = timed(lambda: library_alone("pycocotools", annotations, predictions))
    array = results_array(detections)
    in_memory, _ = timed(lambda: evaluate_coco(truth, array))
    files, _ = timed(lambda: score_files(annotations, predictions))
    matching, matches = timed(lambda: ImageMatches(truth, detections))
    rng = np.random.default_rng(0)
    draws = [rng.integers(args.val_images, size=args.val_images) for _ in range(args.samples)]
    pooling, _ = timed(lambda: [matches.matching.precision(draw=d) for d in draws])
    analysis, errors = timed(lambda: ErrorAnalysis(truth, detections))
    breakdown, _ = timed(errors.breakdown)
    print(f"dev set: {args.val_images} images, {len(truth['annotations'])} boxes, {len(detections)} detections")
    return [
        ratio_row("evaluation in memory (array)", in_memory, baseline, "<= 0.01 (100x)"),
        ratio_row("evaluation of the json files", files, baseline, "<= 0.02 (50x)"),
        ratio_row(f"bootstrap: matching + {args.samples} draws", matching + pooling, baseline, "<= 0.1"),
        ratio_row("error analysis: matching, kinds, oracle breakdown", analysis + breakdown, baseline, "<= 0.1"),
    ]


def reading_rows(folder: Path, args: argparse.Namespace) -> list[str]:
    truth, _, annotations, _ = write_case(folder, "train", args.train_images, 0)
    images = folder / "images"
    write_images(images, truth)
    baseline, _ = timed(lambda: pycocotools_load(annotations))
    no_headers, _ = timed(lambda: load_coco(annotations, image_root=images, check_images=False))
    with_headers, dataset = timed(lambda: load_coco(annotations, image_root=images))
    splitting, _ = timed(lambda: split_dataset(dataset, FRACTIONS, seed=0))
    subset = dataset.subset([r.image_id for r in dataset.records[: args.format_images]])
    voc_root, yolo_root = write_voc(subset, folder / "voc"), write_yolo(subset, folder / "yolo")
    subset_json = write_coco(subset, folder / "subset.json")
    coco_subset = best_of(lambda: load_coco(subset_json, image_root=images))
    print(f"training set: {args.train_images} images, {len(truth['annotations'])} boxes")
    count, target = args.format_images, f"1.0 (load_coco of the same {args.format_images})"
    rows = [
        ratio_row("load_coco, no image headers", no_headers, baseline, "-"),
        ratio_row("load_coco, every image's header read", with_headers, baseline, "<= 1.0"),
        ratio_row("split_dataset, four splits", splitting, with_headers, "<= 0.25 of the load"),
    ]
    for name, read in (("load_voc", lambda: load_voc(voc_root)), ("load_yolo", lambda: load_yolo(yolo_root))):
        first, again = first_and_repeated_reading(read, folder / f"{name}_cache")
        rows.append(ratio_row(f"{name}, {count} images, first reading", first, coco_subset, target))
        rows.append(ratio_row(f"{name}, {count} images, read again", again, coco_subset, target))
    return rows


def first_and_repeated_reading(read: Callable[[], object], cache: Path) -> tuple[float, float]:
    """A reader's time without its cache (the first reading of a dataset) and with it (every
    later one: each training run, each tool), each the shortest of three."""
    os.environ["DETKIT_CACHE_DIR"] = ""
    first = best_of(read)
    os.environ["DETKIT_CACHE_DIR"] = str(cache)
    time.sleep(read_cache.RACY_SECONDS)  # files younger than this are read every time
    read()
    return first, best_of(read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--val-images", type=int, default=5000)
    parser.add_argument("--train-images", type=int, default=118287)
    parser.add_argument("--format-images", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--skip-pycocotools-eval", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = evaluation_rows(Path(folder), args) + reading_rows(Path(folder), args)
    print("| step | seconds | baseline | ratio | target |\n|---|---:|---:|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
