"""Bad input never crashes, lies or writes: each case an adversarial export held, then a fuzzer
that mutates small valid files in every format and checks the contract on each example.

The contract: a reader returns a dataset whose boxes are finite and inside their images, or
raises one `DatasetError` naming the file; the input's bytes are never changed."""

import json
import math
import os
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detkit.analysis.human_level import annotator_results
from detkit.data.formats import convert_dataset, load_export
from detkit.data.formats.coco import load_coco, load_results
from detkit.data.formats.fields import is_number
from detkit.data.formats.voc import load_voc
from detkit.data.formats.yolo import load_yolo
from detkit.data.images.folder import find_images, image_dataset
from detkit.exceptions import ConfigError, DatasetError
from detkit.workflows.diagnose import read_annotator
from tests.data.test_coco import _coco as valid_coco
from tests.data.test_coco import _write_images
from tests.data.test_formats import _digest, _write_image

EXAMPLES = int(os.environ.get("DETKIT_FUZZ_EXAMPLES", "1000"))  # more, to search deeper than CI does
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize="DETKIT_FUZZ_EXAMPLES" not in os.environ,  # the same examples on every run and machine (CI)
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SIZE = (64, 48)  # the images' size, as the annotations below say
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-3, 3), max_size=5),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _coco(folder):
    """A valid COCO folder (tests/data/test_coco.py's two images, with their files)."""
    _write_images(folder / "images", ["a.png", "b.png"])
    coco = valid_coco()
    (folder / "annotations.json").write_text(json.dumps(coco))
    return coco


def _write(folder, coco, text=None):
    (folder / "annotations.json").write_text(json.dumps(coco) if text is None else text)
    return folder / "annotations.json"


def _assert_sound(dataset):
    """What a reader may return: finite boxes inside their images, labels of its classes."""
    for record in dataset.records:
        assert np.isfinite(record.boxes).all() and np.isfinite(record.areas).all()
        assert (record.boxes >= 0).all() and (record.boxes[:, 2] <= record.width).all()
        assert (record.boxes[:, 3] <= record.height).all()
        assert ((record.labels >= 0) & (record.labels < dataset.num_classes)).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["annotations"][0].update(bbox=[2, 3, math.nan, 10]), "finite numbers"),
        (lambda c: c["annotations"][0].update(bbox=[2, 3, True, 10]), "finite numbers"),
        (lambda c: c["annotations"][0].update(area="200"), "area must be a finite number >= 0, got '200'"),
        (lambda c: c["annotations"][0].update(area=1e300), "area must be a finite number >= 0, got 1e+300"),
        (lambda c: c["categories"][0].update(id="1"), "needs a whole 'id' of at most 64 bits"),
        (lambda c: c.update(categories=["cat", "dog"]), "categories[0]: must be an object"),
        (lambda c: c["images"][0].update(id=[1]), "id must be a whole number of at most 64 bits, got [1]"),
        (lambda c: c["images"][0].update(id="abc"), "id must be a whole number of at most 64 bits, got 'abc'"),
        (lambda c: c.update(images={"1": "a.png"}), "must be lists of objects"),
        (lambda c: c["images"][0].update(width="64"), "width must be a whole number of pixels > 0, got '64'"),
        (lambda c: c["annotations"][0].update(iscrowd="yes"), "iscrowd must be 0 or 1"),
    ],
)
def test_coco_fields_of_the_wrong_type_are_named(tmp_path, change, message):
    coco = _coco(tmp_path)
    change(coco)
    path = _write(tmp_path, coco)
    with pytest.raises(DatasetError, match=None) as raised:
        load_coco(path)
    assert message in str(raised.value) and "annotations.json" in str(raised.value)


def test_text_that_is_not_utf8_names_the_byte(tmp_path):
    coco = _coco(tmp_path)
    coco["categories"][0]["name"] = "chat-éé"
    (tmp_path / "annotations.json").write_bytes(json.dumps(coco, ensure_ascii=False).encode("latin-1"))
    with pytest.raises(DatasetError, match=r"byte \d+: not UTF-8 \(0xe9\); save the file as UTF-8"):
        load_coco(tmp_path / "annotations.json")


def test_a_link_out_of_the_image_root_is_refused(tmp_path):
    coco = _coco(tmp_path / "export")
    _write_image(tmp_path / "secret" / "outside.png", SIZE)
    os.symlink(tmp_path / "secret" / "outside.png", tmp_path / "export" / "images" / "link.png")
    coco["images"][1]["file_name"] = "link.png"
    with pytest.raises(DatasetError, match="inside the image root"):
        load_coco(_write(tmp_path / "export", coco))


NOT_UTF8 = os.fsdecode(b"caf\xe9")  # a latin-1 name, as Python reads it from the file system


def _rename_to_latin1(path):
    os.rename(path, path.with_name(NOT_UTF8 + path.suffix))


def _latin1_coco(folder):
    coco = _coco(folder)
    _rename_to_latin1(folder / "images" / "a.png")
    coco["images"][0]["file_name"] = NOT_UTF8 + ".png"  # json.dumps escapes it as "caf\\udce9.png"
    return _write(folder, coco)


def _latin1_voc(folder):
    _voc(folder)
    _write_image(folder / "JPEGImages" / "b.jpg", SIZE)
    (folder / "Annotations" / "b.xml").write_text(
        (folder / "Annotations" / "a.xml").read_text().replace("a.jpg", "b.jpg")
    )
    _rename_to_latin1(folder / "Annotations" / "a.xml")
    return folder


def _latin1_yolo(folder):
    _yolo(folder)
    _write_image(folder / "images" / "b.png", SIZE)
    _rename_to_latin1(folder / "images" / "a.png")
    _rename_to_latin1(folder / "labels" / "a.txt")
    return folder


@pytest.mark.parametrize(
    ("build", "read"),
    [(_latin1_coco, load_coco), (_latin1_voc, load_voc), (_latin1_yolo, load_yolo)],
    ids=["coco", "voc", "yolo"],
)
def test_a_file_name_that_is_not_utf8_is_named_and_can_be_left_out(tmp_path, build, read):
    source = build(tmp_path / "export")
    before = _digest(tmp_path / "export")
    with pytest.raises(DatasetError, match=r"file name b'caf\\xe9\.(png|xml)' is not UTF-8; rename the file"):
        read(source)
    (record,) = read(source, on_invalid="drop").records
    assert record.file_name in ("b.png", "b.jpg")
    assert _digest(tmp_path / "export") == before


def test_predict_names_an_image_whose_name_is_not_utf8(tmp_path):
    _write_image(tmp_path / "photos" / "a.png", SIZE)
    _rename_to_latin1(tmp_path / "photos" / "a.png")
    root, paths = find_images(str(tmp_path / "photos"))
    with pytest.raises(DatasetError, match=r"file name b'caf\\xe9\.png' is not UTF-8"):
        image_dataset(root, paths, ["cat"])


def _voc(folder, box=("2", "3", "20", "30"), image_set=None):
    _write_image(folder / "JPEGImages" / "a.jpg", SIZE)
    xmin, ymin, xmax, ymax = box
    (folder / "Annotations").mkdir(parents=True, exist_ok=True)
    (folder / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height></size>"
        f"<object><name>cat</name><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax>"
        f"<ymax>{ymax}</ymax></bndbox></object></annotation>"
    )
    if image_set is not None:
        (folder / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (folder / "ImageSets" / "Main" / "train.txt").write_text(image_set)
    return folder


def test_voc_nan_corners_and_image_sets_leaving_the_folder_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="NaN or infinity"):
        load_voc(_voc(tmp_path / "nan", box=("nan", "3", "20", "30")))
    with pytest.raises(DatasetError, match=r"image-set line '\.\./\.\./outside' leaves Annotations/"):
        load_voc(_voc(tmp_path / "sets", image_set="a\n../../outside\n"))


def _yolo(folder, label="0 0.5 0.5 0.25 0.25\n"):
    _write_image(folder / "images" / "a.png", SIZE)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    (folder / "labels" / "a.txt").write_bytes(label.encode("utf-8") if isinstance(label, str) else label)
    (folder / "data.yaml").write_text("names: [cat, dog]\n")
    return folder


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("0 nan 0.5 0.25 0.25\n", "NaN or infinity"),
        ("0 0.5 0.5 inf 0.25\n", "NaN or infinity"),
        ("chat 0.5 0.5 0.25 0.25\n".encode("latin-1").replace(b"a", b"\xe9", 1), "not UTF-8"),
        ("0 0.95 0.5 0.3 0.25\n", "px outside the 64x48 image (border_margin=2.0)"),  # 6.4 px past the border
    ],
)
def test_yolo_labels_that_cannot_be_boxes_are_named(tmp_path, label, message):
    with pytest.raises(DatasetError, match=None) as raised:
        load_yolo(_yolo(tmp_path / "yolo", label))
    assert message in str(raised.value) and "a.txt" in str(raised.value)


def test_a_yolo_label_file_with_a_byte_order_mark_reads(tmp_path):
    (record,) = load_yolo(_yolo(tmp_path / "yolo", "\ufeff0 0.5 0.5 0.25 0.25\n")).records
    np.testing.assert_allclose(record.boxes, [[24, 18, 40, 30]])


def test_a_yolo_root_that_is_not_a_yaml_says_so(tmp_path):
    (tmp_path / "labels.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match="not a YOLO dataset yaml"):
        load_export(tmp_path / "labels.txt", "yolo")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": NaN}]', "score must be a finite number"),
        ('[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3], "score": 0.5}]', "bbox must be [x, y, width, height]"),
        ('[{"image_id": 1, "category_id": 1, "bbox": ["1", 2, 3, 4], "score": 0.5}]', "finite numbers"),
        ('[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": "0.5"}]', "score must be a finite"),
        ('[{"image_id": [1], "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]', "must be whole numbers"),
        ('[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}', "line 1, column"),
    ],
)
def test_results_files_that_cannot_be_scored_are_named(tmp_path, text, message):
    (tmp_path / "results.json").write_text(text)
    ground_truth = {"images": [{"id": 1}], "categories": [{"id": 1}]}
    with pytest.raises(DatasetError, match=None) as raised:
        load_results(tmp_path / "results.json", ground_truth)
    assert message in str(raised.value) and "results.json" in str(raised.value)


def _fresh(tmp_path, name):
    """An empty folder for one example (rebuilt each time: cheaper than a new temporary folder)."""
    folder = tmp_path / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def _check_contract(read, folder):
    before = _digest(folder)
    try:
        _assert_sound(read())
    except DatasetError as error:
        assert str(error), "a message"
    assert _digest(folder) == before, "the input is never written to"


@st.composite
def coco_mutations(draw):
    """Where in a COCO file to put an odd value (or take a key away), or how to spoil the bytes."""
    kind = draw(st.sampled_from(["value", "delete", "truncate", "latin-1", "top"]))
    section = draw(st.sampled_from(["images", "annotations", "categories"]))
    index = draw(st.integers(0, 2))
    key = draw(
        st.sampled_from(
            [
                "id",
                "file_name",
                "width",
                "height",
                "image_id",
                "category_id",
                "bbox",
                "area",
                "iscrowd",
                "name",
                "neg_category_ids",
                "split",
                "group",
            ]
        )
    )
    return kind, section, index, key, draw(ODD_VALUES), draw(st.integers(0, 400)), draw(st.integers(0, 3))


def _mutated_coco(folder, mutation):
    """A valid COCO folder whose json is then spoilt as ``mutation`` says; the json's path."""
    coco = _coco(folder)
    kind, section, index, key, value, cut, box_field = mutation
    entries = coco[section]
    entry = entries[index % len(entries)]
    text = None
    if kind == "value":
        if key == "bbox" and "bbox" in entry and box_field < 4 and not isinstance(value, (list, dict)):
            entry["bbox"][box_field] = value
        else:
            entry[key] = value
    elif kind == "delete":
        entry.pop(key, None)
    elif kind == "top":
        coco[section] = value
    else:
        text = json.dumps(coco)
        text = text[:cut] if kind == "truncate" else text
    path = _write(folder, coco, text)
    if kind == "latin-1":
        path.write_bytes(json.dumps(coco).replace('"cat"', '"ch\\u00e9"').encode().replace(b"\\u00e9", b"\xe9"))
    return path


@pytest.mark.slow
@FUZZ
@given(mutation=coco_mutations())
def test_fuzzed_coco_files_give_a_sound_dataset_or_one_message(tmp_path, mutation):
    folder = _fresh(tmp_path, "coco")
    path = _mutated_coco(folder, mutation)
    _check_contract(lambda: load_coco(path), folder)


@pytest.mark.slow
@FUZZ
@given(mutation=coco_mutations())
def test_fuzzed_second_annotator_files_are_scored_or_refused_with_one_message(tmp_path, mutation):
    """Human-level labels: a second person's COCO file (read without images, as diagnose reads
    it) becomes detections on the reference's images, or one `DatasetError`."""
    reference = load_coco(tmp_path / "reference" / "annotations.json") if (tmp_path / "reference").exists() else None
    reference = reference or load_coco(_write(_fresh(tmp_path, "reference"), _coco(tmp_path / "reference")))
    folder = _fresh(tmp_path, "annotator")
    path = _mutated_coco(folder, mutation)
    before = _digest(folder)
    try:
        annotator = read_annotator(path, "coco")
        _assert_sound(annotator)
        truth, results = annotator_results(annotator, reference, str(path))
        assert {r["image_id"] for r in results} <= {image["id"] for image in truth["images"]}
        assert all(is_number(v) for r in results for v in [*r["bbox"], r["score"]])
    except DatasetError as error:
        assert str(error), "a message"
    assert _digest(folder) == before


@st.composite
def yolo_lines(draw):
    token = st.one_of(
        st.sampled_from(["0", "1", "2", "-1", "nan", "inf", "1e9", "0.5", "x", "", "\ufeff0"]),
        st.floats(-2, 2).map(str),
        st.text(max_size=4),
    )
    lines = draw(st.lists(st.lists(token, min_size=0, max_size=7).map(" ".join), max_size=4))
    return "\n".join(lines), draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))


@pytest.mark.slow
@FUZZ
@given(label=yolo_lines())
def test_fuzzed_yolo_labels_give_a_sound_dataset_or_one_message(tmp_path, label):
    text, encoding = label
    folder = _yolo(_fresh(tmp_path, "yolo"), text.encode(encoding, errors="replace"))
    _check_contract(lambda: load_yolo(folder), folder)
    try:  # drop never keeps an image with part of its labels (issue 39): all of its lines, or the image goes
        kept = load_yolo(folder, on_invalid="drop").records
    except DatasetError:
        return  # the file as a whole cannot be read (its encoding, say)
    lines = (folder / "labels" / "a.txt").read_bytes().decode("utf-8", errors="replace").splitlines()
    assert all(len(record.boxes) == sum(bool(line.split()) for line in lines) for record in kept)


voc_value = st.one_of(
    st.sampled_from(["nan", "inf", "-1", "0", "64", "1e9", "", "3.5", "x", "1_0", " 7 "]),
    st.integers(-100, 200).map(str),
    st.floats().map(str),
    st.text(max_size=4),
).map(lambda text: text.replace("<", "").replace("&", ""))  # text, not markup


@st.composite
def voc_fields(draw):
    box = tuple(draw(voc_value) for _ in range(4))
    return box, draw(st.sampled_from([None, "a\n", "../x\n", "a b\n", "\n"]))


@pytest.mark.slow
@FUZZ
@given(fields=voc_fields())
def test_fuzzed_voc_files_give_a_sound_dataset_or_one_message(tmp_path, fields):
    box, image_set = fields
    folder = _voc(_fresh(tmp_path, "voc"), box=box, image_set=image_set)
    _check_contract(lambda: load_voc(folder), folder)


@pytest.mark.slow
@FUZZ
@given(key=st.sampled_from(["image_id", "category_id", "bbox", "score"]), value=ODD_VALUES, drop=st.booleans())
def test_fuzzed_results_files_are_read_whole_or_refused_with_one_message(tmp_path, key, value, drop):
    folder = _fresh(tmp_path, "results")
    detection = {"image_id": 1, "category_id": 1, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.5}
    if drop:
        del detection[key]
    else:
        detection[key] = value
    (folder / "results.json").write_text(json.dumps([detection]))
    ground_truth = {"images": [{"id": 1}], "categories": [{"id": 1}]}
    before = _digest(folder)
    try:
        (result,) = load_results(folder / "results.json", ground_truth)  # image_id, x, y, w, h, score, category_id
        assert result.shape == (7,) and all(math.isfinite(v) for v in result)
    except DatasetError:
        pass
    assert _digest(folder) == before


LINKS = ["outside copy", "outside image", "inside", "dangling", "loop", "folder"]


def _replace_with_link(victim, kind, outside):
    """Put a link where ``victim`` was: to a copy of it or another image outside the export, to
    a file beside it, to nothing, to itself, or to a folder outside."""
    targets = {
        "outside copy": outside / f"copy{victim.suffix}",
        "outside image": outside / "image.png",
        "inside": next((p for p in sorted(victim.parent.iterdir()) if p != victim), victim),
        "dangling": outside / "missing.png",
        "loop": victim,
        "folder": outside,
    }
    if victim.is_file():
        shutil.copy(victim, targets["outside copy"])
    if victim.is_dir():
        shutil.copytree(victim, targets["outside copy"])
    os.rename(victim, victim.with_name(victim.name + ".moved"))  # kept (an orphan), not deleted
    os.symlink(targets[kind], victim)


EXPORTS = {
    "coco": (_coco, lambda folder: load_coco(folder / "annotations.json")),
    "voc": (_voc, load_voc),
    "yolo": (_yolo, load_yolo),
}


@pytest.mark.parametrize("format", sorted(EXPORTS))
@settings(FUZZ, max_examples=EXAMPLES // 5)
@given(kind=st.sampled_from(LINKS), index=st.integers(0, 50))
def test_fuzzed_links_never_lead_a_reader_outside_the_export(tmp_path, format, kind, index):
    build, read = EXPORTS[format]
    folder, outside = _fresh(tmp_path, "export"), _fresh(tmp_path, "outside")
    build(folder)
    _write_image(outside / "image.png", SIZE)
    entries = sorted(folder.rglob("*"))
    _replace_with_link(entries[index % len(entries)], kind, outside)
    before = _digest(folder), _digest(outside)
    try:
        dataset = read(folder)
        _assert_sound(dataset)
        for record in dataset.records:
            assert dataset.image_path(record).resolve().is_relative_to(dataset.root.resolve())
    except DatasetError as error:
        assert str(error), "a message"
    assert (_digest(folder), _digest(outside)) == before


def test_convert_of_a_missing_or_empty_source_says_so(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        convert_dataset("auto", tmp_path / "missing", "yolo", tmp_path / "out")
    coco = _coco(tmp_path / "empty")
    coco["images"], coco["annotations"] = [], []
    _write(tmp_path / "empty", coco)
    with pytest.raises(DatasetError, match="no images left to use: it lists none"):
        convert_dataset("coco", tmp_path / "empty", "yolo", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_yolo_image_link_out_of_its_folder_is_refused(tmp_path):
    folder = _yolo(tmp_path / "yolo")
    _write_image(tmp_path / "secret" / "outside.png", SIZE)
    os.symlink(tmp_path / "secret" / "outside.png", folder / "images" / "linked.png")
    with pytest.raises(DatasetError, match=r"1 image link\(s\) lead outside the folder"):
        load_yolo(folder)
