"""Fine-tuning from a detkit run: initialisation by config, a frozen backbone, its learning rate."""

import pytest
import torch
from torchvision.models.detection.ssd import SSD

from detkit.exceptions import ConfigError
from detkit.runs.checkpoints import CHECKPOINT_CLASSES
from detkit.training.run import build_datamodule, build_module, train
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


def test_the_default_model_takes_the_detector_of_the_checkpoint_it_starts_from(tmp_path, pretrained):
    # objects of 5-12 px in 96 px images, where model=auto alone would choose CSPDet-n
    small = ["data.module.source.min_object_size=5", "data.module.source.max_object_size=12"]
    alone = compose_train(tmp_path, small)
    build_datamodule(alone)
    assert alone.model.name == "cspdet_n"
    cfg = _finetune(tmp_path, pretrained, *small)
    build_datamodule(cfg)
    assert cfg.model.name == "ssdlite320_mobilenet_v3_large", "the checkpoint's SSDlite"
    module = build_module(cfg)  # its weights load (another architecture is a ConfigError)
    assert isinstance(module.model, SSD)
