"""What one decoding of each image tells about it: a hash of its pixels (exact copies), a
thumbnail of its detail (near copies: re-encoded, resized, slightly cropped) and cheap
statistics (how it looks: brightness, contrast, colour, sharpness), read in parallel and kept
between runs while the files are unchanged.

An image is decoded once, reduced (`read_rgb`: a JPEG at 1/2 to 1/8 scale by libjpeg's DCT
scaling, the rest shrunk after decoding) to `REDUCED` px on its shorter side; every value is
computed from that. So the "exact" hash is of those reduced pixels: a lossless re-save (a PNG of
a PNG, a copy under another name) matches; a JPEG re-encoded at another quality does not, and
is found as a near copy.

The near-copy thumbnail is each colour channel with its smooth part taken away (minus a
Gaussian blur of `DETAIL_SIGMA` px), box-averaged to `THUMB_SIDE` x `THUMB_SIDE` and scaled to
unit length: two images' dot product is their similarity. Black or white bands at the edges
(letterbox and pillarbox bars, a caption or footer strip behind its text) are cut off first
(`without_flat_borders`): a bar's edge is the strongest detail an image has, and its blur reaches
across the picture, so different frames with the same bars would look alike (measured on real
photos: ``benchmarks/near_copies.py``). A perceptual hash was measured first
and left (``benchmarks/data_health.py``): the 64-bit difference hash (dHash, written as
``imagehash.dhash`` defines it) of the generated shapes put 466 pairs of different scenes within
8 bits of one another in 600 images, while copies (re-encoded, resized, cropped by 1-3 % a
side) were up to 20 bits apart; the
smooth gradients behind the objects decide a hash and say nothing of which image it is. The
thumbnail's similarity kept every planted copy at 0.85 or more and every pair of different
scenes at 0.70 or less (five seeds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFilter

from detkit.data import limits
from detkit.data.formats.read_cache import cached_map_files
from detkit.data.images.files import read_rgb

REDUCED = 64  # px on the shorter side: enough for the thumbnail and the statistics
THUMB_SIDE = 16  # the near-copy thumbnail: 16 x 16 per colour channel
DETAIL_SIGMA = 12  # px (of REDUCED): the blur whose removal leaves the detail
BAND_SHARE = 0.75  # a row or column is part of a flat band when this share of it is the band's colour
BAND_TOLERANCE = 16  # levels (of 255) in every channel from the band's colour
MOST_TRIMMED = 0.35  # of the height or width, from each side at most
BAR_DARKEST, BAR_LIGHTEST = 40, 215  # a bar is black (every channel at most 40) or white (at least 215)
FEATURES = ("brightness", "contrast", "red", "green", "blue", "saturation", "sharpness")
PER_WORKER = 64  # images per process at least: decoding a small image costs about a millisecond


class Signature(NamedTuple):
    """``exact``: 16 bytes of BLAKE2b over the reduced pixels; ``thumbnail``: the unit-length
    detail thumbnail (float16, `detail_thumbnail`); ``features``: the `FEATURES` values;
    ``error``: why the file could not be read ("" if it could)."""

    exact: bytes
    thumbnail: np.ndarray
    features: tuple[float, ...]
    error: str = ""


def signatures(paths: Sequence[str]) -> list[Signature]:
    """The `Signature` of each image file, in order (in parallel; reused from the cache while a
    file is unchanged). An unreadable file gets a signature with its ``error`` and no values."""
    settings = (
        REDUCED,
        THUMB_SIDE,
        DETAIL_SIGMA,
        (BAND_SHARE, BAND_TOLERANCE, MOST_TRIMMED, BAR_DARKEST, BAR_LIGHTEST),
        limits.IMAGE_PIXELS.value,
        limits.ASPECT_RATIO.value,
    )
    return cached_map_files(
        _signatures_of, list(paths), PER_WORKER, "signatures", settings, _kept_files, "images decoded"
    )


def _kept_files(path: str, signature: Signature) -> Sequence[str] | None:
    return None if signature.error else [path]


def _signatures_of(paths: Sequence[str]) -> list[Signature]:
    return [signature_of(path) for path in paths]


def signature_of(path: str) -> Signature:
    """One image's `Signature` (its ``error`` set, and nothing else, when it cannot be read)."""
    try:
        pixels = read_rgb(path, REDUCED)
    except (OSError, ValueError) as e:
        return Signature(b"", NO_THUMBNAIL, (), f"{type(e).__name__}: {e}")
    exact = hashlib.blake2b(pixels.tobytes() + repr(pixels.shape).encode(), digest_size=16).digest()
    return Signature(exact, detail_thumbnail(without_flat_borders(pixels)), statistics(pixels))


NO_THUMBNAIL = np.zeros(3 * THUMB_SIDE**2, dtype=np.float16)


def without_flat_borders(pixels: np.ndarray) -> np.ndarray:
    """RGB ``pixels`` with the black or white bands at each edge cut off: the rows (then the
    columns) from each side in which at least `BAND_SHARE` of the pixels are within
    `BAND_TOLERANCE` of the edge's colour, twice over (a letterbox inside a frame). Text on a band
    (a caption, an agency's name) is cut with it. A band of another colour (a sky, a wall, a
    generated scene's background) or deeper than `MOST_TRIMMED` of the side is the picture's own
    and stays: cut by how flat it is, copies cropped or re-encoded differently lost different rows."""
    for _ in range(2):
        top, bottom = _band_depth(pixels), _band_depth(pixels[::-1])
        pixels = pixels[top : pixels.shape[0] - bottom]
        left, right = _band_depth(pixels.transpose(1, 0, 2)), _band_depth(pixels.transpose(1, 0, 2)[::-1])
        pixels = pixels[:, left : pixels.shape[1] - right]
        if not top + bottom + left + right:
            break
    return pixels


def _band_depth(pixels: np.ndarray) -> int:
    """How many rows of ``pixels`` ``[H, W, 3]``, from row 0 down, belong to a flat band (0 when
    it is deeper than `MOST_TRIMMED` of them)."""
    rows = pixels[: int(MOST_TRIMMED * pixels.shape[0]) + 1].astype(np.int16)
    colour = np.median(rows[0], axis=0)  # the edge row's colour
    if colour.max() > BAR_DARKEST and colour.min() < BAR_LIGHTEST:
        return 0  # neither black nor white: a picture's own edge (a sky, a wall), however flat
    flat = (np.abs(rows - colour).max(axis=2) <= BAND_TOLERANCE).mean(axis=1) >= BAND_SHARE
    return 0 if flat.all() else int(np.argmin(flat))


def detail_thumbnail(pixels: np.ndarray) -> np.ndarray:
    """RGB ``pixels``' detail per channel (minus its Gaussian blur), box-averaged to
    `THUMB_SIDE` square, centred and scaled to unit length: float16 ``[3 * THUMB_SIDE**2]``."""
    parts = []
    for channel in Image.fromarray(pixels).split():
        blurred = np.asarray(channel.filter(ImageFilter.GaussianBlur(DETAIL_SIGMA)), dtype=np.float32)
        detail = Image.fromarray(np.asarray(channel, dtype=np.float32) - blurred)
        parts.append(np.asarray(detail.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX), dtype=np.float32))
    values = np.concatenate([part.ravel() for part in parts])
    values -= values.mean()
    return (values / max(float(np.linalg.norm(values)), 1e-6)).astype(np.float16)


def statistics(pixels: np.ndarray) -> tuple[float, ...]:
    """`FEATURES` of RGB ``pixels`` (values in 0..1): mean and spread of the grey level, mean of
    each channel, mean HSV saturation, and sharpness as the spread of the grey Laplacian."""
    rgb = pixels.astype(np.float32) / 255.0
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    high, low = rgb.max(axis=2), rgb.min(axis=2)
    saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-6), 0.0)
    laplacian = (
        grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
        if min(grey.shape) > 2
        else np.zeros(1, np.float32)
    )
    means = rgb.reshape(-1, 3).mean(axis=0)
    values = (grey.mean(), grey.std(), *means, saturation.mean(), laplacian.std())
    return tuple(float(v) for v in values)
