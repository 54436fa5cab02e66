"""The readers' cache: a second reading reuses what the first read, and sees every change to
the files it came from."""

import os
import time

import numpy as np
import pytest
from PIL import Image

from detkit.data.formats import convert_dataset, read_cache
from detkit.data.formats.voc import load_voc
from detkit.data.formats.yolo import load_yolo
from detkit.data.images import signatures as image_signatures
from detkit.exceptions import DatasetError

READ = {"voc": load_voc, "yolo": load_yolo}


@pytest.fixture
def files_read(monkeypatch):
    """How many files each reading of annotations handed to its workers (what the cache did not
    hold; not the images decoded as an export is read, kept in a cache of their own); files
    written by the test count as settled at once (as files older than `RACY_SECONDS` do)."""
    counts = []

    def counting(work, items, per_worker, description):
        if work is not image_signatures._signatures_of:
            counts.append(len(items))
        return work(items)

    monkeypatch.setattr(read_cache, "map_files", counting)
    monkeypatch.setattr(read_cache, "RACY_SECONDS", 0.0)
    return counts


@pytest.fixture(params=["voc", "yolo"])
def export(request, tiny_shapes, tmp_path):
    root = tmp_path / request.param
    convert_dataset("coco", tiny_shapes.root.parent, request.param, root)
    time.sleep(0.02)  # file times come from a clock that ticks every few ms: edits below must fall on a later tick
    return request.param, root


def _same(a, b):
    assert [r.file_name for r in a.records] == [r.file_name for r in b.records]
    assert a.class_names == b.class_names and a.given_splits == b.given_splits
    for left, right in zip(a.records, b.records):
        assert (left.width, left.height, left.group) == (right.width, right.height, right.group)
        np.testing.assert_array_equal(left.boxes, right.boxes)
        np.testing.assert_array_equal(left.labels, right.labels)
        np.testing.assert_array_equal(left.iscrowd, right.iscrowd)


def _label_file(kind, root, record):
    stem = os.path.splitext(record.file_name)[0]
    return root / "Annotations" / f"{stem}.xml" if kind == "voc" else root / "labels" / f"{stem}.txt"


def test_a_second_reading_reads_no_file_and_gives_the_same_dataset(export, files_read, own_cache_folder):
    kind, root = export
    first = READ[kind](root)
    second = READ[kind](root)
    assert files_read == [len(first.records)]
    _same(first, second)
    assert len(list((own_cache_folder / "readers").glob(f"{kind}-*"))) == 1  # (converting kept the signatures too)


def test_an_edit_that_keeps_size_and_modification_time_is_seen(export, files_read):
    kind, root = export
    first = READ[kind](root)
    record = next(r for r in first.records if len(r.boxes))
    path = _label_file(kind, root, record)
    before = os.stat(path)
    text = path.read_text()
    if kind == "voc":  # the first object becomes difficult (an ignored region)
        edited = text.replace("<difficult>0</difficult>", "<difficult>1</difficult>", 1)
    else:  # the first line's class becomes the other class
        edited = str(1 - int(text[0])) + text[1:]
    assert len(edited) == len(text)
    path.write_text(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `cp -p` or an unpacked archive would
    second = READ[kind](root)
    assert files_read == [len(first.records), 1]
    changed = next(r for r in second.records if r.file_name == record.file_name)
    if kind == "voc":
        assert changed.iscrowd[0] and not record.iscrowd[0]
    else:
        assert changed.labels[0] == 1 - record.labels[0]


def test_a_changed_image_is_read_again(export, files_read):
    kind, root = export
    first = READ[kind](root)
    record = first.records[0]
    image = first.image_path(record)
    Image.new("RGB", (record.width * 2, record.height)).save(image)
    if kind == "voc":  # the xml still says the old size
        with pytest.raises(DatasetError, match="annotated as"):
            READ[kind](root)
    else:  # YOLO boxes are fractions of whatever the image is
        second = READ[kind](root)
        assert second.records[0].width == 2 * record.width
        np.testing.assert_allclose(second.records[0].boxes[:, 0], 2 * record.boxes[:, 0], atol=0.01)
    assert files_read[1] == 1


def test_a_label_file_that_appears_is_read(tiny_shapes, tmp_path, files_read):
    root = tmp_path / "yolo"
    convert_dataset("coco", tiny_shapes.root.parent, "yolo", root)
    label = next((root / "labels").rglob("*.txt"))
    text = label.read_text()
    label.unlink()
    first = load_yolo(root)
    assert sum(len(r.boxes) == 0 for r in first.records) >= 1
    label.write_text(text)
    second = load_yolo(root)
    assert files_read == [len(first.records), 1]
    boxes = sum(len(r.boxes) for r in first.records) + len(text.splitlines())
    assert sum(len(r.boxes) for r in second.records) == boxes


def test_files_with_a_problem_are_read_every_time(tiny_shapes, tmp_path, files_read, caplog):
    root = tmp_path / "yolo"
    convert_dataset("coco", tiny_shapes.root.parent, "yolo", root)
    label = next((root / "labels").rglob("*.txt"))
    label.write_text(label.read_text() + "9 0.5 0.5 0.1 0.1\n")
    for _ in range(2):
        with pytest.raises(DatasetError, match=f"{label.name}: line"):
            load_yolo(root)
    dataset = load_yolo(root, on_invalid="drop")
    assert files_read[1:] == [1, 1] and len(dataset.records) == files_read[0] - 1, "the image of the bad line left out"
    assert "dropped 1 invalid" in caplog.text


def test_files_written_just_before_the_reading_are_not_kept(export, monkeypatch):
    kind, root = export
    counts = []
    monkeypatch.setattr(read_cache, "map_files", lambda work, items, *_: counts.append(len(items)) or work(items))
    READ[kind](root)
    READ[kind](root)  # the files are younger than RACY_SECONDS: an edit in the same tick could not be told apart
    assert counts[0] == counts[1] > 0


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05K\x01."])
def test_a_damaged_cache_is_passed_over(export, files_read, own_cache_folder, damage):
    kind, root = export
    first = READ[kind](root)
    (cache,) = (own_cache_folder / "readers").glob(f"{kind}-*")
    cache.write_bytes(damage)
    _same(first, READ[kind](root))
    assert files_read == [len(first.records)] * 2
    _same(first, READ[kind](root))
    assert len(files_read) == 2  # the damaged file was replaced


def test_no_cache_where_it_is_turned_off_or_cannot_be_written(export, files_read, monkeypatch, tmp_path):
    kind, root = export
    monkeypatch.setenv("DETKIT_CACHE_DIR", "")
    first = READ[kind](root)
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    monkeypatch.setenv("DETKIT_CACHE_DIR", str(blocked))
    _same(first, READ[kind](root))
    _same(first, READ[kind](root))
    assert files_read == [len(first.records)] * 3


def test_links_are_never_taken_as_unchanged(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("x")
    (tmp_path / "link.txt").symlink_to(target)
    assert read_cache.stamp(str(tmp_path / "link.txt")) is False
    assert read_cache.stamp(str(tmp_path / "missing.txt")) is None
    assert read_cache.stamp(str(target))[2] == 1


class _Called:
    """Unpickling this calls os.system (what a planted cache file would do)."""

    def __reduce__(self):
        return (os.system, ("touch called-by-the-cache",))


def test_a_cache_file_naming_code_is_passed_over_without_calling_it(
    export, files_read, own_cache_folder, tmp_path, monkeypatch
):
    import pickle

    kind, root = export
    first = READ[kind](root)
    (cache,) = (own_cache_folder / "readers").glob(f"{kind}-*")
    cache.write_bytes(pickle.dumps({"x": _Called()}))
    monkeypatch.chdir(tmp_path)
    _same(first, READ[kind](root))
    assert not (tmp_path / "called-by-the-cache").exists()
    assert files_read == [len(first.records)] * 2, "read from the files again"
