"""An image whose header reads but whose pixels do not decode is a problem of the reading, in
every layout: refused with its name and the way to leave it out, or left out under
``on_invalid=drop``; an export with nothing left is refused, whatever left it empty."""

import shutil

import pytest

from detkit.data.formats import convert_dataset, load_export
from detkit.exceptions import DatasetError
from tests.exports import official_coco, roboflow_coco, ultralytics_export, voc_export

LAYOUTS = {"roboflow": roboflow_coco, "official": official_coco, "voc": voc_export, "ultralytics": ultralytics_export}
# each layout with each kind of image it holds (VOC's JPEGImages/ holds JPEGs alone)
DAMAGED = [(layout, suffix) for layout in LAYOUTS for suffix in (".jpg", ".png") if (layout, suffix) != ("voc", ".png")]


@pytest.fixture(scope="module")
def exports(tmp_path_factory, tiny_shapes):
    folder = tmp_path_factory.mktemp("undecodable")
    return {name: build(folder / name, tiny_shapes) for name, build in LAYOUTS.items()}


def _copy(exports, layout, tmp_path):
    root = tmp_path / layout
    shutil.copytree(exports[layout], root)
    return root


def _truncate(path, keep=0.5):
    """Cut the file to a share of its bytes: the header still reads, the pixels do not."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _boxes(dataset):
    return sum(len(r.boxes) for r in dataset.records)


@pytest.mark.parametrize(("layout", "suffix"), DAMAGED)
def test_an_image_that_does_not_decode_is_named_or_left_out(exports, tmp_path, layout, suffix):
    root = _copy(exports, layout, tmp_path)
    whole = load_export(root)
    victim = next(r for r in whole.records if r.file_name.endswith(suffix) and len(r.boxes))
    _truncate(whole.image_path(victim))
    with pytest.raises(DatasetError) as refused:
        load_export(root)
    message = str(refused.value)
    assert victim.file_name in message and "cannot be decoded" in message
    assert "data.on_invalid=drop" in message
    dropped = load_export(root, on_invalid="drop")
    assert victim.file_name not in {r.file_name for r in dropped.records}
    assert len(dropped) == len(whole) - 1
    assert _boxes(dropped) == _boxes(whole) - len(victim.boxes), "every other box is kept"
    split = next(s for s, ids in whole.given_splits.items() if victim.image_id in ids)
    assert len(dropped.given_splits[split]) == len(whole.given_splits[split]) - 1


def test_convert_refuses_an_undecodable_image_and_writes_nothing(exports, tmp_path):
    root = _copy(exports, "roboflow", tmp_path)
    victim = next(p for p in sorted(root.rglob("*.jpg")))
    _truncate(victim)
    with pytest.raises(DatasetError, match=f"{victim.name}.*cannot be decoded"):
        convert_dataset("auto", root, "yolo", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    convert_dataset("auto", root, "yolo", tmp_path / "out", on_invalid="drop")
    assert victim.name not in {p.name for p in (tmp_path / "out").rglob("*")}


def test_an_export_left_empty_by_drop_is_refused(exports, tmp_path):
    root = _copy(exports, "ultralytics", tmp_path)
    for image in [*root.rglob("*.jpg"), *root.rglob("*.png")]:
        _truncate(image)
    with pytest.raises(DatasetError, match="no images left to use: every image was left out as invalid"):
        load_export(root, on_invalid="drop")


def test_an_own_split_left_empty_by_drop_is_refused(exports, tmp_path):
    root = _copy(exports, "roboflow", tmp_path)
    for image in [*(root / "test").glob("*.jpg"), *(root / "test").glob("*.png")]:
        _truncate(image)
    with pytest.raises(DatasetError, match=r"split\(s\) test hold no image.*data.splits=resplit"):
        load_export(root, on_invalid="drop")
