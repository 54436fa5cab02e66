"""CSPDet's assigner and loss on cases built for them, and the detector learning one image."""

import math

import pytest
import torch
from torchvision.ops import box_iou

from detkit.exceptions import ConfigError
from detkit.models import build_detector
from detkit.models.cspdet.assigner import TOPK, Assignment, assign, candidates
from detkit.models.cspdet.detector import cell_centres
from detkit.models.cspdet.head import expected_sides
from detkit.models.cspdet.loss import distribution_focal_loss, image_terms, quality_focal_loss
from detkit.models.detectors import to_model_target

REG_MAX = 16


def grid(size: int = 64, strides=(8, 16, 32)) -> tuple[torch.Tensor, torch.Tensor]:
    maps = [torch.zeros(1, 1, size // s, size // s) for s in strides]
    return cell_centres(maps, list(strides))


def boxes_at(points: torch.Tensor, half: float) -> torch.Tensor:
    """A predicted box of side ``2 * half`` at every cell."""
    return torch.cat([points - half, points + half], dim=1)


def test_cell_centres_run_level_by_level_row_by_row():
    points, strides = grid(64)
    assert points.shape == (64 + 16 + 4, 2) and strides.tolist() == [8.0] * 64 + [16.0] * 16 + [32.0] * 4
    assert points[:3].tolist() == [[4.0, 4.0], [12.0, 4.0], [20.0, 4.0]] and points[8].tolist() == [4.0, 12.0]
    assert points[64].tolist() == [8.0, 8.0] and points[-1].tolist() == [48.0, 48.0]


def test_a_box_whose_edges_lie_on_cell_centres_takes_the_centres_strictly_inside_and_their_sides_are_exact():
    points, strides = grid(64)
    gt = torch.tensor([[4.0, 4.0, 20.0, 20.0]])  # edges through the stride-8 centres 4 and 20
    scores = torch.full((len(points), 2), 0.5)
    assignment = assign(scores, boxes_at(points, 8.0), points, strides, gt, torch.tensor([1]))
    positive = torch.nonzero(assignment.positive).flatten()
    assert [[*points[i].tolist(), strides[i].item()] for i in positive] == [
        [12.0, 12.0, 8.0],  # the one stride-8 centre strictly inside (4 and 20 lie on the edges)
        [8.0, 8.0, 16.0],
        [16.0, 16.0, 32.0],
    ]
    sides = torch.cat([points[positive[0]] - gt[0, :2], gt[0, 2:] - points[positive[0]]]) / 8
    assert sides.tolist() == [1.0, 1.0, 1.0, 1.0]  # one stride each way: a distance the head states exactly
    assert (assignment.quality[positive] > 0).all() and assignment.quality.max() <= 1


def test_two_objects_wanting_one_cell_leave_it_to_the_one_its_box_fits_best():
    points, strides = grid(64)
    small, large = torch.tensor([[6.0, 6.0, 18.0, 18.0]]), torch.tensor([[2.0, 2.0, 40.0, 40.0]])
    predicted = boxes_at(points, 6.0)  # every cell predicts a 12-px box: the small object's, exactly, at (12, 12)
    scores = torch.full((len(points), 3), 0.5)
    assignment = assign(scores, predicted, points, strides, torch.cat([small, large]), torch.tensor([1, 2]))
    shared = candidates(points, strides, small)[0] & candidates(points, strides, large)[0]
    assert shared.sum() == 3 and (assignment.matched[shared] == 0).all(), "shared cells go to the box they fit best"
    assert assignment.quality[9] == pytest.approx(1.0)  # (12, 12): the small object's best cell, IoU 1
    assert (assignment.matched == 1).sum() == TOPK - 3, "the large object keeps the rest of its best cells"


def test_an_empty_image_has_no_positives_and_only_pushes_scores_down():
    points, strides = grid(64)
    logits = torch.zeros(len(points), 3, requires_grad=True)
    sides = torch.zeros(len(points), 4 * (REG_MAX + 1), requires_grad=True)
    target = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    assignment = assign(
        logits.detach().sigmoid(), boxes_at(points, 8.0), points, strides, target["boxes"], target["labels"]
    )
    assert not assignment.positive.any()
    classes, box, side, weight = image_terms(
        logits, sides, boxes_at(points, 8.0), points, strides, target, assignment, REG_MAX, False
    )
    assert box == 0 and side == 0 and weight == 0 and classes > 0
    classes.backward()
    assert (logits.grad > 0).all(), "every score is pushed towards 0"


def test_a_box_smaller_than_a_cell_still_gets_the_nearest_cell_of_each_level():
    points, strides = grid(64)
    tiny = torch.tensor([[21.0, 25.0, 25.0, 29.0]])  # 4 px around (23, 27): no centre of any level inside
    predicted = boxes_at(points, 8.0)  # the stride-32 cell's box misses it: IoU 0
    assignment = assign(torch.full((len(points), 2), 0.5), predicted, points, strides, tiny, torch.tensor([1]))
    cells = torch.nonzero(assignment.positive).flatten()
    assert [points[i].tolist() for i in cells] == [[20.0, 28.0], [24.0, 24.0], [16.0, 16.0]]
    assert strides[cells].tolist() == [8.0, 16.0, 32.0]
    sides = torch.zeros(len(points), 4 * (REG_MAX + 1), requires_grad=True)
    target = {"boxes": tiny, "labels": torch.tensor([1])}
    logits = torch.zeros(len(points), 2)
    _, _, side, _ = image_terms(logits, sides, predicted, points, strides, target, assignment, REG_MAX, False)
    side.backward()
    assert (sides.grad[cells].abs().sum(dim=1) > 0).all(), "each of them learns the box, the missing one too"


def test_a_box_over_the_whole_image_goes_to_the_cells_whose_boxes_fit_it():
    points, strides = grid(640)
    huge = torch.tensor([[0.0, 0.0, 640.0, 640.0]])
    predicted = torch.cat([points - 10 * strides[:, None], points + 10 * strides[:, None]], dim=1)  # 20 strides a side
    assignment = assign(torch.full((len(points), 2), 0.5), predicted, points, strides, huge, torch.tensor([1]))
    assert assignment.positive.sum() == TOPK and (strides[assignment.positive] == 32).all()


def test_sides_beyond_reach_are_capped_and_pulled_to_the_farthest_distance():
    points, strides = grid(640)
    huge = {"boxes": torch.tensor([[0.0, 0.0, 640.0, 640.0]]), "labels": torch.tensor([1])}
    centre = int(torch.nonzero((points == 316.0).all(dim=1) & (strides == 8)).item())  # 39.5 strides from each edge
    matched = torch.full((len(points),), -1)
    matched[centre] = 0
    assignment = Assignment(matched, torch.where(matched >= 0, 1.0, 0.0))
    sides = torch.zeros(len(points), 4 * (REG_MAX + 1), requires_grad=True)
    logits = torch.zeros(len(points), 2)
    _, box, side, _ = image_terms(
        logits, sides, boxes_at(points, 8.0), points, strides, huge, assignment, REG_MAX, False
    )
    assert torch.isfinite(side) and torch.isfinite(box)
    side.backward()
    pulled = sides.grad[centre].unflatten(-1, (4, REG_MAX + 1))
    assert (pulled.argmin(dim=-1) == REG_MAX).all(), "each side is pulled hardest to the farthest distance"


def test_the_distribution_loss_is_least_where_the_two_distances_around_the_target_share_it():
    target = torch.tensor([[2.5, 0.0, 15.0, 7.25]])
    best = torch.full((1, 4, REG_MAX + 1), -1e4)
    for side, value in enumerate(target[0].tolist()):
        left = int(value)
        best[0, side, left] = math.log(left + 1 - value) if left + 1 - value > 0 else -1e4
        if left + 1 <= REG_MAX:
            best[0, side, left + 1] = math.log(value - left) if value > left else -1e4
    assert torch.allclose(expected_sides(best.flatten(1), REG_MAX), target, atol=1e-4)
    optimum = distribution_focal_loss(best, target)
    assert optimum < distribution_focal_loss(best + torch.randn_like(best), target)
    assert optimum.item() == pytest.approx(
        -(math.log(0.5) * 1.0 + 0.0 + 0.0 + (0.75 * math.log(0.75) + 0.25 * math.log(0.25))) / 4, abs=1e-4
    )


def test_the_quality_focal_loss_vanishes_where_the_score_is_its_target():
    targets = torch.tensor([0.0, 0.3, 0.9])
    logits = torch.logit(targets.clamp(1e-6, 1 - 1e-6))
    assert quality_focal_loss(logits, targets).abs().max() < 1e-6
    assert (quality_focal_loss(logits + 1.0, targets) > 0).all()


@pytest.mark.parametrize("partial", [True, False])
def test_partial_labels_leave_out_the_negatives_of_unlabelled_classes(partial):
    points, strides = grid(64)
    logits = torch.zeros(len(points), 3, requires_grad=True)
    sides = torch.zeros(len(points), 4 * (REG_MAX + 1))
    target = to_model_target(
        {
            "boxes": torch.tensor([[4.0, 4.0, 30.0, 30.0]]),
            "labels": torch.tensor([0]),
            "annotated": torch.tensor([True, False]),
        }
    )
    assignment = assign(
        logits.detach().sigmoid(), boxes_at(points, 8.0), points, strides, target["boxes"], target["labels"]
    )
    classes, *_ = image_terms(
        logits, sides, boxes_at(points, 8.0), points, strides, target, assignment, REG_MAX, partial
    )
    classes.backward()
    unlabelled = logits.grad[:, 2]  # model label 2: detkit's class 1, not annotated in this image
    assert (unlabelled == 0).all() if partial else (unlabelled > 0).all()
    assert (logits.grad[~assignment.positive, 1] > 0).all(), "the labelled class still learns its background"


@pytest.mark.slow
def test_the_detector_learns_one_image_and_finds_its_objects():
    torch.manual_seed(0)
    model = build_detector("cspdet_n", num_classes=2, image_size=128)
    image = torch.rand(3, 128, 128) * 0.2
    boxes = torch.tensor([[10.0, 12.0, 50.0, 60.0], [70.0, 64.0, 120.0, 100.0]])
    for box, value in zip(boxes.int().tolist(), (0.9, 0.6)):
        image[:, box[1] : box[3], box[0] : box[2]] = value
    target = to_model_target({"boxes": boxes, "labels": torch.tensor([0, 1])})
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(60):
        loss = sum(model([image], [target]).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        (found,) = model([image])
    for box, label in zip(target["boxes"], target["labels"]):
        mine = found["labels"] == label
        best = found["boxes"][mine][found["scores"][mine].argmax()]
        assert box_iou(best[None], box[None]).item() > 0.7


def test_pretrained_weights_that_do_not_exist_are_one_message_each():
    with pytest.raises(ConfigError, match=r"model\.weights_backbone null unless model\.options\.backbone names a timm"):
        build_detector("cspdet_n", 2, 96, weights_backbone="DEFAULT")
    with pytest.raises(ConfigError, match=r"no published weights.*init\.checkpoint"):
        build_detector("cspdet_n", 2, 96, weights="DEFAULT")
