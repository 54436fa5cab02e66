"""What different photos share without being copies, drawn onto images to measure the near-copy
finder (`detkit.data.health.duplicates`) on the class real exports hold: a stock agency's footer
strip, a caption bar, a translucent watermark word, a timestamp and a logo in corners, letterbox
and pillarbox bars, a screenshot's fixed frame around the picture. Each overlay is the same on
every image but for a code (a stock photo's id, a frame's file name), as on the real ones."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

OVERLAYS = ("footer", "caption", "watermark", "corners", "letterbox", "pillarbox", "frame")
DRAWN_OVER = ("watermark", "corners")  # drawn on the picture; the others move or cover its edges


def with_overlay(image: Image.Image, kind: str, code: str = "A2C8F2") -> Image.Image:
    """A new RGB image of ``image``'s size: ``image`` with the ``kind`` of `OVERLAYS` drawn on it
    (``code`` in its text). The strips, bars and frame take 8-25 % of the height or width and
    shrink or crop the picture into the rest; a watermark or corner marks leave it in place."""
    width, height = image.size
    canvas = image.convert("RGB")
    if kind == "footer":
        strip = max(2, round(0.09 * height))
        canvas = _placed(canvas, (0, 0, width, height - strip), "white")
        _text(canvas, (width // 2, height - strip // 2), f"www.stock-agency.example - {code}", strip * 0.45, "#333333")
    elif kind == "caption":
        strip = max(2, round(0.12 * height))
        canvas = _placed(canvas, (0, strip, width, height), "black")
        _text(canvas, (width // 2, strip // 2), f"EVENING NEWS  {code}", strip * 0.5, "white")
    elif kind == "watermark":
        layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
        _text(layer, (width // 2, height // 2), "stock photo", height * 0.14, (255, 255, 255, 110))
        canvas = Image.alpha_composite(canvas.convert("RGBA"), layer).convert("RGB")
    elif kind == "corners":
        stamp = f"2023-08-04 02:{code[:2]}:41"
        _text(canvas, (round(width * 0.8), round(height * 0.94)), stamp, height * 0.05, "yellow")
        side = max(2, round(0.1 * height))
        ImageDraw.Draw(canvas).rectangle((8, 8, 8 + 2 * side, 8 + side), fill="#c0392b")
        _text(canvas, (8 + side, 8 + side // 2), "NEWS", side * 0.6, "white")
    elif kind == "letterbox":
        bar = round(0.125 * height)
        canvas = _cropped_into(canvas, (0, bar, width, height - bar))
    elif kind == "pillarbox":
        bar = round(0.125 * width)
        canvas = _cropped_into(canvas, (bar, 0, width - bar, height))
    elif kind == "frame":
        title, side, status = round(0.08 * height), round(0.15 * width), round(0.05 * height)
        canvas = _placed(canvas, (side, title, width, height - status), "#f0f0f0")
        draw = ImageDraw.Draw(canvas)
        draw.rectangle((0, 0, width, title), fill="#2b579a")
        _text(canvas, (width // 2, title // 2), f"Photos - IMG_{code}.jpg", title * 0.5, "white")
        for row in range(6):
            y = title + 12 + row * round(0.1 * height)
            draw.rectangle((8, y, side - 8, y + round(0.05 * height)), fill="#c8c8c8")
        draw.rectangle((0, height - status, width, height), fill="#dddddd")
        _text(canvas, (width // 4, height - status // 2), f"{code}  100 %  {width} x {height}", status * 0.6, "black")
    else:
        raise ValueError(f"unknown overlay {kind!r}: one of {', '.join(OVERLAYS)}")
    return canvas


def _placed(image: Image.Image, area: tuple[int, int, int, int], background: str) -> Image.Image:
    """A canvas of ``image``'s size in ``background``, with ``image`` shrunk into ``area``."""
    canvas = Image.new("RGB", image.size, background)
    left, top, right, bottom = area
    canvas.paste(image.resize((max(1, right - left), max(1, bottom - top)), Image.Resampling.BILINEAR), (left, top))
    return canvas


def _cropped_into(image: Image.Image, area: tuple[int, int, int, int]) -> Image.Image:
    """A black canvas of ``image``'s size with ``image``'s own pixels of ``area`` kept (a wider or
    taller picture cut to the frame, as video is letterboxed or pillarboxed)."""
    canvas = Image.new("RGB", image.size, "black")
    canvas.paste(image.crop(area), area[:2])
    return canvas


def _text(image: Image.Image, centre: tuple[int, int], text: str, size: float, fill) -> None:
    font = ImageFont.load_default(size=max(6.0, size))
    ImageDraw.Draw(image).text(centre, text, fill=fill, font=font, anchor="mm")
