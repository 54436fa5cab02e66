"""The EMA of the weights (callbacks=ema): what is validated, scored, saved and resumed."""

import signal

import lightning as L
import pytest
import torch

from detkit.exceptions import ConfigError, TrainingInterrupted
from detkit.runs.run_dir import RunDir
from detkit.training import run as run_module
from detkit.training.ema import WeightEMA, ramped_ema
from detkit.training.module import DetectionModule
from detkit.training.run import resumed_config, train
from tests.conftest import compose_train
from tests.training.test_interruption import _signal_at

# ramp_updates=1: the decay is near 0.9 from the second update, so the average is far from the weights
EMA = [
    "callbacks=ema",
    "callbacks.ema.decay=0.9",
    "callbacks.ema.ramp_updates=1",
    "callbacks.dev_images.every_n_epochs=0",
]
STEPS = ["trainer.max_epochs=2", "evaluation.splits=[dev,train_dev]"]


class ScoredWeights(L.Callback):
    """Records the detector's weights each time a test (the final scoring) starts."""

    def __init__(self) -> None:
        self.seen: list[dict[str, torch.Tensor]] = []

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seen.append({k: v.clone() for k, v in pl_module.state_dict().items()})


def test_the_decay_ramps_up_from_nothing_to_the_configured_value():
    average = ramped_ema(0.9, ramp_updates=10.0)
    averaged, current = torch.zeros(3), torch.ones(3)
    early = average(averaged, current, torch.tensor(1))
    late = average(averaged, current, torch.tensor(10_000))
    assert torch.allclose(early, torch.full((3,), 1 - 0.9 * (1 - torch.exp(torch.tensor(-0.1)).item())))
    assert torch.allclose(late, torch.full((3,), 0.1))
    counter = torch.tensor([7])  # an integer buffer (batch norm's num_batches_tracked) takes the current count
    assert torch.equal(average(torch.tensor([3]), counter, torch.tensor(5)), counter)


@pytest.mark.parametrize("decay, ramp", [(1.0, 10), (-0.1, 10), (0.9, 0)])
def test_a_decay_outside_its_range_is_refused(decay, ramp):
    with pytest.raises(ConfigError, match=r"callbacks\.ema"):
        WeightEMA(decay=decay, ramp_updates=ramp)


@pytest.mark.slow
def test_checkpoints_hold_the_average_and_the_run_is_scored_and_reopened_with_it(tmp_path, monkeypatch):
    probe, build_trainer = ScoredWeights(), run_module.build_trainer

    def with_probe(*args):
        trainer = build_trainer(*args)
        trainer.callbacks.append(probe)
        return trainer

    monkeypatch.setattr(run_module, "build_trainer", with_probe)
    run = train(compose_train(tmp_path, [*STEPS, *EMA]))
    best = torch.load(run.checkpoint, weights_only=True)
    average, raw = best["state_dict"], best["current_model_state"]
    differ = [k for k, v in average.items() if v.is_floating_point() and not torch.equal(v, raw[k])]
    assert differ, "the average is not the raw weights"
    assert probe.seen, "the final scoring ran"
    for scored in probe.seen:  # train_dev (dev's validation is reused): the average, not the raw weights
        assert all(torch.equal(scored[k], average[k]) for k in differ)
    reopened = RunDir.open(run.run_dir).detector().state_dict()  # evaluate, export, predict, fine-tune read this
    assert all(torch.equal(reopened[k.removeprefix("model.")], average[k]) for k in differ)


@pytest.mark.slow
def test_a_cspdet_run_with_the_average_resumes_bit_identical(tmp_path):
    """Stopped by a signal in its second epoch and resumed: the same weights, average and metrics
    as a run never stopped (CSPDet: detkit's own detector resumes as torchvision's do)."""
    steps = [*STEPS, *EMA, "model=cspdet_n", "model.image_size=96"]
    whole = train(compose_train(tmp_path, steps, out="whole"))
    with pytest.MonkeyPatch.context() as patched:  # stopped in the second epoch's first step
        _signal_at(patched, DetectionModule, "training_step", signal.SIGTERM, lambda m: m.current_epoch == 1)
        with pytest.raises(TrainingInterrupted):
            train(compose_train(tmp_path, steps))
    run = tmp_path / "run"
    again = train(resumed_config(compose_train(tmp_path, [*steps, f"resume={run}"]), []))
    assert again.metrics == whole.metrics
    mine, theirs = (torch.load(r / "checkpoints" / "last.ckpt", weights_only=True) for r in (run, whole.run_dir))
    for part in ("state_dict", "current_model_state", "averaging_state"):
        assert theirs[part].keys() == mine[part].keys()
        assert all(torch.equal(mine[part][k], v) for k, v in theirs[part].items()), part
