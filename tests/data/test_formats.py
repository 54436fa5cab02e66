"""Round trips between every pair of formats, the formats' real quirks, and bad input."""

import hashlib
import itertools
import json
import logging

import numpy as np
import pytest
import yaml
from PIL import Image

from detkit.data.formats import READERS, convert_dataset
from detkit.data.formats.voc import load_voc
from detkit.data.formats.yolo import load_yolo
from detkit.exceptions import ConfigError, DatasetError

FORMATS = ("coco", "voc", "yolo")


def _by_name(dataset):
    """{file name: sorted [(class name, crowd, box)]}: what every format can express."""
    return {
        r.file_name: sorted(
            (dataset.class_names[int(c)], bool(k), tuple(b)) for b, c, k in zip(r.boxes.tolist(), r.labels, r.iscrowd)
        )
        for r in dataset.records
    }


def _attributes(dataset):
    """{file name: (group, domain, annotated class names)}: what the sidecars carry for VOC / YOLO."""
    return {
        r.file_name: (
            r.group,
            r.domain,
            None if r.annotated is None else sorted(dataset.class_names[i] for i in r.annotated),
        )
        for r in dataset.records
    }


def _assert_same(a, b, tolerance):
    left, right = _by_name(a), _by_name(b)
    assert left.keys() == right.keys()
    assert _attributes(a) == _attributes(b)
    for name in left:
        assert [x[:2] for x in left[name]] == [x[:2] for x in right[name]], name
        np.testing.assert_allclose([x[2] for x in left[name]], [x[2] for x in right[name]], atol=tolerance)


@pytest.fixture
def coco_folder(tiny_shapes):
    return tiny_shapes.root.parent  # annotations.json + images/


@pytest.mark.parametrize(("first", "second"), list(itertools.permutations(FORMATS, 2)))
def test_round_trip_between_every_pair(tmp_path, coco_folder, first, second):
    original = READERS["coco"](coco_folder)
    source = coco_folder
    if first != "coco":
        convert_dataset("coco", coco_folder, first, tmp_path / "first")
        source = tmp_path / "first"
    start = READERS[first](source)
    convert_dataset(first, source, second, tmp_path / "second")
    convert_dataset(second, tmp_path / "second", first, tmp_path / "back")
    back = READERS[first](tmp_path / "back")
    tolerance = 0.5 if "voc" in (first, second) else 1e-3  # VOC holds integer pixels
    _assert_same(start, back, tolerance)
    _assert_same(original, back, tolerance)
    assert sorted(back.class_names) == sorted(original.class_names)


def _write_image(path, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)


def _digest(folder):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _yolo(tmp_path, labels: dict[str, str], names="names: [cat, dog]\n"):
    root = tmp_path / "yolo"
    (root / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text(names)
    for stem, text in labels.items():
        _write_image(root / "images" / f"{stem}.jpg")
        if text is not None:
            (root / "labels" / f"{stem}.txt").write_text(text)
    return root


def test_yolo_background_images_and_orphan_labels(tmp_path, caplog):
    root = _yolo(tmp_path, {"a": "1 0.5 0.5 0.5 0.5\n", "background": None})
    (root / "labels" / "orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with caplog.at_level(logging.INFO):
        dataset = load_yolo(root)
    a, background = dataset.records
    np.testing.assert_allclose(a.boxes, [[10, 7.5, 30, 22.5]])
    assert dataset.class_names[a.labels[0]] == "dog" and background.boxes.shape == (0, 4)
    assert "data: 1 of 2 images have a label file (the other 1: no objects)" in caplog.text
    assert f"data: 1 label file(s) belong to no image, not read ({root / 'data.yaml'}): {root}/labels/orphan.txt" in (
        caplog.text
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 0.5 0.5 0.2\n", "expected 5 fields"),
        ("0 0.5 1.5 0.2 0.2\n", r"outside \[0, 1\]"),
        ("7 0.5 0.5 0.2 0.2\n", "class 7 outside 0..1"),
        ("cat 0.5 0.5 0.2 0.2\n", "not numbers"),
        ("0 0.5 0.5 0 0.2\n", "zero or negative"),
    ],
)
def test_yolo_bad_lines_name_file_and_line_and_leave_input_alone(tmp_path, text, message):
    root = _yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n" + text})
    before = _digest(root)
    with pytest.raises(DatasetError, match=message) as info:
        load_yolo(root)
    assert "a.txt: line 2" in str(info.value)
    assert _digest(root) == before


def test_yolo_malformed_yaml_names_line(tmp_path):
    root = _yolo(tmp_path, {"a": ""}, names="names: [cat, dog\n  bad: :\n")
    with pytest.raises(DatasetError, match=r"line \d+, column \d+"):
        load_yolo(root)


def _voc(tmp_path, body: str, name="a"):
    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    _write_image(root / "JPEGImages" / f"{name}.jpg")
    (root / "Annotations" / f"{name}.xml").write_text(body)
    return root


def _voc_xml(objects: str, filename="a.jpg"):
    return (
        f"<annotation><filename>{filename}</filename><size><width>40</width><height>30</height><depth>3</depth></size>"
        f"{objects}</annotation>"
    )


def _object(name="cat", box=(1, 1, 20, 20), difficult=0):
    coords = "".join(f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
    return f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>{coords}</bndbox></object>"


def test_voc_one_based_corners_and_difficult_objects(tmp_path):
    root = _voc(tmp_path, _voc_xml(_object(box=(1, 1, 20, 10)) + _object("dog", (5, 5, 9, 9), difficult=1)))
    dataset = load_voc(root)
    record = dataset.records[0]
    np.testing.assert_allclose(record.boxes, [[0, 0, 20, 10], [4, 4, 9, 9]])
    assert record.iscrowd.tolist() == [False, True] and dataset.class_names == ["cat", "dog"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_voc_xml(_object()).replace("</annotation>", ""), r"line 1, column \d+: malformed XML"),
        (_voc_xml(_object(box=(1, 1, 90, 20))), "outside the 40x30 image"),
        (_voc_xml(_object(box=(5, 5, 3, 9))), "zero or negative"),
        (_voc_xml(_object(), filename="../b.jpg"), "outside JPEGImages"),
        (_voc_xml(_object(), filename="b.jpg"), "not found"),
        (_voc_xml(_object()).replace("<width>40</width>", "<width>50</width>"), "40x30 on disk but annotated as 50x30"),
        (_voc_xml(_object("zebra")), r"class name\(s\) \['zebra'\]"),
    ],
)
def test_voc_bad_input_names_file_and_object(tmp_path, body, message):
    root = _voc(tmp_path, body)
    before = _digest(root)
    with pytest.raises(DatasetError, match=message) as info:
        load_voc(root, class_names=["cat", "dog"])
    assert "a.xml" in str(info.value)
    assert _digest(root) == before


def test_convert_refuses_to_overwrite_or_write_inside_the_source(tmp_path, coco_folder):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        convert_dataset("coco", coco_folder, "yolo", tmp_path / "taken")
    with pytest.raises(ConfigError, match="inside the source"):
        convert_dataset("coco", coco_folder, "yolo", coco_folder / "out")
    with pytest.raises(ConfigError, match="to='kitti': detkit writes"):
        convert_dataset("coco", coco_folder, "kitti", tmp_path / "new")
    with pytest.raises(ConfigError, match="unknown format 'kitti'"):
        convert_dataset("kitti", coco_folder, "yolo", tmp_path / "new")


def test_coco_export_keeps_crowd_regions_that_yolo_cannot_hold(tmp_path, coco_folder):
    data = json.loads((coco_folder / "annotations.json").read_text())
    data["annotations"][0]["iscrowd"] = 1
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "annotations.json").write_text(json.dumps(data))
    (tmp_path / "src" / "images").symlink_to(coco_folder / "images")
    convert_dataset("coco", tmp_path / "src", "voc", tmp_path / "voc")
    assert load_voc(tmp_path / "voc").records[0].iscrowd.any(), "VOC keeps them as difficult"
    convert_dataset("coco", tmp_path / "src", "yolo", tmp_path / "yolo")
    crowd_free = sum(len(r.boxes) for r in load_yolo(tmp_path / "yolo").records)
    assert crowd_free == len(data["annotations"]) - 1


@pytest.mark.parametrize("target", ["voc", "yolo"])
def test_partial_labels_group_and_domain_survive_voc_and_yolo(tmp_path, coco_folder, target):
    data = json.loads((coco_folder / "annotations.json").read_text())
    data["images"][0]["annotated_category_ids"] = [1, 3]
    data["images"][1]["domain"] = "textured"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "annotations.json").write_text(json.dumps(data))
    (tmp_path / "src" / "images").symlink_to(coco_folder / "images")
    original = READERS["coco"](tmp_path / "src")
    convert_dataset("coco", tmp_path / "src", target, tmp_path / target)
    convert_dataset(target, tmp_path / target, "coco", tmp_path / "back")
    back = READERS["coco"](tmp_path / "back")
    assert _attributes(back) == _attributes(original)
    assert _attributes(back)[original.records[0].file_name][2] == ["circle", "triangle"]


def test_a_malformed_sidecar_is_named(tmp_path):
    root = _voc(tmp_path, _voc_xml(_object()))
    (root / "Annotations" / "a.json").write_text('{"domain": }')
    with pytest.raises(DatasetError, match=r"a.json: line 1, column 12"):
        load_voc(root)


def test_voc_image_sets_choose_the_images(tmp_path):
    root = _voc(tmp_path, _voc_xml(_object()))
    _voc(tmp_path, _voc_xml(_object("dog"), filename="b.jpg"), name="b")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "val.txt").write_text("b\n")
    dataset = load_voc(root, image_set="val")
    assert [r.file_name for r in dataset.records] == ["b.jpg"] and dataset.class_names == ["dog"]
    with pytest.raises(DatasetError, match="image set 'test' not found"):
        load_voc(root, image_set="test")


def test_yolo_to_yolo_says_which_class_ids_change_when_an_unused_class_is_left_out(tmp_path, caplog):
    source = tmp_path / "source"
    _write_image(source / "images" / "a.jpg")
    (source / "labels").mkdir()
    (source / "labels" / "a.txt").write_text("2 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.3 0.3\n")
    (source / "data.yaml").write_text("names: [ship, buoy, car]\n")
    with caplog.at_level(logging.INFO):
        convert_dataset("auto", source, "yolo", tmp_path / "out")
    assert "left out 1 class(es) no box uses: 'buoy'; the class indices after them move down ('car' 2 -> 1)" in (
        caplog.text
    )
    assert yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())["names"] == {0: "ship", 1: "car"}
    assert convert_dataset("auto", source, "yolo", tmp_path / "kept", keep_empty_classes=True).num_classes == 3


def test_voc_fields_detkit_does_not_keep_are_named_when_read(tmp_path, caplog):
    _write_image(tmp_path / "JPEGImages" / "a.jpg")
    (tmp_path / "Annotations").mkdir()
    obj = "<name>cat</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>25</ymax></bndbox>"
    (tmp_path / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>40</width><height>30</height></size>"
        f"<object>{obj}<pose>Left</pose><truncated>1</truncated><occluded>0</occluded></object>"
        f"<object>{obj}<pose>Unspecified</pose><truncated>1</truncated><part><name>head</name></part></object>"
        f"<object>{obj}<pose>Unspecified</pose><truncated>0</truncated><difficult>1</difficult></object></annotation>"
    )
    with caplog.at_level(logging.INFO):
        dataset = load_voc(tmp_path)
    assert len(dataset.records[0].boxes) == 3
    assert "VOC object fields detkit does not keep: <part> (1 object(s)), <pose> (1 object(s)), " in caplog.text
    assert "<truncated> (2 object(s)); it keeps <name>, <bndbox> and <difficult>" in caplog.text
