import pytest

from detkit.data.splits import read_manifest, split_by_group, write_manifests
from detkit.errors import ConfigError, DatasetError


def test_split_is_seeded_group_aware_and_complete(tiny_shapes):
    fractions = {"train": 0.5, "dev": 0.25, "test": 0.25}
    splits = split_by_group(tiny_shapes, fractions, seed=3)
    assert splits == split_by_group(tiny_shapes, fractions, seed=3)
    assert splits != split_by_group(tiny_shapes, fractions, seed=4)
    all_ids = sorted(i for ids in splits.values() for i in ids)
    assert all_ids == sorted(r.image_id for r in tiny_shapes.records)
    group_of = {r.image_id: r.group for r in tiny_shapes.records}
    groups = [{group_of[i] for i in ids} for ids in splits.values()]
    assert all(not (a & b) for k, a in enumerate(groups) for b in groups[k + 1 :])


def test_bad_fractions_are_refused(tiny_shapes):
    with pytest.raises(ConfigError, match="sum to 1"):
        split_by_group(tiny_shapes, {"train": 0.5, "dev": 0.2}, seed=0)


def test_manifests_are_byte_identical_and_tied_to_their_data(tmp_path, tiny_shapes):
    splits = split_by_group(tiny_shapes, {"train": 0.75, "dev": 0.25}, seed=0)
    write_manifests(tmp_path / "a", splits, tiny_shapes, {"seed": 0})
    write_manifests(tmp_path / "b", splits, tiny_shapes, {"seed": 0})
    assert (tmp_path / "a/dev.json").read_bytes() == (tmp_path / "b/dev.json").read_bytes()
    assert read_manifest(tmp_path / "a/dev.json", tiny_shapes) == splits["dev"]
    other = tiny_shapes.subset(splits["train"])
    with pytest.raises(DatasetError, match="different data"):
        read_manifest(tmp_path / "a/dev.json", other)
