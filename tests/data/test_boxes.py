"""The one place boxes change convention agrees with torchvision's `box_convert` and round-trips."""

import numpy as np
import pytest
import torch
from torchvision.ops import box_convert

from detkit.data.boxes import cxcywh_to_xyxy, xywh_to_xyxy, xyxy_to_cxcywh, xyxy_to_xywh

CONVERSIONS = [(xywh_to_xyxy, "xywh", "xyxy"), (xyxy_to_xywh, "xyxy", "xywh")]
CONVERSIONS += [(cxcywh_to_xyxy, "cxcywh", "xyxy"), (xyxy_to_cxcywh, "xyxy", "cxcywh")]


@pytest.mark.parametrize(("convert", "source", "target"), CONVERSIONS)
def test_each_conversion_is_torchvisions(convert, source, target):
    boxes = np.random.default_rng(0).uniform(1, 50, (20, 4))
    expected = box_convert(torch.from_numpy(boxes), source, target).numpy()
    np.testing.assert_allclose(convert(boxes), expected, rtol=0, atol=1e-12)


def test_shapes_and_dtypes_are_kept_and_conversions_round_trip():
    xyxy = np.array([[1.5, 2.0, 11.5, 32.0], [0.0, 0.0, 3.0, 4.0]], dtype=np.float32)
    for there, back in ((xyxy_to_xywh, xywh_to_xyxy), (xyxy_to_cxcywh, cxcywh_to_xyxy)):
        assert there(xyxy).dtype == np.float32
        np.testing.assert_array_equal(back(there(xyxy)), xyxy)
    assert xywh_to_xyxy(np.zeros((0, 4))).shape == (0, 4) and xyxy_to_cxcywh(np.zeros((0, 4))).shape == (0, 4)
    assert xywh_to_xyxy(np.array([1.0, 2.0, 3.0, 4.0])).tolist() == [1.0, 2.0, 4.0, 6.0], "one box, no batch axis"
