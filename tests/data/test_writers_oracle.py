"""The exporters' own writer code as the oracle (issue 57): a seeded generator makes a labelled
set (many images, nested folders, names with spaces and unicode, images without objects,
shapes that outline no object), each tool's writer writes it as that tool exports it, and detkit
must read every box back where the writer put it, then convert it to each format it writes with
the same boxes. Writers: datumaro (CVAT's format engine: CVAT for images, COCO, VOC, YOLO),
labelme's own label-file codec, Roboflow's supervision (COCO, YOLO, VOC), Label Studio's
converter (label-studio-sdk: COCO, YOLO, VOC from its tasks' JSON)."""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detkit.data.formats import WRITERS, convert_dataset, load_export

CLASSES = ["car", "person", "traffic light"]
NAMES = ["plain", "with space", "ünïcödé", "日本語", "dots.in.name", "UPPER"]
FOLDERS = ["", "sub dir", "a/b", "ñ"]


@dataclass
class Picture:
    """One generated image: its path relative to the set's folder (no suffix), size, boxes."""

    stem: str
    width: int
    height: int
    labels: list[int] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)  # xyxy, whole pixels inside the image


def generated_set(seed: int, images: int = 14, nested: bool = True) -> list[Picture]:
    """``images`` pictures of unique names (spaces, unicode, dots; in nested folders when
    ``nested``), each 0-4 boxes of whole pixels, about one in five without objects."""
    rng = random.Random(seed)
    pictures = []
    for k in range(images):
        folder = rng.choice(FOLDERS) if nested else ""
        stem = f"{folder}/{rng.choice(NAMES)} {k}".lstrip("/")
        width, height = rng.randint(48, 96), rng.randint(40, 80)
        picture = Picture(stem, width, height)
        for _ in range(0 if rng.random() < 0.2 else rng.randint(1, 4)):
            x1, y1 = rng.randint(0, width - 12), rng.randint(0, height - 12)
            x2, y2 = rng.randint(x1 + 4, min(width, x1 + 40)), rng.randint(y1 + 4, min(height, y1 + 40))
            picture.labels.append(rng.randrange(len(CLASSES)))
            picture.boxes.append([float(x1), float(y1), float(x2), float(y2)])
        pictures.append(picture)
    return pictures


def _pixels(picture: Picture) -> np.ndarray:
    return np.random.default_rng(abs(hash(picture.stem)) % 2**32).integers(
        0, 255, (picture.height, picture.width, 3), dtype=np.uint8
    )


def _save(picture: Picture, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_pixels(picture)).save(path)
    return path


def _read_back(dataset) -> dict[str, list[tuple[str, list[float]]]]:
    """Each image's objects (class name, box) by its name without folder or suffix: writers
    flatten or keep folders each their own way, and the generated names are unique."""
    read = {}
    for record in dataset.records:
        key = Path(record.file_name).stem.rsplit("__", 1)[-1]  # VOC written by detkit joins folders with __
        objects = sorted(
            (dataset.class_names[int(c)], [round(v, 2) for v in b])
            for c, b in zip(record.labels, record.boxes.tolist())
        )
        read[key] = objects
    return read


def _expected(pictures: list[Picture]) -> dict[str, list[tuple[str, list[float]]]]:
    return {Path(p.stem).name: sorted((CLASSES[c], b) for c, b in zip(p.labels, p.boxes)) for p in pictures}


def assert_same_objects(dataset, pictures: list[Picture], tolerance: float) -> None:
    """Every generated image read, with every box of its class within ``tolerance`` px."""
    read, expected = _read_back(dataset), _expected(pictures)
    read = {key.split("-", 1)[-1] if key.startswith(UPLOAD) else key: objects for key, objects in read.items()}
    assert sorted(read) == sorted(expected)
    for key, objects in expected.items():
        assert [n for n, _ in read[key]] == [n for n, _ in objects], key
        for (_, got), (_, want) in zip(read[key], objects):
            assert np.allclose(got, want, atol=tolerance), (key, got, want)


def assert_converts_losslessly(root: Path, tmp_path: Path, pictures: list[Picture], tolerance: float) -> None:
    """``root`` converted to each format detkit writes reads back with the same objects."""
    for target in WRITERS:
        out = tmp_path / f"as_{target}"
        convert_dataset("auto", root, target, out)
        assert_same_objects(load_export(out, target), pictures, tolerance)


# --- datumaro: the format engine of CVAT's exports -------------------------------------------------


def _datumaro_set(pictures: list[Picture], folder: Path, cvat_shapes: bool = True):
    """The pictures as a datumaro dataset in three subsets; with ``cvat_shapes`` every other
    object a polygon and a points shape on each labelled image (CVAT's own kinds; the COCO,
    VOC and YOLO writers keep boxes only)."""
    from datumaro.components.annotation import Bbox, Points, Polygon
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image as DmImage

    items = []
    for k, picture in enumerate(pictures):
        annotations = []
        for j, (label, (x1, y1, x2, y2)) in enumerate(zip(picture.labels, picture.boxes)):
            if cvat_shapes and j % 2:  # a polygon: read as the box that holds it
                annotations.append(Polygon([x1, y1, x2, (y1 + y2) / 2, (x1 + x2) / 2, y2, x1, y2], label=label))
            else:
                annotations.append(Bbox(x1, y1, x2 - x1, y2 - y1, label=label))
        if cvat_shapes and picture.labels:
            annotations.append(Points([1.0, 1.0, 2.0, 2.0], label=picture.labels[0]))  # outlines no object
        path = _save(picture, folder / f"{picture.stem}.png")
        subset = ("train", "val", "test")[k % 3]
        items.append(DatasetItem(picture.stem, subset=subset, media=DmImage(path=str(path)), annotations=annotations))
    return Dataset.from_iterable(items, categories=CLASSES)


@pytest.mark.parametrize("seed", [0, 1])
def test_datumaro_cvat_for_images_reads_every_box_and_its_subsets(tmp_path, caplog, seed):
    pictures = generated_set(seed)
    export = tmp_path / "cvat export"
    _datumaro_set(pictures, tmp_path / "source").export(str(export), "cvat", save_media=True)
    assert sorted(p.name for p in export.glob("*.xml")) == ["test.xml", "train.xml", "val.xml"]  # one per subset
    with caplog.at_level(logging.INFO):
        dataset = load_export(export)
    assert_same_objects(dataset, pictures, tolerance=0.01)
    assert {split: len(ids) for split, ids in dataset.given_splits.items()} == {"train": 5, "dev": 5, "test": 4}
    assert "points shape(s) outline no object" in caplog.text
    assert_converts_losslessly(export, tmp_path, pictures, tolerance=1.0)  # VOC holds whole pixels


@pytest.mark.parametrize(
    ("writer", "options", "tolerance"),
    [
        ("coco_instances", {}, 0.01),
        ("voc_detection", {}, 1.0),  # VOC holds whole 1-based pixels
        ("yolo", {}, 0.01),
    ],
)
def test_datumaro_coco_voc_and_yolo_exports_read_every_box(tmp_path, writer, options, tolerance):
    pictures = generated_set(2, nested=writer != "voc_detection")  # datumaro's VOC writer keeps no folders
    export = tmp_path / writer
    _datumaro_set(pictures, tmp_path / "source", cvat_shapes=False).export(
        str(export), writer, save_media=True, **options
    )
    dataset = load_export(export)
    assert_same_objects(dataset, pictures, tolerance=tolerance)
    assert_converts_losslessly(export, tmp_path, pictures, tolerance=max(tolerance, 1.0))


# --- labelme's own label-file codec --------------------------------------------------------------


def _labelme_shapes(picture: Picture) -> list[dict]:
    shapes = []
    for j, (label, (x1, y1, x2, y2)) in enumerate(zip(picture.labels, picture.boxes)):
        if j % 3 == 0:
            kind, points = "rectangle", [[x2, y2], [x1, y1]]  # corners in the order they were dragged
        elif j % 3 == 1:
            kind, points = "polygon", [[x1, y1], [x2, (y1 + y2) / 2], [(x1 + x2) / 2, y2], [x1, y2]]
        else:
            kind, points = "oriented_rectangle", [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
        shapes.append(
            {
                "label": CLASSES[label],
                "points": points,
                "shape_type": kind,
                "group_id": None,
                "description": "",
                "flags": {},
                "mask": None,
            }
        )
    if picture.labels:
        shapes.append(
            {
                "label": CLASSES[0],
                "points": [[1.0, 1.0], [3.0, 4.0]],
                "shape_type": "line",
                "group_id": None,
                "description": "",
                "flags": {},
                "mask": None,
            }
        )
    return shapes


@pytest.mark.parametrize("layout", ["beside", "output folder", "embedded"])
def test_labelme_files_written_by_labelme_read_every_box(tmp_path, caplog, layout):
    """LabelMe's layouts: each json beside its image; jsons in another folder (labelme
    ``--output``) naming ``../images/...``; the image also embedded in the json (imageData)."""
    from labelme._label_file import write_label_file

    pictures = generated_set(3)
    export = tmp_path / "labelme set"
    for picture in pictures:
        image = _save(picture, export / "images" / f"{picture.stem}.jpg")
        jsons = export / ("images" if layout != "output folder" else "labels")
        json_path = jsons / f"{picture.stem}.json"
        json_path.parent.mkdir(parents=True, exist_ok=True)
        image_path = Path(os.path.relpath(image, json_path.parent))
        write_label_file(
            str(json_path),
            shapes=_labelme_shapes(picture),
            image_path=image_path.as_posix(),
            image_height=picture.height,
            image_width=picture.width,
            image_data=image.read_bytes() if layout == "embedded" else None,
        )
    with caplog.at_level(logging.INFO):
        dataset = load_export(export)
    assert_same_objects(dataset, pictures, tolerance=0.01)
    assert "line shape(s) outline no object" in caplog.text
    assert_converts_losslessly(export, tmp_path, pictures, tolerance=1.0)


# --- supervision: Roboflow's library ------------------------------------------------------------


def _supervision_set(pictures: list[Picture], folder: Path):
    import supervision as sv

    images, annotations = [], {}
    for picture in pictures:
        path = str(_save(picture, folder / f"{Path(picture.stem).name}.jpg"))  # its writers keep no folders
        images.append(path)
        boxes = np.array(picture.boxes, dtype=np.float32).reshape(-1, 4)
        annotations[path] = sv.Detections(xyxy=boxes, class_id=np.array(picture.labels, dtype=int))
    return sv.DetectionDataset(classes=CLASSES, images=images, annotations=annotations)


@pytest.mark.parametrize(("writer", "tolerance"), [("coco", 0.01), ("yolo", 0.01), ("voc", 1.0)])
def test_supervision_exports_read_every_box(tmp_path, writer, tolerance):
    pictures = generated_set(4, nested=False)
    dataset = _supervision_set(pictures, tmp_path / "source")
    export = tmp_path / f"sv_{writer}"
    if writer == "coco":
        dataset.as_coco(str(export / "train"), str(export / "train" / "_annotations.coco.json"))
    elif writer == "yolo":
        dataset.as_yolo(str(export / "train" / "images"), str(export / "train" / "labels"), str(export / "data.yaml"))
    else:
        dataset.as_pascal_voc(str(export / "train"), str(export / "train"))
    read = load_export(export)
    assert_same_objects(read, pictures, tolerance=tolerance)
    assert_converts_losslessly(export, tmp_path, pictures, tolerance=max(tolerance, 1.0))


# --- Label Studio's converter (label-studio-sdk) -------------------------------------------------

UPLOAD = "5f3a9c1e-"  # Label Studio prefixes each uploaded file's name
LABEL_CONFIG = (
    '<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">'
    + "".join(f'<Label value="{name}"/>' for name in CLASSES)
    + "</RectangleLabels></View>"
)


def _label_studio_tasks(pictures: list[Picture], upload: Path) -> list[dict]:
    """Label Studio's JSON export of the pictures, uploaded to project 1: each box in percent of
    the image, as its labelling interface stores it."""
    tasks = []
    for k, picture in enumerate(pictures):
        name = f"{UPLOAD}{Path(picture.stem).name}.jpg"
        _save(picture, upload / "1" / name)
        results = [
            {
                "id": f"r{k}_{j}",
                "type": "rectanglelabels",
                "from_name": "label",
                "to_name": "image",
                "original_width": picture.width,
                "original_height": picture.height,
                "image_rotation": 0,
                "value": {
                    "x": 100 * x1 / picture.width,
                    "y": 100 * y1 / picture.height,
                    "width": 100 * (x2 - x1) / picture.width,
                    "height": 100 * (y2 - y1) / picture.height,
                    "rotation": 0,
                    "rectanglelabels": [CLASSES[label]],
                },
            }
            for j, (label, (x1, y1, x2, y2)) in enumerate(zip(picture.labels, picture.boxes))
        ]
        tasks.append({"id": k + 1, "data": {"image": f"/data/upload/1/{name}"}, "annotations": [{"result": results}]})
    return tasks


@pytest.mark.parametrize(
    ("writer", "tolerance"),
    [("coco", 0.01), ("yolo", 0.01), ("voc", 3.0)],  # its VOC writer truncates x and width each with int()
)
def test_label_studio_exports_written_by_its_converter_read_every_box(tmp_path, caplog, writer, tolerance):
    """Its COCO ``result.json`` names each image by the path to Label Studio's upload folder
    (``../media/upload/1/<name>``) and copies it into ``images/``: read as the copy."""
    import json

    from label_studio_sdk.converter import Converter

    pictures = generated_set(5, nested=False)
    upload = tmp_path / "media" / "upload"
    (tmp_path / "tasks.json").write_text(json.dumps(_label_studio_tasks(pictures, upload)))
    converter = Converter(LABEL_CONFIG, project_dir=str(tmp_path), upload_dir=str(upload), download_resources=True)
    export = tmp_path / f"ls_{writer}"
    getattr(converter, f"convert_to_{writer}")(str(tmp_path / "tasks.json"), str(export), is_dir=False)
    with caplog.at_level(logging.INFO):
        dataset = load_export(export)
    if writer == "voc":  # its VOC writer writes no .xml for an image without objects: said, not read
        empty = sum(not p.labels for p in pictures)
        assert f"{empty} image(s) in {export / 'images'} have no .xml and are not read" in caplog.text
        pictures = [p for p in pictures if p.labels]
    assert_same_objects(dataset, pictures, tolerance=tolerance)
    assert_converts_losslessly(export, tmp_path, pictures, tolerance=max(tolerance, 1.0))
