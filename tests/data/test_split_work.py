"""The readers give the same answer however their work is split: label files checked with
arrays or line by line, files read in several processes or in one, a folder's links seen in
its listing or name by name."""

import json
import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detkit.data.formats import parallel, problems, roots, voc, yolo
from detkit.data.formats.coco import load_coco
from detkit.data.formats.roots import ImageRoot
from detkit.data.formats.voc import load_voc
from detkit.data.formats.yolo import load_yolo
from detkit.exceptions import DatasetError
from tests.data.test_bad_input import EXAMPLES, FUZZ, SIZE, _fresh, voc_value, yolo_lines
from tests.data.test_coco import _coco as valid_coco
from tests.data.test_formats import _write_image


def _outcome(read):
    """What a reader gives: each record's fields, or the message it refuses with."""
    try:
        dataset = read()
    except DatasetError as error:
        return str(error)
    fields = ("image_id", "file_name", "width", "height", "group", "domain", "annotated")
    return [
        ([getattr(r, f) for f in fields], r.boxes.tolist(), r.labels.tolist(), r.iscrowd.tolist(), r.areas.tolist())
        for r in dataset.records
    ]


def _yolo_export(folder, labels):
    for index, label in enumerate(labels):
        _write_image(folder / "images" / f"{index}.png", SIZE)
        (folder / "labels").mkdir(parents=True, exist_ok=True)
        (folder / "labels" / f"{index}.txt").write_bytes(label)
    (folder / "data.yaml").write_text("names: [cat, dog, bird]\n")
    return folder


@pytest.mark.slow
@settings(FUZZ, max_examples=EXAMPLES // 4)
@given(labels=st.lists(yolo_lines(), min_size=1, max_size=4), on_invalid=st.sampled_from(["error", "drop"]))
def test_yolo_labels_checked_with_arrays_read_as_checked_line_by_line(tmp_path, labels, on_invalid):
    folder = _yolo_export(_fresh(tmp_path, "yolo"), [t.encode(e, errors="replace") for t, e in labels])
    with_arrays = _outcome(lambda: load_yolo(folder, on_invalid=on_invalid))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yolo, "_well_formed_objects", lambda read, *args: [None] * len(read))
        assert _outcome(lambda: load_yolo(folder, on_invalid=on_invalid)) == with_arrays


def test_yolo_rows_in_range_and_at_the_border_take_the_array_path(tmp_path, monkeypatch):
    """Well-formed files (rounded past 1 by the tolerance, boxes within the border margin,
    empty files, blank lines) are read with arrays, to the values the line-by-line check gives."""
    labels = [b"0 0.5 0.5 0.25 0.25\n1 0.5 0.5 1.0000001 0.5\n", b"", b"\n2 0.01 0.99 0.04 0.04\n\n", b"1 0.5 0.5 1 1"]
    folder = _yolo_export(tmp_path, labels)
    answers = []
    real = yolo._well_formed_objects
    monkeypatch.setattr(yolo, "_well_formed_objects", lambda *args: answers.append(real(*args)) or answers[-1])
    with_arrays = _outcome(lambda: load_yolo(folder))
    assert all(objects is not None for objects in answers[0]), "every file passed the array checks"
    monkeypatch.setattr(yolo, "_well_formed_objects", lambda read, *args: [None] * len(read))
    assert _outcome(lambda: load_yolo(folder)) == with_arrays


def _voc_export(folder, objects):
    """One image a list of objects, each object a dict of the xml fields it has."""
    (folder / "Annotations").mkdir(parents=True, exist_ok=True)
    for index, fields in enumerate(objects):
        _write_image(folder / "JPEGImages" / f"{index}.jpg", SIZE)
        body = ""
        for obj in fields:
            corners = "".join(f"<{k}>{v}</{k}>" for k, v in obj.items() if k in voc.CORNERS)
            box = f"<bndbox>{corners}</bndbox>" if "bndbox" in obj else ""
            plain = "".join(f"<{k}>{v}</{k}>" for k, v in obj.items() if k in ("name", "difficult"))
            body += f"<object>{plain}{box}</object>"
        (folder / "Annotations" / f"{index}.xml").write_text(
            f"<annotation><filename>{index}.jpg</filename><size><width>{SIZE[0]}</width>"
            f"<height>{SIZE[1]}</height></size>{body}</annotation>"
        )
    return folder


@st.composite
def voc_objects(draw):
    """An object's fields, any of them missing: a name, a difficult flag, a bndbox of corners."""
    fields = {"name": draw(st.sampled_from(["cat", "dog", " cat ", ""]))}
    if draw(st.booleans()):
        fields["difficult"] = draw(st.sampled_from(["0", "1", " 1 ", "", "yes"]))
    if draw(st.integers(0, 9)):
        fields["bndbox"] = True
        for corner in voc.CORNERS:
            if draw(st.integers(0, 19)):
                fields[corner] = draw(st.one_of(voc_value, st.integers(0, 70).map(str)))
    return fields


@pytest.mark.slow
@settings(FUZZ, max_examples=EXAMPLES // 4)
@given(objects=st.lists(st.lists(voc_objects(), max_size=3), min_size=1, max_size=4))
def test_voc_boxes_checked_with_arrays_read_as_checked_object_by_object(tmp_path, objects):
    folder = _voc_export(_fresh(tmp_path, "voc"), objects)
    with_arrays = _outcome(lambda: load_voc(folder, on_invalid="drop"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(voc, "_well_formed_boxes", lambda corners, *args: [None] * len(corners))
        assert _outcome(lambda: load_voc(folder, on_invalid="drop")) == with_arrays
        assert _outcome(lambda: load_voc(folder)) == _outcome(lambda: load_voc(folder))


def test_voc_boxes_in_range_and_at_the_border_take_the_array_path(tmp_path, monkeypatch):
    """Well-formed files (boxes over the border by less than the margin, padded numbers,
    difficult objects, an image without objects) are read with arrays, to the values the
    object-by-object check gives."""
    box = {"bndbox": True, "xmin": "1", "ymin": "1", "xmax": "65.5", "ymax": "48"}
    objects = [
        [{"name": "cat", **box}, {"name": "dog", "difficult": "1", **box, "xmin": " 10 ", "ymax": "3.5e1"}],
        [],
        [{"name": " dog ", "difficult": "0", **box, "xmin": "0"}],
    ]
    folder = _voc_export(tmp_path, objects)
    answers = []
    real = voc._well_formed_boxes
    monkeypatch.setattr(voc, "_well_formed_boxes", lambda *args: answers.append(real(*args)) or answers[-1])
    with_arrays = _outcome(lambda: load_voc(folder))
    assert answers and all(boxes is not None for boxes in answers[0]), "every file passed the array checks"
    assert with_arrays[0][1] == [[0.0, 0.0, 64.0, 48.0], [9.0, 0.0, 64.0, 35.0]] and with_arrays[0][3] == [False, True]
    monkeypatch.setattr(voc, "_well_formed_boxes", lambda corners, *args: [None] * len(corners))
    assert _outcome(lambda: load_voc(folder)) == with_arrays


def test_yolo_finds_the_images_of_a_folder_as_pathlib_does(tmp_path):
    """Sub-folders are searched and links to folders are not (as ``rglob``); image suffixes in
    any case; a link to an image inside is an image of its own (its labels beside the link, as
    Ultralytics reads it), one to an image outside is refused."""
    images, outside = tmp_path / "set" / "images", tmp_path / "outside"
    for name in ["b.png", "a.JPG", "sub/c.png", "sub/deeper/d.jpeg", ".hidden.png", "notes.txt"]:
        _write_image(images / name, SIZE) if name.endswith(("png", "JPG", "jpeg")) else (images / name).write_text("")
    _write_image(outside / "x.png", SIZE)
    os.symlink(outside, images / "linked")
    os.symlink(images / "b.png", images / "sub" / "again.png")
    (tmp_path / "set" / "data.yaml").write_text("names: [cat]\n")
    found = yolo._folder_images(images)
    expected = [".hidden.png", "a.JPG", "b.png", "sub/again.png", "sub/c.png", "sub/deeper/d.jpeg"]
    assert found == [f"{images}/{name}" for name in expected]
    assert [r.file_name for r in load_yolo(tmp_path / "set").records] == expected
    os.symlink(outside / "x.png", images / "sub" / "away.png")
    with pytest.raises(DatasetError, match=r"1 image link\(s\) lead outside the folder: .*away.png ->"):
        yolo._folder_images(images)


def _pids(items):
    return [os.getpid() for _ in items]


def _pids_slowly(items):
    """``_pids`` taking 0.2 s a chunk, so that one worker cannot take every chunk before the
    other has started (CI saw all 8 fast chunks done by the first)."""
    time.sleep(0.2)
    return _pids(items)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU: the work stays in this process")
def test_work_is_shared_among_processes_and_comes_back_in_order():
    items = list(range(40))
    assert len(set(parallel.map_files(_pids_slowly, items, 10, "test"))) >= 2
    assert parallel.map_files(sorted, items, 10, "test") == items
    assert set(parallel.map_files(_pids, items, 100, "test")) == {os.getpid()}, "too few to fork for"


def _mixed_images(folder):
    """A COCO export whose images are fine, missing, unreadable, of another size, turned."""
    coco = valid_coco()
    _write_image(folder / "images" / "a.png", (64, 48))
    _write_image(folder / "images" / "b.png", (30, 30))  # annotated 64x48
    (folder / "images" / "broken.png").write_bytes(b"not an image")
    for index, name in enumerate(["missing.png", "broken.png"], start=20):
        coco["images"].append({"id": index, "file_name": name, "width": 64, "height": 48})
    for index in range(30, 60):
        _write_image(folder / "images" / f"{index}.png", (64, 48) if index % 3 else (48, 64))
        coco["images"].append({"id": index, "file_name": f"{index}.png", "width": 64, "height": 48})
    return coco


@pytest.mark.parametrize("on_invalid", ["error", "drop"])
def test_image_checks_in_workers_name_the_problems_one_process_names(tmp_path, monkeypatch, on_invalid):
    coco = _mixed_images(tmp_path)
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    read = lambda: _outcome(lambda: load_coco(tmp_path / "annotations.json", on_invalid=on_invalid))  # noqa: E731
    alone = read()
    monkeypatch.setattr(problems, "HEADERS_PER_WORKER", 5)
    assert read() == alone
    if on_invalid == "error":
        assert "11 of this kind" in alone and "images[2]" in alone and "unreadable image" in alone


def test_voc_files_read_in_workers_as_in_one_process(tmp_path, monkeypatch):
    (tmp_path / "Annotations").mkdir()
    for index in range(12):
        size = (64, 48) if index % 4 else (40, 40)
        _write_image(tmp_path / "JPEGImages" / f"{index}.jpg", size)
        box = "<xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>30</ymax>" if index != 5 else "<xmin>x</xmin>"
        (tmp_path / "Annotations" / f"{index}.xml").write_text(
            f"<annotation><filename>{index}.jpg</filename><size><width>64</width><height>48</height></size>"
            f"<object><name>cat</name><bndbox>{box}</bndbox></object></annotation>"
        )
    alone = _outcome(lambda: load_voc(tmp_path, on_invalid="drop"))
    monkeypatch.setattr(parallel, "_workers", lambda count, per_worker: 2)
    assert _outcome(lambda: load_voc(tmp_path, on_invalid="drop")) == alone and len(alone) == 8  # 5.xml left out


def test_a_folder_listed_for_its_links_answers_as_looking_each_name_up(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    folder = tmp_path / "root"
    (folder / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "x.png").write_bytes(b"x")
    (folder / "plain.png").write_bytes(b"x")
    (folder / "sub" / "plain.png").write_bytes(b"x")
    os.symlink(outside / "x.png", folder / "out.png")
    os.symlink(folder / "plain.png", folder / "in.png")
    os.symlink(folder / "loop.png", folder / "loop.png")
    os.symlink(outside, folder / "away")
    names = ["plain.png", "out.png", "in.png", "loop.png", "missing.png", "sub/plain.png", "away/x.png", "PLAIN.png"]
    one_by_one = [ImageRoot(folder).real_path(name) for name in names]
    monkeypatch.setattr(roots, "LIST_AFTER", 0)
    listed = ImageRoot(folder)
    assert [listed.real_path(name) for name in names] == one_by_one
    assert listed._links, "the folders were listed"
    assert [name for name, real in zip(names, one_by_one) if real is None] == ["out.png", "loop.png", "away/x.png"]
    assert one_by_one[0] == one_by_one[2] == str((folder / "plain.png").resolve())
