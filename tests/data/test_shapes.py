import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detkit.data.boxes import xyxy_to_xywh
from detkit.data.shapes import LABEL_ERROR_KINDS, LABEL_NOISE_FILE, ShapesParams, ensure_shapes, load_shapes
from detkit.exceptions import ConfigError
from tests.conftest import TINY_SHAPES


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_the_same_bytes(tmp_path):
    ensure_shapes(tmp_path / "a", TINY_SHAPES)
    ensure_shapes(tmp_path / "b", TINY_SHAPES)
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    ensure_shapes(tmp_path / "c", replace(TINY_SHAPES, seed=1))
    assert _tree_digest(tmp_path / "a") != _tree_digest(tmp_path / "c")


def test_regenerated_only_when_parameters_change(tmp_path):
    root = tmp_path / "shapes"
    ensure_shapes(root, TINY_SHAPES)
    stamp = (root / "annotations.json").stat().st_mtime_ns
    ensure_shapes(root, TINY_SHAPES)
    assert (root / "annotations.json").stat().st_mtime_ns == stamp
    dataset = ensure_shapes(root, replace(TINY_SHAPES, num_scenes=5))
    assert len(dataset) == 5 * TINY_SHAPES.images_per_scene
    assert not list(tmp_path.glob(".shapes.*")), "staging folders must not be left behind"


@pytest.mark.slow
def test_default_dataset_has_what_later_issues_rely_on(tmp_path):
    params = ShapesParams()
    dataset = ensure_shapes(tmp_path / "shapes", params)
    assert dataset.num_classes >= 4
    assert len(dataset) == params.num_scenes * params.images_per_scene
    areas = np.concatenate([r.areas for r in dataset.records])
    assert (areas < 32**2).any() and ((areas >= 32**2) & (areas < 96**2)).any() and (areas >= 96**2).any()
    counts = np.array([len(r.boxes) for r in dataset.records])
    assert counts.min() >= 1 and counts.max() > counts.min()
    groups = {}
    for r in dataset.records:
        groups.setdefault(r.group, []).append(r)
    assert all(len(v) == params.images_per_scene for v in groups.values())
    assert {r.domain for r in dataset.records} == {"clean"}, "the second domain is off by default"
    for r in dataset.records[:50]:
        assert (r.boxes[:, :2] >= 0).all() and (r.boxes[:, 2] <= r.width).all() and (r.boxes[:, 3] <= r.height).all()


def test_second_domain_and_shared_scene_background(tmp_path):
    dataset = ensure_shapes(tmp_path / "s", replace(TINY_SHAPES, textured_fraction=0.5))
    assert {r.domain for r in dataset.records} == {"clean", "textured"}
    scene = [r for r in dataset.records if r.group == dataset.records[0].group]
    a, b = (np.asarray(Image.open(dataset.image_path(r)), dtype=float) for r in scene[:2])
    corner_gap = np.abs(a[:8, :8] - b[:8, :8]).mean()
    assert corner_gap < 40, "images of one scene share a background"


def test_texture_strength_changes_the_textured_domain_only(tmp_path):
    """Clean images stay byte for byte; textured ones get rougher (the mean step between
    neighbouring pixels is 3.0 times as large at strength 4 on this data)."""
    mild = ensure_shapes(tmp_path / "mild", replace(TINY_SHAPES, textured_fraction=0.5))
    strong = ensure_shapes(tmp_path / "strong", replace(TINY_SHAPES, textured_fraction=0.5, texture_strength=4.0))
    roughness = []
    for a, b in zip(mild.records, strong.records):
        assert a.domain == b.domain
        pair = [np.asarray(Image.open(d.image_path(r)), dtype=float) for d, r in ((mild, a), (strong, b))]
        if a.domain == "clean":
            assert np.array_equal(*pair), a.file_name
        else:
            roughness.append([np.abs(np.diff(image, axis=1)).mean() for image in pair])
    assert roughness, "the case has textured images"
    mild_roughness, strong_roughness = np.mean(roughness, axis=0)
    assert strong_roughness > 2 * mild_roughness


def test_colour_does_not_give_the_class_away(tmp_path):
    """A nearest-centroid classifier on object colour must be near chance."""
    dataset = ensure_shapes(tmp_path / "s", replace(TINY_SHAPES, num_scenes=60, image_size=128, min_object_size=24))
    colours, labels = [], []
    for r in dataset.records:
        pixels = np.asarray(Image.open(dataset.image_path(r)), dtype=float)
        for (x1, y1, x2, y2), label in zip(r.boxes.astype(int), r.labels):
            cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
            colours.append(pixels[cy - 1 : cy + 2, cx - 1 : cx + 2].reshape(-1, 3).mean(0))
            labels.append(label)
    colours, labels = np.array(colours), np.array(labels)
    centroids = np.stack([colours[labels == k].mean(0) for k in range(dataset.num_classes)])
    predicted = np.linalg.norm(colours[:, None] - centroids[None], axis=2).argmin(1)
    accuracy = (predicted == labels).mean()
    assert accuracy < 1.6 / dataset.num_classes, f"colour predicts the class with accuracy {accuracy:.2f}"


def test_bad_parameters_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="hexagonal"):
        load_shapes(tmp_path / "s", classes=["circle", "hexagonal"])
    with pytest.raises(ConfigError, match="unknown shapes parameter"):
        load_shapes(tmp_path / "s", sizes=3)
    with pytest.raises(ConfigError, match="textured_fraction"):
        ShapesParams(textured_fraction=2.0)
    with pytest.raises(ConfigError, match="texture_strength"):
        ShapesParams(texture_strength=-1.0)
    with pytest.raises(ConfigError, match="label_noise must be in"):
        ShapesParams(label_noise=1.5)


def test_hidden_labels_leave_pixels_alone_and_mark_classes_unknown(tmp_path):
    full = ensure_shapes(tmp_path / "full", TINY_SHAPES)
    partial = ensure_shapes(tmp_path / "partial", replace(TINY_SHAPES, hidden_label_fraction=0.5))
    assert _tree_digest(tmp_path / "full" / "images") == _tree_digest(tmp_path / "partial" / "images")
    hidden_boxes = 0
    for a, b in zip(full.records, partial.records):
        assert b.annotated is not None and len(b.annotated) == 2, "half of the 4 classes stay labelled"
        assert set(b.labels.tolist()) <= b.annotated
        assert sorted(b.labels.tolist()) == sorted(x for x in a.labels.tolist() if x in b.annotated)
        hidden_boxes += len(a.labels) - len(b.labels)
    assert hidden_boxes > 0


def test_least_visible_choice_hides_the_classes_whose_largest_object_is_smallest(tmp_path):
    full = ensure_shapes(tmp_path / "full", TINY_SHAPES)
    params = replace(TINY_SHAPES, hidden_label_fraction=0.5, hidden_label_choice="least_visible")
    partial = ensure_shapes(tmp_path / "partial", params)
    hidden_present = 0
    for a, b in zip(full.records, partial.records):
        largest = {c: max((ar for lab, ar in zip(a.labels, a.areas) if lab == c), default=0.0) for c in range(4)}
        hidden = set(range(4)) - b.annotated
        assert len(hidden) == 2
        assert max(largest[c] for c in hidden) <= min(largest[c] for c in b.annotated), (a.file_name, largest)
        assert sorted(b.labels.tolist()) == sorted(x for x in a.labels.tolist() if x in b.annotated)
        hidden_present += sum(largest[c] > 0 for c in hidden)
    assert hidden_present > 0, "some present classes are hidden, not only absent ones"
    with pytest.raises(ConfigError, match="hidden_label_choice"):
        ShapesParams(hidden_label_choice="smallest")


def test_class_frequencies_make_classes_rare(tmp_path):
    params = replace(TINY_SHAPES, num_scenes=30, class_frequencies=(10.0, 10.0, 10.0, 1.0))
    labels = np.concatenate([r.labels for r in ensure_shapes(tmp_path / "s", params).records])
    counts = np.bincount(labels, minlength=4)
    assert counts[3] * 4 < counts[:3].min(), counts
    with pytest.raises(ConfigError, match="one non-negative number per class"):
        ShapesParams(class_frequencies=(1.0, 2.0))
    with pytest.raises(ConfigError, match="hidden_label_fraction"):
        ShapesParams(hidden_label_fraction=1.0)


def test_load_shapes_takes_config_lists(tmp_path):
    dataset = load_shapes(tmp_path / "s", **{**_as_kwargs(TINY_SHAPES), "class_frequencies": [1, 1, 1, 3]})
    assert dataset.num_classes == 4


def _as_kwargs(params):
    from dataclasses import asdict

    values = asdict(params)
    values.pop("version")
    values["classes"] = list(values["classes"])
    return values


def test_label_noise_changes_exactly_the_labels_it_records(tmp_path):
    params = replace(TINY_SHAPES, second_annotator=True)
    clean = ensure_shapes(tmp_path / "clean", params)
    noisy = ensure_shapes(tmp_path / "noisy", replace(params, label_noise=0.3))
    assert _tree_digest(tmp_path / "clean" / "images") == _tree_digest(tmp_path / "noisy" / "images")
    errors = json.loads((tmp_path / "noisy" / LABEL_NOISE_FILE).read_text())["errors"]
    boxes = sum(len(r.labels) for r in clean.records)
    assert {e["kind"] for e in errors} == set(LABEL_ERROR_KINDS) and 0.15 * boxes < len(errors) < 0.45 * boxes
    names = clean.class_names
    for before, after in zip(clean.records, noisy.records):
        own = [e for e in errors if e["image_id"] == before.image_id]
        given = {
            (names[c], tuple(np.round(xyxy_to_xywh(b[None].astype(np.float64))[0], 2)))
            for b, c in zip(after.boxes, after.labels)
        }
        truth = {
            (names[c], tuple(np.round(xyxy_to_xywh(b[None].astype(np.float64))[0], 2)))
            for b, c in zip(before.boxes, before.labels)
        }
        changed = {(e["true_class"], tuple(e["true_box"])) for e in own}
        made = {(e["given_class"], tuple(e["given_box"])) for e in own if e["kind"] != "overlooked"}
        assert given == (truth - changed) | made, (
            f"image {before.image_id}: the labels differ by the recorded errors only"
        )
        for error in own:
            if error["kind"] == "swap":
                assert error["given_class"] != error["true_class"] and error["given_box"] == error["true_box"]
            if error["kind"] == "badloc":
                assert error["given_class"] == error["true_class"] and _iou(error["given_box"], error["true_box"]) < 0.6
    assert (tmp_path / "clean" / "annotator2.json").read_bytes() == (
        tmp_path / "noisy" / "annotator2.json"
    ).read_bytes()


def _iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w, h = min(ax + aw, bx + bw) - max(ax, bx), min(ay + ah, by + bh) - max(ay, by)
    inter = max(w, 0) * max(h, 0)
    return inter / (aw * ah + bw * bh - inter)
