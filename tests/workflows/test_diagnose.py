"""The diagnosis names the problem a run was built to have: each case trained for real.

Spread, measured with ``python -m tests.workflows.diagnosis_margins`` (seeds, OMP_NUM_THREADS 1
and 2; 2-core CPU, 2026-12-01):
- avoidable_bias: named in 6 of 6 runs (seeds 0, 1, 2 at 1 and 2 threads): gap 0.940 to 0.975,
  the runner-up at most 0.487, the interval's lower end at least 0.845.
- data_mismatch (clean training, dev and test at texture_strength 4, scored once, at the end):
  named in 6 of 6 runs (seeds 0, 1, 2 at 1 and 2 threads): gap 0.604 to 0.970, train error at
  most 0.003, the runner-up at most 0.043, the interval's lower end at least 0.485.
  At the old strength 1 the gap was 0.039 to 0.048 and seed 2 named dev overfitting. Validated
  every 4 epochs, the checkpoint dev liked best was sometimes an early one whose clean detector
  had not trained yet (seed 2 at 2 threads: train error 0.52, avoidable bias named): dev is the
  domain the model gets worse at as it fits the clean world, so it now scores the final model.
  A one-ulp change to the training boxes (``x * 320 / 320`` in float32, as a rescale does) moved
  seed 0 at 2 threads from 0.705 to 0.290 (still named; runner-up 0.006, interval low 0.171):
  the trajectory is chaotic, so another CPU's rounding can land anywhere in that range, and the
  bound is half of 0.290.
- variance: named in 6 of 6 runs (seeds 0, 1, 2 at 1 and 2 threads): gap 0.413 to 0.831, the
  runner-up at most 0.318, the lead at least 0.263, the interval's lower end at least 0.203.
  With augmentation really off (``augment={}`` merges into the defaults, so this case has always
  trained with them), seed 0 trained nothing in its 60 steps (train error 0.96), so the case
  keeps the augmentation.
"""

import pytest

from detkit.training.run import train
from detkit.workflows.diagnose import DiagnoseOptions, diagnose_run
from detkit.workflows.options import typed
from tests.conftest import EASY_SHAPES, TRAINING_SEED, compose_config, compose_train

CASES = {
    "avoidable_bias": [  # one optimiser step: far from a human error of 0.02
        "data.module.source.num_scenes=10",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=1",
    ],
    "variance": [  # four training images, many passes over them (with the default augmentation)
        "data.module.source.num_scenes=16",
        "data.module.source.images_per_scene=2",
        "data.module.split.fractions={train: 0.125, train_dev: 0.375, dev: 0.375, test: 0.125}",
        "data.module.batch_size=4",
        "trainer.max_epochs=60",
        "trainer.check_val_every_n_epoch=20",
    ],
    "data_mismatch": [  # dev and test textured; training sees a clean world only
        "data.module.source.num_scenes=40",
        "data.module.source.textured_fraction=0.5",
        "data.module.source.texture_strength=4",
        "data.module.split.dev_test_from=textured",
        "data.module.split.target_in_train=0.0",
        "data.module.split.fractions={train: 0.6, train_dev: 0.2, dev: 0.1, test: 0.1}",
        "trainer.max_epochs=12",
        "trainer.check_val_every_n_epoch=${trainer.max_epochs}",  # the final model scored, not dev's favourite
    ],
}

# Well inside the smallest gap measured (module docstring): half of it or less.
CLEAR_GAP = {"avoidable_bias": 0.4, "variance": 0.2, "data_mismatch": 0.15}


def train_and_diagnose(tmp_path, problem: str, seed: int = TRAINING_SEED) -> dict:
    """Train the run built to have ``problem`` under ``tmp_path`` and diagnose it."""
    run = train(compose_train(tmp_path, [*EASY_SHAPES, *CASES[problem], f"seed={seed}"], tiny_shapes=False))
    cfg = compose_config("diagnose", [f"run={run.run_dir}", "human.error=0.02", "bootstrap.samples=100"])
    return diagnose_run(typed(DiagnoseOptions, cfg))


@pytest.mark.slow
@pytest.mark.parametrize("problem", list(CASES))
def test_the_report_names_the_problem_the_run_was_built_to_have(tmp_path, problem):
    diagnosis = train_and_diagnose(tmp_path, problem)
    errors, gaps = diagnosis["errors"], diagnosis["gaps"]
    assert diagnosis["largest_gap"] == problem, (errors, gaps)
    assert diagnosis["largest_gap_beyond_noise"], diagnosis["gap_details"][problem]
    assert gaps[problem] > CLEAR_GAP[problem], "a clear gap, not a photo finish"
    assert f"Largest gap: {problem.replace('_', ' ')}" in (tmp_path / "run" / "diagnosis.md").read_text()
    if problem == "data_mismatch":  # the data check at the start of training saw dev's shift (AUC 1.00 here)
        assert diagnosis["next_steps"][0].startswith("the data check at the start of training saw it coming: dev")
