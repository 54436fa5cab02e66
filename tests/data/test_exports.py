"""Exports as Roboflow, Ultralytics, CVAT, LabelImg and the COCO site ship them are found by their
layout, keep their own splits, and carry their quirks (empty classes, tiny boxes) into one line each."""

import json
import logging
import shutil
import warnings

import numpy as np
import pytest
import yaml

from detkit.data.formats import convert_dataset, load_export
from detkit.data.formats.exports import detect_format
from detkit.data.splits.seeded import resolve_split_mode, split_given
from detkit.data.torch_dataset import DetectionImages
from detkit.data.transforms import build_transforms
from detkit.exceptions import ConfigError, DatasetError
from tests.exports import official_coco, roboflow_coco, ultralytics_export, voc_export

LAYOUTS = {
    "roboflow": (roboflow_coco, "coco", {"train": 15, "dev": 6, "test": 3}),
    "official": (official_coco, "coco", {"train": 15, "dev": 9}),
    "voc": (voc_export, "voc", {"train": 15, "dev": 6, "test": 3}),
    "ultralytics": (ultralytics_export, "yolo", {"train": 15, "dev": 6, "test": 3}),
}
FRACTIONS = {"train": 0.7, "train_dev": 0.1, "dev": 0.1, "test": 0.1}


@pytest.fixture(scope="module")
def exports(tmp_path_factory, tiny_shapes):
    folder = tmp_path_factory.mktemp("exports")
    return {name: build(folder / name, tiny_shapes) for name, (build, _, _) in LAYOUTS.items()}


def _source_boxes(shapes, record):
    """The shapes boxes of a loaded record (named img<id>), scaled to its shown size."""
    original = next(r for r in shapes.records if f"img{r.image_id:03d}" in record.file_name)
    return original.boxes * np.array([record.width, record.height, record.width, record.height]) / 96


def _box_count(dataset):
    return sum(len(r.boxes) for r in dataset.records)


def _groups(dataset, image_ids):
    return {r.group for r in dataset.subset(image_ids).records}


def _file_names(dataset, split):
    """The image file names (without folders) of one of the dataset's own splits."""
    return sorted(r.file_name.split("/")[-1] for r in dataset.subset(dataset.given_splits[split]).records)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("named", [False, True])
def test_each_layout_is_found_with_its_own_splits_classes_and_boxes(exports, tiny_shapes, layout, named):
    _, format, sizes = LAYOUTS[layout]
    dataset = load_export(exports[layout], format if named else "auto")
    assert detect_format(exports[layout]) == format
    assert {s: len(ids) for s, ids in dataset.given_splits.items()} == sizes
    assert sorted(dataset.class_names) == sorted(tiny_shapes.class_names), "no empty class (dataset name, toaster)"
    assert len({r.image_id for r in dataset.records}) == len(dataset) == len(tiny_shapes)
    tolerance = 1.0 if format == "voc" else 0.01  # VOC holds whole pixels
    for record in dataset.records:
        assert dataset.image_path(record).is_file()
        real = ~record.iscrowd & (record.boxes[:, 2] - record.boxes[:, 0] > 2)  # not the crowd or the click
        if layout == "ultralytics" and len(record.boxes) == 0:
            continue  # the background image
        by_name = {dataset.class_names[int(label)] for label in record.labels[real]}
        assert by_name <= set(tiny_shapes.class_names)
        np.testing.assert_allclose(record.boxes[real], _source_boxes(tiny_shapes, record), atol=tolerance)
    if layout == "official":
        assert sum(int(r.iscrowd.sum()) for r in dataset.records) == 2, "a crowd region per file"


def test_quirks_are_said_in_one_line_each_and_can_be_changed(exports, caplog):
    with caplog.at_level(logging.INFO):
        roboflow = load_export(exports["roboflow"])
    said = [r.getMessage() for r in caplog.records]
    assert any("left out 1 class(es) no box uses: 'shapes-dataset'" in line for line in said)
    assert any("its own splits train 15, dev 6, test 3" in line for line in said)
    kept = load_export(exports["roboflow"], keep_empty_classes=True)
    assert kept.class_names[0] == "shapes-dataset" and kept.num_classes == roboflow.num_classes + 1

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        voc = load_export(exports["voc"])
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "1 box(es) smaller than data.min_box_size=2" in warning and "img001.jpg: object" in warning
    assert "1.0x1.0 px" in warning, "VOC's xmin == xmax is a 1 px box under inclusive corners"
    dropped = load_export(exports["voc"], on_invalid="drop")
    assert _box_count(dropped) == _box_count(voc) - 1


def test_given_splits_carve_train_dev_from_train_only(exports):
    dataset = load_export(exports["official"])
    assert resolve_split_mode(dataset, "auto") == "given"
    splits = split_given(dataset, FRACTIONS, seed=0)
    assert sorted(splits["train"] + splits["train_dev"]) == sorted(dataset.given_splits["train"])
    assert splits["dev"] == sorted(dataset.given_splits["dev"]) and "test" not in splits, "none given, none made"
    assert splits["train_dev"], "train_dev comes from the export's train"
    assert not _groups(dataset, splits["train"]) & _groups(dataset, splits["train_dev"])

    dataset.given_splits["dev"].append(dataset.given_splits["train"][0])
    with pytest.raises(DatasetError, match=r"in both the export's train and dev splits.*data\.splits=resplit"):
        split_given(dataset, FRACTIONS)


def test_a_yaml_whose_val_is_its_train_has_no_splits_of_its_own(tmp_path, tiny_shapes):
    root = ultralytics_export(tmp_path / "coco128", tiny_shapes)
    config = yaml.safe_load((root / "shapes.yaml").read_text())
    config.update(train="images/train", val="images/train")  # as coco128.yaml says
    del config["test"]
    (root / "shapes.yaml").write_text(yaml.safe_dump(config))
    dataset = load_export(root)
    assert dataset.given_splits == {} and resolve_split_mode(dataset, "auto") == "resplit"
    with pytest.raises(ConfigError, match=r"no splits of its own; use data\.splits=resplit"):
        resolve_split_mode(dataset, "given")


def test_roboflow_yaml_paths_and_txt_lists_are_read_as_ultralytics_does(tmp_path, tiny_shapes):
    root = ultralytics_export(tmp_path / "export", tiny_shapes)
    config = yaml.safe_load((root / "shapes.yaml").read_text())
    listing = [f"./images/test/{p.name}" for p in sorted((root / "images" / "test").iterdir())]
    (root / "test.txt").write_text("\n".join(listing) + "\n")
    config.update(path=None, train="../images/train", val=["images/val"], test="test.txt")  # Roboflow's ../
    (root / "data.yaml").write_text(yaml.safe_dump(config))
    (root / "shapes.yaml").unlink()
    dataset = load_export(root)
    assert {s: len(ids) for s, ids in dataset.given_splits.items()} == {"train": 15, "dev": 6, "test": 3}


def test_nothing_found_two_formats_or_no_root_are_one_clear_message(tmp_path, exports):
    with pytest.raises(ConfigError, match=r"data\.root is missing"):
        load_export(None)
    with pytest.raises(ConfigError, match="does not exist"):
        load_export(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"no dataset found; looked for COCO.*Pascal VOC.*YOLO"):
        load_export(tmp_path / "empty")
    both = tmp_path / "both"
    both.mkdir()
    (both / "data.yaml").write_text("names: [a]\n")
    (both / "labels.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    with pytest.raises(DatasetError, match="looks like coco and yolo; choose with data=coco"):
        load_export(both)


def test_class_names_equal_up_to_case_warn_and_repeated_yolo_names_are_refused(tmp_path, tiny_shapes, caplog):
    root = voc_export(tmp_path / "voc", tiny_shapes, labelimg=True)
    xml = next(p for p in sorted(root.glob("*.xml")) if "<name>circle</name>" in p.read_text())
    xml.write_text(xml.read_text().replace("<name>circle</name>", "<name>Circle</name>", 1))
    with caplog.at_level(logging.WARNING):
        dataset = load_export(root)
    assert dataset.given_splits == {}, "LabelImg: no image sets"
    assert any("equal up to case and spaces: 'Circle' and 'circle'" in r.getMessage() for r in caplog.records)

    yolo = ultralytics_export(tmp_path / "yolo", tiny_shapes)
    (yolo / "shapes.yaml").write_text((yolo / "shapes.yaml").read_text().replace("star", "circle"))
    with pytest.raises(DatasetError, match=r"repeats \{'circle': \[0, 3\]\}"):
        load_export(yolo)


@pytest.mark.parametrize("target", ["coco", "voc", "yolo"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_convert_keeps_the_exports_own_splits(tmp_path, exports, layout, target):
    source = load_export(exports[layout])
    convert_dataset("auto", exports[layout], target, tmp_path / target)
    back = load_export(tmp_path / target)
    assert set(back.given_splits) == set(source.given_splits)
    for split in source.given_splits:
        assert _file_names(back, split) == _file_names(source, split), split
    if target == "coco":
        images = json.loads((tmp_path / "coco" / "annotations.json").read_text())["images"]
        assert {image["split"] for image in images} == set(source.given_splits)


def test_convert_takes_the_image_folder_a_json_names_its_files_in(tmp_path, exports):
    export = exports["roboflow"]
    (tmp_path / "annotations").mkdir()
    json_file = tmp_path / "annotations" / "valid.json"
    json_file.write_text((export / "valid" / "_annotations.coco.json").read_text())
    with pytest.raises(DatasetError, match=r"image not found.*data\.images="):
        load_export(json_file)
    convert_dataset("coco", json_file, "yolo", tmp_path / "yolo", images=export / "valid")
    assert len(load_export(tmp_path / "yolo")) == 6


def test_the_evaluation_pipeline_reads_images_without_warnings(exports):
    dataset = load_export(exports["roboflow"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before: albumentations warned about an empty pipeline
        images = [DetectionImages(dataset, build_transforms(train=False))[i] for i in range(len(dataset))]
    assert {tuple(image.shape[1:]) for image, _ in images} == {(120, 144), (96, 120), (96, 96)}


def test_voc_trainval_and_test_sets_and_cvats_coco_layout(tmp_path, exports):
    voc = tmp_path / "voc"
    shutil.copytree(exports["voc"], voc)
    sets = voc / "ImageSets" / "Main"
    (sets / "trainval.txt").write_text((sets / "train.txt").read_text() + (sets / "val.txt").read_text())
    (sets / "train.txt").unlink()
    (sets / "val.txt").unlink()
    dataset = load_export(voc)
    assert {s: len(ids) for s, ids in dataset.given_splits.items()} == {"train": 21, "test": 3}
    splits = split_given(dataset, FRACTIONS)
    assert splits["dev"] and set(splits["dev"]) <= set(dataset.given_splits["train"]), "dev carved from trainval"

    cvat = tmp_path / "cvat"  # CVAT's COCO export: annotations/instances_default.json + images/
    shutil.copytree(exports["roboflow"] / "valid", cvat / "images")
    (cvat / "annotations").mkdir()
    (cvat / "images" / "_annotations.coco.json").rename(cvat / "annotations" / "instances_default.json")
    dataset = load_export(cvat)
    assert len(dataset) == 6 and dataset.given_splits == {}
