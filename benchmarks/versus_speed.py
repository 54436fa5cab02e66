"""A detkit detector against YOLO11n on speed, on the same CPU in one run: training steps
(images/s: forward, backward and an AdamW step on the same batch of 8 images, 320 px, 4 boxes
each) and inference of each one's ONNX export in onnxruntime (images/s, one image a call).

    ../yolo-venv/bin/python benchmarks/versus_speed.py [--model cspdet_n] [--classes 10] [--steps 20]

Both start untrained (speed does not depend on the weights, save NMS: detkit's graph keeps
100 detections an image, YOLO's export ``nms=True`` up to 300). detkit's ONNX takes the image
as read and resizes and normalises it inside the graph; YOLO's takes the letterboxed 320 x 320
tensor, its letterbox done before the clock starts, so YOLO's figure leaves out a step
detkit's includes. ultralytics stays in its own venv (AGPL), as for `benchmarks/versus.py`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from detkit.deploy.deployed import deployable
from detkit.deploy.runtime import ExportedModel
from detkit.deploy.writers import write_model
from detkit.models import build_detector

SIZE, BATCH = 320, 8


def per_second(step: Callable[[], None], count: int, warm_up: int, images: int = 1) -> float:
    """Images a second over ``count`` calls of ``step`` (each ``images`` images), after ``warm_up``."""
    for _ in range(warm_up):
        step()
    started = time.perf_counter()
    for _ in range(count):
        step()
    return count * images / (time.perf_counter() - started)


def batch(classes: int, seed: int = 0) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """``BATCH`` 320 x 240 images (a 4:3 photo at the input) with 4 boxes of 20-80 px each."""
    rng = torch.Generator().manual_seed(seed)
    images = [torch.rand(3, 240, SIZE, generator=rng) for _ in range(BATCH)]
    corners = torch.rand(BATCH, 4, 2, generator=rng) * torch.tensor([SIZE - 80.0, 160.0])
    sides = 20 + torch.rand(BATCH, 4, 2, generator=rng) * 60
    boxes = torch.cat([corners, corners + sides], dim=-1)
    labels = torch.randint(1, classes + 1, (BATCH, 4), generator=rng)
    return images, [{"boxes": b, "labels": label} for b, label in zip(boxes, labels)]


def detkit_training(model_name: str, classes: int) -> Callable[[], None]:
    model = build_detector(model_name, classes, SIZE, channels_last=True).train()
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    images, targets = batch(classes)

    def step() -> None:
        loss = sum(model(images, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def yolo_training(classes: int) -> Callable[[], None]:
    from types import SimpleNamespace

    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolo11n.yaml", nc=classes, verbose=False).train()
    model.args = SimpleNamespace(box=7.5, cls=0.5, dfl=1.5)  # Ultralytics' default loss gains
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    images, targets = batch(classes)
    letterboxed = torch.zeros(BATCH, 3, SIZE, SIZE)
    letterboxed[:, :, 40:280] = torch.stack(images)  # 240 rows centred in the square
    boxes = torch.cat([t["boxes"] for t in targets]) + torch.tensor([0.0, 40.0, 0.0, 40.0])
    centres, sides = (boxes[:, :2] + boxes[:, 2:]) / 2 / SIZE, (boxes[:, 2:] - boxes[:, :2]) / SIZE
    yolo_batch = {
        "img": letterboxed,
        "batch_idx": torch.arange(BATCH).repeat_interleave(4).float(),
        "cls": torch.cat([t["labels"] for t in targets]).float()[:, None] - 1,
        "bboxes": torch.cat([centres, sides], dim=1),
    }

    def step() -> None:
        loss, _ = model.loss(yolo_batch)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()

    return step


def detkit_onnx(model_name: str, classes: int, folder: Path) -> Callable[[], None]:
    model = build_detector(model_name, classes, SIZE).eval()
    image = torch.rand(3, 240, SIZE)
    path = write_model(deployable(model), "onnx", image[None], folder / "detkit.onnx")
    exported = ExportedModel.load(path, {"format": "onnx", "classes": [str(c) for c in range(classes)]})
    array = image.numpy()
    return lambda: exported.detect(array)


def yolo_onnx(classes: int, folder: Path) -> Callable[[], None]:
    import yaml
    from ultralytics import YOLO
    from ultralytics.nn.tasks import yaml_model_load

    layout = yaml_model_load("yolo11n.yaml") | {"nc": classes}
    (folder / "yolo11n.yaml").write_text(yaml.safe_dump(layout))  # the file name says the scale, n
    model = YOLO(str(folder / "yolo11n.yaml"))
    path = model.export(format="onnx", imgsz=SIZE, nms=True, simplify=False, project=str(folder), verbose=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    tensor = np.zeros((1, 3, SIZE, SIZE), np.float32)
    tensor[:, :, 40:280] = np.random.default_rng(0).random((3, 240, SIZE), dtype=np.float32)
    return lambda: session.run(None, {name: tensor})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cspdet_n", help="a detkit detector (configs/model)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20, help="training steps timed, after 3 untimed")
    parser.add_argument("--images", type=int, default=200, help="ONNX calls timed, after 10 untimed")
    args = parser.parse_args()
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}")
    rates = {
        f"training, {args.model}": per_second(detkit_training(args.model, args.classes), args.steps, 3, BATCH),
        "training, YOLO11n": per_second(yolo_training(args.classes), args.steps, 3, BATCH),
    }
    with tempfile.TemporaryDirectory() as folder:
        rates[f"ONNX inference, {args.model}"] = per_second(
            detkit_onnx(args.model, args.classes, Path(folder)), args.images, 10
        )
        rates["ONNX inference, YOLO11n"] = per_second(yolo_onnx(args.classes, Path(folder)), args.images, 10)
    print("\n| what | images/s |\n|---|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} |")
    print(
        f"\nratios (detkit / YOLO11n): training {rates[f'training, {args.model}'] / rates['training, YOLO11n']:.2f}, "
        f"ONNX {rates[f'ONNX inference, {args.model}'] / rates['ONNX inference, YOLO11n']:.2f}"
    )


if __name__ == "__main__":
    main()
