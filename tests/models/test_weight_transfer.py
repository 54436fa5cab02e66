"""Starting a detector from other weights: classes carried by name, the rest exact, offline files."""

from urllib.error import URLError

import pytest
import torch
from torchvision.models import mobilenet_v3_large

from detkit.exceptions import ConfigError
from detkit.models import build_detector
from detkit.models.weight_transfer import BACKGROUND, class_tensors, transfer_state
from detkit.models.weights import backbone_weights, detector_weights, hub_file
from detkit.runs.checkpoints import CHECKPOINT_CLASSES, read_checkpoint

OLD = ["circle", "square", "triangle", "star"]
NEW = ["hexagon", "square", "circle"]  # two shared (in another order), one new


def _outputs(names):
    return [BACKGROUND, *names]


def _rows(tensor, blocks, num_outputs):
    return tensor.reshape(blocks, num_outputs, -1)


@pytest.mark.parametrize(
    "name",
    [
        "ssdlite320_mobilenet_v3_large",
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        "fcos_mobilenet_v3_large_fpn",
        "cspdet_n",
    ],
)
def test_shared_classes_carry_over_and_everything_else_is_exact(name, tmp_path):
    torch.manual_seed(0)
    source = build_detector(name, len(OLD), 96)
    checkpoint = tmp_path / "old.ckpt"
    state = {f"model.{k}": v for k, v in source.state_dict().items()}
    torch.save({"state_dict": state, CHECKPOINT_CLASSES: OLD}, checkpoint)
    torch.manual_seed(1)
    target = build_detector(name, len(NEW), 96)
    fresh = {k: v.clone() for k, v in target.state_dict().items()}

    loaded, names = read_checkpoint(checkpoint)
    carried = transfer_state(target, loaded, _outputs(names), _outputs(NEW))

    assert carried == ["square", "circle"]
    old, new, layouts = source.state_dict(), target.state_dict(), class_tensors(target)
    backbone = [k for k in new if k.startswith("backbone.")]
    assert backbone and all(torch.equal(new[k], old[k]) for k in backbone)
    assert all(torch.equal(new[k], old[k]) for k in new if k not in layouts)
    for key, blocks in layouts.items():
        now, before, initial = _rows(new[key], blocks, 4), _rows(old[key], blocks, 5), _rows(fresh[key], blocks, 4)
        assert torch.equal(now[:, 0], before[:, 0]), "background"
        assert torch.equal(now[:, 2], before[:, 2]) and torch.equal(now[:, 3], before[:, 1]), "square, circle"
        assert torch.equal(now[:, 1], initial[:, 1]), "hexagon keeps its fresh initialisation"
        if key.endswith("weight"):  # biases start from a constant
            assert not torch.equal(now[:, 1], before[:, 1])


def test_class_map_carries_renamed_classes_and_names_unknown_ones():
    torch.manual_seed(0)
    source = build_detector("ssdlite320_mobilenet_v3_large", len(OLD), 96)
    target = build_detector("ssdlite320_mobilenet_v3_large", 1, 96)
    carried = transfer_state(target, source.state_dict(), _outputs(OLD), _outputs(["disc"]), {"disc": "circle"})
    assert carried == ["disc"]
    key, blocks = next(iter(class_tensors(target).items()))
    assert torch.equal(
        _rows(target.state_dict()[key], blocks, 2)[:, 1], _rows(source.state_dict()[key], blocks, 5)[:, 1]
    )
    with pytest.raises(ConfigError, match=r"not among the initial weights'.*\['oval'\]"):
        transfer_state(target, source.state_dict(), _outputs(OLD), _outputs(["disc"]), {"disc": "oval"})


def test_another_architecture_is_refused_naming_the_tensors(tmp_path):
    source = build_detector("ssdlite320_mobilenet_v3_large", 2, 96)
    target = build_detector("fcos_mobilenet_v3_large_fpn", 2, 96)
    with pytest.raises(ConfigError, match=r"another architecture.*missing \(e\.g\. \['backbone\.body"):
        transfer_state(target, source.state_dict(), _outputs(["a", "b"]), _outputs(["a", "b"]))
    (tmp_path / "bad.ckpt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match=r"bad\.ckpt is truncated or not a checkpoint"):
        read_checkpoint(tmp_path / "bad.ckpt")


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """torch.hub's directory under tmp_path, and every download failing as without a network."""

    def no_network(url, *args, **kwargs):
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_weights_that_cannot_be_downloaded_say_which_file_goes_where(offline_hub):
    entry = detector_weights("ssdlite320_mobilenet_v3_large", "DEFAULT")
    with pytest.raises(ConfigError) as error:
        build_detector("ssdlite320_mobilenet_v3_large", 2, 320, weights="DEFAULT")
    message = str(error.value)
    assert entry.url in message and str(offline_hub / hub_file(entry).name) in message
    assert "Name or service not known" in message and "model.weights=null" in message
    with pytest.raises(ConfigError, match=r"mobilenet_v3_large-\w+\.pth -> .*hub/checkpoints"):
        build_detector("fcos_mobilenet_v3_large_fpn", 2, 320, weights_backbone="DEFAULT")


def test_weights_placed_in_the_hub_directory_load_offline_with_classes_by_name(offline_hub):
    entry = detector_weights("ssdlite320_mobilenet_v3_large", "COCO_V1")
    categories = entry.meta["categories"]
    torch.manual_seed(0)
    coco = build_detector("ssdlite320_mobilenet_v3_large", len(categories) - 1, 320)
    hub_file(entry).parent.mkdir(parents=True)
    torch.save(coco.state_dict(), hub_file(entry))

    model = build_detector("ssdlite320_mobilenet_v3_large", 2, 320, weights="COCO_V1", class_names=["dog", "zebra_x"])

    key, blocks = next(iter(class_tensors(model).items()))
    rows, coco_rows = _rows(model.state_dict()[key], blocks, 3), _rows(coco.state_dict()[key], blocks, 91)
    assert torch.equal(rows[:, 1], coco_rows[:, categories.index("dog")])
    assert not torch.equal(rows[:, 2], coco_rows[:, 2])
    assert torch.equal(
        model.state_dict()["backbone.features.0.0.0.weight"], coco.state_dict()["backbone.features.0.0.0.weight"]
    )


def test_a_model_trained_from_pretrained_weights_rebuilds_without_them(offline_hub):
    entry = backbone_weights("fcos_mobilenet_v3_large_fpn", "DEFAULT")
    hub_file(entry).parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(mobilenet_v3_large().state_dict(), hub_file(entry))
    pretrained = build_detector("fcos_mobilenet_v3_large_fpn", 2, 96, weights_backbone="DEFAULT").eval()
    bare = build_detector("fcos_mobilenet_v3_large_fpn", 2, 96).eval()  # plain batch norm, no file needed

    missing, unexpected = bare.load_state_dict(pretrained.state_dict(), strict=False)

    assert not missing and not unexpected, "frozen batch norm has no num_batches_tracked: batch norm fills it in"
    images = [torch.rand(3, 96, 96)]
    with torch.no_grad():
        ours, theirs = bare.backbone(torch.stack(images)), pretrained.backbone(torch.stack(images))
    assert all(torch.allclose(ours[k], theirs[k], atol=1e-5) for k in theirs), "frozen and plain batch norm agree"
