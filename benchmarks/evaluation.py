"""faster-coco-eval (detkit's default) against pycocotools, in the same run, on the same data.

    python benchmarks/evaluation.py [--images 2000] [--repeats 3]

Prints both backends' seconds through detkit's `evaluate_coco` (partial-label handling, copying,
indexing, loading results, evaluating) and for the libraries' evaluation alone (COCOeval's
evaluate, accumulate, summarize on objects built beforehand), each speed ratio, and how far
apart the twelve summary numbers are (float summation order can move the last bit).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np

from detkit.evaluation.coco import SUMMARY_NAMES, coco_backend, evaluate_coco, load_results_into, writable_copy


def synthetic_case(num_images: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """COCO-like ground truth (5 classes, crowd regions) and noisy detections with false positives."""
    rng = np.random.default_rng(seed)
    images, annotations, detections = [], [], []
    for image_id in range(1, num_images + 1):
        images.append({"id": image_id, "width": 640, "height": 480, "file_name": f"{image_id}.jpg"})
        for _ in range(rng.integers(1, 12)):
            w, h = rng.uniform(8, 300), rng.uniform(8, 250)
            x, y, cat = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h), int(rng.integers(1, 6))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": cat,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": int(rng.random() < 0.03),
                }
            )
            noise = rng.normal(0, 0.08, 4) * [w, h, w, h]
            detections.append(
                {
                    "image_id": image_id,
                    "category_id": cat,
                    "score": float(rng.random()),
                    "bbox": [x + noise[0], y + noise[1], w + noise[2], h + noise[3]],
                }
            )
        for _ in range(rng.integers(0, 20)):
            detections.append(
                {
                    "image_id": image_id,
                    "category_id": int(rng.integers(1, 6)),
                    "score": float(rng.random()),
                    "bbox": [*rng.uniform(0, 400, 2).tolist(), *rng.uniform(5, 200, 2).tolist()],
                }
            )
    categories = [{"id": k, "name": f"c{k}"} for k in range(1, 6)]
    return {"images": images, "annotations": annotations, "categories": categories}, detections


def best_time(backend: str, gt: dict, dt: list[dict], repeats: int) -> tuple[float, dict[str, float]]:
    times, metrics = [], {}
    for _ in range(repeats):
        start = time.perf_counter()
        metrics = evaluate_coco(gt, dt, backend=backend)
        times.append(time.perf_counter() - start)
    return min(times), metrics


def library_time(backend: str, gt: dict, dt: list[dict], repeats: int) -> float:
    """Seconds of the backend's COCOeval alone: evaluate, accumulate, summarize."""
    coco_cls, eval_cls = coco_backend(backend)
    times = []
    for _ in range(repeats):
        with contextlib.redirect_stdout(io.StringIO()):
            ground_truth = coco_cls()
            ground_truth.dataset = writable_copy(gt)
            ground_truth.createIndex()
            results = load_results_into(ground_truth, coco_cls, dt)
            start = time.perf_counter()
            evaluator = eval_cls(ground_truth, results, "bbox")
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
            times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    gt, dt = synthetic_case(args.images)
    fast, fast_metrics = best_time("faster_coco_eval", gt, dt, args.repeats)
    ref, ref_metrics = best_time("pycocotools", gt, dt, args.repeats)
    difference = max(abs(fast_metrics[k] - ref_metrics[k]) for k in SUMMARY_NAMES)
    ref_alone, fast_alone = (library_time(b, gt, dt, args.repeats) for b in ("pycocotools", "faster_coco_eval"))
    print(f"{args.images} images, {len(gt['annotations'])} boxes, {len(dt)} detections")
    print(f"through detkit:  pycocotools {ref:6.2f} s, faster_coco_eval {fast:6.2f} s: {ref / fast:.1f}x")
    alone = ref_alone / fast_alone
    print(f"libraries alone: pycocotools {ref_alone:6.2f} s, faster_coco_eval {fast_alone:6.2f} s: {alone:.1f}x")
    print(f"mAP {ref_metrics['mAP']:.6f}; largest difference over the 12 summary numbers {difference:.1e}")


if __name__ == "__main__":
    main()
