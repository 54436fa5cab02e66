"""A training stopped by SIGTERM or SIGINT, wherever the signal lands, says how to continue, and
continuing ends bit-identical to an uninterrupted run (issue 38). The signal is sent by the
process to itself at an exact point (a step, a validation, the final scoring), so that no
timing decides where it lands; tests/tools/test_cli.py sends it from outside, to the tool."""

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from detkit.exceptions import SIGNAL_EXIT_CODES, TrainingInterrupted
from detkit.training import run as run_module
from detkit.training.module import DetectionModule
from detkit.training.run import resumed_config, train
from tests.conftest import compose_train

STEPS = ["trainer.max_epochs=3", "data.module.eval_batch_size=1", "evaluation.splits=[dev,train_dev]"]
STEPS += ["callbacks.dev_images.every_n_epochs=0"]


def _signal_at(monkeypatch, owner: object, name: str, signum: int, when: Callable[[object], bool]) -> None:
    """Send ``signum`` to this process the first time ``owner.name`` is called while ``when(self)``."""
    original = getattr(owner, name)
    sent = []

    def wrapped(self, *args, **kwargs):
        if not sent and when(self):
            sent.append(signum)
            os.kill(os.getpid(), signum)  # SIGINT raises here; Lightning stops on SIGTERM at the step's end
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)


def _before_training(monkeypatch, signum):  # while the data loads, before Lightning runs
    original = run_module.check_partial_label_support

    def wrapped(*args):
        os.kill(os.getpid(), signum)
        return original(*args)

    monkeypatch.setattr(run_module, "check_partial_label_support", wrapped)


POINTS = {
    "before_training": (_before_training, "before training began; nothing was trained: run the same command again"),
    "first_epoch": (
        lambda mp, s: _signal_at(mp, DetectionModule, "training_step", s, lambda m: m.global_step == 1),
        "during epoch 0 (counted from 0), before any epoch finished: start it again with "
        "python tools/train.py resume={run}",
    ),
    "validation": (
        lambda mp, s: _signal_at(mp, DetectionModule, "validation_step", s, lambda m: m.current_epoch == 1),
        "during epoch 1 (counted from 0); {run}/checkpoints/last.ckpt holds the last whole epoch: "
        "continue with python tools/train.py resume={run}",
    ),
    "final_scoring": (
        lambda mp, s: _signal_at(mp, DetectionModule, "test_step", s, lambda m: True),
        "after its last epoch, while scoring the final checkpoint: python tools/train.py resume={run} scores it "
        "and writes metrics.json",
    ),
}


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    return train(compose_train(tmp_path_factory.mktemp("whole"), STEPS))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("point", list(POINTS))
def test_a_signal_anywhere_says_how_to_continue_and_continuing_is_bit_identical(
    whole, tmp_path, monkeypatch, point, signum
):
    send, where = POINTS[point]
    run = tmp_path / "run"
    with monkeypatch.context() as patched:
        send(patched, signum)
        with pytest.raises(TrainingInterrupted) as stopped:
            train(compose_train(tmp_path, STEPS))
    name = signal.Signals(signum).name
    assert str(stopped.value) == f"training interrupted by {name} " + where.format(run=run)
    assert stopped.value.exit_code == SIGNAL_EXIT_CODES[name] == 128 + signum
    assert not (run / "metrics.json").exists() and not (run / ".lock").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "Ctrl+C works again"

    if point == "before_training":  # the same command again
        again = train(compose_train(tmp_path, STEPS))
    else:
        again = train(resumed_config(compose_train(tmp_path, [*STEPS, f"resume={run}"]), []))
    assert again.metrics == whole.metrics
    _assert_same_weights(run, whole.run_dir)


def _assert_same_weights(run: Path, reference: Path) -> None:
    mine, theirs = (torch.load(r / "checkpoints" / "last.ckpt", weights_only=True) for r in (run, reference))
    assert mine["global_step"] == theirs["global_step"] and mine["epoch"] == theirs["epoch"]
    for key, value in theirs["state_dict"].items():
        assert torch.equal(mine["state_dict"][key], value), key
