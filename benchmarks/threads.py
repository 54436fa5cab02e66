"""Training speed by torch thread count, on an idle machine and beside another busy process.

    python benchmarks/threads.py [--steps 12] [--batch-size 8]

Trains SSDlite (320 px, from scratch) on the shapes data for ``--steps`` steps with each
thread count from 1 to the cores this process may use, first alone, then while a second
process keeps one core busy (what a dataset export, a second run or a browser does to a
laptop). Prints images/s per case and the ratio to one thread in the same condition: the
figures behind `detkit.training.threads.training_threads`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time

import torch
from train_step import plain_loop  # benchmarks/ is the script's folder

from detkit.data.shapes import ShapesParams, ensure_shapes
from detkit.data.torch_dataset import DetectionImages, collate_detections


def busy(stop: multiprocessing.synchronize.Event) -> None:
    """Keep one core busy with single-threaded torch work until ``stop`` is set."""
    torch.set_num_threads(1)
    a = torch.randn(256, 256)
    while not stop.is_set():
        a = torch.tanh(a @ a)


def images_per_second(batches: list, num_classes: int, threads: int) -> float:
    """The plain loop's images/s with ``threads`` torch threads, after two warm-up steps
    (allocator, oneDNN kernels)."""
    torch.set_num_threads(threads)
    return plain_loop(batches, num_classes, len(batches) - 2, warm_up=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        dataset = ensure_shapes(
            f"{root}/shapes", ShapesParams(num_scenes=max(4, args.steps * args.batch_size // 4 + 4))
        )
        images = DetectionImages(dataset, None, None)
        loader = torch.utils.data.DataLoader(images, batch_size=args.batch_size, collate_fn=collate_detections)
        batches = [batch for _, batch in zip(range(args.steps + 2), loader)]
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores, {args.steps} steps of {args.batch_size} images (SSDlite 320 px, training)")
    print(f"{'condition':<22}{'threads':>8}{'images/s':>10}{'vs 1 thread':>13}")
    for condition in ("idle", "one core busy"):
        stop = multiprocessing.Event()
        other = multiprocessing.Process(target=busy, args=(stop,)) if condition != "idle" else None
        if other:
            other.start()
            time.sleep(1.0)
        speeds = {n: images_per_second(batches, dataset.num_classes, n) for n in range(1, cores + 1)}
        if other:
            stop.set()
            other.join()
        for n, speed in speeds.items():
            print(f"{condition:<22}{n:>8}{speed:>10.1f}{speed / speeds[1]:>12.2f}x")


if __name__ == "__main__":
    main()
