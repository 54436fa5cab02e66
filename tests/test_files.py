"""Atomic outputs (`detkit.files`): a JSON list written a few items at a time is whole when the
block ends, and an error in the middle leaves the file as it was and no temp file."""

import json

import pytest

from detkit.files import json_list_atomic


@pytest.mark.parametrize("batches", [[], [[]], [[1]], [[1, {"a": [2.5, None]}], [], ["x"]]])
def test_a_list_written_in_batches_is_the_list(tmp_path, batches):
    with json_list_atomic(tmp_path / "out.json") as results:
        for batch in batches:
            results.extend(batch)
    items = [item for batch in batches for item in batch]
    assert json.loads((tmp_path / "out.json").read_text()) == items and results.count == len(items)


def test_an_error_midway_leaves_the_old_file_and_no_temp_file(tmp_path):
    (tmp_path / "out.json").write_text("[0]\n")
    with pytest.raises(RuntimeError), json_list_atomic(tmp_path / "out.json") as results:
        results.extend([1, 2])
        raise RuntimeError("interrupted")
    assert (tmp_path / "out.json").read_text() == "[0]\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
