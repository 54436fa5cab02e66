import pytest
import torch

from detkit.exceptions import ConfigError
from detkit.models.inference import detect, parse_device, torch_device


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


def test_detections_of_the_background_slot_are_dropped_not_read_as_the_last_class():
    """RetinaNet's and FCOS's sigmoid heads score model label 0 (background) as any class; shifted
    to detkit's labels it would be -1, which indexes the last class."""

    def model(images):
        return [
            {
                "boxes": torch.tensor([[0.0, 0, 1, 1], [1.0, 1, 2, 2], [2.0, 2, 3, 3]]),
                "scores": torch.tensor([0.9, 0.8, 0.7]),
                "labels": torch.tensor([0, 1, 3]),
            }
            for _ in images
        ]

    (found,) = detect(model, [torch.zeros(3, 4, 4)])
    assert found["labels"].tolist() == [0, 2] and found["scores"].tolist() == pytest.approx([0.8, 0.7])
    assert found["boxes"].tolist() == [[1.0, 1, 2, 2], [2.0, 2, 3, 3]]
