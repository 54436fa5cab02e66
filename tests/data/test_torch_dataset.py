from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from detkit.data.loaders import LoaderOptions
from detkit.data.records import DetectionDataset, Record
from detkit.data.torch_dataset import DetectionImages, collate_detections
from detkit.data.transforms import build_transforms
from detkit.exceptions import ConfigError
from tests.data.test_image_files import save_as_camera


def test_items_follow_torchvisions_target_contract(tiny_shapes):
    images = DetectionImages(tiny_shapes, build_transforms(train=True, seed=0, affine_p=1.0))
    for index in range(len(images)):
        image, target = images[index]
        assert image.dtype == torch.float32 and image.shape == (3, 96, 96)
        assert image.min() >= 0 and image.max() <= 1
        boxes = target["boxes"]
        assert boxes.dtype == torch.float32 and boxes.shape[1] == 4
        assert target["labels"].dtype == torch.int64 and len(target["labels"]) == len(boxes)
        assert (boxes[:, 2:] > boxes[:, :2]).all() and (boxes >= 0).all() and (boxes <= 96).all()


def test_empty_images_and_crowd_regions(tmp_path, tiny_shapes):
    base = tiny_shapes.records[0]
    empty = Record(1, base.file_name, base.width, base.height, annotated=frozenset({0, 2}))
    crowd = Record(
        2,
        base.file_name,
        base.width,
        base.height,
        boxes=[[1, 1, 20, 20], [30, 30, 60, 60]],
        labels=[0, 1],
        iscrowd=[True, False],
    )
    dataset = DetectionDataset(tiny_shapes.root, tiny_shapes.class_names, [empty, crowd])
    images = DetectionImages(dataset, build_transforms(train=False))
    _, target = images[0]
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)
    assert target["annotated"].tolist() == [True, False, True, False], "class 1 and 3 unknown here"
    _, target = images[1]
    assert target["labels"].tolist() == [1], "crowd regions are for the evaluator, not for training"
    assert target["annotated"].all(), "no annotated set: every class labelled"
    batch = collate_detections([images[0], images[1]])
    assert isinstance(batch[0], list) and len(batch[1]) == 2


def test_eval_transform_leaves_pixels_and_boxes_alone(tiny_shapes):
    record = tiny_shapes.records[0]
    image, target = DetectionImages(tiny_shapes, build_transforms(train=False))[0]
    np.testing.assert_allclose(target["boxes"].numpy(), record.boxes, atol=1e-4)
    pixels = np.asarray(Image.open(tiny_shapes.image_path(record)), dtype=np.float32) / 255
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), pixels, atol=1e-6)


def test_large_training_photos_are_read_shrunk_with_their_boxes(tmp_path, tiny_shapes):
    """A 4x photo turned by EXIF, read at the model's 96 px: the pixels a plain read would give
    shrunk, the boxes still on their objects (before: decoded and augmented at full size)."""
    record = tiny_shapes.records[0]
    picture = Image.open(tiny_shapes.image_path(record)).convert("RGB").resize((512, 384))
    save_as_camera(picture, tmp_path / "photo.jpg", 6, quality=95)
    scale = np.array([512 / 96, 384 / 96, 512 / 96, 384 / 96], np.float32)
    large = Record(1, "photo.jpg", 512, 384, record.boxes * scale, record.labels)
    dataset = DetectionDataset(tmp_path, tiny_shapes.class_names, [large])
    image, target = DetectionImages(dataset, None, shorter_side=96)[0]
    assert image.shape == (3, 96, 128), "shorter side 96, aspect kept, as shown (EXIF applied)"
    np.testing.assert_allclose(target["boxes"].numpy(), record.boxes * [128 / 96, 1, 128 / 96, 1], rtol=1e-5)
    whole, _ = DetectionImages(dataset)[0]
    shrunk = torch.nn.functional.interpolate(whole[None], size=(96, 128), mode="area")[0]
    assert (image - shrunk).abs().mean() < 0.02, "the same picture"


COLOURS = [(230, 20, 20), (20, 230, 20), (20, 20, 230)]  # one per class


def _boxes_in_their_colours(folder, count: int = 8) -> DetectionDataset:
    """``count`` grey 120x90 images, each with one box per class filled with the class's colour at
    a random place in its own third of the width: wherever a box lands, its pixels say its class."""
    rng = np.random.default_rng(0)
    records = []
    for index in range(count):
        pixels = np.full((90, 120, 3), 128, np.uint8)
        boxes = []
        for label, colour in enumerate(COLOURS):
            side = int(rng.integers(14, 30))
            x0, y0 = label * 40 + int(rng.integers(0, 40 - side)), int(rng.integers(0, 90 - side))
            pixels[y0 : y0 + side, x0 : x0 + side] = colour
            boxes.append([x0, y0, x0 + side, y0 + side])
        Image.fromarray(pixels).save(folder / f"{index}.png")
        records.append(Record(index, f"{index}.png", 120, 90, boxes, [0, 1, 2]))
    return DetectionDataset(folder, ["red", "green", "blue"], records)


def test_mosaics_are_squares_of_several_images_whose_boxes_stay_on_their_objects(tmp_path):
    """mosaic=1 at 60 px: each item a 60 px square; every box inside it holds its class's colour
    (the boxes followed the pixels through the grid, the cut and the flips), objects at the scale
    the detector sees them (the image fitted in 60 x 60: half size), and more boxes than any one
    image has, so other images were mixed in."""
    dataset = _boxes_in_their_colours(tmp_path)
    transform = build_transforms(train=True, mosaic=1.0, mosaic_size=60, color=0.0, seed=0)
    images = DetectionImages(dataset, transform, shorter_side=60)
    counts, sides = [], []
    for index in range(len(images)):
        image, target = images[index]
        assert image.shape == (3, 60, 60)
        pixels = image.permute(1, 2, 0).numpy() * 255
        for (x0, y0, x1, y1), label in zip(target["boxes"].round().int().tolist(), target["labels"].tolist()):
            inside = pixels[y0:y1, x0:x1].reshape(-1, 3).mean(0)
            assert np.abs(inside - COLOURS[label]).max() < 40, f"item {index}: a class-{label} box over {inside}"
        boxes = target["boxes"].numpy()
        sides += list(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))
        counts.append(len(boxes))
    assert max(counts) > 3, "a mosaic holds boxes of several images"
    largest = max(max(x1 - x0 for x0, _, x1, _ in record.boxes) for record in dataset.records)
    assert max(sides) <= largest / 2 * 1.25 + 1, "objects at the detector's scale (affine zoom at most 1.25)"


def test_mosaics_repeat_with_their_seed_and_leave_partially_labelled_data_alone(tmp_path, caplog):
    dataset = _boxes_in_their_colours(tmp_path)

    def items(seed: int) -> list[bytes]:
        images = DetectionImages(dataset, build_transforms(train=True, mosaic=1.0, mosaic_size=60, seed=seed), 60)
        return [images[index][0].numpy().tobytes() for index in range(len(images))]

    assert items(0) == items(0) and items(0) != items(1)
    options = LoaderOptions(2, None, 0, {"mosaic": 1.0, "affine_p": 0.0}, 0, 60)
    assert options.loader(dataset, train=True).dataset[0][0].shape == (3, 60, 60)
    dataset.records[0] = replace(dataset.records[0], annotated=frozenset({0, 1, 2}))
    with caplog.at_level("INFO", logger="detkit.data.loaders"):
        loader = options.loader(dataset, train=True)
    assert loader.dataset[0][0].shape == (3, 60, 80), "no mosaic mixes images labelled for different classes"
    assert "data.module.augment.mosaic=1.0 is off" in caplog.text, "and the run says so"
    with pytest.raises(ConfigError, match="read_size"):
        build_transforms(train=True, mosaic=0.5)  # the mosaic's side comes from read_size
