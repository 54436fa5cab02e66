"""The label lines YOLO exporters write besides boxes (issue 39): Roboflow's and CVAT's
segmentation exports hold polygons (``class x1 y1 x2 y2 ...``), Ultralytics' pose datasets a box
and its keypoints. A detector trains on their boxes, as Ultralytics does, and one line says so."""

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detkit.data.formats.yolo import load_yolo
from detkit.exceptions import DatasetError
from tests.data.test_formats import _write_image

SIZE = (200, 100)


def _export(tmp_path, lines: list[str], yaml_extra: str = ""):
    _write_image(tmp_path / "images" / "a.jpg", SIZE)
    (tmp_path / "labels").mkdir(exist_ok=True)
    (tmp_path / "labels" / "a.txt").write_text("".join(f"{line}\n" for line in lines))
    (tmp_path / "data.yaml").write_text(f"names: [cat, dog]\n{yaml_extra}")
    return tmp_path


def test_polygons_are_read_as_their_bounding_boxes_beside_plain_boxes_and_said_so(tmp_path, caplog):
    polygon = "1 0.1 0.2 0.4 0.1 0.5 0.6 0.2 0.7"  # x from 0.1 to 0.5, y from 0.1 to 0.7
    export = _export(tmp_path, [polygon, "0 0.5 0.5 0.2 0.2", "1 0.6 0.6 0.7 0.6 0.65 0.9"])
    with caplog.at_level(logging.INFO, logger="detkit.data.formats.yolo"):
        record = load_yolo(export).records[0]
    width, height = SIZE
    expected = [[0.1 * width, 0.1 * height, 0.5 * width, 0.7 * height], [80, 40, 120, 60], [120, 60, 140, 90]]
    np.testing.assert_allclose(record.boxes, expected, atol=1e-4)
    assert record.labels.tolist() == [1, 0, 1]
    assert "data: 2 polygon labels read as their bounding boxes" in caplog.text


@settings(max_examples=200, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.floats(0, 1, allow_nan=False), st.floats(0, 1, allow_nan=False)), min_size=3, max_size=25
    )
)
def test_any_polygon_inside_the_image_gives_the_box_of_its_points(tmp_path_factory, points):
    export = _export(tmp_path_factory.mktemp("poly"), ["0 " + " ".join(f"{x!r} {y!r}" for x, y in points)])
    xs, ys = np.array(points).T
    if xs.max() - xs.min() <= 0 or ys.max() - ys.min() <= 0:  # a line, or a point: no box
        with pytest.raises(DatasetError, match="zero or negative width/height"):
            load_yolo(export)
        return
    boxes = load_yolo(export).records[0].boxes
    np.testing.assert_allclose(boxes, [[xs.min() * 200, ys.min() * 100, xs.max() * 200, ys.max() * 100]], atol=1e-3)


def test_pose_lines_give_their_boxes_when_the_yaml_has_kpt_shape(tmp_path, caplog):
    pose = "0 0.5 0.5 0.2 0.4 " + " ".join(["0.5 0.5 2"] * 17)  # COCO keypoints: 17 points of (x, y, visible)
    with caplog.at_level(logging.INFO, logger="detkit.data.formats.yolo"):
        record = load_yolo(_export(tmp_path, [pose], "kpt_shape: [17, 3]\n")).records[0]
    np.testing.assert_allclose(record.boxes, [[80, 30, 120, 70]], atol=1e-4)
    assert "data: 1 keypoints left out of their boxes" in caplog.text
    with pytest.raises(DatasetError, match=r"kpt_shape: must be \[keypoints, 2 or 3\]"):
        load_yolo(_export(tmp_path, [pose], "kpt_shape: seventeen\n"))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("0 0.5 0.5 0.2", "expected 5 fields 'class cx cy w h', or a polygon"),
        ("0 0.1 0.1 0.2 0.2 0.3", "got 6"),  # an even count: not points
        ("0 0.1 0.1 0.2 nan 0.3 0.3", "NaN or infinity"),
        ("0 0.1 0.1 1.9 0.2 0.3 0.3", "outside"),
        ("7 0.1 0.1 0.2 0.2 0.3 0.3", "class 7 outside 0..1"),
    ],
)
def test_a_line_that_is_no_box_and_no_polygon_is_named(tmp_path, line, problem):
    with pytest.raises(DatasetError, match=problem):
        load_yolo(_export(tmp_path, [line]))


def test_problems_are_grouped_by_kind_so_that_a_rare_kind_is_not_hidden_by_a_common_one(tmp_path):
    lines = ["0 0.1 0.1 0.2 0.2 0.3"] * 30 + ["7 0.5 0.5 0.2 0.2"]  # 30 lines of 6 fields, one unknown class
    with pytest.raises(DatasetError) as refused:
        load_yolo(_export(tmp_path, lines))
    message = str(refused.value)
    assert "31 problem(s) of 2 kinds" in message and "30 of this kind" in message and "27 more of this kind" in message
    assert "line 31: class 7 outside 0..1" in message, "the rare kind is shown"
