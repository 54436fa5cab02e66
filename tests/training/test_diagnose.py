"""The diagnosis names the problem a run was built to have: each case trained for real."""

import pytest

from detkit.training.diagnose import diagnose_run
from detkit.training.run import train
from tests.conftest import compose_config

# One class of large shapes at the model's own 320 px: a detector learns it in a few dozen steps.
EASY_SHAPES = [
    "data.module.source.classes=[square]",
    "data.module.source.min_objects=1",
    "data.module.source.max_objects=2",
    "data.module.source.min_object_size=64",
    "data.module.source.max_object_size=200",
    "evaluation.images.every_n_epochs=0",
]
CASES = {
    "avoidable_bias": [  # one optimiser step: far from a human error of 0.02
        "data.module.source.num_scenes=10",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=1",
    ],
    "variance": [  # four training images, no augmentation, many passes over them
        "data.module.source.num_scenes=16",
        "data.module.source.images_per_scene=2",
        "data.module.split.fractions={train: 0.125, train_dev: 0.375, dev: 0.375, test: 0.125}",
        "data.module.augment={}",
        "data.module.batch_size=4",
        "trainer.max_epochs=60",
        "trainer.check_val_every_n_epoch=20",
    ],
    "data_mismatch": [  # dev and test textured; training sees a clean world only
        "data.module.source.num_scenes=40",
        "data.module.source.textured_fraction=0.5",
        "data.module.split.dev_test_from=textured",
        "data.module.split.target_in_train=0.0",
        "data.module.split.fractions={train: 0.6, train_dev: 0.2, dev: 0.1, test: 0.1}",
        "trainer.max_epochs=12",
        "trainer.check_val_every_n_epoch=4",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("problem", list(CASES))
def test_the_report_names_the_problem_the_run_was_built_to_have(tmp_path, problem):
    paths = [f"paths.output_dir={tmp_path / 'run'}", f"paths.data_dir={tmp_path / 'data'}"]
    run = train(compose_config("train", [*paths, *EASY_SHAPES, *CASES[problem]]))
    cfg = compose_config("diagnose", [f"run={run.run_dir}", "human.error=0.02", "bootstrap.samples=100"])
    diagnosis = diagnose_run(cfg)
    errors, gaps = diagnosis["errors"], diagnosis["gaps"]
    assert diagnosis["largest_gap"] == problem, (errors, gaps)
    assert diagnosis["largest_gap_beyond_noise"], diagnosis["gap_details"][problem]
    assert gaps[problem] > 0.05, "a clear gap, not a photo finish"
    assert f"Largest gap: {problem.replace('_', ' ')}" in (run.run_dir / "diagnosis.md").read_text()
