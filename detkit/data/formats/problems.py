"""Problems the readers share: checking an image against its annotation, and what to do with
what they found (raise it all at once, or drop it and summarise)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from detkit.data.formats.parallel import map_files
from detkit.data.images.files import stored_and_shown_size
from detkit.exceptions import ConfigError, DatasetError, describe_problems

ON_INVALID = ("error", "drop")
DROP_HINT = "or read the rest: data.on_invalid=drop leaves out the image(s) concerned"
HEADERS_PER_WORKER = 5_000  # fewer are read in about the time it takes to fork
log = logging.getLogger(__name__)


def check_on_invalid(on_invalid: str) -> None:
    if on_invalid not in ON_INVALID:
        raise ConfigError(f"on_invalid={on_invalid!r}; choose one of {list(ON_INVALID)}")


def settle_problems(problems: list[str], source: str, on_invalid: str, left_out: Sequence[int] = ()) -> None:
    """With ``error``, one `DatasetError` listing every problem; with ``drop``, the offending
    records were skipped by the reader, which left out the images they belong to (an image
    whose labels lost a box would be read as holding nothing there; ``left_out``: the valid
    boxes each of those images held), and a warning summarises both."""
    if not problems:
        return
    if on_invalid == "error":
        raise DatasetError(problems, source=source, fix=DROP_HINT)
    images = (
        f"; left out {len(left_out)} image(s) with them, and the {sum(left_out)} valid "
        "box(es) they held, so that none is taken for an image without the dropped objects"
        if left_out
        else ""
    )
    log.warning(
        "%s: dropped %d invalid record(s) (data.on_invalid=drop)%s; %s",
        source,
        len(problems),
        images,
        describe_problems(problems),
    )


def image_problems(files: Sequence[tuple[str, int, int]]) -> list[str | None]:
    """`image_problem` of each ``(path, width, height)``, in order; thousands of them in several
    processes (`map_files`: a header costs about 15 us, mostly the system calls that open and
    read the file)."""
    return map_files(_problems_of, files, HEADERS_PER_WORKER, "image headers read")


def _problems_of(files: Sequence[tuple[str, int, int]]) -> list[str | None]:
    return [image_problem(*file) for file in files]


def image_problem(path: Path | str, width: int, height: int) -> str | None:
    """Why the image at ``path`` cannot stand for an annotation of ``width`` x ``height``, if so.
    Its size is the one a viewer shows, after the EXIF orientation (the pixels detkit reads)."""
    try:
        stored, shown, turn = stored_and_shown_size(path)  # reads the header only
    except FileNotFoundError:
        return f"image not found at {path}; fix file_name, or name the folder it is in with data.images=<folder>"
    except OSError as e:
        return f"unreadable image {path} ({e})"
    if shown == (width, height):
        return None
    if stored == (width, height):
        return (
            f"image is stored {stored[0]}x{stored[1]} but its EXIF orientation ({turn}) turns it to "
            f"{shown[0]}x{shown[1]}, as viewers show it and detkit reads it; it is annotated as {width}x{height}, "
            "on the unturned pixels: annotate the turned image, or save a copy without the orientation tag"
        )
    return f"image is {shown[0]}x{shown[1]} on disk but annotated as {width}x{height}; fix width/height"
