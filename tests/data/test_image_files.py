"""Images as cameras and exporters write them: EXIF orientation, 16-bit, palette, alpha, CMYK."""

import json
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import ExifTags, Image

from detkit.data.formats.coco import load_coco
from detkit.data.formats.yolo import load_yolo
from detkit.data.images.files import read_rgb, shown_size
from detkit.exceptions import DatasetError

# What the file must store so that a viewer, applying the EXIF orientation, shows the picture:
# the inverse of each orientation's display transform (EXIF 2.32, tag 0x0112).
STORED_FOR_SHOWN = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # shown = stored turned 90 degrees clockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def shown_picture(width: int = 60, height: int = 40) -> Image.Image:
    """A picture no flip or turn leaves unchanged: a gradient and a block near the top left."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    pixels[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    pixels[4:12, 6:20, 2] = 255
    return Image.fromarray(pixels)


def save_as_camera(picture: Image.Image, path, turn: int, **options) -> None:
    """Store ``picture`` as a camera would with EXIF orientation ``turn``."""
    method = STORED_FOR_SHOWN[turn]
    stored = picture if method is None else picture.transpose(method)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = turn
    stored.save(path, exif=exif, **options)


@pytest.mark.parametrize("turn", list(STORED_FOR_SHOWN))
def test_every_exif_orientation_reads_as_the_viewer_shows_it(tmp_path, turn):
    picture = shown_picture()
    path = tmp_path / "photo.png"  # lossless, so the pixels must be equal
    save_as_camera(picture, path, turn)
    with Image.open(path) as raw:
        assert raw.size == ((40, 60) if turn >= 5 else (60, 40)), "the fixture stores unturned pixels"
    assert shown_size(path) == (60, 40)
    np.testing.assert_array_equal(read_rgb(path), np.asarray(picture))


def test_a_phone_jpeg_turned_a_quarter(tmp_path):
    picture = shown_picture()
    path = tmp_path / "IMG_0001.jpg"
    save_as_camera(picture, path, 6, quality=95)
    pixels = read_rgb(path)
    assert pixels.shape == (40, 60, 3) and shown_size(path) == (60, 40)
    assert np.abs(pixels.astype(int) - np.asarray(picture)).mean() < 3, "JPEG noise only, not another turn"


def test_a_coco_annotation_of_the_unturned_pixels_is_named_as_such(tmp_path):
    (tmp_path / "images").mkdir()
    save_as_camera(shown_picture(), tmp_path / "images" / "shown.jpg", 6)
    save_as_camera(shown_picture(), tmp_path / "images" / "stored.jpg", 6)
    coco = {
        "images": [
            {"id": 1, "file_name": "shown.jpg", "width": 60, "height": 40},
            {"id": 2, "file_name": "stored.jpg", "width": 40, "height": 60},
        ],
        "annotations": [],
        "categories": [{"id": 1, "name": "block"}],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    with pytest.raises(DatasetError) as raised:
        load_coco(tmp_path / "annotations.json")
    message = str(raised.value)
    assert "stored.jpg" in message and "shown.jpg" not in message, "the shown size is the right one"
    assert "EXIF orientation (6)" in message and "60x40" in message


def test_yolo_boxes_are_fractions_of_the_shown_image(tmp_path):
    root = tmp_path / "yolo"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names: [block]\n")
    save_as_camera(shown_picture(), root / "images" / "photo.jpg", 8)
    (root / "labels" / "photo.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (record,) = load_yolo(root).records
    assert (record.width, record.height) == (60, 40)
    np.testing.assert_allclose(record.boxes, [[15, 10, 45, 30]])


def test_sixteen_bit_greyscale_keeps_its_high_byte(tmp_path):
    values = np.linspace(0, 65535, 40 * 60).reshape(40, 60).astype(np.uint16)
    path = tmp_path / "depth.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as raw:
        assert raw.mode.startswith("I"), raw.mode
    pixels = read_rgb(path)
    assert pixels.dtype == np.uint8 and pixels.shape == (40, 60, 3)
    np.testing.assert_array_equal(pixels[..., 0], values >> 8)
    assert (pixels == pixels[..., :1]).all() and 120 < pixels.mean() < 135, "not clipped to white"


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK"])
def test_other_pixel_formats_become_rgb(tmp_path, mode):
    picture = shown_picture()
    image = picture.convert(mode)
    suffix = "jpg" if mode == "CMYK" else "png"
    path = tmp_path / f"image.{suffix}"
    if mode == "P":
        image.info["transparency"] = 0  # a palette entry marked transparent, as GIF-born PNGs carry
    image.save(path, **({"transparency": 0} if mode == "P" else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixels = read_rgb(path)
    assert pixels.dtype == np.uint8 and pixels.shape == (40, 60, 3)
    difference = np.abs(pixels.astype(int) - np.asarray(image.convert("RGB")))
    if mode == "CMYK":
        assert difference.mean() < 3, "JPEG noise only"
    else:
        assert difference.max() == 0


def _png_header_only(path, width, height):
    """A PNG that says it is ``width`` x ``height`` (its header is all PIL reads to open it)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


GEOMETRY_PAST_LIMITS = [
    (20_000, 20_000, "IMAGE_PIXELS", r"400,000,000 over the limit of 178,956,970"),  # an orthomosaic
    (100_000, 1, "ASPECT_RATIO", r"aspect ratio 100,000:1, over the limit of 100:1"),  # a line-scan strip
    (1, 101, "ASPECT_RATIO", r"aspect ratio 101:1"),
]


@pytest.mark.parametrize(("width", "height", "limit", "message"), GEOMETRY_PAST_LIMITS)
def test_an_image_past_the_geometry_limits_is_named_by_every_reader(
    tmp_path, monkeypatch, width, height, limit, message
):
    """An image with too many pixels, or sides too far apart, is refused from its header,
    before anything decodes or resizes it, by every reader, with the variable that raises
    the limit; raised, the limit lets it through."""
    _png_header_only(tmp_path / "coco" / "images" / "huge.png", width, height)
    coco = {"images": [{"id": 1, "file_name": "huge.png", "width": width, "height": height}]}
    (tmp_path / "coco" / "annotations.json").write_text(json.dumps({**coco, "annotations": [], "categories": []}))
    with pytest.raises(DatasetError, match=rf"huge\.png.*{message}.*DETKIT_MAX_{limit}=<larger>") as refused:
        load_coco(tmp_path / "coco" / "annotations.json")
    assert "Traceback" not in str(refused.value)
    _png_header_only(tmp_path / "yolo" / "images" / "huge.png", width, height)
    (tmp_path / "yolo" / "data.yaml").write_text("names: [cat]\n")
    with pytest.raises(DatasetError, match=rf"huge\.png: unreadable image .*{message}"):
        load_yolo(tmp_path / "yolo")
    monkeypatch.setenv(f"DETKIT_MAX_{limit}", str(10**12))
    assert len(load_coco(tmp_path / "coco" / "annotations.json")) == 1


def test_a_drawn_image_longer_than_a_jpeg_can_hold_is_shrunk_to_fit(tmp_path, monkeypatch):
    """libjpeg holds sides up to 65,500 px and torchvision's encoder crashes (SIGSEGV) past
    it: predict's drawings of longer images are shrunk to fit."""
    from torchvision.io import decode_jpeg, encode_jpeg

    from detkit.analysis.gallery import JPEG_SIDE, draw_image

    monkeypatch.setenv("DETKIT_MAX_ASPECT_RATIO", "100000")
    Image.new("RGB", (70_000, 2), (200, 10, 10)).save(tmp_path / "strip.png")
    drawn = draw_image(tmp_path / "strip.png", [], longest_side=None)
    assert tuple(drawn.shape) == (3, 2, JPEG_SIDE)
    assert decode_jpeg(encode_jpeg(drawn)).shape[2] == JPEG_SIDE
