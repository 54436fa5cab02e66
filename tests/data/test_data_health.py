"""The data health check finds what was planted: copies of images across splits, a dev set from
another domain; and it reports the rest when an image cannot be read or a split is empty.

Measured (2026-12-04, ``python -m tests.data.test_data_health``, seeds 0-5): planted copies
across splits (re-encoded at JPEG quality 55-75, resized to 50-80 %, cropped by 2-5 % a side):
recall 1.0 and precision 1.0 in every seed; the domain classifier's AUC of a textured dev and
test against a clean train (``experiment=mismatch``'s split, 150 scenes): 0.974 to 0.996, and of
a random re-split of the same images 0.384 to 0.570 (train_dev, also from train's distribution
in both: 0.36 to 0.67). The bounds below hold those with a margin of twice the spread or more.
"""

import shutil
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detkit.data.health.check import check_health
from detkit.data.health.copy_names import source_name
from detkit.data.health.duplicates import Cluster, find_clusters, kept_together
from detkit.data.health.planted_copies import copies_across_splits
from detkit.data.images.signatures import signatures
from detkit.data.records import Record
from detkit.data.shapes import ShapesParams, ensure_shapes
from detkit.data.splits.split_data import SplitData, SplitPlan

FRACTIONS = {"train": 0.7, "train_dev": 0.1, "dev": 0.1, "test": 0.1}


def planted_leaks(root, seed: int, scenes: int = 60, copies: int = 45) -> tuple[SplitData, dict[int, int]]:
    """Shapes split group-aware, with ``copies`` images copied (kinds in turn) into another split."""
    params = ShapesParams(num_scenes=scenes, images_per_scene=4, image_size=320, seed=seed, textured_fraction=0.3)
    data = SplitPlan("auto", {"fractions": FRACTIONS}, seed).settle(ensure_shapes(root / "shapes", params))
    return copies_across_splits(data, copies, seed)


def recall_and_precision(data: SplitData, original_of: dict[int, int]) -> tuple[float, float]:
    """Of the planted pairs, the share found in one cluster that spans splits; of the clusters
    found spanning splits, the share that hold a planted pair."""
    health = check_health(data, 320, False)
    records = data.dataset.records
    found = [{records[m].image_id for m in cluster.members} for cluster, _ in health.leaks]
    recall = np.mean([any({c, o} <= ids for ids in found) for c, o in original_of.items()])
    precision = np.mean([any({c, o} <= ids for c, o in original_of.items()) for ids in found]) if found else 0.0
    return float(recall), float(precision)


def test_planted_copies_across_splits_are_found(tmp_path):
    recall, precision = recall_and_precision(*planted_leaks(tmp_path, seed=0))
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)


def test_copies_kept_together_stay_in_the_split_of_their_first_image(tmp_path):
    data, original_of = planted_leaks(tmp_path, seed=1, scenes=20, copies=9)
    health = check_health(data, 320, False)
    image_ids = [r.image_id for r in data.dataset.records]
    moved = kept_together(data.split_ids, health.clusters, image_ids)
    split_of = {i: name for name, ids in moved.items() for i in ids}
    assert all(split_of[copy] == split_of[original] for copy, original in original_of.items())
    assert sorted(i for ids in moved.values() for i in ids) == sorted(i for ids in data.split_ids.values() for i in ids)
    regrouped = SplitPlan("auto", {"fractions": FRACTIONS}, 1, dedupe="group").settle(data.dataset)
    split_of = {i: name for name, ids in regrouped.split_ids.items() for i in ids}
    assert all(split_of[copy] == split_of[original] for copy, original in original_of.items()), "data.dedupe=group"


@pytest.mark.parametrize(
    ("stem", "source"),
    [
        ("IMG_0042_jpg.rf.0123456789abcdef0123456789abcdef", "IMG_0042"),
        ("frame.v2_png.rf.fedcba9876543210fedcba9876543210", "frame.v2"),
        ("plain_name", "plain_name"),
        ("not.rf.copy", "not.rf.copy"),
    ],
)
def test_roboflows_copy_names_lead_to_their_source(stem, source):
    assert source_name(stem) == source


def test_copies_by_name_are_one_cluster_even_when_their_pixels_differ(tiny_shapes):
    paths = [str(tiny_shapes.image_path(r)) for r in tiny_shapes.records[:3]]
    sources = ["a", "b", "a"]  # as Roboflow names two augmented copies of one upload
    clusters = find_clusters(signatures(paths), sources, paths)
    assert clusters == [Cluster((0, 2), frozenset({"name"}), 1.0)]


def test_an_unreadable_image_and_an_empty_split_leave_the_rest_of_the_report(tmp_path, tiny_shapes):
    shutil.copytree(tiny_shapes.root, tmp_path / "images")
    dataset = tiny_shapes.subset([r.image_id for r in tiny_shapes.records])
    dataset.root = tmp_path / "images"
    broken = dataset.records[0]
    (dataset.root / broken.file_name).write_bytes(b"not an image")
    ids = [r.image_id for r in dataset.records]
    data = SplitData(dataset, {"train": ids[:16], "dev": ids[16:], "test": []}, "given")
    health = check_health(data, 96, False)
    findings = health.findings()
    assert any("1 image(s) could not be read" in line and broken.file_name in line for line in findings)
    assert "test: empty split" in findings
    assert health.profiles["train"]["images"] == 16 and "dev" in health.shifts and "test" not in health.shifts


@pytest.fixture(scope="module")
def mismatched(tmp_path_factory):
    """``experiment=mismatch``'s data at 150 scenes of 160 px."""
    params = ShapesParams(
        num_scenes=150,
        images_per_scene=4,
        image_size=160,
        textured_fraction=0.5,
        min_object_size=20,
        max_object_size=110,
    )
    return ensure_shapes(tmp_path_factory.mktemp("mismatch") / "shapes", params)


def test_a_dev_set_from_another_domain_is_told_apart_and_a_random_one_is_not(mismatched):
    by_domain = {"fractions": FRACTIONS, "dev_test_from": "textured", "target_in_train": 0.0}
    shifted = check_health(SplitPlan("auto", by_domain, 0).settle(mismatched), 320, False).shifts
    assert shifted["dev"].auc >= 0.9 and shifted["test"].auc >= 0.9
    assert shifted["dev"].differs and "expect data mismatch" in shifted["dev"].summary()
    random = check_health(SplitPlan("auto", {"fractions": FRACTIONS}, 0).settle(mismatched), 320, False).shifts
    assert all(abs(random[name].auc - 0.5) <= 0.25 for name in ("dev", "test")), random
    assert not any(shift.differs for shift in random.values())


if __name__ == "__main__":  # the measurement in the module docstring
    import tempfile
    from pathlib import Path

    for seed in range(int(sys.argv[1]) if len(sys.argv) > 1 else 6):
        root = Path(tempfile.mkdtemp())
        print(seed, recall_and_precision(*planted_leaks(root, seed)), flush=True)
        shutil.rmtree(root)


def test_roboflows_copies_of_one_upload_are_one_group_by_default():
    hashes = ("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210")
    copies = [Record(k, f"train/IMG_7_jpg.rf.{h}.jpg", 10, 10) for k, h in enumerate(hashes)]
    assert {r.group for r in copies} == {"IMG_7"} and Record(3, "IMG_8.jpg", 10, 10).group == "IMG_8"


@given(
    source=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,30}", fullmatch=True),
    ext=st.sampled_from(["jpg", "jpeg", "png", "JPG", "webp", "bmp", "tif"]),
    digest=st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
)
def test_any_roboflow_copy_name_leads_to_its_source(source, ext, digest):
    """The class: Roboflow's ``<stem>_<ext>.rf.<32 hex>`` for any upload name (dots, spaces,
    underscores, an ``_jpg`` or ``.rf.`` of its own) and any image extension."""
    assert source_name(f"{source}_{ext}.rf.{digest}") == source
