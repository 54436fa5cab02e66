"""How fast and how right tools/data_health.py finds copies.

  python benchmarks/data_health.py [--images 1000] [--seeds 3]

1. Speed: the image signatures (one reduced decode, the detail thumbnail, the statistics) of
   ``--images`` 640x480 JPEGs, read by every core this process may use and by one, the cache off;
   images/s. The issue's target: 200 images/s on 2 cores.
2. The search for near copies among N thumbnails (every pair; ``similar_pairs``) at 5,000 and
   20,000 images, and what that makes of COCO's 118,287 (every pair: N squared).
3. Right: planted copies across splits of generated shapes (re-encoded, resized, cropped by 2-5 %
   a side), found by the detail thumbnails at ``NEAR_SIMILARITY`` against a 64-bit difference hash
   (dHash, written here as ``imagehash.dhash`` defines it: grey, 9x8, left brighter than right)
   at 4 to 12 bits: recall and precision of the copies' pairs, and how many pairs of different
   scenes each calls copies.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from detkit.data.health.duplicates import NEAR_SIMILARITY, similar_pairs
from detkit.data.health.planted_copies import copies_across_splits
from detkit.data.images import signatures as image_signatures
from detkit.data.images.files import read_rgb
from detkit.data.shapes import ShapesParams, ensure_shapes
from detkit.data.splits.split_data import SplitPlan

FRACTIONS = {"train": 0.7, "train_dev": 0.1, "dev": 0.1, "test": 0.1}
COCO_TRAIN = 118_287


def photos(folder: Path, count: int) -> list[str]:
    """``count`` 640x480 JPEGs (quality 90) cut from generated 640 px shapes."""
    shapes = ensure_shapes(folder / "shapes", ShapesParams(num_scenes=max(1, count // 4), image_size=640, seed=3))
    paths = []
    for record in shapes.records[:count]:
        path = folder / f"photo_{record.image_id:05d}.jpg"
        with Image.open(shapes.image_path(record)) as image:
            image.convert("RGB").crop((0, 80, 640, 560)).save(path, quality=90)
        paths.append(str(path))
    return paths


def speed(paths: list[str]) -> None:
    os.environ["DETKIT_CACHE_DIR"] = ""  # every image decoded
    cores = len(os.sched_getaffinity(0))
    started = time.perf_counter()
    image_signatures.signatures(paths)
    parallel = len(paths) / (time.perf_counter() - started)
    started = time.perf_counter()
    for path in paths:
        image_signatures.signature_of(path)
    single = len(paths) / (time.perf_counter() - started)
    print(f"signatures of {len(paths)} 640x480 JPEGs: {parallel:.0f} images/s on {cores} cores, {single:.0f} on one")


def search_speed() -> None:
    rng = np.random.default_rng(0)
    per_pair = None
    for count in (5_000, 20_000):
        thumbnails = rng.standard_normal((count, 3 * image_signatures.THUMB_SIDE**2)).astype(np.float32)
        thumbnails /= np.linalg.norm(thumbnails, axis=1, keepdims=True)
        started = time.perf_counter()
        similar_pairs(thumbnails.astype(np.float16))
        seconds = time.perf_counter() - started
        per_pair = seconds / (count * count / 2)
        print(f"near-copy search among {count:,} images: {seconds:.1f} s")
    print(f"  so COCO train's {COCO_TRAIN:,} images: about {per_pair * COCO_TRAIN**2 / 2 / 60:.0f} min (every pair)")


def difference_hash(path: str) -> int:
    grey = Image.fromarray(read_rgb(path, image_signatures.REDUCED)).convert("L").resize((9, 8), Image.Resampling.BOX)
    cells = np.asarray(grey, dtype=np.int16)
    return int(np.packbits((cells[:, 1:] > cells[:, :-1]).ravel()).view(">u8")[0])


def rightness(seeds: int) -> None:
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as root:
            params = ShapesParams(num_scenes=150, images_per_scene=4, image_size=320, seed=seed, textured_fraction=0.3)
            dataset = ensure_shapes(Path(root) / "shapes", params)
            data, original_of = copies_across_splits(
                SplitPlan("auto", {"fractions": FRACTIONS}, seed).settle(dataset), 90, seed
            )
            records = data.dataset.records
            position = {r.image_id: k for k, r in enumerate(records)}
            paths = [str(data.dataset.image_path(r)) for r in records]
            copies = {tuple(sorted((position[c], position[o]))) for c, o in original_of.items()}
            group = {r.image_id: r.group for r in records}
            scene = [group[original_of.get(r.image_id, r.image_id)] for r in records]  # a copy: its original's
            thumbnails = np.stack([s.thumbnail for s in image_signatures.signatures(paths)])
            first, second, _ = similar_pairs(thumbnails, NEAR_SIMILARITY)
            print(f"seed {seed}: thumbnails at {NEAR_SIMILARITY}: {_score(first, second, copies, scene)}")
            hashes = np.array([difference_hash(p) for p in paths], dtype=np.uint64)
            bits = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
            for most in (4, 8, 12):
                first, second = np.nonzero(np.triu(bits <= most, 1))
                print(f"seed {seed}: dHash within {most} bits: {_score(first, second, copies, scene)}")


def _score(first: np.ndarray, second: np.ndarray, copies: set[tuple[int, int]], scene: list[str]) -> str:
    found = set(zip(first.tolist(), second.tolist()))
    hits = len(found & copies)
    others = sum(1 for i, j in found - copies if scene[i] != scene[j])
    return f"recall {hits / len(copies):.2f}, {others} pairs of different scenes called copies"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        speed(photos(Path(root), args.images))
    search_speed()
    rightness(args.seeds)


if __name__ == "__main__":
    main()
