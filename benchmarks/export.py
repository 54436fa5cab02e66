"""Eager PyTorch against the exported detector (onnxruntime, TorchScript), in the same run, on
the same images.

    python benchmarks/export.py [RUN] [--images 200] [--warm-up 5]

RUN is a run directory (default: the newest quick-start run, outputs/quickstart/<date_time>;
make one with `python tools/train.py`). Its detector is exported to both formats in a
temporary folder and each runs on the run's dev images, one image a call, as tools/predict.py
model= runs them; eager PyTorch runs the same way (torch.inference_mode) and in batches of 8 as
tools/predict.py run= does. The ratios are images/s over eager's one image a call.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import onnxruntime
import torch

from detkit.data.torch_dataset import DetectionImages
from detkit.deploy.deployed import deployable
from detkit.deploy.runtime import ExportedModel
from detkit.deploy.writers import FORMATS, write_model
from detkit.models.inference import detect
from detkit.runs.layout import newest_run
from detkit.runs.run_dir import RunDir

QUICK_START_RUNS = Path("outputs/quickstart/any")


def images_per_second(run_one: Callable[[int], None], count: int, warm_up: int) -> float:
    """``count`` calls of ``run_one(i)`` (``i`` the image's index), after ``warm_up`` untimed ones."""
    for i in range(warm_up):
        run_one(i)
    start = time.perf_counter()
    for i in range(count):
        run_one(i)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", type=Path, default=None)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--warm-up", type=int, default=5)
    args = parser.parse_args()
    run_path = args.run or newest_run(QUICK_START_RUNS)
    if run_path is None:
        raise SystemExit("no run given and none in outputs/quickstart: run python tools/train.py first")
    run = RunDir.open(run_path)
    dev = DetectionImages(run.data.subset("dev"))
    images = [dev[i][0] for i in range(len(dev))]
    pick = [images[i % len(images)] for i in range(args.images + args.warm_up)]
    detector = run.detector()
    print(f"run {run.path} ({run.config.model.name}), {len(images)} dev images of {tuple(images[0].shape)}")
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}")

    def eager_one(i: int) -> None:
        with torch.inference_mode():
            detect(detector, [pick[i]])

    def eager_batch(i: int) -> None:
        with torch.inference_mode():
            detect(detector, pick[8 * i : 8 * i + 8])

    rates = {"eager PyTorch, 1 image a call": images_per_second(eager_one, args.images, args.warm_up)}
    batches = args.images // 8
    rates["eager PyTorch, 8 images a call"] = 8 * images_per_second(eager_batch, batches, 1) if batches else 0.0
    model = deployable(detector)
    with tempfile.TemporaryDirectory() as folder:
        for format, file_name in FORMATS.items():
            path = write_model(model, format, images[0][None], Path(folder) / file_name)
            exported = ExportedModel.load(path, {"format": format, "classes": run.class_names})
            arrays = [image.numpy() for image in pick]
            rates[f"{format}, 1 image a call"] = images_per_second(
                lambda i, exported=exported, arrays=arrays: exported.detect(arrays[i]), args.images, args.warm_up
            )
    baseline = rates["eager PyTorch, 1 image a call"]
    print("\n| runtime | images/s | ratio to eager, 1 a call |\n|---|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} | {rate / baseline:.2f} |")
    print(f"\n{args.images} images each, after {args.warm_up} untimed; one process, alone on the machine")


if __name__ == "__main__":
    main()
