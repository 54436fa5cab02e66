"""Fine-tuning from a detkit run: initialisation by config, a frozen backbone, its learning rate."""

import pytest
import torch

from detkit.exceptions import ConfigError
from detkit.training.checkpoints import CHECKPOINT_CLASSES
from detkit.training.run import build_module, train
from tests.conftest import compose_train

SHORT = ["+trainer.limit_train_batches=2", "evaluation.splits=[dev]"]


def _model_state(checkpoint):
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return {k.removeprefix("model."): v for k, v in state["state_dict"].items()}, state


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A short run on the four default classes: the checkpoint others start from."""
    tmp = tmp_path_factory.mktemp("domain_a")
    return train(compose_train(tmp, [*SHORT, "trainer.max_epochs=1"])).checkpoint


def _finetune(tmp_path, pretrained, *overrides, epochs=1):
    other_classes = [f"data.module.source.root={tmp_path / 'b'}", "data.module.source.classes=[hexagon,circle]"]
    init = f"init.checkpoint={pretrained}"
    return compose_train(tmp_path, [*SHORT, f"trainer.max_epochs={epochs}", *other_classes, init, *overrides])


@pytest.mark.slow
def test_frozen_backbone_keeps_every_tensor_while_the_head_trains(tmp_path, pretrained):
    run = train(_finetune(tmp_path, pretrained, "finetune.freeze=backbone"))

    before, source = _model_state(pretrained)
    after, checkpoint = _model_state(run.checkpoint)
    assert source[CHECKPOINT_CLASSES] == ["circle", "square", "triangle", "star"]
    assert checkpoint[CHECKPOINT_CLASSES] == ["hexagon", "circle"]
    backbone = [k for k in after if k.startswith("backbone.")]
    assert any("running_mean" in k for k in backbone), "batch-norm statistics are checked too"
    assert all(torch.equal(after[k], before[k]) for k in backbone)
    head = [k for k in after if k.startswith("head.regression_head")]
    assert head and any(not torch.equal(after[k], before[k]) for k in head), "the head trained"


@pytest.mark.slow
def test_backbone_released_at_its_epoch_learns_at_its_own_rate(tmp_path, pretrained):
    overrides = ["finetune.freeze=backbone", "finetune.unfreeze_epoch=1", "finetune.backbone_lr_multiplier=0.1"]
    run = train(_finetune(tmp_path, pretrained, *overrides, epochs=2))

    before, _ = _model_state(pretrained)
    after, checkpoint = _model_state(run.run_dir / "checkpoints" / "last.ckpt")
    assert checkpoint["epoch"] == 1, "last.ckpt is the last epoch's, also when it is not the best"
    assert any(not torch.equal(after[k], before[k]) for k in after if k.startswith("backbone.") and "weight" in k)
    head_group, backbone_group = checkpoint["optimizer_states"][0]["param_groups"]
    assert backbone_group["lr"] == pytest.approx(0.1 * head_group["lr"])


@pytest.mark.slow
def test_impossible_finetune_values_are_config_errors(tmp_path, pretrained):
    with pytest.raises(ConfigError, match=r"finetune\.freeze='head'"):
        build_module(compose_train(tmp_path, ["finetune.freeze=head"]))
    with pytest.raises(ConfigError, match=r"needs finetune\.freeze=backbone"):
        build_module(compose_train(tmp_path, ["finetune.unfreeze_epoch=2"]))
    ddp = ["trainer=ddp_cpu", "finetune.freeze=backbone", "finetune.unfreeze_epoch=1"]
    with pytest.raises(ConfigError, match="DDP cannot follow"):
        build_module(compose_train(tmp_path, ddp))
    with pytest.raises(ConfigError, match=r"but none are given: add init\.checkpoint"):
        train(compose_train(tmp_path / "none", ["+trainer.fast_dev_run=true", "+init.class_map.hexagon=circle"]))
    with pytest.raises(ConfigError, match=r"init\.class_map maps data classes.*\['disc'\]"):
        train(_finetune(tmp_path / "unknown", pretrained, "+trainer.fast_dev_run=true", "+init.class_map.disc=circle"))
