"""faster-coco-eval (detkit's default) against pycocotools, in the same run, on the same data.

    python benchmarks/evaluation.py [--images 2000] [--repeats 3]

Prints both backends' seconds, the speed ratio and whether all summary numbers are identical.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from detkit.evaluation.coco import SUMMARY_NAMES, evaluate_coco


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    gt, dt = synthetic_case(args.images)
    fast, fast_metrics = best_time("faster_coco_eval", gt, dt, args.repeats)
    ref, ref_metrics = best_time("pycocotools", gt, dt, args.repeats)
    identical = all(fast_metrics[k] == ref_metrics[k] for k in SUMMARY_NAMES)
    print(f"{args.images} images, {len(gt['annotations'])} boxes, {len(dt)} detections")
    print(f"pycocotools      {ref:7.2f} s   mAP {ref_metrics['mAP']:.6f}")
    print(f"faster_coco_eval {fast:7.2f} s   mAP {fast_metrics['mAP']:.6f}")
    print(f"speed-up {ref / fast:.1f}x; all 12 summary numbers identical: {identical}")


if __name__ == "__main__":
    main()
