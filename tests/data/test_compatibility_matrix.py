"""The compatibility matrix of docs/data.md (issue 39): every labelling tool's export, built from
its documented layout, reads with all its boxes and converts to the other two formats with the
same count; one cell per format trains a step."""

import json
import logging
import os

import pytest

from detkit.data.formats import convert_dataset, load_export
from tests.data.test_formats import _write_image
from tests.data.test_labelimg_layouts import _labelled

FORMATS = ("coco", "voc", "yolo")


def roboflow_yolov8(root):
    """Roboflow's YOLOv5-v11 export: ``data.yaml`` with ``../train/images`` paths, ``train/``,
    ``valid/``, ``test/`` each with ``images/`` and ``labels/``; polygon lines in a segmentation project."""
    for split, lines in (("train", ["0 0.5 0.5 0.2 0.2"]), ("valid", ["1 0.2 0.3 0.4 0.3 0.3 0.5"]), ("test", [])):
        _labelled(root / split / "images", f"{split}_a_jpg.rf.1f2e", lines, root / split / "labels")
    (root / "data.yaml").write_text(
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: 2\nnames: ['ship', 'buoy']\n\n"
        "roboflow:\n  workspace: w\n  project: p\n  version: 1\n  license: CC BY 4.0\n  url: https://x/p/1\n"
    )
    return 2


def cvat_yolo_1_1(root):
    """CVAT's YOLO 1.1: ``obj.data``, ``obj.names``, ``obj_train_data/`` and ``train.txt``."""
    _labelled(root / "obj_train_data", "frame_000000", ["0 0.5 0.5 0.2 0.2", "1 0.2 0.2 0.1 0.1"])
    (root / "obj.names").write_text("ship\nbuoy\n")
    (root / "obj.data").write_text("classes = 2\nnames = data/obj.names\ntrain = data/train.txt\nbackup = backup/\n")
    (root / "train.txt").write_text("data/obj_train_data/frame_000000.jpg\n")
    return 2


def cvat_ultralytics(root):
    """CVAT's Ultralytics YOLO detection: ``data.yaml`` (``path: ./``, ``train: train.txt``),
    ``images/train``, ``labels/train``, ``train.txt`` of ``images/train/...`` lines."""
    _labelled(root / "images" / "train", "image1", ["1 0.5 0.5 0.2 0.2"], root / "labels" / "train")
    (root / "train.txt").write_text("images/train/image1.jpg\n")
    (root / "data.yaml").write_text("path: ./\ntrain: train.txt\nnames:\n  0: ship\n  1: buoy\n")
    return 1


def label_studio_yolo(root):
    """Label Studio's YOLO export: ``classes.txt``, ``notes.json``, ``images/``, ``labels/``."""
    _labelled(root / "images", "a1b2-boat", ["0 0.5 0.5 0.2 0.2", "1 0.2 0.2 0.1 0.1"], root / "labels")
    (root / "classes.txt").write_text("ship\nbuoy\n")
    (root / "notes.json").write_text(json.dumps({"categories": [{"id": 0, "name": "ship"}]}))
    return 2


def label_studio_coco(root):
    """Label Studio's COCO export: ``result.json`` (file names written on Windows) beside ``images/``."""
    _write_image(root / "images" / "a1b2-boat.jpg")
    coco = {
        "images": [{"id": 0, "file_name": "images\\a1b2-boat.jpg", "width": 40, "height": 30}],
        "categories": [{"id": 0, "name": "ship"}, {"id": 1, "name": "buoy"}],
        "annotations": [
            {"id": i, "image_id": 0, "category_id": i, "bbox": [1 + 5 * i, 2, 8, 8], "area": 64, "iscrowd": 0}
            for i in range(2)
        ],
    }
    (root / "result.json").write_text(json.dumps(coco))
    return 2


def label_studio_voc(root):
    """Label Studio's Pascal VOC export: ``Annotations/`` beside ``images/``."""
    _write_image(root / "images" / "a1b2-boat.jpg")
    (root / "Annotations").mkdir(parents=True)
    objects = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{x}</xmin><ymin>3</ymin><xmax>{x + 9}</xmax><ymax>20</ymax>"
        "</bndbox></object>"
        for name, x in (("ship", 2), ("buoy", 20))
    )
    (root / "Annotations" / "a1b2-boat.xml").write_text(
        f"<annotation><filename>a1b2-boat.jpg</filename><size><width>40</width><height>30</height></size>{objects}"
        "</annotation>"
    )
    return 2


def labelimg_yolo(root):
    """LabelImg's YOLO mode: ``<image>.txt`` and ``classes.txt`` beside the images, in split folders."""
    _labelled(root / "train", "a", ["0 0.5 0.5 0.2 0.2", "1 0.2 0.2 0.1 0.1"])
    _labelled(root / "valid", "b", ["1 0.5 0.5 0.3 0.3"])
    (root / "train" / "classes.txt").write_text("ship\nbuoy\n")
    return 3


def ultralytics_linked_images(root):
    """An Ultralytics dataset whose ``images`` links to photos kept elsewhere."""
    photos = root.parent / f"{root.name}_photos"
    _write_image(photos / "train" / "a.jpg")
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.2 0.2 0.1 0.1\n")
    os.symlink(os.path.relpath(photos, root), root / "images")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/train\nnames: [ship, buoy]\n")
    return 2


CELLS = {
    build.__name__: build
    for build in (
        roboflow_yolov8,
        cvat_yolo_1_1,
        cvat_ultralytics,
        label_studio_yolo,
        label_studio_coco,
        label_studio_voc,
        labelimg_yolo,
        ultralytics_linked_images,
    )
}


def _boxes(dataset):
    return sum(len(r.boxes) for r in dataset.records)


@pytest.mark.parametrize("cell", list(CELLS))
def test_each_export_reads_every_box_and_converts_to_the_other_formats_with_the_same_count(tmp_path, caplog, cell):
    root = tmp_path / cell
    root.mkdir()
    boxes = CELLS[cell](root)
    with caplog.at_level(logging.INFO):
        dataset = load_export(root)
    assert _boxes(dataset) == boxes
    assert f"{len(dataset)} images (" in caplog.text and f"without objects), {boxes} boxes, " in caplog.text
    for target in FORMATS:
        convert_dataset("auto", root, target, tmp_path / target)
        assert _boxes(load_export(tmp_path / target, target)) == boxes, target
