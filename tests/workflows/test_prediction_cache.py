"""A run's cached predictions are used only for the checkpoint file and images they were made
from: a checkpoint written again (retrained, replaced) or another set of images remakes them."""

import os

from detkit.files import write_json_atomic
from detkit.workflows.error_analysis import cached_results, prediction_key

RESULTS = [{"image_id": 1, "category_id": 1, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.9}]


def test_cached_predictions_are_used_until_checkpoint_or_images_change(tmp_path):
    checkpoint, cache = tmp_path / "best.ckpt", tmp_path / "predictions" / "dev.json"
    checkpoint.write_bytes(b"weights")
    os.utime(checkpoint, ns=(1_000_000_000, 1_000_000_000))
    key = prediction_key(checkpoint, [3, 1, 2])
    assert cached_results(cache, key) is None, "nothing cached yet"
    write_json_atomic(cache, {"key": key, "results": RESULTS}, indent=None)
    assert cached_results(cache, prediction_key(checkpoint, [1, 2, 3])) == RESULTS, "same file, same images"
    assert cached_results(cache, prediction_key(checkpoint, [1, 2])) is None, "other images"
    os.utime(checkpoint, ns=(2_000_000_000, 2_000_000_000))
    assert cached_results(cache, prediction_key(checkpoint, [1, 2, 3])) is None, "checkpoint written again"
    os.utime(checkpoint, ns=(1_000_000_000, 1_000_000_000))
    checkpoint.write_bytes(b"other weights")
    os.utime(checkpoint, ns=(1_000_000_000, 1_000_000_000))
    assert cached_results(cache, prediction_key(checkpoint, [1, 2, 3])) is None, "same time, another size"
