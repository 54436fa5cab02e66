"""tools/data_health.py end to end: a Roboflow-style export whose splits share copies of one
upload, a run's splits, and bad input."""

import json
import shutil

import pytest
from PIL import Image

from detkit.data.formats.coco import dataset_to_coco


@pytest.fixture
def roboflow_export(tmp_path, tiny_shapes):
    """tiny_shapes as Roboflow exports COCO (``train/`` and ``valid/``, a json beside the images,
    ``<stem>_jpg.rf.<hash>.jpg`` names); the first two train uploads also have a re-encoded copy
    in valid; one image in valid is not an image, another is cut short after its header."""
    export = tmp_path / "export"
    records = tiny_shapes.records
    parts = {"train": records[:16], "valid": records[16:]}
    leaked = records[:2]
    for split, chosen in parts.items():
        folder = export / split
        folder.mkdir(parents=True)
        subset = tiny_shapes.subset([r.image_id for r in chosen])
        coco = dataset_to_coco(subset)
        for image in coco["images"]:
            name = f"upload{image['id']:03d}_jpg.rf.{image['id']:032x}.jpg"
            shutil.copy(tiny_shapes.root / image["file_name"], folder / name)
            image["file_name"] = name
        if split == "valid":
            for k, record in enumerate(leaked):
                name = f"upload{record.image_id:03d}_jpg.rf.{k + 1:032x}.jpg"
                with Image.open(tiny_shapes.image_path(record)) as original:
                    original.convert("RGB").save(folder / name, quality=60)
                copy = {"id": 1000 + k, "file_name": name, "width": record.width, "height": record.height}
                coco["images"].append(copy)
            (folder / coco["images"][0]["file_name"]).write_bytes(b"not an image")
            cut = folder / coco["images"][1]["file_name"]
            cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
        (folder / "_annotations.coco.json").write_text(json.dumps(coco))
    return export


def test_copies_across_an_exports_splits_are_reported_with_pictures(run_tool_here, roboflow_export, tmp_path):
    out, moved = tmp_path / "report", tmp_path / "moved"
    overrides = [
        "data=auto",
        f"data.root={roboflow_export}",
        f"out={out}",
        f"moved_splits={moved}",
        "model.image_size=96",
    ]
    done = run_tool_here("data_health", *overrides)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "health.json").read_text())
    leaked = [
        {i["file_name"].split("/")[-1].split("_jpg")[0] for i in c["images"]} for c in report["duplicates"]["leaks"]
    ]
    assert {"upload001"} in leaked and {"upload002"} in leaked, leaked
    assert any("span splits" in line for line in report["findings"]) and "span splits" in done.stdout
    assert "upload017" in done.stdout + done.stderr, "the file that is no image is named (left out by the reader)"
    said = done.stdout + done.stderr
    assert "upload018" in said and "cannot be decoded" in said, "the one cut short is named, left out by the reader"
    assert not report["unreadable"], "no image that does not decode reaches the check"
    assert report["splits"]["train"]["images"] > 0 and report["shift"]
    for name in ("health.md", "distributions.png", "leaks.png"):
        assert (out / name).stat().st_size > 0
    manifests = {path.stem: json.loads(path.read_text())["image_ids"] for path in moved.glob("*.json")}
    split_of = {i: name for name, ids in manifests.items() for i in ids}
    for cluster in report["duplicates"]["leaks"]:
        assert len({split_of[image["image_id"]] for image in cluster["images"]}) == 1, "moved to one split"


@pytest.mark.parametrize(
    ("override", "message"),
    [("min_similarity=2", "min_similarity must be in (0, 1]"), ("moved_splits=full", "already holds files")],
)
def test_bad_options_are_one_message(run_tool_here, tmp_path, override, message):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "train.json").write_text("{}")
    done = run_tool_here("data_health", override, f"out={tmp_path / 'report'}", "data.module.source.num_scenes=8")
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.slow
def test_a_runs_splits_and_what_its_leaks_are_worth(run_tool_here, easy_run):
    run = easy_run()
    done = run_tool_here("data_health", f"run={run}")
    assert done.returncode == 0, done.stderr
    report = json.loads((run / "data_health" / "health.json").read_text())
    worth = report["leak_worth"]
    assert worth["metric"] == "mAP50" and worth["dev_images"] == worth["without_train_copies_images"] > 0
    assert worth["all"] == worth["without_train_copies"], (
        "no copies in this run's splits: the same images, the same score"
    )
    assert report["splits"]["train"]["images"] > 0 and report["splits"]["dev"]["images"] == worth["dev_images"]
