import numpy as np
import torch
from PIL import Image

from detkit.data.records import DetectionDataset, Record
from detkit.data.torch_dataset import DetectionImages, collate_detections
from detkit.data.transforms import build_transforms
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
