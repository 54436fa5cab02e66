"""The hand-written JPEG and PNG header reader against PIL: the same size and orientation on
every file it answers for, and no answer (PIL decides) on the files it does not read as PIL."""

import io
import os
import struct
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from detkit.data.images.files import TURNED, orientation, stored_and_shown_size
from detkit.data.images.headers import read_header
from tests.data.test_bad_input import EXAMPLES, FUZZ


def _pil_answer(path):
    """``stored_and_shown_size`` as PIL alone gives it, or the OSError PIL raises."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                turn = orientation(image)
                stored = image.size
    except OSError as e:
        return type(e)
    return stored, (stored[::-1] if turn in TURNED else stored), turn


def _ours(path):
    try:
        return stored_and_shown_size(path)
    except OSError as e:
        return type(e)


def _exif(turn: int, order: str = "<") -> bytes:
    """An EXIF block with one IFD0 entry, the orientation, in byte order ``order``."""
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8)
    return b"Exif\0\0" + head + struct.pack(order + "HHHIHH", 1, 0x0112, 3, 1, turn, 0) + b"\0\0\0\0"


def _jpeg(mode="RGB", size=(37, 21), **options) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 255, (size[1], size[0], len(mode)), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(), mode if mode != "CMYK" else None).convert(mode).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """``jpeg`` with one more segment right after SOI."""
    return jpeg[:2] + struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload + jpeg[2:]


def _png(mode="RGB", size=(37, 21)) -> bytes:
    buffer = io.BytesIO()
    data = np.arange(size[0] * size[1], dtype=np.uint16).reshape(size[1], size[0])
    image = Image.fromarray(data) if mode == "I;16" else Image.fromarray((data % 256).astype(np.uint8)).convert(mode)
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _after_ihdr(png: bytes, chunk: bytes) -> bytes:
    return png[:33] + chunk + png[33:]


PLAIN = {  # files the reader answers for itself
    "jpeg_rgb": _jpeg(),
    "jpeg_grey": _jpeg("L"),
    "jpeg_cmyk": _jpeg("CMYK"),
    "jpeg_progressive": _jpeg(progressive=True),
    "jpeg_icc_and_comment": _jpeg(icc_profile=b"\0" * 300, comment=b"a comment"),
    "png_rgb": _png(),
    "png_grey16": _png("I;16"),
    "png_palette": _png("P"),
    "png_text": _after_ihdr(_png(), _png_chunk(b"tEXt", b"Comment\0hello")),
    # headers longer than the first read: a phone's EXIF with its thumbnail, a long text chunk
    "jpeg_phone_exif": _with_segment(_jpeg(), 0xE1, _exif(6) + bytes(60_000)),
    "jpeg_large_icc": _jpeg(icc_profile=bytes(20_000)),
    "png_long_text": _after_ihdr(_png(), _png_chunk(b"tEXt", b"Comment\0" + b"x" * 10_000)),
} | {
    f"jpeg_orientation_{turn}_{order}": _with_segment(_jpeg(), 0xE1, _exif(turn, order))
    for turn in range(1, 9)
    for order in "<>"
}
PIL_DECIDES = {  # files the reader leaves to PIL
    "jpeg_xmp_only": _with_segment(_jpeg(), 0xE1, b"http://ns.adobe.com/xap/1.0/\0<x tiff:Orientation='6'/>"),
    "jpeg_two_exif": _with_segment(_with_segment(_jpeg(), 0xE1, _exif(6)), 0xE1, _exif(3)),
    "jpeg_orientation_long": _with_segment(
        _jpeg(), 0xE1, _exif(6).replace(b"\x03\x00\x01\x00", b"\x04\x00\x01\x00", 1)
    ),
    "jpeg_truncated": _jpeg()[:40],
    "jpeg_truncated_past_the_first_read": _with_segment(_jpeg(), 0xE1, _exif(6) + bytes(60_000))[:9_000],
    "png_truncated_past_the_first_read": _after_ihdr(_png(), _png_chunk(b"tEXt", b"C\0" + b"x" * 10_000))[:6_000],
    "jpeg_short_jfif": _with_segment(_jpeg()[:2] + _jpeg()[20:], 0xE0, b"JFIF\0"),
    "png_exif_chunk": _after_ihdr(_png(), _png_chunk(b"eXIf", _exif(6)[6:])),
    "png_bad_crc": _png()[:29] + b"\0\0\0\0" + _png()[33:],
    "gif": (lambda b: (Image.new("RGB", (5, 3)).save(b, "GIF"), b.getvalue())[1])(io.BytesIO()),
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_files_are_read_without_pil_and_as_pil_reads_them(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(PLAIN[name])
    assert read_header(path) is not None, "the fast path answered"
    assert _ours(path) == _pil_answer(path)
    if "orientation" in name:
        turn = int(name.split("_")[2])
        assert _ours(path)[2] == turn and (_ours(path)[1] == (21, 37)) == (turn in TURNED)


@pytest.mark.parametrize("name", sorted(PIL_DECIDES))
def test_files_read_otherwise_by_pil_are_left_to_it(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(PIL_DECIDES[name])
    assert read_header(path) is None
    assert _ours(path) == _pil_answer(path)


def test_a_missing_file_raises_as_pil_does(tmp_path):
    with pytest.raises(FileNotFoundError):
        stored_and_shown_size(tmp_path / "nothing.jpg")


@settings(FUZZ, max_examples=EXAMPLES if "DETKIT_FUZZ_EXAMPLES" in os.environ else 300)  # derandomised in CI
@given(
    source=st.sampled_from(["jpeg_orientation_6_>", "jpeg_icc_and_comment", "png_text", "jpeg_progressive"]),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.none() | st.integers(2, 600),
)
def test_damaged_headers_are_read_as_pil_reads_them_or_left_to_it(tmp_path, source, edits, cut):
    """Bytes of a header changed at random: the reader's answer, when it gives one, is PIL's."""
    data = bytearray(PLAIN[source])
    for at, value in edits:
        if at < len(data):
            data[at] = value
    path = tmp_path / "damaged"
    path.write_bytes(bytes(data[:cut]))
    if read_header(path) is not None:
        assert _ours(path) == _pil_answer(path)
