"""Near copies are alike everywhere: different pictures that share a footer strip, a caption bar,
a watermark, corner marks, letterbox or pillarbox bars or a screenshot's frame are not copies,
and a copy re-encoded, resized, cropped, letterboxed or marked is found. The class is every
overlay real exports share (``OVERLAYS``) and every way a copy is made (``COPY_KINDS``), drawn on
generated scenes with texture; ``benchmarks/near_copies.py`` measures the same on real photos."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from detkit.data.health.duplicates import (
    NEAR_SIMILARITY,
    near_copy_links,
    near_copy_pairs,
    similar_pairs,
    similarity_without_strips,
)
from detkit.data.health.keypoint_check import MIN_COVER, MIN_KEYPOINTS, cover, keypoints_of, one_picture
from detkit.data.health.planted_copies import COPY_KINDS, copy_image
from detkit.data.health.shared_overlays import OVERLAYS, with_overlay
from detkit.data.images.signatures import THUMB_SIDE, signatures, without_flat_borders
from detkit.data.shapes import ShapesParams, ensure_shapes

SCENES = 24
# measured failures, stated in docs/data.md: each xfail turns red once it passes
COPIES_NOT_YET = {
    "corners": "a logo and a timestamp on a smooth scene outweigh its own detail",
}


def cases(kinds: tuple[str, ...], not_yet: dict[str, str]) -> list:
    xfail = {k: pytest.mark.xfail(strict=True, reason=why) for k, why in not_yet.items()}
    return [pytest.param(k, marks=xfail[k]) if k in xfail else k for k in kinds]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> list[Image.Image]:
    """One image of each of `SCENES` generated scenes, half of them textured (detail everywhere)."""
    root = tmp_path_factory.mktemp("near_copies")
    params = ShapesParams(num_scenes=SCENES, images_per_scene=1, image_size=320, seed=5, textured_fraction=0.5)
    dataset = ensure_shapes(root / "shapes", params)
    images = []
    for record in dataset.records:
        with Image.open(dataset.image_path(record)) as opened:
            images.append(opened.convert("RGB"))
    return images


def saved(images: list[Image.Image], folder, name: str) -> list[str]:
    paths = []
    for k, image in enumerate(images):
        paths.append(str(folder / f"{name}_{k}.jpg"))
        image.save(paths[-1], quality=90)
    return paths


def thumbnails(paths: list[str]) -> np.ndarray:
    return np.stack([s.thumbnail for s in signatures(paths)])


def linked(paths: list[str]) -> np.ndarray:
    """Each image's cluster number by `near_copy_links`."""
    first, second, _ = near_copy_links(thumbnails(paths), paths)
    graph = coo_matrix((np.ones(len(first)), (first, second)), shape=(len(paths), len(paths)))
    return connected_components(graph, directed=False)[1]


def test_a_copy_is_one_picture_and_different_pictures_in_one_frame_are_not(scenes, tmp_path):
    picture, other = scenes[:2]
    copy = picture.resize((picture.width * 2 // 3, picture.height * 2 // 3))
    framed = [with_overlay(picture, "frame", "A1"), with_overlay(other, "frame", "B2")]
    blank = Image.new("RGB", picture.size, "grey")
    paths = saved([picture, copy, *framed, blank, blank], tmp_path, "pictures")
    found = [keypoints_of(path) for path in paths]
    assert all(len(k.points) >= MIN_KEYPOINTS for k in found[:4])
    assert cover(found[0], found[1]) >= 0.8, "a resized copy matches across the picture"
    assert cover(found[2], found[3]) < MIN_COVER, "only the frame matches"
    assert np.isnan(cover(found[4], found[5])) and one_picture(found[4], found[5]), "no keypoints: cannot tell"
    assert len(keypoints_of(str(tmp_path / "absent.jpg")).points) == 0


def test_two_pictures_alike_only_in_a_strip_are_not_copies():
    rng = np.random.default_rng(0)
    strip = np.zeros((3, THUMB_SIDE, THUMB_SIDE))
    strip[:, -3:, :] = rng.normal(0, 1, (3, 3, THUMB_SIDE))  # a footer: the bottom rows, strong detail
    picture = strip + 0.2 * rng.normal(0, 1, strip.shape)  # the rest: weaker detail of its own
    first, copy = unit(picture.ravel()), unit((picture + 0.02 * rng.normal(0, 1, strip.shape)).ravel())
    second = unit((strip + 0.2 * rng.normal(0, 1, strip.shape)).ravel())
    pairs = np.stack([first, second, copy])
    assert float(first.astype(np.float32) @ second.astype(np.float32)) >= NEAR_SIMILARITY, "alike as a whole"
    assert similarity_without_strips(pairs[[0]], pairs[[1]])[0] < 0.3, "and not without the strip"
    assert similarity_without_strips(pairs[[0]], pairs[[2]])[0] > 0.9
    found = set(zip(*(a.tolist() for a in near_copy_pairs(pairs)[:2])))
    assert (0, 1) in set(zip(*(a.tolist() for a in similar_pairs(pairs)[:2]))) and found == {(0, 2)}


def unit(values: np.ndarray) -> np.ndarray:
    return (values / np.linalg.norm(values)).astype(np.float16)


def test_copies_already_linked_are_not_compared_again(scenes, tmp_path):
    picture = scenes[0]
    copies = [picture.resize((picture.width * 3 // 4, picture.height * 3 // 4)), picture.rotate(0.5)]
    paths = saved([picture, *copies], tmp_path, "three")
    first, second, _ = near_copy_links(thumbnails(paths), paths)
    assert len(first) == 2 and set(first.tolist()) | set(second.tolist()) == {0, 1, 2}, "two links join three"


def test_no_alike_pairs_no_links():
    first, second, similarity = near_copy_links(np.eye(3, dtype=np.float16), ["a", "b", "c"])
    assert len(first) == len(second) == len(similarity) == 0
    assert similarity_without_strips(np.zeros((0, 3 * THUMB_SIDE**2)), np.zeros((0, 3 * THUMB_SIDE**2))).shape == (0,)


@given(
    band=st.sampled_from(["top", "bottom", "left", "right", "top+bottom", "left+right"]),
    depth=st.floats(0.05, 0.3),
    colour=st.one_of(st.integers(0, 40), st.integers(215, 255)),  # black or white: a bar's colours
    text=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_flat_bands_at_the_edges_are_cut_off_with_their_text(band, depth, colour, text):
    rng = np.random.default_rng(1)
    picture = rng.integers(0, 256, (64, 96, 3)).astype(np.uint8)  # detail everywhere: nothing of it is flat
    pixels = picture.copy()
    rows, cols = round(depth * 64), round(depth * 96)
    cut = {"top": (rows, 0, 0, 0), "bottom": (0, rows, 0, 0), "left": (0, 0, cols, 0), "right": (0, 0, 0, cols)}
    top, bottom, left, right = np.sum([cut[side] for side in band.split("+")], axis=0)
    for area in ((slice(0, top), slice(None)), (slice(64 - bottom, 64), slice(None))):
        pixels[area] = colour
    for area in ((slice(None), slice(0, left)), (slice(None), slice(96 - right, 96))):
        pixels[area] = colour
    if text and top:  # a caption's letters: a quarter of the band's middle row in another colour
        pixels[top // 2, 10:34] = 255 - colour
    trimmed = without_flat_borders(pixels)
    assert trimmed.shape == (64 - top - bottom, 96 - left - right, 3)
    assert np.array_equal(trimmed, picture[top : 64 - bottom, left : 96 - right])


def test_a_picture_of_one_colour_a_deep_bar_or_a_flat_edge_of_its_own_keeps_its_edges():
    assert without_flat_borders(np.full((64, 96, 3), 255, np.uint8)).shape == (64, 96, 3)
    picture = np.random.default_rng(2).integers(0, 256, (64, 96, 3)).astype(np.uint8)
    deep = picture.copy()
    deep[:30] = 0  # 47 % of the height: the picture, not a bar
    sky = picture.copy()
    sky[:10] = (120, 170, 230)  # flat, but neither black nor white: the picture's own
    assert without_flat_borders(deep).shape == without_flat_borders(sky).shape == (64, 96, 3)


@pytest.mark.slow
@pytest.mark.parametrize("kind", OVERLAYS)
def test_different_scenes_with_one_overlay_are_not_copies(kind, scenes, tmp_path):
    rng = np.random.default_rng(3)
    plain = thumbnails(saved(scenes, tmp_path, "plain"))
    alike_already = set(zip(*(a.tolist() for a in similar_pairs(plain, 0.6)[:2])))
    marked = saved([with_overlay(s, kind, f"{int(rng.integers(16**6)):06X}") for s in scenes], tmp_path, kind)
    cluster = linked(marked)
    called = {(i, j) for i in range(len(scenes)) for j in range(i + 1, len(scenes)) if cluster[i] == cluster[j]}
    assert not called - alike_already, f"{kind}: different scenes called copies"


@pytest.mark.slow
@pytest.mark.parametrize("kind", cases(COPY_KINDS, COPIES_NOT_YET))
def test_copies_made_every_way_are_found(kind, scenes, tmp_path):
    rng = np.random.default_rng(4)
    images = []
    for scene in scenes:
        copy, quality, _, _ = copy_image(scene, kind, rng)
        buffer_path = tmp_path / f"copy_{len(images)}.jpg"
        copy.save(buffer_path, quality=quality)
        with Image.open(buffer_path) as saved_copy:
            images += [scene, saved_copy.convert("RGB")]
    cluster = linked(saved(images, tmp_path, kind))
    recall = np.mean([cluster[2 * k] == cluster[2 * k + 1] for k in range(len(scenes))])
    assert recall >= 0.9, f"{kind}: {recall:.2f} of the copies found"
