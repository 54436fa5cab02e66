"""Shared fixtures: tiny generated datasets and composed configs, all under tmp paths."""

from __future__ import annotations

import os
import socket
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # before torch loads: one thread a worker, every run alike
    # Under pytest-xdist each worker (and every tool it starts) trains on one thread: two workers
    # fill two cores, and a run and the run it is compared with bit for bit (a resumed one) train
    # on the same thread count, where detkit would otherwise give each the cores it finds idle.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from detkit.data.shapes import ShapesParams, ensure_shapes
from detkit.training.launch import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
# The seed of every run the tests train (0 in CI). Another value, with OMP_NUM_THREADS=1 or 2,
# checks that no assertion hangs on one training trajectory (README, "Tests").
TRAINING_SEED = int(os.environ.get("DETKIT_TEST_SEED", "0"))

TINY_SHAPES = ShapesParams(
    num_scenes=8,
    images_per_scene=3,
    image_size=96,
    min_objects=1,
    max_objects=3,
    min_object_size=12,
    max_object_size=64,
)
TINY_SHAPES_OVERRIDES = [
    "data.module.source.num_scenes=8",
    "data.module.source.images_per_scene=3",
    "data.module.source.image_size=96",
    "data.module.source.max_objects=3",
    "data.module.source.min_object_size=12",
    "data.module.source.max_object_size=64",
    "data.module.batch_size=4",
    "model.image_size=96",
]

# One class of large shapes at the model's own 320 px: a detector usually learns it in under 100 steps.
EASY_SHAPES = [
    "data.module.source.classes=[square]",
    "data.module.source.min_objects=1",
    "data.module.source.max_objects=2",
    "data.module.source.min_object_size=64",
    "data.module.source.max_object_size=200",
    "callbacks.dev_images.every_n_epochs=0",
]


# EASY_SHAPES at 160 px, half train, half dev, 40 epochs (about 200 steps): SSDlite's dev mAP50
# was 0.93 / 0.99 / 0.42 for seeds 0 / 1 / 2 after 30 epochs, seed 2 0.86 after 40 (2-core CPU,
# 2026-12-03; about 40 s); FCOS MobileNet 0.99 (seed 0, 30 epochs).
EASY_AT_160 = [
    *EASY_SHAPES,
    "data.module.source.num_scenes=20",
    "data.module.source.image_size=160",
    "data.module.source.min_object_size=32",
    "data.module.source.max_object_size=100",
    "model.image_size=160",
    "data.module.split.fractions={train: 0.5, train_dev: 0, dev: 0.5, test: 0}",
    "evaluation.splits=[dev]",
    "trainer.max_epochs=40",
    "trainer.check_val_every_n_epoch=${trainer.max_epochs}",
]


@pytest.fixture(scope="session")
def easy_run(tmp_path_factory: pytest.TempPathFactory):
    """``easy_run(model)``: the run directory of ``model`` (a configs/model name) trained on
    `EASY_AT_160` in this process, once per test session; its data is ``<run>/../data``."""
    from detkit.training.run import train  # Lightning: only for the tests that train

    runs: dict[str, Path] = {}

    def run(model: str = "ssdlite320_mobilenet_v3_large") -> Path:
        if model not in runs:
            folder = tmp_path_factory.mktemp(model)
            cfg = compose_train(folder, [*EASY_AT_160, f"model={model}"], tiny_shapes=False, out="easy")
            runs[model] = train(cfg).run_dir
        return runs[model]

    return run


@pytest.fixture(autouse=True)
def own_cache_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's caches (the readers', `detkit.data.formats.read_cache`) in a folder of its own,
    never the user's."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("DETKIT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_shapes(tmp_path_factory: pytest.TempPathFactory):
    """24 images of 96 px in 8 scenes, generated once per test session."""
    root = tmp_path_factory.mktemp("data") / "shapes"
    return ensure_shapes(root, TINY_SHAPES)


def compose_config(config_name: str, overrides: list[str] = ()) -> DictConfig:
    """``configs/<config_name>.yaml`` composed with ``overrides``, as its tool would (a name with
    a folder, ``predict/predict``, from that folder, as tools/predict.py composes it)."""
    register_resolvers()
    folder, _, config_name = config_name.rpartition("/")
    with initialize_config_dir(config_dir=str(CONFIGS / folder), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))


def compose_train(
    tmp_path: Path, overrides: list[str] = (), tiny_shapes: bool = True, config_name: str = "train", out: str = "run"
) -> DictConfig:
    """``configs/train.yaml`` (or a config built on it) composed as tools/train.py would, writing
    to ``tmp_path / out`` (on tiny shapes data unless ``tiny_shapes`` is false)."""
    base = [f"paths.output_dir={tmp_path / out}", f"paths.data_dir={tmp_path / 'data'}", f"seed={TRAINING_SEED}"]
    base += [f"data_seed={TRAINING_SEED}"]  # the tests' seed draws the data and splits too
    base += TINY_SHAPES_OVERRIDES if tiny_shapes else []
    return compose_config(config_name, [*base, *overrides])


def run_config(class_names=("cat", "dog"), **sections) -> dict:
    """The smallest config.yaml a run folder may hold (`detkit.runs.schema`), with
    ``sections`` merged over it: for tests that make run folders by hand."""
    source = {"_target_": "detkit.data.shapes.load_shapes", "_partial_": True}
    data = {"name": "shapes", "class_names": list(class_names), "module": {"source": source, "batch_size": 2}}
    model = {"name": "ssdlite320_mobilenet_v3_large", "image_size": 64}
    config = {"seed": 0, "data": data, "model": model, "evaluation": {"backend": "pycocotools"}, "trainer": {}}
    for name, section in sections.items():
        config[name] = {**config.get(name, {}), **section}
    return config


def noisy_detections(ground_truth: dict, category_ids: list[int], seed: int = 0) -> list[dict]:
    """COCO results for ``ground_truth``: near-misses of every box (a fifth with a random
    class) and a stray box of every class on every image, with random scores."""
    rng = np.random.default_rng(seed)
    detections = []
    for image in ground_truth["images"]:
        truth = [a for a in ground_truth["annotations"] if a["image_id"] == image["id"]]
        for ann in truth:
            x, y, w, h = (np.asarray(ann["bbox"]) + rng.normal(0, 4, 4)).tolist()
            category = ann["category_id"] if rng.random() < 0.8 else int(rng.choice(category_ids))
            detections.append(_detection(image["id"], category, [x, y, max(w, 1), max(h, 1)], float(rng.random())))
        for category in category_ids:
            x, y = rng.uniform(0, 60, 2).tolist()
            detections.append(_detection(image["id"], category, [x, y, 20, 20], float(rng.random())))
    return detections


def _detection(image_id: int, category: int, bbox: list[float], score: float) -> dict:
    return {"image_id": image_id, "category_id": category, "bbox": bbox, "score": score}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a rendezvous or a store)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
