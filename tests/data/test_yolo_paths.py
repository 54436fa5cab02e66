"""Ultralytics' path rules (issue 39): an image's labels are found from its path as listed, links
kept as given, never from where a link leads; every label line of such an export is read."""

import dataclasses
import logging
import os

import pytest
import yaml

from detkit.data.formats.yolo import load_yolo, write_yolo
from detkit.exceptions import DatasetError
from tests.data.test_formats import _write_image

LINES = {
    "train/a": ["0 0.5 0.5 0.2 0.2", "1 0.3 0.3 0.1 0.1"],
    "train/b": ["1 0.6 0.6 0.3 0.3"],
    "val/c": ["0 0.5 0.5 0.4 0.4"],
}


def _export_with_linked_images(tmp_path, list_files: bool):
    """An export whose ``images`` is a link to photos kept elsewhere (``images -> ../photos``), its
    labels under ``labels/``; the splits as folders or as ``.txt`` lists of paths through the link."""
    photos, export = tmp_path / "photos", tmp_path / "export"
    for name, lines in LINES.items():
        _write_image(photos / f"{name}.jpg")
        (export / "labels" / f"{name}.txt").parent.mkdir(parents=True, exist_ok=True)
        (export / "labels" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    os.symlink(os.path.relpath(photos, export), export / "images")
    if list_files:
        for split in ("train", "val"):
            names = [n for n in LINES if n.startswith(split)]
            (export / f"{split}.txt").write_text("".join(f"./images/{n}.jpg\n" for n in names))
        splits = "train: train.txt\nval: val.txt\n"
    else:
        splits = "train: images/train\nval: images/val\n"
    (export / "data.yaml").write_text(f"path: .\n{splits}names: [cat, dog]\n")
    return export


@pytest.mark.parametrize("list_files", [False, True], ids=["folders", "txt_lists"])
def test_an_export_whose_images_folder_is_a_link_reads_every_label_line(tmp_path, list_files):
    dataset = load_yolo(_export_with_linked_images(tmp_path, list_files))
    assert sum(len(r.boxes) for r in dataset.records) == sum(len(lines) for lines in LINES.values()) == 4
    assert sorted(r.file_name for r in dataset.records) == [f"{name}.jpg" for name in LINES]
    assert {s: len(ids) for s, ids in dataset.given_splits.items()} == {"train": 2, "dev": 1}


def test_a_linked_image_takes_the_labels_beside_the_link(tmp_path):
    export = tmp_path / "export"
    _write_image(export / "images" / "a.jpg")
    (export / "labels").mkdir()
    (export / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    os.symlink("a.jpg", export / "images" / "copy.jpg")  # the same photo, labelled again
    (export / "labels" / "copy.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.2 0.2 0.1 0.1\n")
    (export / "data.yaml").write_text("names: [cat]\n")
    boxes = {r.file_name: len(r.boxes) for r in load_yolo(export).records}
    assert boxes == {"a.jpg": 1, "copy.jpg": 2}


def test_a_linked_image_without_labels_beside_the_link_takes_those_beside_its_target(tmp_path):
    """Ultralytics resolves a ``train:`` folder's links before it looks for labels: exports made
    that way keep the labels beside the photos the link leads to."""
    photos, export = tmp_path / "photos", tmp_path / "export"
    _write_image(photos / "images" / "a.jpg")
    (photos / "labels").mkdir()
    (photos / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.2 0.2 0.1 0.1\n")
    export.mkdir()
    os.symlink(photos / "images", export / "images")
    (export / "data.yaml").write_text("names: [cat]\n")
    assert [len(r.boxes) for r in load_yolo(export).records] == [2]


def test_label_files_that_belong_to_no_image_stop_the_reading_naming_the_first_pair(tmp_path, caplog):
    """Images listed from ``images/train`` while the labels sit in ``train/labels`` (a renamed or
    hand-moved export): read as it is, every image would hold no objects."""
    export = tmp_path / "export"
    _write_image(export / "images" / "train" / "a.jpg")
    (export / "train" / "labels").mkdir(parents=True)
    (export / "train" / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (export / "data.yaml").write_text("train: images/train\nnames: [cat]\n")
    with pytest.raises(DatasetError) as refused:
        load_yolo(export)
    assert f"1 label file(s), but none belongs to an image: {export}/images/train/a.jpg looks for its labels at " in (
        str(refused.value)
    )
    assert f"{export}/labels/train/a.txt, and {export}/train/labels/a.txt has no image" in str(refused.value)

    (export / "train" / "labels" / "a.txt").unlink()  # no label file at all: said loudly, read as empty
    with caplog.at_level(logging.INFO):
        assert [len(r.boxes) for r in load_yolo(export).records] == [0]
    assert "WARNING" in caplog.text and "data: 0 of 1 images have a label file (the other 1: no objects)" in caplog.text


def _as_ultralytics_resolves(yaml_file, cwd):
    """Where Ultralytics (``check_det_dataset``, ``img2label_paths``' lists) finds the splits'
    images, run from ``cwd``: ``path:`` relative to the working folder when it exists there,
    else the yaml's folder; a list's ``./`` lines relative to the list."""
    config = yaml.safe_load(yaml_file.read_text())
    given = config.get("path")
    root = (cwd / given) if given and (cwd / given).exists() else yaml_file.parent
    found = {}
    for key in ("train", "val", "test"):
        if key in config:
            entry = (root / config[key]).resolve()
            lines = entry.read_text().splitlines() if entry.suffix == ".txt" else None
            found[key] = [entry.parent / line[2:] for line in lines] if lines is not None else [entry]
    return found


@pytest.mark.parametrize("given_splits", [False, True])
def test_what_convert_writes_as_yolo_loads_under_ultralytics_path_rules_from_any_folder(tmp_path, given_splits):
    export = _export_with_linked_images(tmp_path / "source", list_files=False)
    dataset = load_yolo(export)
    if not given_splits:
        dataset = dataclasses.replace(dataset, given_splits={})
    written = write_yolo(dataset, tmp_path / "out")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    found = _as_ultralytics_resolves(written / "data.yaml", elsewhere)
    assert set(found) == {"train", "val"}
    if given_splits:
        assert [len(found[key]) for key in ("train", "val")] == [2, 1]
    for paths in found.values():
        assert all(p.exists() and str(p).startswith(str(written)) for p in paths), paths
    assert sum(len(r.boxes) for r in load_yolo(written).records) == 4


def test_what_convert_writes_as_coco_loads_in_pycocotools_and_scores_itself_perfectly(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from detkit.data.formats.coco import write_coco

    dataset = load_yolo(_export_with_linked_images(tmp_path / "source", list_files=False))
    written = write_coco(dataset, tmp_path / "out" / "annotations.json")
    truth = COCO(str(written))
    assert len(truth.getAnnIds()) == 4 and len(truth.getImgIds()) == 3 and len(truth.getCatIds()) == 2
    results = [{**a, "score": 1.0} for a in truth.dataset["annotations"]]
    evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)


def test_label_files_deeper_in_a_labels_folder_that_belong_to_no_image_are_found(tmp_path):
    """What convert to=yolo wrote for images under train/images/ before it followed Ultralytics'
    rule itself: labels/train/images/a.txt, where images/train/images/a.jpg looks in
    images/train/labels/: read as it was, 0 boxes and no word."""
    export = tmp_path / "export"
    _write_image(export / "images" / "train" / "images" / "a.jpg")
    (export / "labels" / "train" / "images").mkdir(parents=True)
    (export / "labels" / "train" / "images" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (export / "data.yaml").write_text("names: [cat]\n")
    with pytest.raises(DatasetError, match=r"1 label file\(s\), but none belongs to an image"):
        load_yolo(export)


def test_what_convert_writes_as_voc_reads_under_labelimgs_rules(tmp_path):
    """LabelImg's PascalVocReader: each ``object``'s ``name``, ``int(float())`` of the
    ``bndbox`` corners, ``bool(int())`` of ``difficult``; the image beside in ``JPEGImages/``."""
    import xml.etree.ElementTree as ET

    from detkit.data.formats.voc import write_voc

    dataset = load_yolo(_export_with_linked_images(tmp_path / "source", list_files=False))
    written = write_voc(dataset, tmp_path / "out")
    shapes = []
    for path in sorted((written / "Annotations").glob("*.xml")):
        tree = ET.parse(path).getroot()
        assert (written / "JPEGImages" / tree.find("filename").text).is_file()
        for obj in tree.iter("object"):
            box = obj.find("bndbox")
            corners = [int(float(box.find(k).text)) for k in ("xmin", "ymin", "xmax", "ymax")]
            shapes.append((obj.find("name").text, corners, bool(int(obj.find("difficult").text))))
    assert len(shapes) == 4 and {name for name, _, _ in shapes} == {"cat", "dog"}
    assert all(x1 < x2 and y1 < y2 for _, (x1, y1, x2, y2), _ in shapes)
