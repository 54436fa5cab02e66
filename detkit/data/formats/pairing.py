"""An annotation folder and the image folder it describes, found by the files' stems where an
export names neither (VOC xml in ``labels/`` beside the photos in ``photos/``, no
``Annotations/`` or ``JPEGImages/``): a search over the folders under the root, not a list of
names, so that any folder names pair.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import NamedTuple

from detkit.data.images.files import IMAGE_SUFFIXES
from detkit.exceptions import DatasetError

DEPTH = 2  # folder levels under the root searched: an export's folders, and one level inside them
MAX_FOLDERS = 200  # folders looked into at most: a root that holds more is not one export


class Pairing(NamedTuple):
    """A folder of annotation files, the folder of the images they name, and how many stems the two share."""

    annotations: Path
    images: Path
    shared: int


def _stems(folder: Path) -> tuple[set[str], set[str]]:
    """The stems of ``folder``'s annotation files (``.xml``) and of its images."""
    annotations, images = set(), set()
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            stem, suffix = os.path.splitext(entry.name)
            if suffix.lower() == ".xml":
                annotations.add(stem)
            elif suffix.lower() in IMAGE_SUFFIXES:
                images.add(stem)
    return annotations, images


def _folders(root: Path) -> list[Path]:
    """The folders under ``root`` to ``DEPTH`` levels, hidden ones left out, links not followed."""
    found, level = [], [root]
    for _ in range(DEPTH):
        below = []
        for folder in level:
            with contextlib.suppress(OSError), os.scandir(folder) as entries:
                below += sorted(
                    Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
                )
        found += below
        level = below
        if len(found) > MAX_FOLDERS:
            return found[:MAX_FOLDERS]
    return found


def xml_pairings(root: Path) -> list[Pairing]:
    """Each folder under ``root`` holding ``.xml`` files, with the folder (itself included) whose
    images share most of its stems (of those sharing as many, itself, then the nearest); a
    folder whose stems no image shares is left out."""
    stems = {folder: _stems(folder) for folder in [root, *_folders(root)]}
    pairings = []
    for folder, (xml, _) in stems.items():
        if not xml or folder == root:
            continue
        shared = {other: len(xml & images) for other, (_, images) in stems.items()}
        best = max(shared, key=lambda other: (shared[other], other == folder, _nearness(folder, other)))
        if shared[best]:
            pairings.append(Pairing(folder, best, shared[best]))
    return pairings


def _nearness(folder: Path, other: Path) -> int:
    """How many leading path parts two folders share (a sibling is nearer than a cousin)."""
    return len(os.path.commonpath([folder, other]).split(os.sep))


def xml_pairing(root: Path) -> Pairing | None:
    """The one `xml_pairings` of ``root``; None when there is none, a `DatasetError` listing
    them when several fit."""
    pairings = xml_pairings(root)
    if len(pairings) > 1:
        listed = "; ".join(
            f"data.root={p.annotations} data.images={p.images} ({p.shared} images)" for p in pairings[:10]
        )
        raise DatasetError(
            f"several folders of VOC .xml files each pair with images here; choose one: {listed}", str(root)
        )
    return pairings[0] if pairings else None
