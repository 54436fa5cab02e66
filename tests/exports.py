"""Small exports as real tools write them, built from the tiny shapes data (8 scenes of 3
images): Roboflow COCO, official COCO, Pascal VOC with ImageSets, LabelImg, an Ultralytics
yaml. Their images carry what cameras and exporters write (mixed sizes, EXIF-turned phone
JPEGs, 16-bit, palette and greyscale PNGs), their annotations what real exports carry."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from detkit.data.records import DetectionDataset, Record
from tests.data.test_image_files import save_as_camera

# The export's own splits, by scene (the images of a scene stay together): 5 train, 2 valid, 1 test.
SCENE_SPLITS = {"train": range(0, 5), "valid": range(5, 7), "test": range(7, 8)}


def export_splits(shapes: DetectionDataset) -> dict[str, list[Record]]:
    """The shapes records per export split (train, valid, test)."""
    scene = {r.image_id: int(r.group.removeprefix("scene")) for r in shapes.records}
    return {s: [r for r in shapes.records if scene[r.image_id] in scenes] for s, scenes in SCENE_SPLITS.items()}


def camera_image(shapes: DetectionDataset, record: Record, folder: Path, suffix_jpg: bool = False) -> tuple:
    """Save the record's image into ``folder`` one of five ways (by image id) and return its
    ``(name, width, height, boxes)`` as a viewer shows it: a larger landscape JPEG, a phone JPEG
    stored unturned with EXIF orientation 6, 16-bit greyscale, a palette with transparency, 8-bit
    greyscale. ``suffix_jpg``: every file a JPEG (as VOC's JPEGImages/ holds)."""
    folder.mkdir(parents=True, exist_ok=True)
    picture = Image.open(shapes.image_path(record)).convert("RGB")
    boxes = record.boxes.copy()
    stem = f"img{record.image_id:03d}"
    kind = record.image_id % 5 if not suffix_jpg else record.image_id % 2
    if kind == 0:
        picture = picture.resize((144, 120))
        boxes *= [144 / 96, 120 / 96, 144 / 96, 120 / 96]
        name = f"{stem}.jpg"
        picture.save(folder / name, quality=95)
    elif kind == 1:
        picture = picture.resize((120, 96))
        boxes *= [120 / 96, 1, 120 / 96, 1]
        name = f"{stem}.jpg"
        save_as_camera(picture, folder / name, 6, quality=95)
    elif kind == 2:
        name = f"{stem}.png"
        Image.fromarray(np.asarray(picture.convert("L")).astype(np.uint16) * 257).save(folder / name)
    elif kind == 3:
        name = f"{stem}.png"
        picture.convert("P").save(folder / name, transparency=0)
    else:
        name = f"{stem}.png"
        picture.convert("L").save(folder / name)
    return name, picture.width, picture.height, boxes


def coco_file(entries: list[tuple], records: list[Record], categories: list[dict], first_id: int) -> dict:
    """A COCO dict of ``records`` saved as ``entries`` (`camera_image`), image ids from ``first_id``."""
    images, annotations = [], []
    for number, ((name, width, height, boxes), record) in enumerate(zip(entries, records)):
        image_id = first_id + number
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        for (x1, y1, x2, y2), label in zip(boxes.tolist(), record.labels.tolist()):
            bbox = [x1, y1, x2 - x1, y2 - y1]
            annotations.append(
                {
                    "id": len(annotations),
                    "image_id": image_id,
                    "category_id": label + 1,
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": annotations, "categories": categories}


def roboflow_coco(folder: Path, shapes: DetectionDataset) -> Path:
    """Roboflow's COCO export: ``train/ valid/ test/``, each ``_annotations.coco.json`` beside its
    images, image ids from 0 in every file, and category 0 the dataset's name (no boxes)."""
    categories = [{"id": 0, "name": "shapes-dataset", "supercategory": "none"}]
    categories += [
        {"id": i + 1, "name": n, "supercategory": "shapes-dataset"} for i, n in enumerate(shapes.class_names)
    ]
    for split, records in export_splits(shapes).items():
        entries = [camera_image(shapes, r, folder / split) for r in records]
        coco = coco_file(entries, records, categories, first_id=0)
        (folder / split / "_annotations.coco.json").write_text(json.dumps(coco))
    (folder / "README.roboflow.txt").write_text("exported from roboflow.com\n")
    return folder


def official_coco(folder: Path, shapes: DetectionDataset) -> Path:
    """The official layout: ``annotations/instances_{train,val}2017.json`` and ``train2017/``,
    ``val2017/`` image folders; ids unique across files, an unused category (toaster, id 70)
    and a crowd region."""
    categories = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(shapes.class_names)]
    categories.append({"id": 70, "name": "toaster", "supercategory": "appliance"})
    splits = export_splits(shapes)
    parts = {"train2017": splits["train"], "val2017": splits["valid"] + splits["test"]}
    first_id = 1
    for name, records in parts.items():
        entries = [camera_image(shapes, r, folder / name) for r in records]
        coco = coco_file(entries, records, categories, first_id)
        crowd = {"id": 9999, "image_id": first_id, "category_id": 1, "bbox": [0, 0, 20, 20], "area": 300, "iscrowd": 1}
        coco["annotations"].append(crowd)
        (folder / "annotations").mkdir(parents=True, exist_ok=True)
        (folder / "annotations" / f"instances_{name}.json").write_text(json.dumps(coco))
        first_id += len(records)
    return folder


def _voc_xml(name: str, width: int, height: int, boxes: np.ndarray, labels, class_names) -> str:
    node = ET.Element("annotation")
    ET.SubElement(node, "folder").text = "JPEGImages"
    ET.SubElement(node, "filename").text = name
    size = ET.SubElement(node, "size")
    for key, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels):
        obj = ET.SubElement(node, "object")
        ET.SubElement(obj, "name").text = class_names[int(label)]
        ET.SubElement(obj, "difficult").text = "0"
        box = ET.SubElement(obj, "bndbox")
        for key, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
            ET.SubElement(box, key).text = str(round(value))
    return ET.tostring(node, encoding="unicode")


def voc_export(folder: Path, shapes: DetectionDataset, labelimg: bool = False) -> Path:
    """Pascal VOC as CVAT writes it (``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/`` train,
    val, test), or with ``labelimg`` as LabelImg saves it (each xml beside its image). One object
    is a click without a drag (``xmin == xmax``, ``ymin == ymax``)."""
    images = folder if labelimg else folder / "JPEGImages"
    annotations = folder if labelimg else folder / "Annotations"
    annotations.mkdir(parents=True, exist_ok=True)
    for split, records in export_splits(shapes).items():
        stems = []
        for record in records:
            name, width, height, boxes = camera_image(shapes, record, images, suffix_jpg=True)
            labels = record.labels.tolist()
            if record.image_id == shapes.records[0].image_id:
                boxes = np.concatenate([boxes, [[9, 9, 10, 10]]])
                labels.append(0)
            stems.append(Path(name).stem)
            (annotations / f"{Path(name).stem}.xml").write_text(
                _voc_xml(name, width, height, boxes, labels, shapes.class_names)
            )
        if not labelimg:
            (folder / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
            image_set = {"valid": "val"}.get(split, split)
            (folder / "ImageSets" / "Main" / f"{image_set}.txt").write_text("".join(f"{s}\n" for s in stems))
    return folder


def ultralytics_export(folder: Path, shapes: DetectionDataset) -> Path:
    """An Ultralytics dataset: ``shapes.yaml`` (not data.yaml) with ``path``, ``train``, ``val``,
    ``test``; ``images/<split>/`` and ``labels/<split>/``; one background image without a
    label file and one orphan label file without an image."""
    names = {i: n for i, n in enumerate(shapes.class_names)}
    for split, records in export_splits(shapes).items():
        key = {"valid": "val"}.get(split, split)
        for record in records:
            name, width, height, boxes = camera_image(shapes, record, folder / "images" / key)
            lines = [
                f"{int(label)} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}\n"
                for (x1, y1, x2, y2), label in zip(boxes.tolist(), record.labels)
            ]
            if record.image_id != records[-1].image_id or split != "train":  # the last train image: background
                (folder / "labels" / key).mkdir(parents=True, exist_ok=True)
                (folder / "labels" / key / f"{Path(name).stem}.txt").write_text("".join(lines))
    (folder / "labels" / "train" / "deleted_image.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    config = (
        f"path: {folder.name}\ntrain: images/train\nval: images/val\ntest: images/test\nnames: {json.dumps(names)}\n"
    )
    (folder / "shapes.yaml").write_text(config)
    return folder


def cvat_project_export(folder: Path, shapes: DetectionDataset) -> Path:
    """CVAT for images 1.1 of a project, as CVAT's exporter writes it: ``annotations.xml`` (its
    ``<meta><project>`` labels, each ``<image>`` with its ``subset``) beside
    ``images/<subset>/<name>``; every other object a polygon, and a tag on each image."""
    subsets = {"train": "Train", "valid": "Validation", "test": "Test"}
    elements = []
    for split, records in export_splits(shapes).items():
        for record in records:
            name, width, height, boxes = camera_image(shapes, record, folder / "images" / subsets[split])
            shapes_xml = ['<tag label="shape" source="manual"/>']
            for k, ((x1, y1, x2, y2), label) in enumerate(zip(boxes.tolist(), record.labels)):
                label_name = shapes.class_names[int(label)]
                if k % 2:
                    points = (
                        f"{x1:.2f},{y1:.2f};{x2:.2f},{(y1 + y2) / 2:.2f};{(x1 + x2) / 2:.2f},{y2:.2f};{x1:.2f},{y2:.2f}"
                    )
                    shapes_xml.append(f'<polygon label="{label_name}" source="manual" occluded="0" points="{points}"/>')
                else:
                    shapes_xml.append(
                        f'<box label="{label_name}" source="manual" occluded="0" xtl="{x1:.2f}" ytl="{y1:.2f}" '
                        f'xbr="{x2:.2f}" ybr="{y2:.2f}" z_order="0"/>'
                    )
            elements.append(
                f'<image id="{len(elements)}" name="{name}" subset="{subsets[split]}" task_id="1" width="{width}" '
                f'height="{height}">{"".join(shapes_xml)}</image>'
            )
    labels = "".join(f"<label><name>{n}</name><type>any</type></label>" for n in [*shapes.class_names, "shape"])
    (folder / "annotations.xml").write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version><meta><project><labels>{labels}'
        f"</labels></project></meta>{''.join(elements)}</annotations>"
    )
    return folder


def labelme_export(folder: Path, shapes: DetectionDataset) -> Path:
    """LabelMe with ``--output``: ``images/<split>/`` photos and ``labels/<split>/`` jsons naming
    them as ``../../images/<split>/<name>``; every other object a polygon."""
    for split, records in export_splits(shapes).items():
        for record in records:
            name, width, height, boxes = camera_image(shapes, record, folder / "images" / split)
            objects = []
            for k, ((x1, y1, x2, y2), label) in enumerate(zip(boxes.tolist(), record.labels)):
                kind = "polygon" if k % 2 else "rectangle"
                points = [[x1, y1], [x2, (y1 + y2) / 2], [x1, y2]] if k % 2 else [[x1, y1], [x2, y2]]
                objects.append({"label": shapes.class_names[int(label)], "points": points, "shape_type": kind})
            document = {"version": "5.4.1", "flags": {}, "shapes": objects, "imagePath": f"../../images/{split}/{name}"}
            document |= {"imageData": None, "imageHeight": height, "imageWidth": width}
            (folder / "labels" / split).mkdir(parents=True, exist_ok=True)
            (folder / "labels" / split / f"{Path(name).stem}.json").write_text(json.dumps(document))
    return folder
