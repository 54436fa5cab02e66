"""CSPDet on a timm backbone (``model.options.backbone=<timm model>``): the features it takes, its
weights from a file the test writes (the download path, offline, is one clear error), bad names."""

import pytest
import timm
import torch

from detkit.exceptions import ConfigError
from detkit.models import build_detector

BACKBONE = "test_resnet"  # timm's own small test network: features at strides 2 to 32


@pytest.fixture
def weights_file(tmp_path):
    """A classification model's state dict, as a user downloads it, with values no seed gives."""
    model = timm.create_model(BACKBONE)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.uniform_(-1, 1)
    path = tmp_path / "test_resnet.pth"
    torch.save(model.state_dict(), path)
    return path, model.state_dict()


def cspdet_on(backbone: str = BACKBONE, weights_backbone: str | None = None):
    return build_detector("cspdet_n", 3, 96, weights_backbone=weights_backbone, options={"backbone": backbone})


def test_a_timm_backbone_feeds_its_stride_8_16_32_features_to_the_neck_and_detects():
    model = cspdet_on().eval()
    features = timm.create_model(BACKBONE, features_only=True).feature_info
    assert model.backbone.out_channels == [features.channels()[i] for i in (2, 3, 4)]  # reductions 8, 16, 32
    maps = model.backbone(torch.rand(1, 3, 96, 128))
    assert [tuple(m.shape[-2:]) for m in maps] == [(12, 16), (6, 8), (3, 4)]
    assert list(model.transform.image_mean) == list(timm.create_model(BACKBONE).pretrained_cfg["mean"])
    detections = model([torch.rand(3, 80, 120)])
    assert detections[0]["boxes"].shape[1] == 4


def test_the_backbone_weights_come_from_a_file_the_classification_model_wrote(weights_file):
    path, written = weights_file
    model = cspdet_on(weights_backbone=str(path))
    loaded = model.backbone.body.state_dict()
    assert len(loaded) > 20 and all(torch.equal(tensor, written[key]) for key, tensor in loaded.items())
    assert not torch.equal(next(cspdet_on().backbone.parameters()), next(model.backbone.parameters()))


def test_weights_by_name_without_internet_are_one_error_saying_where_to_get_the_file(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network, whatever the machine has
    with pytest.raises(ConfigError) as error:
        cspdet_on(weights_backbone="DEFAULT")
    message = str(error.value)
    assert "https://huggingface.co/timm/test_resnet." in message and "model.weights_backbone=<path>" in message


@pytest.mark.parametrize(
    ("backbone", "weights", "says"),
    [
        ("no_such_net", None, "Unknown model (no_such_net)"),
        ("test_vit", None, "gives features at strides [16, 16, 16]; CSPDet needs [8, 16, 32]"),
        (BACKBONE, "missing.pth", "model.weights_backbone='missing.pth': no such file"),
        (BACKBONE, "no_such_tag", "Invalid pretrained tag (no_such_tag)"),
        ("test_efficientnet", "FILE", "does not fit test_efficientnet: Error(s) in loading state_dict"),
        ("csp", "DEFAULT", "leave model.weights null, and model.weights_backbone null unless"),
    ],
)
def test_a_backbone_or_weights_that_cannot_be_used_are_one_error_naming_them(backbone, weights, says, weights_file):
    weights = str(weights_file[0]) if weights == "FILE" else weights
    with pytest.raises(ConfigError) as error:
        cspdet_on(backbone, weights)
    assert says in str(error.value) and "\n" not in str(error.value)


class _Calls:
    """What a hostile weights file holds: unpickling it would call ``Path.touch``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (type(self.path).touch, (self.path,))


def test_a_weights_file_that_would_call_code_is_refused_unread(tmp_path):
    hostile, touched = tmp_path / "backbone.pth", tmp_path / "touched"
    torch.save({"conv1.weight": _Calls(touched)}, hostile)
    with pytest.raises(ConfigError, match="weights_only=True blocked loading"):
        cspdet_on(weights_backbone=str(hostile))
    assert not touched.exists()
