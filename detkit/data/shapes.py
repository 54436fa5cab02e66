"""The embedded default dataset: seeded, generated shapes on scene backgrounds, written as COCO.

Each scene (``group``) has one background shared by several images; objects vary in class,
size (COCO small, medium and large), colour (independent of class, so the class must be
learned from the shape), rotation, count and overlap. A second ``domain``, "textured"
(noisy backgrounds, textured fills, a muted palette, blur), is off by default
(``textured_fraction=0``); later tools use it for data mismatch and transfer.
``texture_strength`` scales its noise and stripes: at 4 a person still sees every object plainly,
while a detector trained on clean images alone loses many of them (a mismatch by construction).
``class_frequencies`` makes some classes rare; ``hidden_label_fraction`` leaves a share of the
classes of each image unlabelled (``Record.annotated``), for multi-task work with partial labels:
chosen at random (``hidden_label_choice="random"``), the classes least visible in the image
(``"least_visible"``), as image-level labelling misses small things in real data, or by domain
(``"by_domain"``): each domain labels only its own classes, as when two datasets labelled for
different classes are merged.
``second_annotator`` also writes ``annotator2.json``: the same images labelled again by a
simulated careful person (box edges off by a few percent, a few objects missed or given another
class), to measure human-level performance against the reference labels.
``label_noise`` gives that share of the boxes a label error, as real exports carry them: the
object left unlabelled ("overlooked"), given another class ("swap") or a box moved off it
("badloc"), each as likely; ``label_noise.json`` records every error with the true label, so
that a label-error finder can be scored against the truth. The second annotator labels the
objects as they are, not the errors.
The dataset is regenerated only when the generator's parameters (or version) change.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
from filelock import FileLock
from PIL import Image, ImageDraw, ImageFilter

from detkit.data.formats.coco import load_coco, write_coco
from detkit.data.records import DetectionDataset, Record
from detkit.exceptions import ConfigError

GENERATOR_VERSION = 1
SHAPE_KINDS = ("circle", "square", "triangle", "star", "cross", "hexagon")
ANNOTATIONS_FILE = "annotations.json"
SECOND_ANNOTATOR_FILE = "annotator2.json"
LABEL_NOISE_FILE = "label_noise.json"
LABEL_ERROR_KINDS = ("overlooked", "swap", "badloc")
BADLOC_SHIFT = (0.35, 0.6)  # a moved box's shift, as a share of its side: IoU with the object about 0.25-0.5
# The simulated second annotator: edge error (share of the box side, standard deviation) and
# the chances of missing an object and of giving it another class.
ANNOTATOR_EDGE_ERROR, ANNOTATOR_MISS, ANNOTATOR_CONFUSION = 0.03, 0.02, 0.01
HIDDEN_LABEL_CHOICES = ("random", "least_visible", "by_domain")


@dataclass(frozen=True)
class ShapesParams:
    """What the generated dataset depends on; any change regenerates it."""

    classes: tuple[str, ...] = ("circle", "square", "triangle", "star")
    num_scenes: int = 200
    images_per_scene: int = 4
    image_size: int = 320
    min_objects: int = 1
    max_objects: int = 6
    min_object_size: int = 40
    max_object_size: int = 224
    max_overlap: float = 0.3
    textured_fraction: float = 0.0
    texture_strength: float = 1.0  # scales the textured domain's noise and stripes: how far it is from the clean one
    class_frequencies: tuple[float, ...] = ()  # relative frequency per class (empty: uniform); makes classes rare
    hidden_label_fraction: float = 0.0  # share of classes per image left unlabelled (not annotated, not absent)
    hidden_label_choice: str = "random"  # "random", "least_visible" (smallest largest object) or "by_domain"
    second_annotator: bool = False  # also write annotator2.json, a simulated second person's labels
    label_noise: float = 0.0  # share of boxes with a label error (overlooked, swap, badloc), in label_noise.json
    jpeg_quality: int = 92
    seed: int = 0
    version: int = field(default=GENERATOR_VERSION)

    def __post_init__(self) -> None:
        unknown = [c for c in self.classes if c not in SHAPE_KINDS]
        if unknown or not self.classes:
            raise ConfigError(f"shapes classes {list(self.classes)}: unknown {unknown}; choose from {SHAPE_KINDS}")
        if self.num_scenes < 1 or self.images_per_scene < 1:
            raise ConfigError("shapes num_scenes and images_per_scene must be >= 1")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ConfigError("shapes needs 1 <= min_objects <= max_objects")
        if not 4 <= self.min_object_size <= self.max_object_size <= self.image_size:
            raise ConfigError("shapes needs 4 <= min_object_size <= max_object_size <= image_size")
        if self.class_frequencies and (
            len(self.class_frequencies) != len(self.classes)
            or min(self.class_frequencies) < 0
            or not any(self.class_frequencies)
        ):
            raise ConfigError(f"shapes class_frequencies needs one non-negative number per class {list(self.classes)}")
        if not 0.0 <= self.hidden_label_fraction < 1.0:
            raise ConfigError(f"shapes hidden_label_fraction must be in [0, 1), got {self.hidden_label_fraction}")
        if self.hidden_label_choice not in HIDDEN_LABEL_CHOICES:
            raise ConfigError(
                f"shapes hidden_label_choice {self.hidden_label_choice!r}: choose from {HIDDEN_LABEL_CHOICES}"
            )
        if self.hidden_label_choice == "by_domain" and not 0.0 < self.textured_fraction < 1.0:
            raise ConfigError("shapes hidden_label_choice=by_domain needs both domains: 0 < textured_fraction < 1")
        if not 0.0 <= self.textured_fraction <= 1.0:
            raise ConfigError(f"shapes textured_fraction must be in [0, 1], got {self.textured_fraction}")
        if not self.texture_strength >= 0.0:
            raise ConfigError(f"shapes texture_strength must be >= 0, got {self.texture_strength}")
        if not 0.0 <= self.label_noise <= 1.0:
            raise ConfigError(f"shapes label_noise must be in [0, 1], got {self.label_noise}")

    def fingerprint(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_shapes(root: str | Path, params: ShapesParams) -> DetectionDataset:
    """Generate the dataset under ``root`` unless it is already there with these parameters.

    Safe to call from several processes at once (a file lock; the folder is swapped in whole).
    """
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if _stored_fingerprint(root) != params.fingerprint():
            staging = root.with_name(f".{root.name}.staging-{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            write_shapes(staging, params)
            _swap_in(staging, root)
    return load_coco(root / ANNOTATIONS_FILE, root / "images")


def _stored_fingerprint(root: Path) -> str | None:
    marker = root / "params.json"
    if not marker.is_file() or not (root / ANNOTATIONS_FILE).is_file():
        return None
    return json.loads(marker.read_text()).get("fingerprint")


def _swap_in(staging: Path, root: Path) -> None:
    old = root.with_name(f".{root.name}.old-{os.getpid()}")
    if root.exists():
        root.rename(old)
    staging.rename(root)
    shutil.rmtree(old, ignore_errors=True)


def write_shapes(root: Path, params: ShapesParams) -> DetectionDataset:
    """Render every image of the dataset into ``root/images`` and write its COCO json."""
    (root / "images").mkdir(parents=True)
    records = []
    for scene in range(params.num_scenes):
        records.extend(_render_scene(root, params, scene))
    if params.second_annotator:
        relabelled = [_annotate_again(record, params) for record in records]
        write_coco(DetectionDataset(root / "images", list(params.classes), relabelled), root / SECOND_ANNOTATOR_FILE)
    if params.label_noise:
        noisy = [_with_label_errors(record, params) for record in records]
        records = [record for record, _ in noisy]
        injected = [error for _, errors in noisy for error in errors]
        (root / LABEL_NOISE_FILE).write_text(json.dumps({"label_noise": params.label_noise, "errors": injected}) + "\n")
    dataset = DetectionDataset(root / "images", list(params.classes), records)
    write_coco(dataset, root / ANNOTATIONS_FILE)
    info = {"fingerprint": params.fingerprint(), "params": asdict(params)}
    (root / "params.json").write_text(json.dumps(info, indent=2) + "\n")
    return dataset


def _render_scene(root: Path, params: ShapesParams, scene: int) -> list[Record]:
    rng = np.random.default_rng([params.seed, scene])
    texture = params.texture_strength if rng.random() < params.textured_fraction else None
    domain = "clean" if texture is None else "textured"
    background = _background(rng, params.image_size, texture)
    records = []
    for k in range(params.images_per_scene):
        image_id = scene * params.images_per_scene + k + 1
        image_rng = np.random.default_rng([params.seed, scene, k + 1])
        image, boxes, labels, areas = _render_image(image_rng, params, background, texture)
        file_name = f"{image_id:06d}.jpg"
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=params.jpeg_quality)
        (root / "images" / file_name).write_bytes(buffer.getvalue())
        record = Record(
            image_id,
            file_name,
            params.image_size,
            params.image_size,
            boxes,
            labels,
            areas=areas,
            group=f"scene{scene:04d}",
            domain=domain,
        )
        records.append(_hide_labels(record, image_rng, params) if params.hidden_label_fraction else record)
    return records


def _background(rng: np.random.Generator, size: int, texture: float | None) -> np.ndarray:
    """A ``[size, size, 3]`` float background: a gradient and soft blobs, with stripes and noise
    scaled by ``texture`` when it is given (the textured domain)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)[..., None]
    start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    image = start + (end - start) * (ramp - ramp.min()) / (np.ptp(ramp) + 1e-6)
    blobs = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(blobs)
    for _ in range(rng.integers(2, 6)):
        cx, cy = rng.uniform(0, size, 2)
        r = rng.uniform(size / 8, size / 3)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=int(rng.integers(60, 140)))
    mask = np.asarray(blobs.filter(ImageFilter.GaussianBlur(size / 16)), dtype=np.float64)[..., None] / 255
    image = image * (1 - mask) + rng.uniform(0, 255, 3) * mask
    if texture is not None:
        image = 0.5 * image + 40 + _stripes(rng, size, 25 * texture) + rng.normal(0, 18 * texture, image.shape)
    return image


def _stripes(rng: np.random.Generator, size: int, amplitude: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 20)
    wave = np.sin((np.cos(angle) * xx + np.sin(angle) * yy) * 2 * np.pi / period)
    return (amplitude * wave)[..., None]


def _render_image(
    rng: np.random.Generator, params: ShapesParams, background: np.ndarray, texture: float | None
) -> tuple[Image.Image, np.ndarray, np.ndarray, np.ndarray]:
    canvas = Image.fromarray(np.clip(background * rng.uniform(0.9, 1.1), 0, 255).astype(np.uint8))
    boxes: list[list[float]] = []
    labels, areas = [], []
    for _ in range(rng.integers(params.min_objects, params.max_objects + 1)):
        placed = _place_object(rng, params, boxes)
        if placed is None:
            continue
        label, polygon, box = placed
        _draw_object(rng, canvas, polygon, background, box, texture)
        boxes.append(box)
        labels.append(label)
        areas.append(_polygon_area(polygon))
    if texture is not None:
        canvas = canvas.filter(ImageFilter.GaussianBlur(0.8))
    return canvas, np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(labels), np.array(areas)


def _place_object(
    rng: np.random.Generator, params: ShapesParams, boxes: list[list[float]]
) -> tuple[int, np.ndarray, list[float]] | None:
    """A class, polygon and tight box overlapping no earlier box by more than ``max_overlap``."""
    for _ in range(30):
        label = _draw_class(rng, params)
        size = math.exp(rng.uniform(math.log(params.min_object_size), math.log(params.max_object_size)))
        polygon = _shape_polygon(params.classes[label], size, rng.uniform(0, 2 * np.pi))
        low, high = polygon.min(axis=0), polygon.max(axis=0)
        span = params.image_size - (high - low)
        polygon = polygon - low + rng.uniform(0, 1, 2) * np.maximum(span, 0)
        box = [*polygon.min(axis=0).tolist(), *polygon.max(axis=0).tolist()]
        if all(_overlap(box, other) <= params.max_overlap for other in boxes):
            return label, polygon, box
    return None


def _draw_class(rng: np.random.Generator, params: ShapesParams) -> int:
    if not params.class_frequencies:
        return int(rng.integers(len(params.classes)))
    weights = np.asarray(params.class_frequencies, dtype=float)
    return int(rng.choice(len(weights), p=weights / weights.sum()))


def _hide_labels(record: Record, rng: np.random.Generator, params: ShapesParams) -> Record:
    """Leave a share of the classes unlabelled in this image: their objects stay in the pixels,
    their boxes leave the annotations, and ``annotated`` says they are unknown, not absent."""
    num_classes = len(params.classes)
    count = round(params.hidden_label_fraction * num_classes)
    if params.hidden_label_choice == "random":
        hidden = rng.choice(num_classes, count, replace=False)
    elif params.hidden_label_choice == "by_domain":  # clean images leave out the last classes, textured the first
        hidden = np.arange(num_classes - count, num_classes) if record.domain == "clean" else np.arange(count)
    else:  # least_visible: classes ordered by their largest object's area (absent: 0), ties at random
        largest = np.zeros(num_classes)
        np.maximum.at(largest, record.labels, record.areas)
        hidden = np.lexsort((rng.random(num_classes), largest))[:count]
    keep = ~np.isin(record.labels, hidden)
    record.boxes, record.labels, record.areas = record.boxes[keep], record.labels[keep], record.areas[keep]
    record.iscrowd = record.iscrowd[keep]
    record.annotated = frozenset(range(num_classes)) - {int(h) for h in hidden}
    return record


def _annotate_again(record: Record, params: ShapesParams) -> Record:
    """The record as a second, careful person would label it (own seeded stream per image)."""
    rng = np.random.default_rng([params.seed, record.image_id, 2])
    kept = rng.random(len(record.labels)) >= ANNOTATOR_MISS
    boxes, labels = record.boxes[kept].astype(np.float64), record.labels[kept].copy()
    sides = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
    boxes = boxes + rng.normal(0.0, ANNOTATOR_EDGE_ERROR, boxes.shape) * sides
    boxes = np.clip(boxes, 0, [record.width, record.height, record.width, record.height])
    num_classes = len(params.classes)
    if num_classes > 1:  # with one class there is nothing to confuse it with
        confused = rng.random(len(labels)) < ANNOTATOR_CONFUSION
        others = rng.integers(1, num_classes, len(labels))  # a different class: shift by 1..C-1
        labels[confused] = (labels[confused] + others[confused]) % num_classes
    return replace(record, boxes=boxes.astype(np.float32), labels=labels, areas=None, iscrowd=record.iscrowd[kept])


def _with_label_errors(record: Record, params: ShapesParams) -> tuple[Record, list[dict]]:
    """The record with a ``label_noise`` share of its boxes given an error (own seeded stream per
    image), and each error as ``label_noise.json`` records it (boxes xywh, classes by name)."""
    rng = np.random.default_rng([params.seed, record.image_id, 3])
    boxes, labels, keep = record.boxes.copy(), record.labels.copy(), np.ones(len(record.labels), bool)
    kinds = LABEL_ERROR_KINDS if len(params.classes) > 1 else ("overlooked", "badloc")
    errors = []
    for i in np.flatnonzero(rng.random(len(labels)) < params.label_noise):
        kind = str(rng.choice(kinds))
        if kind == "overlooked":
            keep[i] = False
        elif kind == "swap":
            labels[i] = (labels[i] + rng.integers(1, len(params.classes))) % len(params.classes)
        else:
            sides = boxes[i, 2:] - boxes[i, :2]
            room_before, room_after = boxes[i, :2], np.array([record.width, record.height]) - boxes[i, 2:]
            shift = rng.uniform(*BADLOC_SHIFT, 2) * sides * rng.choice([-1, 1], 2)
            shift = np.where(
                np.abs(shift) > np.where(shift < 0, room_before, room_after), -shift, shift
            )  # the roomier way
            boxes[i] = boxes[i] + np.tile(np.clip(shift, -room_before, room_after), 2)  # stays in the image
        errors.append(
            {
                "image_id": record.image_id,
                "kind": kind,
                "true_class": params.classes[record.labels[i]],
                "true_box": _xywh(record.boxes[i]),
                "given_class": None if kind == "overlooked" else params.classes[labels[i]],
                "given_box": None if kind == "overlooked" else _xywh(boxes[i]),
            }
        )
    noisy = replace(
        record, boxes=boxes[keep], labels=labels[keep], areas=record.areas[keep], iscrowd=record.iscrowd[keep]
    )
    return noisy, errors


def _xywh(box: np.ndarray) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]


def _shape_polygon(kind: str, size: float, angle: float) -> np.ndarray:
    """Vertices ``[K, 2]`` of a shape about the origin whose extent is about ``size``."""
    r = size / 2
    if kind == "circle":
        return _regular(64, r, 0.0)
    if kind == "square":
        return _regular(4, r * math.sqrt(2), math.pi / 4 + (angle % 0.5) - 0.25)
    if kind == "triangle":
        return _regular(3, r, angle)
    if kind == "hexagon":
        return _regular(6, r, angle)
    if kind == "star":
        outer, inner = _regular(5, r, angle), _regular(5, r * 0.42, angle + math.pi / 5)
        return np.stack([outer, inner], axis=1).reshape(-1, 2)
    arm = r / 3  # cross: a plus sign of three-by-three cells with the corners cut away
    unit = [(-1, -3), (1, -3), (1, -1), (3, -1), (3, 1), (1, 1), (1, 3), (-1, 3), (-1, 1), (-3, 1), (-3, -1), (-1, -1)]
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return (np.array(unit, dtype=np.float64) * arm) @ rotation.T


def _regular(n: int, radius: float, angle: float) -> np.ndarray:
    t = angle + np.arange(n) * 2 * np.pi / n
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _overlap(a: list[float], b: list[float]) -> float:
    """Intersection over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller


def _draw_object(
    rng: np.random.Generator,
    canvas: Image.Image,
    polygon: np.ndarray,
    background: np.ndarray,
    box: list[float],
    texture: float | None,
) -> None:
    x1, y1 = int(box[0]), int(box[1])
    x2, y2 = min(math.ceil(box[2]) + 1, canvas.width), min(math.ceil(box[3]) + 1, canvas.height)
    local = background[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0)
    colour = rng.uniform(0, 255, 3)
    for _ in range(20):  # colour is random, but must stand out from the background behind it
        if np.linalg.norm(colour - local) >= 90:
            break
        colour = rng.uniform(0, 255, 3)
    fill = np.broadcast_to(colour, (y2 - y1, x2 - x1, 3))
    if texture is not None:  # the textured domain: a muted, noisy fill
        fill = 0.6 * fill + 50 + rng.normal(0, 25 * texture, fill.shape)
    mask = Image.new("L", (x2 - x1, y2 - y1), 0)
    ImageDraw.Draw(mask).polygon([(x - x1, y - y1) for x, y in polygon.tolist()], fill=255)
    canvas.paste(Image.fromarray(np.clip(fill, 0, 255).astype(np.uint8)), (x1, y1), mask)


def _polygon_area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def load_shapes(root: str | Path, **params: object) -> DetectionDataset:
    """`ensure_shapes` with the parameters given as keywords (as a config passes them)."""
    unknown = sorted(set(params) - {f.name for f in fields(ShapesParams)})
    if unknown:
        raise ConfigError(f"unknown shapes parameter(s) {unknown}; known: {[f.name for f in fields(ShapesParams)]}")
    for key in ("classes", "class_frequencies"):
        if key in params:
            params[key] = tuple(params[key])  # type: ignore[arg-type]
    return ensure_shapes(root, ShapesParams(**params))  # type: ignore[arg-type]
