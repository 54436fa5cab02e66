"""Which of a run's images an export is checked on."""

from detkit.workflows.export import parity_sample


def test_parity_images_cover_every_size_first():
    sizes = [(320, 320)] * 5 + [(400, 240), (320, 320), (240, 400), (400, 240)]
    assert parity_sample(sizes, 4) == [0, 5, 7, 1]
    assert parity_sample(sizes, 20) == [0, 5, 7, 1, 2, 3, 4, 6, 8]
    assert parity_sample([(1, 1)] * 3, 8) == [0, 1, 2]
