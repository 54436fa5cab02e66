"""A COCO export of images as cameras and exporters write them (mixed sizes, EXIF-turned JPEGs,
16-bit and palette PNGs, greyscale) trains, draws its dev images and is predicted on."""

import json

import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

from detkit.data.formats import load_export
from detkit.training.run import train
from detkit.workflows.options import typed
from detkit.workflows.predict import PredictOptions, predict_images
from tests.conftest import compose_config, compose_train
from tests.exports import camera_image, coco_file


def camera_export(folder, shapes) -> None:
    """``folder``/annotations.json + images/: the shapes images, each saved as cameras write them."""
    entries = [camera_image(shapes, record, folder / "images") for record in shapes.records]
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(shapes.class_names)]
    coco = coco_file(entries, shapes.records, categories, first_id=1)
    (folder / "annotations.json").write_text(json.dumps(coco))


@pytest.mark.slow
def test_an_export_of_camera_images_trains_draws_and_predicts(tmp_path, tiny_shapes, caplog):
    export = tmp_path / "export"
    camera_export(export, tiny_shapes)
    assert {r.width for r in load_export(export).records} == {96, 120, 144}, "sizes mix"
    overrides = ["data=coco", f"data.root={export}", "data.module.batch_size=4", "data.module.num_workers=0"]
    overrides += ["model.image_size=96", "trainer.max_epochs=1", "evaluation.splits=[dev]"]
    overrides += ["callbacks.dev_images.every_n_epochs=1", "callbacks.dev_images.score_threshold=0"]
    run = train(compose_train(tmp_path, overrides, tiny_shapes=False))
    assert set(run.metrics["dev"]) >= {"mAP", "mAP50"}

    events = EventAccumulator(str(run.run_dir / "tensorboard"), size_guidance={IMAGES: 0}).Reload()
    (grid,) = events.Images("dev/images")
    assert grid.height >= 96 and grid.width > 2 * 96, "the dev images of different sizes on one grid"

    whole = (export / "images" / "img001.jpg").read_bytes()
    (export / "images" / "broken.jpg").write_bytes(whole[: len(whole) // 2])  # its header reads, its pixels do not
    out = tmp_path / "predicted"
    options = compose_config("predict/predict", [f"run={run.run_dir}", f"images={export / 'images'}", f"out={out}"])
    predict_images(typed(PredictOptions, options))
    drawn = {p.stem: Image.open(p).size for p in (out / "drawn").glob("*.jpg")}
    assert len(drawn) == len(tiny_shapes), "every image but the broken one"
    assert "broken.jpg" not in (out / "images.json").read_text()
    assert [r.message for r in caplog.records if "broken.jpg" in r.message] == [
        next(r.message for r in caplog.records if r.message.startswith("skipped") and "broken.jpg" in r.message)
    ], "one line for the file that does not decode"
    assert drawn["img001"] == (120, 96) and drawn["img005"] == (144, 120), "a phone photo turned; a larger one"
