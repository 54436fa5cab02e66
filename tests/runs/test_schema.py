"""A run's config.yaml edited by someone else (`detkit.runs.schema`): every key the
tools read, taken out or given a value of another kind, is refused on reading with one message
naming the file and the key; the config tools/train.py writes, with every data and model
choice, passes."""

import copy
import re

import pytest
import yaml
from omegaconf import OmegaConf

from detkit.exceptions import ConfigError
from detkit.runs.saved_config import load_saved_config
from detkit.runs.schema import OPTIONAL, REQUIRED, check_run_config
from tests.conftest import compose_train

ODD_VALUES = [None, "", "x", 0, -1, 1.5, True, [], ["a", 1], {}, {"a": 1}]
MODELS = ["ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn", "fcos_mobilenet_v3_large_fpn"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The config of a run as tools/train.py saves it (resolved, class names filled in)."""
    config = compose_train(tmp_path_factory.mktemp("schema"))
    config.data.class_names = ["circle", "square"]
    config.data.num_classes = 2
    return OmegaConf.to_container(config, resolve=True)


def _set(config, key, value=None, delete=False):
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    if delete:
        del node[last]
    else:
        node[last] = value


@pytest.mark.parametrize("model", MODELS)
def test_the_config_train_writes_passes(tmp_path, saved, model):
    config = copy.deepcopy(saved)
    config["model"]["name"] = model
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert load_saved_config(path).model.name == model


@pytest.mark.parametrize("key", list(REQUIRED))
def test_a_required_key_taken_out_is_named(tmp_path, saved, key):
    config = copy.deepcopy(saved)
    _set(config, key, delete=True)
    with pytest.raises(ConfigError, match=rf"config\.yaml: {key} must be .*, got missing; .*train a new run"):
        check_run_config(config, tmp_path / "config.yaml")


@pytest.mark.parametrize("key", [*REQUIRED, *OPTIONAL])
def test_a_value_of_another_kind_is_named(tmp_path, saved, key):
    """Each odd value is refused naming the key (or, for a section, the first key it lacks),
    unless it is of the kind the key takes."""
    valid, _ = {**REQUIRED, **OPTIONAL}[key]
    refused = 0
    for value in ODD_VALUES:
        config = copy.deepcopy(saved)
        _set(config, key, value)
        lacks_keys = isinstance(value, dict) and any(k.startswith(f"{key}.") for k in REQUIRED)
        if valid(value) and not lacks_keys:
            check_run_config(config, tmp_path / "config.yaml")
            continue
        with pytest.raises(ConfigError, match=rf"config\.yaml: {re.escape(key)}(\.\w+)* must be .*, got "):
            check_run_config(config, tmp_path / "config.yaml")
        refused += 1
    assert refused >= 5, "most odd values are of another kind than any key takes"
