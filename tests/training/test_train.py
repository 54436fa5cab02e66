"""Training end to end with real components on tiny generated data."""

import json
from functools import partial

import pytest
import torch
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from detkit.data.loaders import LoaderOptions
from detkit.exceptions import ConfigError, TrainingError
from detkit.models import build_detector
from detkit.runs.run_dir import RunDir
from detkit.training.checkpoint_io import AtomicCheckpointIO
from detkit.training.module import DetectionModule
from detkit.training.run import build_datamodule, build_module, build_trainer, resumed_config, train
from detkit.workflows.evaluate import evaluate_run
from tests.conftest import TRAINING_SEED, compose_config, compose_train


def test_fast_dev_run_trains_and_evaluates(tmp_path):
    cfg = compose_train(tmp_path, ["+trainer.fast_dev_run=true"])
    metrics = train(cfg).metrics
    assert set(metrics) == {"train_dev", "dev"} and {"mAP", "mAP50", "AR100", "AP/circle"} <= set(metrics["dev"])
    run = tmp_path / "run"
    assert json.loads((run / "metrics.json").read_text()) == {**metrics, "splits": "resplit"}
    assert (run / "config.yaml").is_file()


@pytest.mark.slow
def test_a_run_saved_before_the_module_and_callbacks_were_configs_resumes(tmp_path):
    train(compose_train(tmp_path, ["trainer.max_steps=1", "evaluation.splits=[dev]"]))
    saved = OmegaConf.load(tmp_path / "run" / "config.yaml")
    del saved["module"], saved["callbacks"], saved.finetune["_target_"]
    OmegaConf.save(saved, tmp_path / "run" / "config.yaml")
    resumed = resumed_config(compose_train(tmp_path, [f"resume={tmp_path / 'run'}"]), ["trainer.max_steps=2"])
    module = build_module(resumed)
    assert module.finetune.freeze == "none" and module.partial_labels_loss == "gated"
    assert [type(c).__name__ for c in build_trainer(resumed, tmp_path / "run").callbacks].count("DevImageLogger") == 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fast_dev_run_on_a_gpu_with_mixed_precision(tmp_path):
    """trainer=gpu: one device, 16-bit mixed precision; the losses stay finite and the run is scored."""
    run = train(compose_train(tmp_path, ["trainer=gpu", "+trainer.fast_dev_run=true"]))
    assert run.metrics["dev"]["mAP"] >= 0.0 and (tmp_path / "run" / "config.yaml").is_file()
    assert "16-mixed" in (tmp_path / "run" / "config.yaml").read_text()


@pytest.mark.slow
def test_loss_falls_on_a_tiny_overfit_set(tiny_shapes):
    """Measured (2026-12-01): the last five losses are 0.0022-0.0025 of the first five, over seeds
    0, 1, 2 at OMP_NUM_THREADS 1 and 2; the bound is 0.5."""
    torch.manual_seed(TRAINING_SEED)
    model = build_detector("ssdlite320_mobilenet_v3_large", tiny_shapes.num_classes, 96, batch_norm_momentum=0.1)
    module = DetectionModule(model, partial(torch.optim.AdamW, lr=3e-3))
    batch = next(iter(LoaderOptions(4, None, 0, {}, TRAINING_SEED, None).loader(tiny_shapes)))
    optimizer = module.configure_optimizers()["optimizer"]
    module.model.train()
    losses = []
    for _ in range(40):
        loss = sum(module.loss_terms(batch).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses


@pytest.mark.slow
def test_an_epoch_that_would_end_in_a_batch_of_one_image_trains(tmp_path):
    """SSDlite's last layers see 1x1 features: batch norm raised on a final batch of one image
    (found with seed 1, whose split left one image over on each of 2 processes)."""
    num_train = len(build_datamodule(compose_train(tmp_path)).data.subset("train"))
    batch = [f"data.module.batch_size={num_train - 1}", "trainer.max_epochs=1", "evaluation.splits=[dev]"]
    run = train(compose_train(tmp_path, [*batch, "callbacks.dev_images.every_n_epochs=0"]))
    assert torch.load(run.run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 1


@pytest.mark.slow
def test_resume_continues_a_run_from_its_last_checkpoint(tmp_path):
    first = compose_train(
        tmp_path, ["trainer.max_epochs=1", "model.batch_norm_momentum=0.2", "trainer.log_every_n_steps=1"]
    )
    train(first)
    run = tmp_path / "run"
    before = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    resumed = compose_train(tmp_path, [f"resume={run}"])  # the defaults: another model, 6 epochs ...
    train(resumed_config(resumed, [f"resume={run}", "trainer.max_epochs=2"]))  # ... but the run's own config
    after = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert after["global_step"] == 2 * before["global_step"]
    runs = []  # the training steps each process logged, in the order the processes ran
    for events in sorted(
        (run / "tensorboard").glob("events.out.tfevents.*"),
        key=lambda p: (int(p.name.split(".")[3]), int(p.name.split(".")[-1])),
    ):
        accumulator = EventAccumulator(str(events)).Reload()
        if "train/loss" in accumulator.Tags()["scalars"]:
            runs.append([e.step for e in accumulator.Scalars("train/loss")])
    assert len(runs) == 2
    steps = runs[1]
    assert steps and min(steps) >= before["global_step"], "the resumed process trained only the new epoch"
    assert RunDir.open(run).config.model.batch_norm_momentum == 0.2, "the run kept its own config"


@pytest.mark.slow
def test_resume_refuses_to_switch_config_groups(tmp_path):
    train(compose_train(tmp_path, ["trainer.max_steps=1", "evaluation.splits=[dev]"]))
    resumed = compose_train(tmp_path, [f"resume={tmp_path / 'run'}"])
    with pytest.raises(ConfigError, match="model=fcos_resnet50_fpn"):
        resumed_config(resumed, ["model=fcos_resnet50_fpn"])
    assert resumed_config(resumed, ["trainer.max_epochs=3"]).trainer.max_epochs == 3


@pytest.mark.slow
def test_partial_labels_need_a_detector_whose_loss_can_leave_classes_out(tmp_path):
    hidden = ["+trainer.fast_dev_run=true", "data.module.source.hidden_label_fraction=0.5"]
    with pytest.raises(ConfigError, match=r"labelled for only some classes.*loss.partial_labels=naive"):
        train(compose_train(tmp_path / "ssd", hidden))
    naive = train(compose_train(tmp_path / "naive", [*hidden, "loss.partial_labels=naive"]))
    masked = train(
        compose_train(tmp_path / "masked", [*hidden, "model=retinanet_resnet50_fpn_v2", "model.image_size=96"])
    )
    assert "mAP" in naive.metrics["dev"] and "mAP" in masked.metrics["dev"]
    assert masked.steps == naive.steps == 1  # fast_dev_run: Lightning writes no checkpoint
    with pytest.raises(ConfigError, match=r"labelled for only some classes"):
        train(compose_train(tmp_path / "ssd_gated", [*hidden, "loss.partial_labels=gated"]))
    with pytest.raises(ConfigError, match="partial_labels_gate"):
        train(compose_train(tmp_path / "bad_gate", [*hidden, "loss.partial_labels_gate=1.5"]))


@pytest.mark.slow
def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    finite = DetectionModule.loss_terms

    def poisoned(self, batch):
        losses = finite(self, batch)
        if self.current_epoch == 1:
            losses["bbox_regression"] = losses["bbox_regression"] * float("nan")
        return losses

    monkeypatch.setattr(DetectionModule, "loss_terms", poisoned)
    cfg = compose_train(tmp_path, ["trainer.max_epochs=3", "callbacks.dev_images.every_n_epochs=0"])
    with pytest.raises(TrainingError, match=r"non-finite training loss at step \d+ \(epoch 1\): bbox_regression=nan"):
        train(cfg)
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0, "the checkpoint of the last good epoch, not overwritten"
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())


def test_a_non_finite_loss_before_any_checkpoint_does_not_point_to_one(tmp_path, monkeypatch):
    finite = DetectionModule.loss_terms

    def poisoned(self, batch):
        losses = finite(self, batch)
        losses["classification"] = losses["classification"] * float("inf")
        return losses

    monkeypatch.setattr(DetectionModule, "loss_terms", poisoned)
    cfg = compose_train(tmp_path, ["trainer.max_epochs=1", "callbacks.dev_images.every_n_epochs=0"])
    with pytest.raises(TrainingError, match=r"step 0 .*no checkpoint was written yet") as raised:
        train(cfg)
    assert "checkpoints are in" not in str(raised.value), "before: named a folder that did not exist"


def test_checkpoints_are_replaced_whole_or_not_at_all(tmp_path):
    checkpoint_io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    checkpoint_io.save_checkpoint({"global_step": 1}, path)
    with pytest.raises(Exception, match="pickle"):
        checkpoint_io.save_checkpoint({"global_step": 2, "not saveable": lambda: None}, path)
    assert torch.load(path, weights_only=True) == {"global_step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"], "no temp file left behind"


@pytest.mark.slow
def test_an_iteration_budget_that_ends_before_validation_leaves_a_best_checkpoint(tmp_path):
    """Detectron2 users think in steps: 2 steps end inside the first epoch (5 batches), before any
    validation; best.ckpt must still be there, scored, for every tool (before: only last.ckpt)."""
    cfg = compose_train(tmp_path, ["trainer.max_steps=2", "trainer.limit_val_batches=1", "evaluation.splits=[dev]"])
    run = train(cfg)
    assert run.steps == 2 and run.checkpoint == tmp_path / "run" / "checkpoints" / "best.ckpt"
    assert run.checkpoint.is_file() and set(run.metrics) == {"dev"}
    metrics = evaluate_run(RunDir.open(run.run_dir), "dev", compose_config("evaluate").trainer)
    assert metrics["mAP"] == pytest.approx(run.metrics["dev"]["mAP"])


@pytest.mark.slow
def test_the_last_validation_is_not_repeated_when_it_scored_the_best_checkpoint(tmp_path):
    """One epoch: best.ckpt holds the weights its validation scored, so the final dev metrics are
    that validation's (one dev pass in the events, not two), and equal a fresh scoring of
    best.ckpt; train_dev is still scored."""
    run = train(compose_train(tmp_path, ["trainer.max_epochs=1"]))
    events = EventAccumulator(str(run.run_dir / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    assert len(events.Scalars("dev/mAP")) == 1 and len(events.Scalars("train_dev/mAP")) == 1
    fresh = evaluate_run(RunDir.open(run.run_dir), "dev", compose_config("evaluate").trainer)
    assert fresh == pytest.approx(run.metrics["dev"], abs=1e-12)
    assert json.loads((run.run_dir / "metrics.json").read_text())["dev"] == run.metrics["dev"]


@pytest.mark.slow
def test_a_validation_of_part_of_dev_is_scored_again_in_full(tmp_path):
    overrides = ["trainer.max_epochs=1", "trainer.limit_val_batches=1", "data.module.eval_batch_size=1"]
    run = train(compose_train(tmp_path, [*overrides, "evaluation.splits=[dev]"]))
    events = EventAccumulator(str(run.run_dir / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    assert len(events.Scalars("dev/mAP")) == 2, "the one-batch validation, then the whole split"
    fresh = evaluate_run(RunDir.open(run.run_dir), "dev", compose_config("evaluate").trainer)
    assert fresh == pytest.approx(run.metrics["dev"], abs=1e-12)
