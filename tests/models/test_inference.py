import pytest
import torch

from detkit.exceptions import ConfigError
from detkit.models.inference import parse_device, torch_device


@pytest.mark.parametrize(
    ("device", "parsed"),
    [("cpu", ("cpu", None)), ("cuda", ("cuda", None)), ("cuda:1", ("cuda", 1)), ("auto", ("auto", None))],
)
def test_devices_are_parsed(device, parsed):
    assert parse_device(device) == parsed


@pytest.mark.parametrize("device", ["tpu", "cpu:0", "cuda:x", "auto:1", ""])
def test_other_devices_are_one_message(device):
    with pytest.raises(ConfigError, match="give cpu, cuda, cuda:<index> or auto"):
        parse_device(device)


def test_torch_devices_resolve_auto_and_refuse_a_missing_cuda():
    assert torch_device("cpu") == torch.device("cpu")
    assert torch_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device=cuda:1 but no CUDA device is available; use device=cpu"):
            torch_device("cuda:1")
