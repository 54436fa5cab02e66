"""The run's time budget: each phase's seconds written to <run>/phase_times.json."""

import json
import time

import pytest

from detkit.runs import layout
from detkit.training.run import train
from tests.conftest import compose_train

TIMER = "+callbacks.phase_times={_target_: detkit.training.phase_times.PhaseTimes}"


@pytest.mark.slow
def test_each_phase_of_a_run_is_timed_apart(tmp_path):
    before = time.time()
    run = train(compose_train(tmp_path, [TIMER, "trainer.max_epochs=2", "callbacks.dev_images.every_n_epochs=1"]))
    report = json.loads(layout.report_file(run.run_dir, "phase_times", ".json").read_text())
    seconds = report["seconds"]
    assert set(seconds) == {"sanity check", "training", "validation", "final scoring", "dev images drawn"}
    assert all(value > 0 for value in seconds.values()), seconds
    assert seconds["dev images drawn"] < seconds["validation"], "drawn during validation"
    assert before < report["started"] < time.time()
    phases = sum(seconds.values()) - seconds["dev images drawn"]
    assert phases < time.time() - before, "the phases fit in the run: validation is not counted in training too"
