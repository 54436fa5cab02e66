"""Every evaluation backend against pycocotools, in the same run, on the same COCO-size data.

    python benchmarks/evaluation.py [--images 1000] [--repeats 3]

On 80 classes, about 7 boxes and 100 detections an image (`coco_size_case`) prints, per
backend: detkit's in-memory evaluation (`evaluate_coco` on the ``[N, 7]`` array that training
and the workflows hand it, and on COCO result dicts), scoring the json files as
``tools/evaluate.py annotations= predictions=`` does without its start-up (`score_files`:
reading and checking both files, evaluating), and the library alone on the same files (its own
load, evaluate, accumulate, summarize); each as a speed-up over pycocotools' own load and
evaluation of the files (the baseline), and the largest difference from pycocotools' numbers
(the twelve and AP per class). pycocotools is timed once; the others ``--repeats`` times, best.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from coco_cases import coco_size_case, library_alone  # benchmarks/ is the script's folder

from detkit.evaluation.coco import BACKENDS, evaluate_coco, results_array, score_files


def best_time(call: Callable[[], object], repeats: int) -> tuple[float, object]:
    """The fastest of ``repeats`` calls, and what the last one returned."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ground_truth, detections = coco_size_case(args.images)
    array = results_array(detections)
    folder = Path(tempfile.mkdtemp())
    annotations, predictions = folder / "annotations.json", folder / "predictions.json"
    annotations.write_text(json.dumps(ground_truth))
    predictions.write_text(json.dumps(detections))
    print(f"{args.images} images, {len(ground_truth['annotations'])} boxes, {len(detections)} detections, 80 classes")

    baseline, _ = best_time(lambda: library_alone("pycocotools", annotations, predictions), 1)
    reference = evaluate_coco(ground_truth, detections, backend="pycocotools")
    print(f"baseline, pycocotools' own load and evaluation of the files: {baseline:.2f} s\n")
    print("| backend | in memory, array | in memory, dicts | files (tools/evaluate.py) | library alone, files |")
    print("|---|---:|---:|---:|---:|")
    for backend in BACKENDS:
        repeats = 1 if backend == "pycocotools" else args.repeats
        runs = {
            "array": lambda b=backend: evaluate_coco(ground_truth, array, backend=b),
            "dicts": lambda b=backend: evaluate_coco(ground_truth, detections, backend=b),
            "files": lambda b=backend: score_files(annotations, predictions, backend=b),
            "alone": lambda b=backend: library_alone(b, annotations, predictions),
        }
        cells, difference = [], 0.0
        for name, call in runs.items():
            seconds, metrics = best_time(call, repeats)
            if name != "alone":
                difference = max([difference, *(abs(metrics[k] - v) for k, v in reference.items())])
            cells.append(f"{seconds:.3f} s ({baseline / seconds:.0f}x)")
        print(f"| {backend} | " + " | ".join(cells) + f" |  largest difference {difference:.1e}")


if __name__ == "__main__":
    main()
