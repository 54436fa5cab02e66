import json

import numpy as np
import pytest
from PIL import Image

from detkit.data.formats import coco
from detkit.data.formats.coco import dataset_to_coco, load_coco, load_results, write_coco
from detkit.data.formats.coco_columns import object_columns
from detkit.exceptions import DatasetError


def _write_images(root, names, size=(64, 48)):
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", size).save(root / name)


def _coco(**changes):
    data = {
        "images": [
            {"id": 7, "file_name": "a.png", "width": 64, "height": 48},
            {"id": 9, "file_name": "b.png", "width": 64, "height": 48},
        ],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 5, 20, 10], "area": 150.0, "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 5, "bbox": [0, 0, 30, 30], "area": 400.0, "iscrowd": 1},
        ],
        "categories": [{"id": 5, "name": "dog"}, {"id": 3, "name": "cat"}, {"id": 8, "name": "unused"}],
    }
    data.update(changes)
    return data


def _load(tmp_path, data, text=None):
    _write_images(tmp_path / "images", ["a.png", "b.png"])
    path = tmp_path / "instances.json"
    path.write_text(text if text is not None else json.dumps(data))
    return load_coco(path)


def test_reads_boxes_crowd_area_unused_categories_and_empty_images(tmp_path):
    dataset = _load(tmp_path, _coco())
    assert dataset.class_names == ["cat", "dog", "unused"]
    assert dataset.category_ids == [3, 5, 8]
    a, b = dataset.records
    np.testing.assert_allclose(a.boxes, [[10, 5, 30, 15], [0, 0, 30, 30]])
    assert a.labels.tolist() == [0, 1] and a.iscrowd.tolist() == [False, True]
    assert a.areas.tolist() == [150.0, 400.0]
    assert b.boxes.shape == (0, 4) and b.labels.shape == (0,)


def test_round_trip_keeps_ids_boxes_and_attributes(tmp_path):
    dataset = _load(tmp_path, _coco())
    write_coco(dataset, tmp_path / "out.json")
    again = load_coco(tmp_path / "out.json", tmp_path / "images")
    assert dataset_to_coco(again) == dataset_to_coco(dataset)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"annotations": [{"id": 1, "image_id": 7, "category_id": 4, "bbox": [1, 1, 2, 2]}]}, "unknown category_id 4"),
        ({"annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [1, 1, 0, 2]}]}, "zero or negative"),
        ({"annotations": [{"id": 1, "image_id": 99, "category_id": 3, "bbox": [1, 1, 2, 2]}]}, "refers to no image"),
        (
            {"images": [{"id": 7, "file_name": "missing.png", "width": 64, "height": 48}]},
            "image not found.*data.images=",
        ),
        # names that leave the root are refused unless an image of their base name is in it (then that one is read)
        ({"images": [{"id": 7, "file_name": "../z.png", "width": 64, "height": 48}]}, "without '..'"),
        ({"images": [{"id": 7, "file_name": "/etc/z.png", "width": 64, "height": 48}]}, "relative path"),
        ({"images": [{"id": 7, "file_name": "a.png", "width": 64, "height": 48}] * 2}, "duplicate image id"),
    ],
)
def test_refuses_what_it_cannot_use_naming_file_and_record(tmp_path, change, expected):
    with pytest.raises(DatasetError, match=expected) as info:
        _load(tmp_path, _coco(**change))
    assert "instances.json" in str(info.value)


def test_malformed_json_names_line_and_column(tmp_path):
    with pytest.raises(DatasetError, match=r"line 2, column \d+"):
        _load(tmp_path, None, text='{"images": [],\n "annotations": [,]}')


def test_input_file_is_not_modified(tmp_path):
    data = _coco()
    _load(tmp_path, data)
    assert json.loads((tmp_path / "instances.json").read_text()) == data


def test_results_must_match_the_annotations(tmp_path):
    gt = _coco()
    path = tmp_path / "results.json"
    path.write_text(json.dumps([{"image_id": 7, "category_id": 42, "bbox": [1, 1, 2, 2], "score": 0.5}]))
    with pytest.raises(DatasetError, match="unknown category_id 42"):
        load_results(path, gt)
    path.write_text(json.dumps([{"image_id": 7, "category_id": 3, "bbox": [1, 1, 2, 2], "score": 0.5}]))
    assert len(load_results(path, gt)) == 1


def test_results_are_read_as_the_evaluators_array_by_either_reader(tmp_path):
    """msgspec reads well-formed files into typed records; a file it refuses (here an escaped
    lone surrogate, which Python's json takes) is read record by record: the same array."""
    gt, path = _coco(), tmp_path / "results.json"
    records = [
        {"image_id": 7, "category_id": 3, "bbox": [1, 1.5, 2, 2], "score": 1, "id": 4, "segmentation": []},
        {"image_id": 7, "category_id": 3, "bbox": [0.1, 0.2, 0.3, 0.4], "score": 0.25},
    ]
    expected = [[7, 1, 1.5, 2, 2, 1, 3], [7, 0.1, 0.2, 0.3, 0.4, 0.25, 3]]
    path.write_text(json.dumps(records))
    assert load_results(path, gt).tolist() == expected
    path.write_text(json.dumps([records[0], {**records[1], "note": "caf\udce9"}]))
    assert "\\udce9" in path.read_text()
    assert load_results(path, gt).tolist() == expected


def test_partial_labels_from_lvis_keys_and_detkits_own_survive_a_round_trip(tmp_path):
    data = _coco()
    data["images"][0].update(neg_category_ids=[8], not_exhaustive_category_ids=[5])  # 3 present; 5 not exhaustive
    data["images"][1]["annotated_category_ids"] = [3]
    dataset = _load(tmp_path, data)
    a, b = dataset.records
    assert a.annotated == {0, 2} and b.annotated == {0}, "cat exhaustive + unused verified absent; b: only cat"
    write_coco(dataset, tmp_path / "out.json")
    again = load_coco(tmp_path / "out.json", tmp_path / "images")
    assert [r.annotated for r in again.records] == [a.annotated, b.annotated]
    assert dataset_to_coco(dataset)["images"][1]["annotated_category_ids"] == [3]


def test_partial_labels_with_unknown_ids_are_refused(tmp_path):
    data = _coco()
    data["images"][0]["neg_category_ids"] = [99]
    with pytest.raises(DatasetError, match=r"unknown category ids \[99\]"):
        _load(tmp_path, data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"images": [{"id": 7, "file_name": "a.png", "width": 99, "height": 48}]},
            "64x48 on disk but annotated as 99x48",
        ),
        (
            {
                "images": [
                    {"id": 7, "file_name": "a.png", "width": 64, "height": 48},
                    {"id": 8, "file_name": "a.png", "width": 64, "height": 48},
                ]
            },
            "duplicate file_name",
        ),
        ({"annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [60, 5, 10, 10]}]}, "6.0 px outside"),
    ],
)
def test_more_problems_real_exports_have(tmp_path, change, expected):
    with pytest.raises(DatasetError, match=expected):
        _load(tmp_path, _coco(**change))


def test_small_border_crossings_are_clipped(tmp_path):
    data = _coco(annotations=[{"id": 1, "image_id": 7, "category_id": 3, "bbox": [-1.5, 40, 20, 9.5]}])
    np.testing.assert_allclose(_load(tmp_path, data).records[0].boxes, [[0, 40, 18.5, 48]])


def test_on_invalid_drop_leaves_out_the_image_of_a_dropped_box_and_says_so(tmp_path, caplog):
    """Image 7 kept with two of its three boxes would teach and score the third object as
    background (issue 39: 81 of 99 dev images turned into "nothing here")."""
    data = _coco()
    data["annotations"].append({"id": 3, "image_id": 7, "category_id": 42, "bbox": [1, 1, 5, 5]})
    data["images"].append({"id": 10, "file_name": "missing.png", "width": 64, "height": 48})
    _write_images(tmp_path / "images", ["a.png", "b.png"])
    (tmp_path / "instances.json").write_text(json.dumps(data))
    dataset = load_coco(tmp_path / "instances.json", on_invalid="drop")
    assert [r.image_id for r in dataset.records] == [9]
    assert "dropped 2 invalid record(s)" in caplog.text and "unknown category_id 42" in caplog.text
    assert "left out 1 image(s) with them, and the 2 valid box(es) they held" in caplog.text


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_large_files_read_column_by_column_give_what_the_checked_loop_gives(tmp_path, monkeypatch, seed):
    """Valid annotations are attached with arrays (`object_columns` in coco_columns); the values are
    the per-annotation loop's: crowds (0/1 and booleans), given, zero and missing areas, int and
    float boxes, boxes clipped at the border, segmentations, images without annotations,
    annotations out of id order."""
    rng = np.random.default_rng(seed)
    images = [
        {"id": i, "file_name": f"{i}.jpg", "width": int(rng.integers(50, 400)), "height": 90} for i in range(1, 60)
    ]
    annotations = []
    for index in range(400):
        image = images[int(rng.integers(0, 50))]  # the last nine images have none
        w, h = rng.uniform(1, 40), rng.uniform(1, 40)
        x, y = rng.uniform(-1.5, image["width"] - w + 1.5), rng.uniform(-1.5, 90 - h + 1.5)  # within the margin
        box = [round(x), round(y), max(1, round(w)), max(1, round(h))] if index % 3 == 0 else [x, y, w, h]
        annotation = {"id": index + 1, "image_id": image["id"], "category_id": int(rng.choice([3, 7, 9])), "bbox": box}
        if index % 4:
            annotation["area"] = float(rng.uniform(0, w * h))
        if index % 5 == 0:
            annotation["iscrowd"] = int(rng.random() < 0.5) if index % 10 else bool(rng.random() < 0.5)
        if index % 7 == 0:
            annotation |= {"area": 0.0, "segmentation": [[x, y, x + w, y, x, y + h]]}
        annotations.append(annotation)
    categories = [{"id": k, "name": f"c{k}"} for k in (9, 3, 7)]
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    answers = []
    monkeypatch.setattr(coco, "object_columns", lambda *args: answers.append(object_columns(*args)) or answers[-1])
    columns = load_coco(path, check_images=False)
    assert answers[0] is not None, "the columns took every annotation"
    monkeypatch.setattr(coco, "object_columns", lambda *args: None)
    checked = load_coco(path, check_images=False)
    assert sum(len(r.boxes) for r in columns.records) == 400 and columns.class_names == checked.class_names
    for fast, slow in zip(columns.records, checked.records, strict=True):
        for name in ("boxes", "labels", "iscrowd", "areas"):
            a, b = getattr(fast, name), getattr(slow, name)
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), (fast.image_id, name)
