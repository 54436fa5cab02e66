"""Image files read as a viewer shows them: EXIF orientation applied, any pixel format as 8-bit RGB.

Phone cameras store pixels as the sensor saw them and an EXIF orientation tag saying how to
turn them; viewers and annotation tools show (and label) the turned image. 16-bit greyscale
PNGs and TIFFs (depth maps, medical and industrial cameras) hold values up to 65535 that PIL's
``convert("RGB")`` clips to white; they keep their high byte here, as OpenCV's ``imread`` does.
Every reader and drawer of pixels goes through this module, so sizes and pixels agree.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

from detkit.data import limits
from detkit.data.images.headers import read_header
from detkit.data.regular_files import open_regular_file

IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")  # what detkit reads as an image
TURNED = {5, 6, 7, 8}  # EXIF orientations that swap width and height (a quarter turn, maybe mirrored)


# detkit bounds an image's geometry itself (`check_geometry`, from the header, before anything
# decodes or resizes it), with limits a user can raise; PIL's own guard is a fixed size.
Image.MAX_IMAGE_PIXELS = None


class ImageOutOfBounds(OSError):
    """An image with no pixels, more pixels than `limits.IMAGE_PIXELS` or sides further apart
    than `limits.ASPECT_RATIO`: unreadable, as a damaged file is. Such sizes are decompression
    bombs or broken headers, and a library resize or encoder meets them with a crash."""


def check_geometry(width: int, height: int) -> None:
    """Raise `ImageOutOfBounds` for a ``width`` x ``height`` image past detkit's limits."""
    if width < 1 or height < 1:
        raise ImageOutOfBounds(f"{width}x{height} pixels: an image without pixels")
    pixels = width * height
    if pixels > limits.IMAGE_PIXELS.value:
        raise ImageOutOfBounds(f"{width}x{height}: {limits.IMAGE_PIXELS.exceeded(pixels)}, or tile it")
    ratio = max(width, height) / min(width, height)
    if ratio > limits.ASPECT_RATIO.value:
        found = f"{width}x{height}: aspect ratio {ratio:,.0f}:1, over the limit of {limits.ASPECT_RATIO.value:,}:1"
        raise ImageOutOfBounds(limits.ASPECT_RATIO.exceeded(found))


def orientation(image: Image.Image) -> int:
    """The EXIF orientation of an opened image (1: as stored), read from the header only."""
    if image.format == "PNG" and "exif" not in image.info:
        return 1  # no eXIf chunk before the pixels (where PNG puts it); asking PIL would decode the image
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except (OSError, SyntaxError, ValueError):  # a damaged EXIF block: the pixels are still the image
        return 1
    return value if value in range(1, 9) else 1


def stored_and_shown_size(path: Path | str) -> tuple[tuple[int, int], tuple[int, int], int]:
    """``(width, height)`` as stored and as shown, and the EXIF orientation, from the header
    (`read_header` for a plain JPEG or PNG, PIL for the rest: the same answers)."""
    header = read_header(path)
    if header is None:
        with open_regular_file(path) as file, Image.open(file) as image:
            turn = orientation(image)
            width, height = image.size
    else:
        width, height, turn = header
        turn = turn if turn in range(1, 9) else 1
    check_geometry(width, height)
    return (width, height), ((height, width) if turn in TURNED else (width, height)), turn


def shown_size(path: Path | str) -> tuple[int, int]:
    """``(width, height)`` of the image at ``path`` as a viewer shows it (header only)."""
    return stored_and_shown_size(path)[1]


def read_rgb(path: Path, shorter_side: int | None = None) -> np.ndarray:
    """The image at ``path`` as shown (EXIF orientation applied): uint8 ``[H, W, 3]``. With
    ``shorter_side``, an image whose shorter side is longer is shrunk to it (aspect kept): a JPEG
    is decoded at a reduced scale first (libjpeg's DCT scaling, 1/2 to 1/8, via PIL's draft
    mode), which skips most of the decoding work for a 12-megapixel photo."""
    with open_regular_file(path) as file, Image.open(file) as image:
        check_geometry(*image.size)
        scale = 1.0 if shorter_side is None else shorter_side / min(image.size)
        if scale < 1.0:
            image.draft(None, (math.ceil(image.width * scale), math.ceil(image.height * scale)))
        if orientation(image) != 1:
            ImageOps.exif_transpose(image, in_place=True)
        if scale < 1.0 and min(image.size) > shorter_side:
            factor = shorter_side / min(image.size)
            size = (round(image.width * factor), round(image.height * factor))
            return np.array(Image.fromarray(rgb_pixels(image)).resize(size, Image.Resampling.BILINEAR))
        return rgb_pixels(image)


def rgb_pixels(image: Image.Image) -> np.ndarray:
    """Any PIL image as uint8 RGB ``[H, W, 3]``: 16/32-bit greyscale keeps its high byte,
    alpha is dropped (as OpenCV and Ultralytics read such files), palettes are expanded."""
    if image.mode.startswith("I"):  # I;16, I;16B, I;16L, I: integers wider than a byte
        grey = np.clip(np.asarray(image).astype(np.int64) >> 8, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # PIL warns when a palette's transparency is dropped directly
    return np.array(image.convert("RGB"))  # a writable copy: transforms and torch may write in place
