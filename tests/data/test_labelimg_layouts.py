"""YOLO sets made by hand or with LabelImg (issue 39): no dataset yaml, or one written on another
machine. LabelImg writes ``<image>.txt`` and ``classes.txt`` in its save folder: beside the
images, or in a folder of its own; people keep ``train/``, ``valid/``, ``test/`` folders."""

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detkit.data.formats import load_export
from detkit.data.formats.yolo import load_yolo
from detkit.exceptions import DatasetError
from tests.data.test_formats import _write_image

CLASSES = "ship\nbuoy\n"


def _labelled(folder, stem, lines, labels_in=None):
    _write_image(folder / f"{stem}.jpg")
    labels = labels_in or folder
    labels.mkdir(parents=True, exist_ok=True)
    (labels / f"{stem}.txt").write_text("".join(f"{line}\n" for line in lines))


def _split_folders(root, classes_in=("train",)):
    """``train/``, ``valid/``, ``test/``, each with images and their labels side by side."""
    _labelled(root / "train", "a", ["0 0.5 0.5 0.2 0.2", "1 0.2 0.2 0.1 0.1"])
    _labelled(root / "train", "b", ["1 0.5 0.5 0.3 0.3"])
    _labelled(root / "valid", "c", ["0 0.4 0.4 0.2 0.2"])
    _labelled(root / "test", "d", ["0 0.6 0.6 0.2 0.2"])
    for folder in classes_in:
        (root / folder / "classes.txt").write_text(CLASSES)
    return root


def _boxes(dataset):
    return sum(len(r.boxes) for r in dataset.records)


@pytest.mark.parametrize("classes_in", [(".",), ("train",), ("train", "valid", "test")], ids=["root", "train", "each"])
def test_split_folders_with_classes_txt_read_without_a_yaml(tmp_path, classes_in):
    dataset = load_export(_split_folders(tmp_path / "set", classes_in))
    assert dataset.class_names == ["ship", "buoy"] and _boxes(dataset) == 5
    assert {split: len(ids) for split, ids in dataset.given_splits.items()} == {"train": 2, "dev": 1, "test": 1}


def test_one_folder_of_images_and_labels_side_by_side(tmp_path):
    root = tmp_path / "set"
    _labelled(root, "a", ["0 0.5 0.5 0.2 0.2"])
    _labelled(root, "b", ["1 0.5 0.5 0.3 0.3", "0 0.1 0.1 0.1 0.1"])
    (root / "classes.txt").write_text(CLASSES)
    dataset = load_export(root)
    assert _boxes(dataset) == 3 and not dataset.given_splits


def test_a_save_folder_apart_from_the_images(tmp_path, caplog):
    root = tmp_path / "set"
    _labelled(root / "images", "a", ["0 0.5 0.5 0.2 0.2"], labels_in=root / "labels")
    (root / "labels" / "classes.txt").write_text(CLASSES)
    with caplog.at_level(logging.INFO):
        dataset = load_yolo(root)
    assert _boxes(dataset) == 1 and dataset.class_names == ["ship", "buoy"]
    assert "outside the export" not in caplog.text


def test_a_yaml_with_the_windows_paths_of_its_authors_machine_reads_the_folders_beside_it(tmp_path, caplog):
    root = _split_folders(tmp_path / "set", classes_in=())
    (root / "data.yaml").write_text(
        "train: C:\\Users\\me\\boats\\labels\\train\nval: C:\\Users\\me\\boats\\valid\n"
        "test: ..\\test\nnc: 2\nnames: ['ship', 'buoy']\n"
    )
    with caplog.at_level(logging.INFO):
        dataset = load_yolo(root)
    assert _boxes(dataset) == 5
    assert {split: len(ids) for split, ids in dataset.given_splits.items()} == {"train": 2, "dev": 1, "test": 1}
    windows = "'C:\\\\Users\\\\me\\\\boats\\\\labels\\\\train'"
    assert f"{windows} is a path of another machine; read as {root / 'train'}" in caplog.text


def _ultralytics_layout(root):
    """``images/{train,val}`` and ``labels/{train,val}`` under ``root``: 2 train images, 1 val."""
    _labelled(root / "images" / "train", "a", ["0 0.5 0.5 0.2 0.2"], labels_in=root / "labels" / "train")
    _labelled(root / "images" / "train", "b", ["1 0.5 0.5 0.3 0.3"], labels_in=root / "labels" / "train")
    _labelled(root / "images" / "val", "c", ["0 0.4 0.4 0.2 0.2"], labels_in=root / "labels" / "val")
    return root


@pytest.mark.parametrize(
    "written",
    [
        "C:/Users/me/datasets/{name}",  # Windows, forward slashes
        "C:\\Users\\me\\datasets\\{name}",  # Windows, backslashes
        "/content/datasets/{name}",  # Colab
        "/home/someone/{name}",  # another Linux machine
        "../datasets/{name}",  # Ultralytics' own datasets folder
        "{name}",  # Ultralytics' name under its datasets folder
    ],
)
@pytest.mark.parametrize("yaml_inside", [True, False], ids=["yaml inside the set", "yaml beside the set"])
def test_a_yaml_path_of_another_machine_reads_the_set_that_is_here(tmp_path, caplog, written, yaml_inside):
    """Every path key of a yaml goes through one foreign-path rule: ``path:`` as well as the splits."""
    folder = _ultralytics_layout(tmp_path / "export" / "boats")
    yaml_folder = folder if yaml_inside else folder.parent
    (yaml_folder / "data.yaml").write_text(
        f"path: {written.format(name='boats')}\ntrain: images/train\nval: images/val\nnames: ['ship', 'buoy']\n"
    )
    with caplog.at_level(logging.INFO):
        dataset = load_export(yaml_folder)
    assert _boxes(dataset) == 3
    assert {split: len(ids) for split, ids in dataset.given_splits.items()} == {"train": 2, "dev": 1}
    assert f"is not a folder here; read as {folder}" in caplog.text or (written == "{name}" and not yaml_inside)


def test_absolute_split_paths_of_another_linux_machine_read_the_folders_here(tmp_path):
    folder = _ultralytics_layout(tmp_path / "boats")
    (folder / "data.yaml").write_text(
        "train: /content/boats/images/train\nval: /content/boats/images/val\nnames: ['ship', 'buoy']\n"
    )
    dataset = load_export(folder)
    assert {split: len(ids) for split, ids in dataset.given_splits.items()} == {"train": 2, "dev": 1}


def test_a_mistyped_split_folder_is_answered_with_the_near_name_that_holds_images(tmp_path):
    folder = _ultralytics_layout(tmp_path / "boats")
    (folder / "images" / "val").rename(folder / "images" / "valid")
    (folder / "data.yaml").write_text("train: images/train\nval: images/val\nnames: ['ship', 'buoy']\n")
    with pytest.raises(DatasetError, match=r"did you mean 'images/valid' \(1 image\(s\)\)\?"):
        load_export(folder)


def test_a_renamed_split_folder_is_named_with_the_folders_that_are_there(tmp_path):
    """A Roboflow export whose ``valid/`` was renamed ``validate/``."""
    root = tmp_path / "export"
    for split in ("train", "validate"):
        _labelled(root / split / "images", "x", ["0 0.5 0.5 0.2 0.2"], labels_in=root / split / "labels")
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnames: ['ship']\n")
    with pytest.raises(
        DatasetError,
        match=r"'\.\./valid/images' is not a folder .* beside it: train/ \(images/, "
        r"labels/\), validate/ \(images/, labels/\); fix the path",
    ):
        load_yolo(root)


@pytest.mark.parametrize("prefix", ["", "data/"], ids=["as_documented", "darknet_data_folder"])
def test_cvat_yolo_1_1_darknet_files_read_with_their_lists(tmp_path, prefix):
    """CVAT's "YOLO 1.1": ``obj.data`` names ``obj.names`` and the ``train.txt`` / ``valid.txt``
    lists of ``obj_<subset>_data/`` images, each label beside its image (CVAT's documented
    layout; Darknet runs from a ``data/`` folder, so some exports say ``data/obj_train_data/``)."""
    root = tmp_path / "cvat"
    _labelled(root / "obj_train_data", "frame_000000", ["0 0.5 0.5 0.2 0.2", "1 0.2 0.2 0.1 0.1"])
    _labelled(root / "obj_train_data", "frame_000001", [])
    _labelled(root / "obj_valid_data", "frame_000002", ["1 0.5 0.5 0.3 0.3"])
    (root / "obj.names").write_text(CLASSES)
    (root / "obj.data").write_text(
        f"classes = 2\nnames = {prefix}obj.names\ntrain = {prefix}train.txt\n"
        f"valid = {prefix}valid.txt\nbackup = backup/\n"
    )
    for subset, stems in (("train", ["frame_000000", "frame_000001"]), ("valid", ["frame_000002"])):
        (root / f"{subset}.txt").write_text("".join(f"{prefix}obj_{subset}_data/{s}.jpg\n" for s in stems))
    dataset = load_export(root)
    assert dataset.class_names == ["ship", "buoy"] and _boxes(dataset) == 3
    assert {split: len(ids) for split, ids in dataset.given_splits.items()} == {"train": 2, "dev": 1}


@pytest.mark.parametrize(
    "written",
    [
        "images\\{name}",  # Label Studio before 1.16, on Windows
        "images\\1/{name}",  # with its project id
        "..\\..\\label-studio\\media\\upload\\4\\{name}",  # 1.16's "COCO with images"
        "../media/upload/4/{name}",  # its converter (label-studio-sdk) with local uploads, on Linux
        "/home/me/.local/share/label-studio/media/upload/4/{name}",  # an absolute path of its machine
    ],
)
def test_label_studio_coco_names_written_on_windows_read_the_image_of_that_name(tmp_path, caplog, written):
    """Label Studio's COCO export: ``result.json`` beside ``images/``, its file names as its
    versions wrote them (its issues 7294 and converter 139)."""
    root = tmp_path / "label_studio"
    _write_image(root / "images" / "cb0618f6-boat.jpg")
    entry = {"id": 0, "file_name": written.format(name="cb0618f6-boat.jpg"), "width": 40, "height": 30}
    annotation = {"id": 0, "image_id": 0, "category_id": 0, "bbox": [1, 2, 10, 8], "area": 80, "iscrowd": 0}
    coco = {"images": [entry], "categories": [{"id": 0, "name": "ship"}], "annotations": [annotation]}
    (root / "result.json").write_text(json.dumps(coco))
    with caplog.at_level(logging.INFO):
        dataset = load_export(root)
    assert [dataset.image_path(r).resolve() for r in dataset.records] == [root / "images" / "cb0618f6-boat.jpg"]
    assert _boxes(dataset) == 1 and "1 file_name(s) written on another machine" in caplog.text


@pytest.mark.parametrize("folder", ["images", "images/sub dir", "photos/ünïcode"])
def test_coco_file_names_relative_to_the_annotation_file_are_read_beside_an_images_folder(tmp_path, folder):
    """A json whose file names start with its image folder's name (Label Studio's ``result.json``
    beside ``images/``; a hand-made json beside a nested folder): read relative to the json, not
    inside ``images/`` again, wherever an ``images/`` folder stands beside it."""
    root = tmp_path / "export"
    names = [f"{folder}/{stem}.jpg" for stem in ("boat 1", "boat-2", "bóat3")]
    for name in names:
        _write_image(root / name)
    (root / "images").mkdir(exist_ok=True)  # an images/ folder beside the json, as these exports have
    entries = [{"id": k, "file_name": name, "width": 40, "height": 30} for k, name in enumerate(names)]
    annotations = [
        {"id": k, "image_id": k, "category_id": 1, "bbox": [1, 2, 10, 8], "area": 80, "iscrowd": 0}
        for k in range(len(names))
    ]
    coco = {"images": entries, "categories": [{"id": 1, "name": "ship"}], "annotations": annotations}
    (root / "result.json").write_text(json.dumps(coco))
    dataset = load_export(root)
    assert sorted(r.file_name for r in dataset.records) == sorted(names) and _boxes(dataset) == 3


def test_label_studio_yolo_export_reads_with_its_classes_txt(tmp_path):
    """Label Studio's YOLO export: ``classes.txt``, ``notes.json``, ``images/``, ``labels/``."""
    root = tmp_path / "label_studio"
    _labelled(root / "images", "a1b2-boat", ["0 0.5 0.5 0.2 0.2", "1 0.2 0.2 0.1 0.1"], labels_in=root / "labels")
    (root / "classes.txt").write_text(CLASSES)
    (root / "notes.json").write_text(json.dumps({"categories": [{"id": 0, "name": "ship"}, {"id": 1, "name": "buoy"}]}))
    dataset = load_export(root)
    assert dataset.class_names == ["ship", "buoy"] and _boxes(dataset) == 2


@pytest.mark.parametrize(
    ("annotations", "images"),
    [("Annotations", "images"), ("annotations", "images"), ("ANNOTATIONS", "Images"), ("annotations", "JPEGImages")],
    ids=["label-studio", "tf-tutorials", "upper-case", "lower-case-voc"],
)
def test_voc_folders_read_in_any_letter_case(tmp_path, annotations, images):
    """Label Studio's Pascal VOC export: ``Annotations/`` beside ``images/`` (not ``JPEGImages/``);
    the TensorFlow object-detection tutorials' sets (e.g. the raccoon set): ``annotations/`` + ``images/``."""
    root = tmp_path / "export"
    _write_image(root / images / "a1b2-boat.jpg")
    (root / annotations).mkdir()
    (root / annotations / "a1b2-boat.xml").write_text(
        "<annotation><filename>a1b2-boat.jpg</filename><size><width>40</width><height>30</height></size>"
        "<object><name>ship</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>25</ymax></bndbox>"
        "</object></annotation>"
    )
    dataset = load_export(root)
    assert dataset.class_names == ["ship"] and _boxes(dataset) == 1


def _any_case(word):
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(word, upper))
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(annotations=_any_case("annotations"), images=st.one_of(_any_case("jpegimages"), _any_case("images")))
def test_voc_folders_in_any_generated_letter_case_read_every_box(tmp_path_factory, annotations, images):
    root = tmp_path_factory.mktemp("export")
    _write_image(root / images / "boat.jpg")
    (root / annotations).mkdir()
    (root / annotations / "boat.xml").write_text(
        "<annotation><filename>boat.jpg</filename><size><width>40</width><height>30</height></size>"
        + "<object><name>ship</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>25</ymax>"
        "</bndbox></object>" * 2 + "</annotation>"
    )
    (root / "notes.json").write_text(json.dumps({"images": 1, "annotations": 2}))  # counts: not a COCO file
    dataset = load_export(root)
    assert dataset.class_names == ["ship"] and _boxes(dataset) == 2


def test_a_json_of_split_statistics_beside_a_yolo_export_is_not_taken_for_coco(tmp_path):
    """A json whose keys are named ``images`` and ``annotations`` but hold counts, not lists."""
    root = _split_folders(tmp_path / "export")
    (root / "data.yaml").write_text("names: [ship, buoy]\ntrain: train\nval: valid\ntest: test\n")
    stats = {"split_statistics": {"train": {"images": 2, "annotations": 3}}}
    (root / "dataset_statistics.json").write_text(json.dumps(stats, indent=2))
    dataset = load_export(root)
    assert _boxes(dataset) == 5 and set(dataset.given_splits) == {"train", "dev", "test"}
    (root / "dataset_statistics.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(DatasetError, match="looks like coco and yolo"):
        load_export(root)


def test_a_class_beyond_classes_txt_is_named_with_the_list_it_is_missing_from(tmp_path):
    _labelled(tmp_path, "a", ["2 0.5 0.5 0.2 0.2"])
    (tmp_path / "classes.txt").write_text("ship\n")
    with pytest.raises(
        DatasetError,
        match=r"classes\.txt: .*a\.txt: line 1: class 2 outside 0\.\.0: the class list "
        r"names 1 class name; add the name or fix the line",
    ):
        load_export(tmp_path)
