import numpy as np
import pytest

from detkit.deploy.parity import ParityError, check_parity, compare_detections


def _detections(boxes, scores, labels):
    return {
        "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
        "scores": np.asarray(scores, np.float32),
        "labels": np.asarray(labels, np.int64),
    }


EAGER = _detections([[0, 0, 10, 10], [20, 20, 40, 50], [5, 5, 30, 30]], [0.9, 0.5, 0.2], [0, 1, 0])


def test_the_same_detections_in_another_order_are_equal():
    exported = _detections(EAGER["boxes"][[2, 0, 1]], EAGER["scores"][[2, 0, 1]], EAGER["labels"][[2, 0, 1]])
    parity = compare_detections([7], [EAGER], [exported], 0.001, 1e-4)
    assert (parity.max_box_difference, parity.max_score_difference, parity.unpaired) == (0, 0, 0)
    assert parity.detections == 3 and parity.images == 1
    check_parity(parity, 0.01, 1e-4, "model")


def test_moved_boxes_and_changed_scores_are_measured_and_refused():
    boxes = EAGER["boxes"].copy()
    boxes[1, 2] += 0.5
    exported = _detections(boxes, EAGER["scores"] + [0, 0, 2e-3], EAGER["labels"])
    nothing = _detections([], [], [])
    parity = compare_detections([3, 7], [nothing, EAGER], [nothing, exported], 0.001, 1e-4)
    assert parity.max_box_difference == pytest.approx(0.5)
    assert parity.max_score_difference == pytest.approx(2e-3, rel=1e-4)  # float32 scores
    assert parity.worst_image == 7
    with pytest.raises(ParityError, match=r"boxes differ by up to 0\.5 px .*image 7.*scores differ by up to 0\.002"):
        check_parity(parity, 0.01, 1e-4, "the onnx export")
    check_parity(parity, 1.0, 1e-2, "the onnx export")


def test_another_class_is_no_partner():
    exported = _detections(EAGER["boxes"], EAGER["scores"], [0, 2, 0])
    parity = compare_detections([1], [EAGER], [exported], 0.001, 1e-4)
    assert (parity.unpaired, parity.unpaired_at_cut) == (2, 0)
    with pytest.raises(ParityError, match="2 detection"):
        check_parity(parity, 0.01, 1e-4, "model")


def test_a_detection_that_float_noise_puts_across_the_score_cut_is_excused():
    at_threshold = _detections([*EAGER["boxes"], [50, 50, 60, 60]], [*EAGER["scores"], 0.00102], [0, 1, 0, 3])
    parity = compare_detections([1], [at_threshold], [EAGER], 0.001, 1e-4)
    assert (parity.unpaired, parity.unpaired_at_cut) == (1, 1)
    check_parity(parity, 0.01, 1e-4, "model")
    well_above = _detections([*EAGER["boxes"], [50, 50, 60, 60]], [*EAGER["scores"], 0.3], [0, 1, 0, 3])
    parity = compare_detections([1], [well_above], [EAGER], 0.001, 1e-4)
    assert (parity.unpaired, parity.unpaired_at_cut) == (1, 0)
