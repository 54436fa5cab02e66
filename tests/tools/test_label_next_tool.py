"""tools/label_next.py end to end on a trained detector: a pool with fifty copies of one easy
image and a few hard ones, broken files, and bad requests."""

import csv
import json
import shutil

import numpy as np
import pytest

from detkit.analysis.selection import uncertainty
from detkit.data.shapes import ShapesParams, ensure_shapes
from detkit.runs.run_dir import RunDir
from detkit.workflows.label_next import run_on_images

COPIES = 50
HARD = 5


@pytest.fixture(scope="module")
def pool(easy_run, tmp_path_factory):
    """``COPIES`` copies of the dev image the easy run is surest of, ``HARD`` squares on heavily textured
    scenes (a domain the run never saw), a .jpg that is no image; and the run."""
    run = easy_run()
    folder = tmp_path_factory.mktemp("pool")
    opened = RunDir.open(run)
    dev = opened.data.subset("dev")
    found = run_on_images(opened.detector(), dev, 8, "cpu").detections
    best = int(np.argmin(uncertainty([d["scores"] for d in found])))  # the image the detector is surest of
    easy = dev.image_path(dev.records[best])
    for k in range(COPIES):
        shutil.copy(easy, folder / f"frame_{k:03d}.jpg")
    params = ShapesParams(
        classes=("square",),
        num_scenes=HARD,
        images_per_scene=1,
        image_size=160,
        min_object_size=24,
        max_object_size=60,
        textured_fraction=1.0,
        texture_strength=4.0,
        seed=11,
    )
    hard = ensure_shapes(tmp_path_factory.mktemp("hard") / "shapes", params)
    for k, record in enumerate(hard.records):
        shutil.copy(hard.image_path(record), folder / f"hard_{k}.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return run, folder


def ranked(out):
    with open(out / "ranking.csv", newline="") as file:
        return [row["file_name"] for row in csv.DictReader(file)]


@pytest.mark.slow
def test_diversity_takes_one_copy_and_the_hard_images(run_tool_here, pool, tmp_path):
    run, folder = pool
    done = run_tool_here(
        "label_next", f"run={run}", f"pool={folder}", f"budget={HARD}", "strategy=diversity", f"out={tmp_path / 'd'}"
    )
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stdout + done.stderr and "broken.jpg" in done.stdout + done.stderr
    chosen = ranked(tmp_path / "d")
    assert len(chosen) == HARD and sum(name.startswith("frame_") for name in chosen) <= 1, chosen
    prelabels = json.loads((tmp_path / "d" / "prelabels.json").read_text())
    assert [image["file_name"] for image in prelabels["images"]] == chosen
    assert prelabels["categories"] == [{"id": 1, "name": "square"}]
    assert all(a["image_id"] in range(1, HARD + 1) and len(a["bbox"]) == 4 for a in prelabels["annotations"])
    assert (tmp_path / "d" / "selection.png").stat().st_size > 0


@pytest.mark.slow
def test_uncertainty_ranks_the_hard_images_first(run_tool_here, pool, tmp_path):
    run, folder = pool
    done = run_tool_here(
        "label_next", f"run={run}", f"pool={folder}", f"budget={HARD}", "strategy=uncertainty", f"out={tmp_path / 'u'}"
    )
    assert done.returncode == 0, done.stderr
    assert all(name.startswith("hard_") for name in ranked(tmp_path / "u")), ranked(tmp_path / "u")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["budget=1000"], "more than the"),
        (["budget=0"], "budget=0"),
        (["pool=EMPTY"], "no image files"),
        (["strategy=entropy"], "strategy='entropy'"),
    ],
)
def test_bad_requests_are_one_message(run_tool_here, pool, tmp_path, overrides, message):
    run, folder = pool
    (tmp_path / "empty").mkdir()
    given = [o.replace("EMPTY", str(tmp_path / "empty")) for o in overrides]
    defaults = {"pool": f"pool={folder}", "budget": "budget=3"}
    for override in given:
        defaults[override.split("=")[0]] = override
    done = run_tool_here("label_next", f"run={run}", *defaults.values(), f"out={tmp_path / 'o'}")
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.slow
def test_the_default_draws_at_random_and_the_seed_repeats_the_draw(run_tool_here, pool, tmp_path):
    # random is the default: no strategy beat it in benchmarks/selection.py (docs/label_next.md)
    run, folder = pool
    drawn = {}
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        done = run_tool_here(
            "label_next", f"run={run}", f"pool={folder}", "budget=8", f"seed={seed}", f"out={tmp_path / name}"
        )
        assert done.returncode == 0, done.stderr
        assert json.loads((tmp_path / name / "ranking.json").read_text())["strategy"] == "random"
        drawn[name] = ranked(tmp_path / name)
    assert len(drawn["a"]) == 8 and len(set(drawn["a"])) == 8 and "broken.jpg" not in drawn["a"]
    assert drawn["a"] == drawn["b"] and set(drawn["a"]) != set(drawn["c"])
    assert (tmp_path / "a" / "prelabels.json").exists() and (tmp_path / "a" / "selection.png").exists()
