"""The last look at two images whose detail thumbnails are alike: are they one picture, or
different pictures that share something (a stock agency's footer, a caption bar, a screenshot's
frame, a watermark, letterbox bars)?

A copy is the same picture everywhere, moved at most by a resize, a crop or bars: its keypoints
match the original's under one similarity transform (scale, rotation, shift) across the whole
picture. Different pictures that share an overlay match only where the overlay is. So each image
is read at `SIDE` px (its black or white bars cut off, `without_flat_borders`), OpenCV's ORB finds
up to `KEYPOINTS` keypoints, the two sets are matched (nearest binary descriptor, Lowe's ratio
test), RANSAC fits the transform, and the pair is one picture when the matches it keeps reach most
of the picture: `cover`, the share of a `GRID` x `GRID` grid's cells holding keypoints that hold a
kept match, in whichever image it is higher (a copy with a logo drawn on it has keypoints the
original lacks). Keypoint matching and RANSAC come from OpenCV (albumentations' own dependency
too); the cover rule is detkit's own (measured: ``benchmarks/near_copies.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from detkit.data.formats.parallel import map_files
from detkit.data.images.files import read_rgb
from detkit.data.images.signatures import without_flat_borders

SIDE = 256  # px on the shorter side the keypoints are found at
KEYPOINTS = 1000  # ORB's most keypoints per image (500 lost copies with a watermark word on fine texture)
FAST_THRESHOLD = 8  # ORB's corner threshold (OpenCV's default 20 finds too few on smooth photos)
RATIO = 0.8  # Lowe's ratio test: a match's distance below this share of the second nearest
REPROJECTION = 4.0  # px (of SIDE): a match the transform moves further than this is not kept
GRID = 4  # cells per side of the grid that `cover` counts
LEAST_IN_CELL = 2  # keypoints for a cell to count (one lone corner says little)
MIN_COVER = 0.4  # one picture when kept matches reach this share of the cells (copies >= 0.5, overlays <= 0.43)
MIN_KEYPOINTS = 8  # fewer in either image (a blank picture): the check cannot tell, and the thumbnails decide
PER_WORKER = 16  # images per process at least: finding keypoints costs about 15 ms an image


class Keypoints(NamedTuple):
    """One image's ORB keypoints: ``points`` ``[K, 2]`` (x, y, px at `SIDE`), ``descriptors``
    ``[K, 32]`` uint8, ``shape`` (height, width) of the image they were found in; none (``K``
    is 0) when it could not be read."""

    points: np.ndarray
    descriptors: np.ndarray
    shape: tuple[int, int]


NO_KEYPOINTS = Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), (1, 1))


def keypoints_of_pairs(paths: Sequence[str], first: np.ndarray, second: np.ndarray) -> dict[int, Keypoints]:
    """The `Keypoints` of every image in the pairs ``(first[k], second[k])`` (positions in
    ``paths``), each image read once (in parallel), by its position."""
    involved = sorted(set(first.tolist()) | set(second.tolist()))
    return dict(zip(involved, map_files(_keypoints_of, [paths[i] for i in involved], PER_WORKER, "images matched")))


def _keypoints_of(paths: Sequence[str]) -> list[Keypoints]:
    return [keypoints_of(path) for path in paths]


def keypoints_of(path: str) -> Keypoints:
    """One image's `Keypoints` at `SIDE` px on its shorter side, its black or white bars cut off
    (a smaller image is enlarged to it: a resized copy's corners then sit at the original's
    scale). `NO_KEYPOINTS` when it cannot be read."""
    try:
        pixels = without_flat_borders(read_rgb(path, SIDE))
    except (OSError, ValueError):
        return NO_KEYPOINTS
    height, width = pixels.shape[:2]
    scale = SIDE / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    grey = np.asarray(Image.fromarray(pixels).convert("L").resize(size, Image.Resampling.BILINEAR))
    found, descriptors = cv2.ORB_create(nfeatures=KEYPOINTS, fastThreshold=FAST_THRESHOLD).detectAndCompute(grey, None)
    if descriptors is None:
        return Keypoints(NO_KEYPOINTS.points, NO_KEYPOINTS.descriptors, grey.shape)
    return Keypoints(np.array([k.pt for k in found], np.float32).reshape(-1, 2), descriptors, grey.shape)


def cover(first: Keypoints, second: Keypoints) -> float:
    """How much of the picture the keypoint matches of two images reach under one similarity
    transform: the share of grid cells (with `LEAST_IN_CELL` keypoints or more) that hold a kept
    match, the higher of the two images'; NaN when either has fewer than `MIN_KEYPOINTS`."""
    if min(len(first.points), len(second.points)) < MIN_KEYPOINTS:
        return float("nan")
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(first.descriptors, second.descriptors, k=2)
    matches = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(matches) < 3:  # a similarity transform needs two; RANSAC one more to judge it
        return 0.0
    ours = np.array([m.queryIdx for m in matches])
    theirs = np.array([m.trainIdx for m in matches])
    transform, inliers = cv2.estimateAffinePartial2D(
        first.points[ours], second.points[theirs], method=cv2.RANSAC, ransacReprojThreshold=REPROJECTION
    )
    if transform is None:
        return 0.0
    kept = inliers.ravel().astype(bool)
    return max(_cells_reached(first, ours[kept]), _cells_reached(second, theirs[kept]))


def _cells_reached(image: Keypoints, matched: np.ndarray) -> float:
    """The share of ``image``'s grid cells with `LEAST_IN_CELL` keypoints that hold one of the
    ``matched`` keypoints (their positions)."""
    height, width = image.shape
    rows = np.minimum((image.points[:, 1] * GRID / height).astype(np.int64), GRID - 1)
    cols = np.minimum((image.points[:, 0] * GRID / width).astype(np.int64), GRID - 1)
    cell = rows * GRID + cols
    counted = np.bincount(cell, minlength=GRID * GRID) >= LEAST_IN_CELL
    reached = np.bincount(cell[matched], minlength=GRID * GRID) > 0
    return float((counted & reached).sum() / max(int(counted.sum()), 1))


def one_picture(first: Keypoints, second: Keypoints) -> bool:
    """Whether two images are one picture by their keypoints (`cover` at least `MIN_COVER`), or
    the keypoints cannot tell (too few: the thumbnails' word stands)."""
    reached = cover(first, second)
    return bool(np.isnan(reached) or reached >= MIN_COVER)
