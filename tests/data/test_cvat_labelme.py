"""CVAT for images 1.1 XML and LabelMe JSON (issue 57): the layouts their exporters write (read
from CVAT's server exporter and LabelMe's codec; tests/data/test_writers_oracle.py has the
tools' writers write them), every shape kind, and a bad file answered with one message naming
the file, the record and the fix."""

from __future__ import annotations

import json
import logging

import pytest

from detkit.data.formats import convert_dataset, load_export
from detkit.exceptions import DatasetError
from tests.data.test_formats import _digest, _write_image

SIZE = (100, 80)
META = (
    "<meta><{owner}><labels><label><name>car</name><type>any</type></label><label><name>person</name></label>"
    "<label><name>body</name><type>skeleton</type></label><label><name>1</name><parent>body</parent></label>"
    "</labels></{owner}></meta>"
)


def cvat(folder, images: str, owner: str = "task", name: str = "annotations.xml"):
    """A CVAT for images 1.1 file of ``images`` (``<image>`` elements) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>{META.format(owner=owner)}'
        f"{images}</annotations>"
    )
    return folder


def image(name: str, shapes: str, subset: str | None = None, size=SIZE) -> str:
    subset_attribute = f' subset="{subset}" task_id="1"' if subset else ""
    return f'<image id="0" name="{name}"{subset_attribute} width="{size[0]}" height="{size[1]}">{shapes}</image>'


def test_a_task_export_reads_each_shape_that_outlines_an_object_as_its_box(tmp_path, caplog):
    _write_image(tmp_path / "images" / "street 1" / "ünï.jpg", SIZE)
    shapes = (
        '<box label="car" occluded="0" xtl="10" ytl="10" xbr="30" ybr="20" z_order="0"/>'
        '<box label="car" xtl="10" ytl="10" xbr="30" ybr="20" rotation="90.0"/>'  # turned about its centre
        '<polygon label="person" points="50,10;60,30;55,40"/>'
        '<ellipse label="car" cx="50" cy="50" rx="10" ry="5"/>'
        '<mask label="car" rle="3, 4, 5" left="5" top="6" width="10" height="12"/>'
        '<cuboid label="car" xtl1="1" ytl1="2" xbl1="1" ybl1="9" xtr1="8" ytr1="2" xbr1="8" ybr1="9" '
        'xtl2="3" ytl2="1" xbl2="3" ybl2="8" xtr2="10" ytr2="1" xbr2="10" ybr2="8"/>'
        '<polyline label="person" points="1,1;5,5"/><points label="person" points="3,3"/>'
        '<skeleton label="body"><points label="1" points="4,4"/></skeleton><tag label="car"/>'
    )
    cvat(tmp_path, image("street 1/ünï.jpg", shapes))
    with caplog.at_level(logging.INFO):
        dataset = load_export(tmp_path)
    (record,) = dataset.records
    assert record.file_name == "street 1/ünï.jpg" and dataset.class_names == ["car", "person"]
    assert record.boxes.tolist() == [
        [10, 10, 30, 20],
        [15, 5, 25, 25],
        [50, 10, 60, 40],
        [40, 45, 60, 55],
        [5, 6, 15, 18],
        [1, 1, 10, 9],
    ]
    assert record.labels.tolist() == [0, 0, 1, 0, 0, 0]
    assert "1 points, 1 polyline, 1 skeleton, 1 tag shape(s) outline no object" in caplog.text
    assert "CVAT for images export" in caplog.text


def test_a_project_export_keeps_its_subsets_as_splits_and_its_images_per_subset(tmp_path):
    for subset, name in (("Train", "a.jpg"), ("Validation", "b.jpg"), ("Test", "a.jpg")):  # one name in two subsets
        _write_image(tmp_path / "images" / subset / name, SIZE)
    images = "".join(
        image(name, f'<box label="car" xtl="1" ytl="1" xbr="{k + 9}" ybr="9"/>', subset)
        for k, (subset, name) in enumerate((("Train", "a.jpg"), ("Validation", "b.jpg"), ("Test", "a.jpg")))
    )
    cvat(tmp_path, images, owner="project")
    dataset = load_export(tmp_path)
    assert [r.file_name for r in dataset.records] == ["Train/a.jpg", "Validation/b.jpg", "Test/a.jpg"]
    assert dataset.given_splits == {"train": [1], "dev": [2], "test": [3]}
    for target in ("coco", "voc", "yolo"):
        converted = load_export(convert_dataset("auto", tmp_path, target, tmp_path.parent / target).root.parent)
        assert sum(len(r.boxes) for r in converted.records) == 3


def test_a_video_tasks_frames_are_found_without_a_suffix_and_an_xml_file_can_be_the_root(tmp_path):
    _write_image(tmp_path / "images" / "frame_000000.PNG".lower(), SIZE)
    cvat(tmp_path, image("frame_000000", '<box label="person" xtl="1" ytl="1" xbr="9" ybr="9"/>'))
    for root in (tmp_path, tmp_path / "annotations.xml"):
        assert load_export(root).records[0].file_name == "frame_000000.png"


def test_annotations_exported_without_images_read_them_from_data_images(tmp_path):
    _write_image(tmp_path / "photos" / "a.jpg", SIZE)
    cvat(tmp_path / "export", image("a.jpg", '<box label="car" xtl="1" ytl="1" xbr="9" ybr="9"/>'))
    with pytest.raises(DatasetError, match=r"image not found at .*data\.images=<folder>"):
        load_export(tmp_path / "export")
    assert len(load_export(tmp_path / "export", images=tmp_path / "photos").records) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<box label='car' xtl='1' ytl='1' xbr='9'/>", r"shape 0 \(<box>, label 'car'\): no ybr attribute"),
        ("<box label='car' xtl='1' ytl='1' xbr='9' ybr='x'/>", "a coordinate that is not a number"),
        ("<box label='car' xtl='1' ytl='1' xbr='nan' ybr='9'/>", "NaN or infinity"),
        ("<box label='car' xtl='9' ytl='1' xbr='9' ybr='9'/>", "zero width or height"),
        ("<box label='car' xtl='1' ytl='1' xbr='150' ybr='9'/>", "px outside the 100x80 image"),
        ("<box label='bus' xtl='1' ytl='1' xbr='9' ybr='9'/>", r"class name\(s\) \['bus'\] not in"),
        ("<box xtl='1' ytl='1' xbr='9' ybr='9'/>", "no label attribute"),
        ("<polygon label='car' points='1,2;3'/>", "x,y pairs"),
    ],
)
def test_a_bad_shape_is_named_with_its_image_and_the_drop_hint(tmp_path, content, message):
    _write_image(tmp_path / "images" / "a.jpg", SIZE)
    cvat(tmp_path, image("a.jpg", content))
    before = _digest(tmp_path)
    with pytest.raises(DatasetError, match=message) as info:
        load_export(tmp_path)
    assert "annotations.xml: <image> 0 (id='0', name='a.jpg'): " in str(info.value)
    assert "data.on_invalid=drop" in str(info.value)
    assert _digest(tmp_path) == before


def test_a_bad_image_is_left_out_under_drop_with_its_boxes_and_the_rest_kept(tmp_path):
    for name in ("a.jpg", "b.jpg"):
        _write_image(tmp_path / "images" / name, SIZE)
    good = '<box label="car" xtl="1" ytl="1" xbr="9" ybr="9"/>'
    cvat(tmp_path, image("a.jpg", good + '<box label="car" xtl="1" ytl="1" xbr="900" ybr="9"/>') + image("b.jpg", good))
    dataset = load_export(tmp_path, on_invalid="drop")
    assert [r.file_name for r in dataset.records] == ["b.jpg"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "<annotations><version>1.1</version><track id='0' label='car'><box frame='0' xtl='1' ytl='1' xbr='2' "
            "ybr='2' outside='0' occluded='0' keyframe='1'/></track></annotations>",
            "CVAT for video 1.1",
        ),
        ("<annotations><image id='0' name='a.jpg'", "malformed XML"),
        ("<annotations><version>1.1</version></annotations>", "no images left to use: it lists none"),
    ],
)
def test_a_file_cvat_cannot_be_read_as_is_says_why(tmp_path, text, message):
    _write_image(tmp_path / "images" / "a.jpg", SIZE)
    (tmp_path / "annotations.xml").write_text(text)
    with pytest.raises(DatasetError, match=message):
        load_export(tmp_path, format="cvat")


def test_a_voc_folder_is_not_taken_for_cvat_nor_cvat_for_voc(tmp_path):
    _write_image(tmp_path / "voc" / "a.jpg", SIZE)
    (tmp_path / "voc" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>100</width><height>80</height></size>"
        "<object><name>cat</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>30</ymax></bndbox>"
        "</object></annotation>"
    )
    assert load_export(tmp_path / "voc").class_names == ["cat"]
    _write_image(tmp_path / "cvat" / "images" / "a.jpg", SIZE)
    cvat(tmp_path / "cvat", image("a.jpg", '<box label="car" xtl="1" ytl="1" xbr="9" ybr="9"/>'))
    assert load_export(tmp_path / "cvat").class_names == ["car"]
    with pytest.raises(DatasetError, match=r"one Pascal VOC file; point data\.root at the folder"):
        load_export(tmp_path / "voc" / "a.xml")


# --- LabelMe ---------------------------------------------------------------------------------------


def labelme(path, shapes, image_path, size=SIZE, **more):
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_path, "imageData": None}
    document |= {"imageHeight": size[1], "imageWidth": size[0]} | more
    path.write_text(json.dumps(document))
    return path


def shape(kind, points, label="dog"):
    return {"label": label, "points": points, "group_id": None, "shape_type": kind, "flags": {}}


def test_labelme_reads_each_shape_that_outlines_an_object_as_its_box(tmp_path, caplog):
    _write_image(tmp_path / "a b.jpg", SIZE)
    shapes = [
        shape("rectangle", [[30, 20], [10, 5]]),
        shape("polygon", [[50, 10], [60, 30], [55, 40]], "cat"),
        shape("circle", [[20, 20], [25, 20]], "cat"),
        shape("oriented_rectangle", [[10, 10], [20, 5], [25, 15], [15, 20]]),
        shape("mask", [[5, 6], [14, 17]]) | {"mask": "iVBORw0KGgo="},
        {"label": "cat", "points": [[1, 1], [9, 1], [5, 9]]},  # LabelMe 3: no shape_type, a polygon
        shape("line", [[1, 1], [2, 3]]),
        shape("point", [[1, 1]]),
        shape("linestrip", [[1, 1], [2, 3], [4, 4]]),
    ]
    labelme(tmp_path / "a b.json", shapes, "a b.jpg")
    with caplog.at_level(logging.INFO):
        dataset = load_export(tmp_path)
    (record,) = dataset.records
    assert dataset.class_names == ["cat", "dog"]
    assert record.boxes.tolist() == [
        [10, 5, 30, 20],
        [50, 10, 60, 40],
        [15, 15, 25, 25],
        [10, 5, 25, 20],
        [5, 6, 14, 17],
        [1, 1, 9, 9],
    ]
    assert "1 line, 1 linestrip, 1 point shape(s) outline no object" in caplog.text


@pytest.mark.parametrize(
    ("json_at", "image_path", "image_at"),
    [
        ("a.json", "a.jpg", "a.jpg"),
        ("labels/sub dir/a.json", "../../images/sub dir/a.jpg", "images/sub dir/a.jpg"),  # labelme --output
        ("labels/a.json", "..\\images\\a.jpg", "images/a.jpg"),  # written on Windows
        ("ünï/a.json", "C:\\Users\\me\\Desktop\\photos\\a.jpg", "ünï/a.jpg"),  # another machine's path: beside
        ("x/renamed.json", "old name.jpg", "x/renamed.png"),  # the image renamed with its json
    ],
)
def test_labelme_finds_each_image_as_labelme_wrote_its_path(tmp_path, json_at, image_path, image_at):
    _write_image(tmp_path / image_at, SIZE)
    labelme(tmp_path / json_at, [shape("rectangle", [[1, 1], [9, 9]])], image_path)
    (record,) = load_export(tmp_path).records
    assert record.file_name == image_at


def test_labelme_split_folders_are_its_splits_and_convert_keeps_them(tmp_path):
    for split in ("train", "val", "test"):
        _write_image(tmp_path / "set" / split / f"{split}.jpg", SIZE)
        labelme(tmp_path / "set" / split / f"{split}.json", [shape("rectangle", [[1, 1], [9, 9]])], f"{split}.jpg")
    dataset = load_export(tmp_path / "set")
    assert dataset.given_splits == {"test": [1], "train": [2], "dev": [3]}  # the json files in sorted order
    convert_dataset("auto", tmp_path / "set", "yolo", tmp_path / "yolo")
    assert {s: len(i) for s, i in load_export(tmp_path / "yolo").given_splits.items()} == {
        "train": 1,
        "dev": 1,
        "test": 1,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(shapes=[shape("rectangle", [[1, 1]])]), r"shapes\[0\] \(rectangle, label 'dog'\)"),
        (lambda d: d.update(shapes=[shape("rectangle", [[1, 1], ["a", 2]])]), "list of \\[x, y\\] numbers"),
        (lambda d: d.update(shapes=[shape("rectangle", [[1, 1], [500, 9]])]), "px outside the 100x80 image"),
        (lambda d: d.update(shapes=[shape("circle", [[1, 1], [2, 2], [3, 3]])]), "a circle needs 2 points"),
        (lambda d: d.update(shapes=[shape("blob", [[1, 1], [2, 2]])]), "unknown shape_type 'blob'"),
        (lambda d: d.update(shapes=[shape("rectangle", [[1, 1], [9, 9]], label="")]), "label must be a non-empty"),
        (lambda d: d.update(imagePath="gone.jpg"), "image 'gone.jpg' not found beside the json"),
        (lambda d: d.update(imagePath="gone.jpg", imageData="aGk="), "embeds it as imageData"),
        (lambda d: d.update(imageWidth=50), "image is 100x80 on disk but annotated as 50x80"),
        (lambda d: d.pop("shapes"), "not a LabelMe file"),
    ],
)
def test_a_bad_labelme_file_is_named_with_its_record_and_the_fix(tmp_path, change, message):
    _write_image(tmp_path / "a.jpg", SIZE)
    document = {
        "version": "5.4.1",
        "shapes": [shape("rectangle", [[1, 1], [9, 9]])],
        "imagePath": "a.jpg",
        "imageData": None,
        "imageHeight": SIZE[1],
        "imageWidth": SIZE[0],
    }
    change(document)
    (tmp_path / "doc.json").write_text(json.dumps(document))  # a stem no image has: imagePath alone names it
    before = _digest(tmp_path)
    with pytest.raises(DatasetError, match=message) as info:
        load_export(tmp_path, format="labelme")
    assert "doc.json" in str(info.value)
    assert _digest(tmp_path) == before


def test_a_malformed_labelme_json_is_named_and_the_rest_read_under_drop(tmp_path, caplog):
    for name in ("a", "b"):
        _write_image(tmp_path / f"{name}.jpg", SIZE)
        labelme(tmp_path / f"{name}.json", [shape("rectangle", [[1, 1], [9, 9]])], f"{name}.jpg")
    (tmp_path / "b.json").write_text('{"shapes": [')
    with pytest.raises(DatasetError, match=r"b\.json: malformed JSON"):
        load_export(tmp_path)
    assert [r.file_name for r in load_export(tmp_path, on_invalid="drop").records] == ["a.jpg"]


def test_sizes_left_out_of_a_labelme_json_are_read_from_its_image(tmp_path):
    _write_image(tmp_path / "a.jpg", SIZE)
    labelme(tmp_path / "a.json", [shape("rectangle", [[1, 1], [9, 9]])], "a.jpg", imageHeight=None, imageWidth=None)
    (record,) = load_export(tmp_path).records
    assert (record.width, record.height) == SIZE


def test_an_image_annotated_twice_is_refused_by_both_names(tmp_path):
    _write_image(tmp_path / "a.jpg", SIZE)
    for name in ("a", "a copy"):
        labelme(tmp_path / f"{name}.json", [shape("rectangle", [[1, 1], [9, 9]])], "a.jpg")
    with pytest.raises(DatasetError, match=r"a\.json: image 'a\.jpg' is also a copy\.json; keep one annotation"):
        load_export(tmp_path)
    _write_image(tmp_path / "cvat" / "images" / "a.jpg", SIZE)
    twice = image("a.jpg", '<box label="car" xtl="1" ytl="1" xbr="9" ybr="9"/>')
    cvat(tmp_path / "cvat", twice + twice)
    with pytest.raises(DatasetError, match=r"<image> 1 .*is also <image> 0"):
        load_export(tmp_path / "cvat")
