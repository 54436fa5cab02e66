"""A COCO export of images as cameras and exporters write them (mixed sizes, EXIF-turned JPEGs,
16-bit and palette PNGs, greyscale) trains, draws its dev images and is predicted on."""

import json

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

from detkit.data.formats import load_coco_folder
from detkit.training.predict import predict_images
from detkit.training.run import train
from tests.conftest import compose_config, compose_train
from tests.data.test_image_files import save_as_camera


def camera_export(folder, shapes) -> None:
    """``folder``/annotations.json + images/: the shapes images, each saved one of four ways."""
    (folder / "images").mkdir(parents=True)
    images, annotations = [], []
    for index, record in enumerate(shapes.records):
        picture = Image.open(shapes.image_path(record)).convert("RGB")
        boxes = record.boxes.copy()
        kind = index % 4
        if kind == 0:  # a larger landscape image: every size differs from the others
            picture = picture.resize((144, 120))
            boxes *= [144 / 96, 120 / 96, 144 / 96, 120 / 96]
            name = f"{index}_large.jpg"
            picture.save(folder / "images" / name, quality=95)
        elif kind == 1:  # a phone photo: stored unturned, shown (and annotated) turned
            picture = picture.resize((120, 96))
            boxes *= [120 / 96, 1, 120 / 96, 1]
            name = f"{index}_phone.jpg"
            save_as_camera(picture, folder / "images" / name, 6, quality=95)
        elif kind == 2:  # 16-bit greyscale
            name = f"{index}_depth.png"
            grey = np.asarray(picture.convert("L")).astype(np.uint16) * 257
            Image.fromarray(grey).save(folder / "images" / name)
        else:  # a palette with a transparent entry
            name = f"{index}_palette.png"
            picture.convert("P").save(folder / "images" / name, transparency=0)
        images.append({"id": record.image_id, "file_name": name, "width": picture.width, "height": picture.height})
        for box, label in zip(boxes.tolist(), record.labels.tolist()):
            x1, y1, x2, y2 = box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": record.image_id,
                    "category_id": label + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(shapes.class_names)]
    coco = {"images": images, "annotations": annotations, "categories": categories}
    (folder / "annotations.json").write_text(json.dumps(coco))


@pytest.mark.slow
def test_an_export_of_camera_images_trains_draws_and_predicts(tmp_path, tiny_shapes):
    export = tmp_path / "export"
    camera_export(export, tiny_shapes)
    assert {r.width for r in load_coco_folder(export).records} == {96, 120, 144}, "sizes mix"
    overrides = ["data=coco", f"data.root={export}", "data.module.batch_size=4", "data.module.num_workers=0"]
    overrides += ["model.image_size=96", "trainer.max_epochs=1", "evaluation.splits=[dev]"]
    overrides += ["evaluation.images.every_n_epochs=1", "evaluation.images.score_threshold=0"]
    run = train(compose_train(tmp_path, overrides, tiny_shapes=False))
    assert set(run.metrics["dev"]) >= {"mAP", "mAP50"}

    events = EventAccumulator(str(run.run_dir / "tensorboard"), size_guidance={IMAGES: 0}).Reload()
    (grid,) = events.Images("dev/images")
    assert grid.height >= 96 and grid.width > 2 * 96, "the dev images of different sizes on one grid"

    out = tmp_path / "predicted"
    predict_images(compose_config("predict", [f"run={run.run_dir}", f"images={export / 'images'}", f"out={out}"]))
    drawn = {p.stem: Image.open(p).size for p in (out / "drawn").glob("*.jpg")}
    assert len(drawn) == len(tiny_shapes)
    assert drawn["1_phone"] == (120, 96) and drawn["0_large"] == (144, 120)
