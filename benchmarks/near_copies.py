"""Near copies on real photos: the pairs the finder reports, for a person to judge, and how many
copies of real photos it finds and how many pairs of different ones it calls copies.

    python benchmarks/near_copies.py --root <folder of images or an export> [--root ...] \
        [--out near_copies] [--photos 200] [--seed 0]

For each root (every image under it):
1. **Reported pairs.** Every pair whose detail thumbnails are at least ``NEAR_SIMILARITY`` alike
   (``similar_pairs``), whether the strip check keeps it (``similarity_without_strips`` at least
   ``STRIP_SIMILARITY``) and, if it does, how far its keypoint matches reach (``cover``; kept at
   ``MIN_COVER`` or more, or where too few keypoints leave it to the thumbnails):
   ``<out>/<root>_pairs.csv`` lists them all, and ``<out>/<root>_kept.png`` / ``_dropped.png``
   show up to 24 of each side by side, least alike first, for a person to say whether they are
   copies, one scene a moment apart, or different.
2. **Planted, on up to ``--photos`` of its images** (seeded), each written as a PNG:
   - recall: a copy of each photo made each way of ``COPY_KINDS`` (re-encoded, resized, cropped,
     letterboxed, a watermark or corner marks drawn on it), found as a pair with its photo by
     every check (``linked_pairs``);
   - false pairs: the photos each with one overlay of ``OVERLAYS`` (footer strip, caption bar,
     watermark word, corner marks, letterbox and pillarbox bars, a screenshot's frame: the same on
     every photo but for a code), and the pairs of different photos called copies: by the whole
     thumbnail, after the strip check, and after the keypoint check (pairs already 0.6 alike
     without the overlay are left out: one scene a moment apart, which real exports hold).
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from detkit.data.health.duplicates import (
    NEAR_SIMILARITY,
    STRIP_SIMILARITY,
    near_copy_pairs,
    similar_pairs,
    similarity_without_strips,
)
from detkit.data.health.keypoint_check import MIN_COVER, cover, keypoints_of_pairs, one_picture
from detkit.data.health.planted_copies import COPY_KINDS, copy_image
from detkit.data.health.shared_overlays import OVERLAYS, with_overlay
from detkit.data.images.folder import find_images
from detkit.data.images.signatures import signatures

ALIKE_BEFORE = 0.6  # photos this alike without an overlay are not counted as different
SHOWN = 24  # pairs on a sheet
SHEET_HEIGHT = 200  # px of each image on a sheet


def thumbnails_of(paths: list[Path]) -> tuple[np.ndarray, list[int]]:
    """The detail thumbnails of the readable ``paths`` and their positions."""
    found = signatures([str(p) for p in paths])
    readable = [k for k, s in enumerate(found) if not s.error]
    return np.stack([found[k].thumbnail for k in readable]), readable


def reported_pairs(root: Path, out: Path) -> None:
    _, paths = find_images(str(root))
    thumbnails, readable = thumbnails_of(paths)
    first, second, whole = similar_pairs(thumbnails, NEAR_SIMILARITY)
    stripped = similarity_without_strips(thumbnails[first], thumbnails[second])
    passed = stripped >= STRIP_SIMILARITY
    found = keypoints_of_pairs([str(paths[k]) for k in readable], first[passed], second[passed])
    reached = np.array([cover(found[i], found[j]) if ok else np.nan for i, j, ok in zip(first, second, passed)])
    linked = passed & ~(reached < MIN_COVER)  # too few keypoints (NaN): the thumbnails decide
    rows = [
        (str(paths[readable[i]].relative_to(root)), str(paths[readable[j]].relative_to(root)), w, s, c, ok)
        for i, j, w, s, c, ok in zip(
            first.tolist(), second.tolist(), whole.tolist(), stripped.tolist(), reached.tolist(), linked.tolist()
        )
    ]
    kept = sorted((r for r in rows if r[5]), key=lambda r: r[3])
    dropped = sorted((r for r in rows if not r[5]), key=lambda r: -r[3])
    print(
        f"{root.name}: {len(paths)} images, {len(rows)} pairs at least {NEAR_SIMILARITY} alike,"
        f" {int(passed.sum())} kept by the strip check, {len(kept)} by the keypoint check after it,"
        f" {len(dropped)} dropped"
    )
    with open(out / f"{root.name}_pairs.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["first", "second", "similarity", "without strips", "keypoint cover", "kept"])
        writer.writerows((a, b, f"{w:.3f}", f"{s:.3f}", f"{c:.2f}", ok) for a, b, w, s, c, ok in rows)
    for name, shown in (("kept", kept), ("dropped", dropped)):
        if shown:
            pair_sheet(root, shown[:SHOWN], out / f"{root.name}_{name}.png")


def pair_sheet(root: Path, rows: list[tuple[str, str, float, float, float, bool]], target: Path) -> None:
    """The pairs of ``rows`` side by side, one a row, each captioned with its similarities and cover."""
    tiles = []
    for k, (a, b, whole, stripped, reached, _) in enumerate(rows):
        images = []
        for name in (a, b):
            with Image.open(root / name) as opened:
                image = opened.convert("RGB")
            images.append(image.resize((max(1, round(image.width * SHEET_HEIGHT / image.height)), SHEET_HEIGHT)))
        tile = Image.new("RGB", (sum(i.width for i in images) + 10, SHEET_HEIGHT + 16), "white")
        tile.paste(images[0], (0, 16))
        tile.paste(images[1], (images[0].width + 10, 16))
        caption = (
            f"{k + 1}. {whole:.3f} whole, {stripped:.3f} without strips, keypoint cover {reached:.2f}:"
            f" {Path(a).name} | {Path(b).name}"
        )
        ImageDraw.Draw(tile).text((2, 2), caption, fill="black")
        tiles.append(tile)
    sheet = Image.new("RGB", (max(t.width for t in tiles), sum(t.height + 6 for t in tiles)), "white")
    y = 0
    for tile in tiles:
        sheet.paste(tile, (0, y))
        y += tile.height + 6
    sheet.save(target)


def planted(root: Path, photos: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    _, paths = find_images(str(root))
    paths = [paths[k] for k in sorted(rng.choice(len(paths), min(photos, len(paths)), replace=False))]
    with tempfile.TemporaryDirectory() as folder:
        originals = []
        for k, path in enumerate(paths):
            try:
                with Image.open(path) as opened:
                    image = opened.convert("RGB")
            except OSError:
                continue
            originals.append((image, Path(folder) / f"photo_{k}.png"))
            image.save(originals[-1][1])
        base, _ = thumbnails_of([p for _, p in originals])
        before = set(zip(*(a.tolist() for a in similar_pairs(base, ALIKE_BEFORE)[:2])))
        print(f"{root.name}, {len(originals)} photos ({len(before)} pairs at least {ALIKE_BEFORE} alike as they are):")
        for kind in COPY_KINDS:
            files = []
            for k, (image, path) in enumerate(originals):
                copy, quality, _, _ = copy_image(image, kind, rng)
                files += [path, Path(folder) / f"copy_{kind}_{k}.jpg"]
                copy.save(files[-1], quality=quality)
            found = linked_pairs(thumbnails_of(files)[0], files)
            recall = np.mean([(2 * k, 2 * k + 1) in found for k in range(len(originals))])
            print(f"  copies {kind}: recall {recall:.3f}")
        for kind in OVERLAYS:
            files = []
            for k, (image, _) in enumerate(originals):
                files.append(Path(folder) / f"overlay_{kind}_{k}.jpg")
                with_overlay(image, kind, f"{int(rng.integers(16**6)):06X}").save(files[-1], quality=90)
            thumbnails, _ = thumbnails_of(files)
            first, second, _ = similar_pairs(thumbnails, NEAR_SIMILARITY)
            different = [(i, j) for i, j in zip(first.tolist(), second.tolist()) if (i, j) not in before]
            kept = near_copy_pairs(thumbnails)
            kept_different = [p for p in zip(kept[0].tolist(), kept[1].tolist()) if p not in before]
            together = linked_pairs(thumbnails, files)
            print(
                f"  different photos with one {kind}: {len(different)} pairs called copies by the whole"
                f" thumbnail, {len(kept_different)} after the strip check,"
                f" {len([p for p in together if p not in before])} after the keypoint check"
            )


def linked_pairs(thumbnails: np.ndarray, files: list[Path]) -> set[tuple[int, int]]:
    """The pairs of ``files`` (all readable: written here; ``thumbnails`` theirs) that every check
    calls copies: the whole thumbnail, the strip check and the keypoint check. detkit's own search
    compares a pair only while its images are not yet linked (``near_copy_links``); here every
    pair is compared."""
    first, second, _ = near_copy_pairs(thumbnails)
    found = keypoints_of_pairs([str(f) for f in files], first, second)
    return {(i, j) for i, j in zip(first.tolist(), second.tolist()) if one_picture(found[i], found[j])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, action="append", required=True, help="a folder of images (any depth)")
    parser.add_argument("--out", type=Path, default=Path("near_copies"), help="a folder for the sheets and lists")
    parser.add_argument("--photos", type=int, default=200, help="photos of each root the planted copies are made of")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ["DETKIT_CACHE_DIR"] = ""  # the planted files are temporary: nothing kept for them
    args.out.mkdir(parents=True, exist_ok=True)
    for root in args.root:
        reported_pairs(root, args.out)
        planted(root, args.photos, args.seed)


if __name__ == "__main__":
    main()
