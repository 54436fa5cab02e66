"""Does an exported detector give the eager model's detections? Each image's two sets of
detections are paired (same class, nearest boxes), and the largest box and score differences
of the pairs, and the detections left without a partner, are what an export is judged by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from detkit.exceptions import DetkitError
from detkit.models.inference import Detections

NO_PAIR = 1e9  # the cost of pairing detections of different classes


class ParityError(DetkitError):
    """An exported model's detections differ from eager PyTorch's beyond tolerance."""


@dataclass(frozen=True)
class Parity:
    """How far an exported model's detections are from eager PyTorch's, over ``images``."""

    images: int
    detections: int  # eager PyTorch's, over all images
    max_box_difference: float  # pixels, the largest coordinate difference of a pair
    max_score_difference: float
    unpaired: int  # detections of either side with no partner of their class in the other
    unpaired_at_cut: int  # of those, the ones within score tolerance of where the list is cut
    worst_image: int | None  # the image id of the largest box difference

    def to_json(self) -> dict:
        return asdict(self)


def compare_detections(
    image_ids: Sequence[int],
    eager: Sequence[Detections],
    exported: Sequence[Detections],
    score_threshold: float,
    score_tolerance: float,
) -> Parity:
    """Pair each image's detections (same class; the pairing with the least box difference,
    Hungarian), ignoring order: two scores within float noise may be ranked either way. A
    detection without a partner is excused (``unpaired_at_cut``) when its score is within
    ``score_tolerance`` of ``score_threshold`` or of the lowest score its side kept (a
    detections-per-image cut): float noise decides which side of the cut it lands."""
    box, score, unpaired, excused, worst = 0.0, 0.0, 0, 0, None
    for image_id, ours, theirs in zip(image_ids, eager, exported):
        rows, cols = _pairs(ours, theirs)
        if len(rows):
            box_differences = np.abs(ours["boxes"][rows] - theirs["boxes"][cols]).max(axis=1)
            if box_differences.max() > box or worst is None:
                worst = image_id
            box = max(box, float(box_differences.max()))
            score = max(score, float(np.abs(ours["scores"][rows] - theirs["scores"][cols]).max()))
        for side, paired in ((ours, rows), (theirs, cols)):
            alone = np.setdiff1d(np.arange(len(side["scores"])), paired)
            cut = float(side["scores"].min()) if len(alone) else np.inf
            near = np.minimum(np.abs(side["scores"][alone] - score_threshold), np.abs(side["scores"][alone] - cut))
            unpaired += len(alone)
            excused += int((near <= score_tolerance).sum())
    return Parity(len(image_ids), sum(len(d["scores"]) for d in eager), box, score, unpaired, excused, worst)


def _pairs(ours: Detections, theirs: Detections) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the paired detections: same class, least total largest-coordinate difference."""
    if not len(ours["scores"]) or not len(theirs["scores"]):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cost = np.abs(ours["boxes"][:, None, :] - theirs["boxes"][None, :, :]).max(axis=2).astype(np.float64)
    cost[ours["labels"][:, None] != theirs["labels"][None, :]] = NO_PAIR
    rows, cols = linear_sum_assignment(cost)
    same_class = cost[rows, cols] < NO_PAIR
    return rows[same_class], cols[same_class]


def check_parity(parity: Parity, box_tolerance: float, score_tolerance: float, model: str) -> None:
    """Raise `ParityError` naming what differs when ``parity`` is beyond the tolerances."""
    problems = []
    if parity.max_box_difference > box_tolerance:
        problems.append(
            f"boxes differ by up to {parity.max_box_difference:.4g} px (tolerance {box_tolerance:g}; "
            f"image {parity.worst_image})"
        )
    if parity.max_score_difference > score_tolerance:
        problems.append(f"scores differ by up to {parity.max_score_difference:.3g} (tolerance {score_tolerance:g})")
    unexplained = parity.unpaired - parity.unpaired_at_cut
    if unexplained:
        problems.append(f"{unexplained} detection(s) of one have no partner of their class in the other")
    if problems:
        raise ParityError(
            f"{model} does not give eager PyTorch's detections on {parity.images} image(s): "
            + "; ".join(problems)
            + ". Nothing was written; report it with the detector's name, or loosen parity.box_tolerance / "
            "parity.score_tolerance if the difference is acceptable"
        )
