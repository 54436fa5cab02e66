"""A run folder's config is data: only what detkit's configs build may be built from it."""

import re
from pathlib import Path

import pytest
import yaml

from detkit.exceptions import ConfigError
from detkit.runs.saved_config import built_from_config, is_allowed_target, load_saved_config, moved_run_paths

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _targets(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_target_":
                yield value
            yield from _targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from _targets(value)


def test_what_a_yaml_added_to_the_configs_builds_is_allowed_by_it_alone(tmp_path):
    """Adding a logger (a detector, a callback) is its yaml: the saved-config check reads configs/."""
    configs = tmp_path / "configs"
    (configs / "logger").mkdir(parents=True)
    (configs / "logger" / "jsonl.yaml").write_text("jsonl:\n  _target_: tests.training.jsonl_logger.JsonLinesLogger\n")
    assert "tests.training.jsonl_logger.JsonLinesLogger" in built_from_config(configs)
    assert "tests.training.jsonl_logger.JsonLinesLogger" not in built_from_config()
    with pytest.raises(ConfigError, match="configs are not there"):
        built_from_config(tmp_path / "elsewhere")


def test_every_target_in_the_configs_may_be_built_from_a_saved_config():
    found = {t for path in CONFIGS.rglob("*.yaml") for t in _targets(yaml.safe_load(path.read_text())) if t}
    found.discard("optuna.samplers.TPESampler")  # the sweeper's, in hydra's node: never in a run's config.yaml
    assert found and all(is_allowed_target(t) for t in found), sorted(t for t in found if not is_allowed_target(t))


@pytest.mark.parametrize("target", ["torch.optim.SGD", "torch.optim.AdamW", "torch.optim.lr_scheduler.OneCycleLR"])
def test_torch_optimisers_and_schedulers_are_allowed(target):
    assert is_allowed_target(target)


@pytest.mark.parametrize(
    "target",
    [
        "os.system",
        "subprocess.run",
        "builtins.open",
        "builtins.eval",
        "torch.optim.Optimizer.__init__",
        "torch.optim.lr_scheduler.warnings.warn",
        "torch.load",
        "detkit.files.write_text_atomic",  # detkit's own, but not built from configs: writes any file
        "lightning.pytorch.callbacks.ModelCheckpoint",  # writes into a folder the config names
        ["os.system"],
        None,
    ],
)
def test_anything_else_is_refused(target):
    assert not is_allowed_target(target)


@pytest.mark.parametrize(
    ("placed", "key"),
    [
        ({"data": {"module": {"_target_": "os.system", "_args_": ["touch x"]}}}, "data.module._target_"),
        ({"callbacks": {"a": {"_target_": "subprocess.run", "args": ["true"]}}}, "callbacks.a._target_"),
        ({"x": [{"y": {"_target_": "builtins.open", "file": "victim", "mode": "w"}}]}, "x[0].y._target_"),
    ],
)
def test_a_saved_config_naming_other_code_is_refused_naming_the_key(tmp_path, placed, key):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"seed": 0, "optimizer": {"_target_": "torch.optim.SGD"}, **placed}))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {key}=")) as error:
        load_saved_config(path)
    assert "never code" in str(error.value)


def test_a_saved_config_that_is_not_a_mapping_or_too_deep_is_one_message(tmp_path):
    path = tmp_path / "config.yaml"
    for text, message in [
        ("- 1\n- 2\n", "not a run's config"),
        ("a: " + "[" * 5000 + "]" * 5000, "levels of nesting: 5,000"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_saved_config(path)


def test_a_copied_run_continues_with_every_path_inside_it_moved():
    """A run copied elsewhere and resumed writes its split manifests into the copy, never into
    the folder it was copied from (its saved config names that folder's paths)."""
    from omegaconf import OmegaConf

    saved = OmegaConf.create(
        {
            "paths": {"output_dir": "/old/run"},
            "data": {"module": {"manifest_dir": "/old/run/splits", "splits_dir": "/old/run-elsewhere"}},
            "names": ["/old/run", "/old/runs/x"],
        }
    )
    moved = moved_run_paths(saved, "/old/run", "/new/copy")
    assert moved.data.module.manifest_dir == "/new/copy/splits"
    assert moved.data.module.splits_dir == "/old/run-elsewhere", "a sibling folder whose name starts alike stays"
    assert list(moved.names) == ["/new/copy", "/old/runs/x"] and moved.paths.output_dir == "/new/copy"
