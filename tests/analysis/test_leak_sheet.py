"""The contact sheet of copies across splits (leaks.png) fits its images: each row as tall as its
tallest image, captions right under them and within their column."""

import io
from pathlib import Path
from types import SimpleNamespace

from PIL import Image, ImageFont

from detkit.analysis.data_health_report import CAPTION, THUMB, _fitted, leak_sheet
from detkit.analysis.gallery import label_font


def health_of(folder: Path, rows: list[list[tuple[int, int] | None]]) -> SimpleNamespace:
    """A Health-shaped object whose leaks are ``rows`` of images of those (width, height); None:
    a file that is no image."""
    records, leaks, split_of = [], [], {}
    for r, sizes in enumerate(rows):
        members = []
        for size in sizes:
            name = f"row{r}_image{len(records)}_png.rf.{len(records):032x}.jpg"
            if size is None:
                (folder / name).write_bytes(b"not an image")
            else:
                Image.new("RGB", size, (90, 140, 200)).save(folder / name)
            split_of[len(records)] = ["train", "dev"][len(members) % 2]
            members.append(len(records))
            records.append(SimpleNamespace(file_name=name))
        leaks.append((SimpleNamespace(members=members), ["train", "dev"]))
    dataset = SimpleNamespace(records=records, image_path=lambda record: folder / record.file_name)
    return SimpleNamespace(leaks=leaks, split_of=split_of, data=SimpleNamespace(dataset=dataset))


def test_each_row_is_as_tall_as_its_tallest_image_and_no_taller(tmp_path):
    wide, tall = (400, 100), (100, 400)  # thumbnails 160 x 40 and 40 x 160
    sheet = Image.open(io.BytesIO(leak_sheet(health_of(tmp_path, [[wide, wide], [wide, tall, wide], [None, wide]]))))
    rows = [40, 160, THUMB]  # an unreadable image keeps a full square, framed in red
    assert sheet.size == (8 + 3 * (THUMB + 8), 8 + sum(h + CAPTION + 8 for h in rows))
    pixels = sheet.convert("RGB").load()
    image_at = lambda x, y: max(abs(a - b) for a, b in zip(pixels[x, y], (90, 140, 200))) <= 3  # noqa: E731 (JPEG)
    assert image_at(8 + 80, 8 + 20) and pixels[8 + 80, 8 + 40 + 1] == (255, 255, 255)
    second_row = 8 + 40 + CAPTION + 8
    assert image_at(8 + 80, second_row + 20), "the second row starts right under the first's captions"


def test_captions_fit_their_column_keeping_the_start_and_the_suffix():
    font = ImageFont.truetype(label_font(), 11)
    long_name = "WIN_20230804_02_12_35_Pro_jpg.rf.0123456789abcdef0123456789abcdef.jpg"
    shown = _fitted(long_name, font, THUMB)
    assert font.getlength(shown) <= THUMB and shown.startswith("WIN_2023") and shown.endswith("def.jpg")
    assert "…" in shown and _fitted("a.jpg", font, THUMB) == "a.jpg"
