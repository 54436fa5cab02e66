"""The class of files a pool may hold that are not images: any bytes under any image extension,
empty or cut short; each is skipped with its own line and the readable images are kept."""

import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from detkit.data.images.folder import readable_images
from detkit.exceptions import ConfigError

EXTENSIONS = ["jpg", "jpeg", "png", "JPG", "bmp", "webp", "tif"]


def _real_png(path):
    Image.fromarray(np.full((24, 32, 3), 120, dtype=np.uint8)).save(path)
    return path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(st.tuples(st.binary(max_size=64), st.sampled_from(EXTENSIONS)), min_size=1, max_size=5))
def test_every_unreadable_file_is_one_line_and_the_images_are_kept(tmp_path_factory, caplog, junk):
    folder = tmp_path_factory.mktemp("pool")
    real = _real_png(folder / "real.png")
    cut = folder / "cut.png"
    cut.write_bytes(real.read_bytes()[:40])  # a real image cut short
    bad = [cut]
    for k, (content, ext) in enumerate(junk):
        bad.append(folder / f"junk_{k}.{ext}")
        bad[-1].write_bytes(content)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        kept = readable_images([real, *bad])
    assert kept == [real]
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
    assert len(skipped) == len(bad) and all(any(str(p) in line for line in skipped) for p in bad)


def test_a_pool_without_a_readable_image_is_one_message(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    with pytest.raises(ConfigError, match="no readable image"):
        readable_images([tmp_path / "a.jpg"])
