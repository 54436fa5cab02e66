"""Structure fuzzers (issue 38): where tests/data/test_bad_input.py puts odd values into
well-formed files, these change the files' shape and what a path is. Documents of arbitrary
shape (any depth, keys given twice, large arrays, the wrong container at any level) for COCO,
results, VOC, YOLO yamls and run configs; paths of every kind (file, folder, link, FIFO, socket,
device) in every place of an export; images of every kind (1 px to extreme aspect ratios,
every mode, several frames, cut short). The contract on every example: a sound dataset or one
`DatasetError` / `ConfigError`, within a time bound, the input unchanged, no code called.

``DETKIT_FUZZ_EXAMPLES=10000 python -m pytest tests/data/test_structure_fuzz.py`` searches
deeper (new random examples each run); CI runs 1,000 per format, derandomised."""

from __future__ import annotations

import json
import os
import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from detkit.data.formats import load_export
from detkit.data.formats.coco import load_coco, load_results
from detkit.data.formats.voc import load_voc
from detkit.data.formats.yolo import load_yolo
from detkit.data.torch_dataset import DetectionImages
from detkit.exceptions import ConfigError, DatasetError
from detkit.runs.saved_config import is_allowed_target, load_saved_config
from tests.data.test_bad_input import FUZZ, SIZE, _assert_sound, _coco, _fresh, _voc, _yolo
from tests.data.test_coco import _coco as valid_coco
from tests.data.test_cvat_labelme import cvat, image, labelme, shape
from tests.data.test_formats import _digest, _write_image

SECONDS = 10.0  # the most one example may take, on any machine (they take milliseconds)
COCO_KEYS = ["images", "annotations", "categories", "id", "image_id", "category_id", "bbox", "area", "iscrowd"]
COCO_KEYS += ["file_name", "width", "height", "name", "segmentation", "neg_category_ids", "split"]
DEPTHS = [2, 50, 99, 101, 1_000, 100_000]


class Pairs(list):
    """A JSON object as its (key, value) pairs, so that a key may be given twice."""


class Deep(list):
    """``[value, depth, in_object]``: ``value`` inside ``depth`` lists (or objects), written
    without recursion."""


def dump(value: Any) -> str:
    """JSON text of ``value``, `Pairs` written as objects with every pair (repeats kept)."""
    if isinstance(value, Deep):
        inner, depth, in_object = value
        return ('{"a": ' if in_object else "[") * depth + dump(inner) + ("}" if in_object else "]") * depth
    if isinstance(value, Pairs):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {dump(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dump(v) for v in value) + "]"
    return json.dumps(value)


def as_pairs(value: Any) -> Any:
    if isinstance(value, dict):
        return Pairs((k, as_pairs(v)) for k, v in value.items())
    if isinstance(value, list):
        return [as_pairs(v) for v in value]
    return value


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=6),
)


def documents(keys: list[str]) -> st.SearchStrategy[Any]:
    """Any JSON document, objects' keys mostly the format's own."""
    key = st.one_of(st.sampled_from(keys), st.text(max_size=4))
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(st.tuples(key, inner), max_size=4).map(Pairs)),
        max_leaves=12,
    )


def containers(value: Any, path: tuple = ()) -> list[tuple]:
    """The paths (indices into lists and `Pairs`) of every list and object in ``value``."""
    found = [path] if isinstance(value, list) and not isinstance(value, Deep) else []
    if isinstance(value, Pairs):
        for index, (_, inner) in enumerate(value):
            found += containers(inner, (*path, index))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += containers(inner, (*path, index))
    return found


def get(value: Any, path: tuple) -> Any:
    for index in path:
        value = value[index][1] if isinstance(value, Pairs) else value[index]
    return value


def put(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    inner = put(get(value, path[:1]), path[1:], new)
    if isinstance(value, Pairs):
        value[path[0]] = (value[path[0]][0], inner)
    else:
        value[path[0]] = inner
    return value


@st.composite
def reshaped(draw, base: Any, keys: list[str], large: tuple[int, ...] = (1_000, 20_000)) -> str:
    """``base`` (a valid document) with one change of structure at a container drawn from it."""
    document = as_pairs(base)
    path = draw(st.sampled_from(containers(document)))
    node = get(document, path)
    kind = draw(st.sampled_from(["replace", "repeat key", "deep", "large", "other container", "drop"]))
    if kind == "replace":
        node = draw(documents(keys))
    elif kind == "repeat key" and isinstance(node, Pairs) and node:
        index = draw(st.integers(0, len(node) - 1))
        node.insert(draw(st.integers(0, len(node))), (node[index][0], draw(documents(keys))))
    elif kind == "deep":
        node = Deep([node, draw(st.sampled_from(DEPTHS)), draw(st.booleans())])
    elif kind == "large":
        node = [node] * draw(st.sampled_from(large))
    elif kind == "other container":
        node = [v for _, v in node] if isinstance(node, Pairs) else Pairs((str(i), v) for i, v in enumerate(node))
    elif kind == "drop" and node:
        del node[draw(st.integers(0, len(node) - 1))]
    return dump(put(document, path, node))


def _within_contract(read, folder: Path, errors=(DatasetError,)):
    """``read()`` gives a sound dataset or raises one of ``errors`` with a message, in time, and
    ``folder`` is unchanged; the result (or None)."""
    before = _digest(folder)
    started = time.monotonic()
    result = None
    try:
        result = read()
    except errors as error:
        assert str(error), "a message"
    assert time.monotonic() - started < SECONDS
    assert _digest(folder) == before, "the input is never written to"
    return result


def _export(tmp_path: Path, name: str, build) -> Path:
    """The export ``build`` makes, made once per test (examples rewrite only the file they change)."""
    folder = tmp_path / name
    if not folder.exists():
        folder.mkdir()
        build(folder)
    return folder


def _coco_text(tmp_path) -> tuple[Path, dict]:
    return _export(tmp_path, "coco", _coco), valid_coco()


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_coco_files_of_any_shape_give_a_sound_dataset_or_one_message(tmp_path, data):
    folder, coco = _coco_text(tmp_path)
    (folder / "annotations.json").write_text(data.draw(reshaped(coco, COCO_KEYS)))
    dataset = _within_contract(lambda: load_coco(folder / "annotations.json"), folder)
    if dataset is not None:
        _assert_sound(dataset)


RESULTS = [
    {"image_id": 7, "category_id": 3, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.9},
    {"image_id": 9, "category_id": 5, "bbox": [5.0, 6.0, 7.0, 8.0], "score": 0.2},
]
GROUND_TRUTH = {"images": [{"id": 7}, {"id": 9}], "categories": [{"id": 3}, {"id": 5}]}


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_results_files_of_any_shape_are_read_or_refused_with_one_message(tmp_path, data):
    folder = _export(tmp_path, "results", lambda folder: None)
    keys = ["image_id", "category_id", "bbox", "score", "segmentation"]
    (folder / "results.json").write_text(data.draw(reshaped(RESULTS, keys)))
    array = _within_contract(lambda: load_results(folder / "results.json", GROUND_TRUTH), folder)
    assert array is None or (array.ndim == 2 and array.shape[1] == 7)


XML_CHARACTERS = st.characters(blacklist_categories=("Cs", "Cc"))


def reshaped_xml(draw, text: str, odd: str, change_odd, depths: list[int], deep: str) -> bytes:
    """The XML ``text`` with 1 to 3 changes: an element repeated, nested in another, emptied,
    given an ``odd`` value (``change_odd(draw, element)``), or ``deep`` nested to one of ``depths``."""
    root = ET.fromstring(text)
    elements = list(root.iter())
    depth = 0
    for _ in range(draw(st.integers(1, 3))):
        element = draw(st.sampled_from(elements))
        kind = draw(st.sampled_from(["repeat", "nest", "drop children", odd, "deep"]))
        parents = {child: parent for parent in root.iter() for child in parent}
        if kind == "repeat" and element in parents:
            parents[element].append(ET.fromstring(ET.tostring(element)))
        elif kind == "nest":
            element.append(ET.fromstring(ET.tostring(draw(st.sampled_from(elements)))))
        elif kind == "drop children":
            for child in list(element):
                element.remove(child)
        elif kind == odd:
            change_odd(draw, element)
        elif depth == 0:
            depth = draw(st.sampled_from(depths))
            element.append(ET.Element("deep"))
    return ET.tostring(root).replace(b"<deep />", f"<{deep}>".encode() * depth + f"</{deep}>".encode() * depth)


@st.composite
def voc_trees(draw) -> bytes:
    """A VOC annotation whose elements are repeated, nested, dropped or given odd text."""

    def odd_text(draw, element):
        element.text = draw(
            st.one_of(st.text(XML_CHARACTERS, max_size=6), st.sampled_from(["-1", "1e400", "nan", "0x10", " 7 "]))
        )

    text = (
        "<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height></size>"
        "<object><name>cat</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>30</ymax></bndbox>"
        "</object></annotation>"
    )
    return reshaped_xml(draw, text, "text", odd_text, [10, 1_000, 100_000], "object")


@pytest.mark.slow
@FUZZ
@given(tree=voc_trees())
def test_voc_files_of_any_shape_give_a_sound_dataset_or_one_message(tmp_path, tree):
    folder = _export(tmp_path, "voc", _voc)
    (folder / "Annotations" / "a.xml").write_bytes(tree)
    dataset = _within_contract(lambda: load_voc(folder), folder)
    if dataset is not None:
        _assert_sound(dataset)


def _cvat(folder: Path) -> Path:
    """A valid CVAT for images export: annotations.xml beside images/a.png."""
    _write_image(folder / "images" / "a.png", SIZE)
    return cvat(folder, image("a.png", '<box label="car" xtl="2" ytl="3" xbr="20" ybr="30"/>', size=SIZE))


def _labelme(folder: Path) -> Path:
    """A valid LabelMe set: a.json beside a.png."""
    _write_image(folder / "a.png", SIZE)
    labelme(folder / "a.json", [shape("rectangle", [[2, 3], [20, 30]])], "a.png", size=SIZE)
    return folder


@st.composite
def cvat_trees(draw) -> bytes:
    """A CVAT for images file whose elements are repeated, nested, dropped, given odd attribute
    values, or nested deep (to 20,000 levels, past Python's recursion: 100,000 doubled its time)."""

    def odd_attribute(draw, element):
        key = draw(st.sampled_from(["name", "width", "height", "label", "xtl", "ybr", "points", "rotation"]))
        element.set(key, draw(st.one_of(st.text(XML_CHARACTERS, max_size=8), st.sampled_from(ODD_ATTRIBUTES))))

    text = (
        "<annotations><version>1.1</version><meta><task><labels><label><name>car</name></label></labels></task>"
        '</meta><image id="0" name="a.png" width="64" height="48"><box label="car" xtl="2" ytl="3" xbr="20" '
        'ybr="30"/><polygon label="car" points="1,1;9,9;5,20"/></image></annotations>'
    )
    return reshaped_xml(draw, text, "attribute", odd_attribute, [10, 1_000, 20_000], "image")


ODD_ATTRIBUTES = ["-1", "1e400", "nan", "0x10", " 7 ", "1,2;3", ";;", "../a.png", "/etc/passwd", "a.png;", "1e-400"]


@pytest.mark.slow
@FUZZ
@given(tree=cvat_trees())
def test_cvat_files_of_any_shape_give_a_sound_dataset_or_one_message(tmp_path, tree):
    folder = _export(tmp_path, "cvat", _cvat)
    (folder / "annotations.xml").write_bytes(tree)
    dataset = _within_contract(lambda: load_export(folder, "cvat"), folder)
    if dataset is not None:
        _assert_sound(dataset)


LABELME_KEYS = ["shapes", "imagePath", "imageData", "imageWidth", "imageHeight", "label", "points", "shape_type"]


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_labelme_files_of_any_shape_give_a_sound_dataset_or_one_message(tmp_path, data):
    folder = _export(tmp_path, "labelme", _labelme)
    valid = {"shapes": [shape("rectangle", [[2, 3], [20, 30]])], "imagePath": "a.png", "imageData": None}
    valid |= {"imageHeight": SIZE[1], "imageWidth": SIZE[0]}
    (folder / "a.json").write_text(data.draw(reshaped(valid, LABELME_KEYS)))
    dataset = _within_contract(lambda: load_export(folder, "labelme"), folder)
    if dataset is not None:
        _assert_sound(dataset)


YAML_KEYS = ["names", "path", "train", "val", "test", "nc", "download"]
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
)


def yaml_text(document: Any) -> str:
    return yaml.safe_dump(json.loads(dump(document)), default_flow_style=None)


@st.composite
def dataset_yamls(draw) -> str:
    """A YOLO dataset yaml of any shape: a valid one reshaped, or with aliases that expand."""
    base = {"names": ["cat", "dog"], "train": "images", "val": "images"}
    kind = draw(st.sampled_from(["reshaped", "aliases", "self alias"]))
    if kind == "aliases":
        target = draw(st.sampled_from(["names", "train", "path"]))
        return ALIAS_BOMB + f"{target}: *{draw(st.sampled_from('abcdefghij'))}\n" + yaml.safe_dump(base)
    if kind == "self alias":
        return "names: &n [cat, *n]\n"
    text = draw(reshaped(base, YAML_KEYS, large=(100, 2_000)))  # pure-Python YAML: 2,000 values take 50 ms
    try:
        return yaml_text(json.loads(text, object_pairs_hook=Pairs))
    except (ValueError, RecursionError):
        return text  # JSON is YAML: a document json cannot read back (deep, or keys twice) is written as it is


@pytest.mark.slow
@FUZZ
@given(text=dataset_yamls())
def test_yolo_yamls_of_any_shape_give_a_sound_dataset_or_one_message(tmp_path, text):
    folder = _export(tmp_path, "yolo", _yolo)
    (folder / "data.yaml").write_text(text)
    dataset = _within_contract(lambda: load_yolo(folder / "data.yaml"), folder, (DatasetError, ConfigError))
    if dataset is not None:
        _assert_sound(dataset)


TARGETS = [
    "detkit.training.datamodule.DetectionDataModule",
    "torch.optim.SGD",
    "os.system",
    "subprocess.run",
    "builtins.open",
    "builtins.exec",
    "posix.system",
    "torch.optim.lr_scheduler.os.system",
    "detkit.files.write_text_atomic",
]


@st.composite
def run_configs(draw) -> Any:
    """A run's config of any shape, with ``_target_`` keys placed anywhere."""
    key = st.one_of(st.sampled_from(["_target_", "data", "model", "module", "_args_"]), st.text(max_size=3))
    value = st.one_of(SCALARS, st.sampled_from(TARGETS))
    return draw(
        st.recursive(
            value,
            lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(key, inner, max_size=4)),
            max_leaves=15,
        )
    )


def _targets(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "_target_"] + [t for v in node.values() for t in _targets(v)]
    return [t for v in node for t in _targets(v)] if isinstance(node, list) else []


@pytest.mark.slow
@FUZZ
@given(config=run_configs())
def test_a_run_config_of_any_shape_is_data_or_refused(tmp_path, config):
    path = _export(tmp_path, "run", lambda folder: None) / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = _within_contract(lambda: load_saved_config(path), path.parent, (ConfigError,))
    if loaded is not None:
        assert isinstance(config, dict) and all(is_allowed_target(t) for t in _targets(config))


def _replace(victim: Path, kind: str, scratch: Path) -> None:
    """Put something of ``kind`` where ``victim`` (a file or folder of an export) is."""
    if victim.is_dir() and not victim.is_symlink():
        for inner in sorted(victim.rglob("*"), reverse=True):
            inner.unlink() if not inner.is_dir() or inner.is_symlink() else inner.rmdir()
        victim.rmdir()
    elif os.path.lexists(victim):
        victim.unlink()
    if kind == "fifo":
        os.mkfifo(victim)
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(victim))
    elif kind == "folder":
        victim.mkdir()
    elif kind == "empty file":
        victim.write_bytes(b"")
    elif kind == "link to nothing":
        victim.symlink_to(scratch / "nothing")
    elif kind == "link loop":
        victim.symlink_to(victim)
    elif kind == "link to a device":
        victim.symlink_to("/dev/zero")
    elif kind == "link to a fifo":
        if not os.path.lexists(scratch / "fifo"):
            os.mkfifo(scratch / "fifo")
        victim.symlink_to(scratch / "fifo")


PATH_KINDS = ["fifo", "socket", "folder", "empty file", "link to nothing", "link loop", "link to a device"]
PATH_KINDS += ["link to a fifo"]
EXPORTS = {"coco": _coco, "voc": _voc, "yolo": _yolo, "cvat": _cvat, "labelme": _labelme}


@pytest.mark.slow
@FUZZ
@given(format=st.sampled_from(sorted(EXPORTS)), kind=st.sampled_from(PATH_KINDS), index=st.integers(0, 100))
def test_any_path_of_an_export_may_be_anything_without_a_hang(tmp_path, format, kind, index):
    folder = _fresh(tmp_path, format)
    scratch = _fresh(tmp_path, "scratch")
    EXPORTS[format](folder)
    paths = sorted(folder.rglob("*"))
    _replace(paths[index % len(paths)], kind, scratch)
    dataset = _within_contract(lambda: load_export(folder), folder, (DatasetError, ConfigError))
    if dataset is not None:
        _assert_sound(dataset)


IMAGE_MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F", "YCbCr"]


@st.composite
def image_files(draw) -> tuple[bytes, str]:
    """The bytes of an image of any size, mode and frame count, maybe cut short, and its suffix."""
    width, height = draw(st.sampled_from([(1, 1), (1, 3000), (3000, 1), (64, 48), (48, 64), (2, 900)]))
    mode = draw(st.sampled_from(IMAGE_MODES))
    suffix = draw(st.sampled_from([".png", ".jpg", ".tif", ".gif", ".webp", ".bmp"]))
    image = Image.new(mode, (width, height))
    frames = draw(st.sampled_from([1, 1, 3]))
    import io

    buffer = io.BytesIO()
    kind = {".png": "PNG", ".jpg": "JPEG", ".tif": "TIFF", ".gif": "GIF", ".webp": "WEBP", ".bmp": "BMP"}[suffix]
    try:
        extra = {"save_all": True, "append_images": [image.copy()] * (frames - 1)} if frames > 1 else {}
        image.save(buffer, kind, **extra)
    except (OSError, ValueError, KeyError):  # a mode the format cannot hold: PNG can hold each mode's RGB
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "PNG")
    data = buffer.getvalue()
    cut = draw(st.sampled_from([None, None, 0, 8, len(data) // 2, len(data) - 1]))
    return (data if cut is None else data[:cut]), suffix


@pytest.mark.slow
@FUZZ
@given(image=image_files())
def test_images_of_every_kind_are_read_or_refused_with_one_message(tmp_path, image):
    data, suffix = image
    folder = _fresh(tmp_path, "coco")
    coco = _coco(folder)
    (folder / "images" / "a.png").unlink()
    (folder / "images" / f"a{suffix}").write_bytes(data)
    coco["images"][0]["file_name"] = f"a{suffix}"
    try:
        width, height = Image.open(folder / "images" / f"a{suffix}").size
    except Exception:
        width, height = 64, 48
    coco["images"][0].update(width=width, height=height)
    (folder / "annotations.json").write_text(json.dumps(coco))
    dataset = _within_contract(lambda: load_coco(folder / "annotations.json", on_invalid="drop"), folder)
    if dataset is not None:
        _assert_sound(dataset)
        images = DetectionImages(dataset)
        for index in range(len(images)):
            try:
                pixels, _ = images[index]
            except DatasetError:
                continue  # a file that its header allows but its pixels do not (cut short): one message
            record = dataset.records[index]
            assert tuple(pixels.shape) == (3, record.height, record.width)
