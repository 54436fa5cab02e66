"""tools/compare_transfer.py's logic: the same config from a checkpoint and from scratch."""

import json

import pytest
import torch

from detkit.exceptions import ConfigError
from detkit.runs.run_dir import RunDir
from detkit.training.run import train
from detkit.workflows.compare_transfer import compare_transfer
from tests.conftest import compose_train

SHORT = ["+trainer.limit_train_batches=2", "evaluation.splits=[dev]", "callbacks.dev_images.every_n_epochs=0"]


def _compose(tmp_path, overrides=()):
    fixed = [*SHORT, "data.module.source.classes=[hexagon,circle]", "trainer.max_epochs=2"]
    return compose_train(tmp_path, [*fixed, *overrides], config_name="compare_transfer", out="transfer")


@pytest.mark.slow
def test_finetuned_and_scratch_runs_differ_only_in_their_start(tmp_path):
    domain_a = train(compose_train(tmp_path / "a", [*SHORT, "trainer.max_epochs=1"])).run_dir
    comparison = compare_transfer(_compose(tmp_path, [f"init.checkpoint={domain_a}", "finetune.freeze=backbone"]))

    out = tmp_path / "transfer"
    assert json.loads((out / "comparison.json").read_text()) == comparison
    assert (out / "comparison.png").stat().st_size > 0 and "| finetuned |" in (out / "comparison.md").read_text()
    assert comparison["carried_classes"] == ["circle"] and comparison["classes"] == ["hexagon", "circle"]
    finetuned, scratch = comparison["runs"]["finetuned"], comparison["runs"]["scratch"]
    assert finetuned["steps"] == scratch["steps"] == 4, "the same step budget"
    assert [step for step, _ in finetuned["curve"]] == [step for step, _ in scratch["curve"]] and len(
        scratch["curve"]
    ) == 2
    assert comparison["dev_gain"]["mAP"] == pytest.approx(
        finetuned["metrics"]["dev"]["mAP"] - scratch["metrics"]["dev"]["mAP"]
    )
    scratch_cfg = RunDir.open(out / "scratch").config
    assert scratch_cfg.init.checkpoint is None and scratch_cfg.finetune.freeze == "none"
    source = torch.load(domain_a / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    start = torch.load(out / "finetuned" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    key = "model.backbone.features.0.0.0.weight"
    assert torch.equal(start[key], source[key]), "the frozen backbone is domain A's"
    with pytest.raises(ConfigError, match="already holds a comparison"):
        compare_transfer(_compose(tmp_path, [f"init.checkpoint={domain_a}"]))
    with pytest.raises(ConfigError, match=r"give init\.checkpoint"):
        compare_transfer(_compose(tmp_path / "none"))
