"""Split properties, checked by hypothesis over generated datasets (Records only: no pixels needed)."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detkit.data.records import DetectionDataset, Record
from detkit.data.splits.report import summarize_splits, write_splits
from detkit.data.splits.seeded import read_manifest, read_manifests, split_dataset
from detkit.exceptions import ConfigError, DatasetError

FOUR = {"train": 0.7, "train_dev": 0.1, "dev": 0.1, "test": 0.1}
MAX_GROUP = 4
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def datasets(draw, min_groups=8, max_groups=60):
    """Groups of 1-4 images, 0-4 boxes each over 2-5 classes, groups in domain 'web' or 'phone'."""
    num_classes = draw(st.integers(2, 5))
    records = []
    for g in range(draw(st.integers(min_groups, max_groups))):
        domain = draw(st.sampled_from(["web", "phone"]))
        for k in range(draw(st.integers(1, MAX_GROUP))):
            labels = draw(st.lists(st.integers(0, num_classes - 1), max_size=4))
            records.append(
                Record(
                    len(records) + 1,
                    f"cam{g:03d}_{k}.jpg",
                    64,
                    64,
                    np.tile([0, 0, 8, 8], (len(labels), 1)),
                    labels,
                    group=f"scene{g}",
                    domain=domain,
                )
            )
    return DetectionDataset("/nonexistent", [f"class{i}" for i in range(num_classes)], records)


def _presence(dataset, ids, cls):
    by_id = {r.image_id: r for r in dataset.records}
    return sum(1 for i in ids if cls in by_id[i].labels)


@pytest.mark.slow
@PROPERTY
@given(datasets(), st.integers(0, 2**16))
def test_every_image_once_no_group_twice_and_deterministic(dataset, seed):
    splits = split_dataset(dataset, FOUR, seed=seed)
    ids = sorted(i for v in splits.values() for i in v)
    assert ids == sorted(r.image_id for r in dataset.records)
    group_of = {r.image_id: r.group for r in dataset.records}
    owners = {}
    for name, members in splits.items():
        for i in members:
            assert owners.setdefault(group_of[i], name) == name, f"group {group_of[i]} in two splits"
    assert split_dataset(dataset, FOUR, seed=seed) == splits


@pytest.mark.slow
@PROPERTY
@given(datasets(min_groups=30, max_groups=80), st.integers(0, 2**16))
def test_ratios_and_class_shares_follow_the_fractions(dataset, seed):
    """Within four groups' worth of images, for image counts and for each class's presence
    (measured: one group at p95, 2.2 at worst over 300 random datasets; Hypothesis then found
    a 164-image dataset whose train split is 13.8 images, 3.45 groups, off 70 %, when the
    constants it draws from detkit's source changed the derandomised examples)."""
    splits = split_dataset(dataset, FOUR, seed=seed)
    total = len(dataset.records)
    for name, fraction in FOUR.items():
        assert abs(len(splits[name]) - fraction * total) <= 4 * MAX_GROUP + 1
    for cls in range(dataset.num_classes):
        present = _presence(dataset, [r.image_id for r in dataset.records], cls)
        for name, fraction in FOUR.items():
            assert abs(_presence(dataset, splits[name], cls) - fraction * present) <= 4 * MAX_GROUP + 1


@pytest.mark.slow
@PROPERTY
@given(datasets(min_groups=12), st.integers(0, 2**16))
def test_dev_and_test_only_from_the_chosen_domain_train_dev_from_training(dataset, seed):
    phone = [r for r in dataset.records if r.domain == "phone"]
    if not phone:
        with pytest.raises(ConfigError, match="no images of that domain"):
            split_dataset(dataset, FOUR, seed=seed, dev_test_from="phone")
        return
    splits = split_dataset(dataset, FOUR, seed=seed, dev_test_from="phone", target_in_train=0.5)
    domain = {r.image_id: r.domain for r in dataset.records}
    assert all(domain[i] == "phone" for i in splits["dev"] + splits["test"])
    web = {r.image_id for r in dataset.records if r.domain == "web"}
    assert web <= set(splits["train"]) | set(splits["train_dev"]), "the other domain is training data"
    trained = set(splits["train"])
    assert not trained & set(splits["train_dev"]), "train_dev is never trained on"
    training_domains = {domain[i] for i in trained}
    assert {domain[i] for i in splits["train_dev"]} <= training_domains | {"phone"}


def test_train_dev_mirrors_the_training_mix():
    """Built to show the recipe: 'web' dominates training, so train_dev is mostly 'web' too."""
    records = []
    for g in range(200):
        domain = "phone" if g < 40 else "web"
        for k in range(2):
            records.append(
                Record(len(records) + 1, f"{g}_{k}.jpg", 8, 8, [[0, 0, 2, 2]], [g % 3], group=f"g{g}", domain=domain)
            )
    dataset = DetectionDataset("/x", ["a", "b", "c"], records)
    splits = split_dataset(dataset, FOUR, seed=0, dev_test_from="phone", target_in_train=0.5)
    domain = {r.image_id: r.domain for r in records}
    share = lambda ids: sum(domain[i] == "phone" for i in ids) / len(ids)  # noqa: E731
    assert share(splits["dev"]) == share(splits["test"]) == 1.0
    assert abs(share(splits["train_dev"]) - share(splits["train"])) < 0.1 and share(splits["train"]) < 0.2


def test_groups_from_a_file_name_pattern(tiny_shapes):
    splits = split_dataset(tiny_shapes, {"train": 0.5, "dev": 0.5}, seed=0, group_regex=r"^(\d{5})")
    prefix = {r.image_id: r.file_name[:5] for r in tiny_shapes.records}
    assert not {prefix[i] for i in splits["train"]} & {prefix[i] for i in splits["dev"]}
    with pytest.raises(ConfigError, match="does not match"):
        split_dataset(tiny_shapes, {"train": 1.0}, group_regex="^cam")
    by_prefix = summarize_splits(tiny_shapes, splits, group_regex=r"^(\d{5})")["splits"]
    assert {name: by_prefix[name]["groups"] for name in splits} == {
        name: len({prefix[i] for i in ids}) for name, ids in splits.items()
    }, "the groups the split made, not the records' own (issue 39: 97 reported where there were 81)"


def test_bad_fractions_are_refused(tiny_shapes):
    with pytest.raises(ConfigError, match="sum to 1"):
        split_dataset(tiny_shapes, {"train": 0.5, "dev": 0.2})
    with pytest.raises(ConfigError, match="unknown splits"):
        split_dataset(tiny_shapes, {"train": 0.5, "validation": 0.5})


def test_manifests_are_byte_identical_and_tied_to_their_data(tmp_path, tiny_shapes):
    split = {"fractions": FOUR}
    write_splits(tiny_shapes, tmp_path / "a", split, seed=0)
    write_splits(tiny_shapes, tmp_path / "b", split, seed=0)
    for name in ("train", "train_dev", "dev", "test", "report"):
        suffix = "md" if name == "report" else "json"
        assert (tmp_path / f"a/{name}.{suffix}").read_bytes() == (tmp_path / f"b/{name}.{suffix}").read_bytes()
    manifest = json.loads((tmp_path / "a/dev.json").read_text())
    assert manifest["seed"] == 0 and manifest["split"] == split and manifest["image_ids"]
    assert read_manifest(tmp_path / "a/dev.json", tiny_shapes) == manifest["image_ids"]
    other = tiny_shapes.subset(manifest["image_ids"])
    with pytest.raises(DatasetError, match="different data"):
        read_manifest(tmp_path / "a/dev.json", other)


def test_report_counts_and_warns_about_thin_classes(tiny_shapes):
    splits = split_dataset(tiny_shapes, FOUR, seed=0)
    summary = summarize_splits(tiny_shapes, splits, min_instances=1000)
    assert sum(s["images"] for s in summary["splits"].values()) == len(tiny_shapes)
    assert sum(s["boxes"] for s in summary["splits"].values()) == sum(len(r.boxes) for r in tiny_shapes.records)
    assert len(summary["warnings"]) == 2 * tiny_shapes.num_classes
    assert "in dev" in summary["warnings"][0]


def _groups_holding(dataset, image_ids, cls):
    """The groups among ``image_ids`` with an object of class ``cls``."""
    by_id = {r.image_id: r for r in dataset.records}
    return {by_id[i].group for i in image_ids if cls in by_id[i].labels}


@pytest.mark.slow
@PROPERTY
@given(datasets(min_groups=8, max_groups=30), st.integers(0, 2**16))
def test_train_dev_and_test_hold_every_class_that_the_others_can_spare(dataset, seed):
    """A class missing from train, dev or test is in no group another split could give up while
    keeping another group and each class it holds (train_dev may give any of its classes)."""
    splits = split_dataset(dataset, FOUR, seed=seed)
    by_group = {}
    for record in dataset.records:
        by_group.setdefault(record.group, set()).update(record.labels.tolist())
    for cls in range(dataset.num_classes):
        for name in ("train", "dev", "test"):
            if _groups_holding(dataset, splits[name], cls):
                continue
            for donor, ids in splits.items():
                held = {g: by_group[g] for g in {r.group for r in dataset.subset(ids).records}}
                for group in _groups_holding(dataset, ids, cls) if donor != name and len(held) > 1 else ():
                    kept = set().union(*(classes for g, classes in held.items() if g != group))
                    assert donor != "train_dev" and not by_group[group] <= kept, (
                        f"{group} of {donor} could go to {name}"
                    )


def _tiny_export(groups_per_class):
    """One image a group; image k holds class c when k < groups_per_class[c]."""
    records = [
        Record(k + 1, f"img{k}.jpg", 64, 64, np.tile([0, 0, 8, 8], (len(labels), 1)), labels)
        for k in range(max(groups_per_class))
        for labels in [[c for c, count in enumerate(groups_per_class) if k < count]]
    ]
    return DetectionDataset("/nonexistent", [f"class{c}" for c in range(len(groups_per_class))], records)


def test_a_tiny_export_gives_dev_and_test_each_class_and_says_so(caplog):
    dataset = _tiny_export([11, 4, 2])  # 11 images: class1 in 4 of them, class2 in 2
    caplog.set_level("INFO")
    for seed in range(5):
        splits = split_dataset(dataset, FOUR, seed=seed)
        held = {c: [len(_groups_holding(dataset, splits[s], c)) for s in ("train", "dev", "test")] for c in (1, 2)}
        assert held[1][1:] == [1, 1] and held[1][0] >= 1, held
        assert held[2][0] == 1, "train keeps one of class2's two images"
        assert sum(held[2][1:]) == 1 or _groups_holding(dataset, splits["train_dev"], 2), "the other is evaluated"
    assert "group(s) moved so that every class" in caplog.text and "'class2' train -> dev" in caplog.text


def test_a_split_that_would_hold_no_image_is_refused():
    dataset = _tiny_export([3])
    for record in dataset.records:
        record.group = "one camera"  # the three images are one group: it cannot be split
    with pytest.raises(DatasetError, match=r"split\(s\) train_dev, dev, test would hold no image: 3 image\(s\) in 1"):
        write_splits(dataset, "/nonexistent/out", {"fractions": FOUR}, seed=0)
    by_name = _tiny_export([3])  # three groups of their own, one by the file-name pattern the split is told
    with pytest.raises(DatasetError, match=r"3 image\(s\) in 1 group\(s\)"):
        write_splits(by_name, "/nonexistent/out", {"fractions": FOUR, "group_regex": "^img"}, seed=0)
    alone = {"train": 1.0, "train_dev": 0.0, "dev": 0.0, "test": 0.0}
    assert split_dataset(dataset, alone, seed=0)["dev"] == [], "a split asked at 0 may be empty"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda dev, train: [*dev, 10**9], r"image ids \[1000000000\] are not in the data"),
        (lambda dev, train: [*dev, -(2**63)], r"image ids \[-9223372036854775808\] are not in the data"),
        (lambda dev, train: dev + dev[:1], "an image id is listed twice"),
        (lambda dev, train: dev + train[:1], r"image \d+ is also in (dev|train)\.json"),
    ],
)
def test_manifests_edited_to_name_other_images_are_refused(tmp_path, tiny_shapes, edit, message):
    """A manifest whose data fingerprint still matches but whose ids were edited (unknown ids,
    an id twice, an image in two splits: a leak of dev into train) is named, never read."""
    write_splits(tiny_shapes, tmp_path, {"fractions": FOUR}, seed=0)
    dev, train = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("dev", "train"))
    dev["image_ids"] = edit(dev["image_ids"], train["image_ids"])
    (tmp_path / "dev.json").write_text(json.dumps(dev))
    with pytest.raises(DatasetError, match=message) as refused:
        read_manifests(tmp_path, tiny_shapes)
    assert "make the splits again" in str(refused.value)
