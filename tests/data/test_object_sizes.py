import numpy as np
import pytest

from detkit.data.health.object_sizes import ObjectSizes
from detkit.data.records import DetectionDataset, Record


def _dataset(sides_and_images: list[tuple[float, int, int]]) -> DetectionDataset:
    """One square box of each side on its own ``width`` x ``height`` image."""
    records = [
        Record(i, f"{i}.jpg", width, height, boxes=[[0, 0, side, side]], labels=[0])
        for i, (side, width, height) in enumerate(sides_and_images)
    ]
    return DetectionDataset(".", ["thing"], records)


def test_sides_follow_the_resize_stretched_or_kept():
    dataset = _dataset([(64, 640, 480)])
    stretched = ObjectSizes.of(dataset, 320, keep_aspect_ratio=False).sides
    kept = ObjectSizes.of(dataset, 320, keep_aspect_ratio=True).sides
    assert stretched == pytest.approx([np.sqrt(32 * 64 * 320 / 480)])  # x halves, y shrinks by 2/3
    assert kept == pytest.approx([32])  # the longer side 640 -> 320: everything halves


def test_crowd_regions_and_empty_images_are_left_out():
    crowd = Record(0, "0.jpg", 100, 100, boxes=[[0, 0, 10, 10], [0, 0, 50, 50]], labels=[0, 0], iscrowd=[True, False])
    empty = Record(1, "1.jpg", 100, 100)
    sizes = ObjectSizes.of(DetectionDataset(".", ["thing"], [crowd, empty]), 100, keep_aspect_ratio=True)
    assert sizes.sides == pytest.approx([50])


def test_the_line_names_the_range_and_the_size_that_keeps_small_objects_findable():
    # 10 % of objects 8 px at 320: the line says so and names the input that lifts 95 % to 16 px
    dataset = _dataset([(8, 320, 320)] * 10 + [(100, 320, 320)] * 90)
    sizes = ObjectSizes.of(dataset, 320, keep_aspect_ratio=True)
    assert sizes.small_share() == pytest.approx(0.1)
    assert sizes.size_keeping() == 640
    line = sizes.describe()
    assert line.startswith("objects 8-100 px at the model's 320 px input") and "10% are under 16 px" in line
    assert "model.image_size=640" in line
    large = ObjectSizes.of(_dataset([(100, 320, 320)] * 20), 320, keep_aspect_ratio=True).describe()
    assert large == "objects 100-100 px at the model's 320 px input (5th-95th percentile)"
    assert ObjectSizes.of(DetectionDataset(".", ["thing"], []), 320, True).describe() == "training split has no objects"
