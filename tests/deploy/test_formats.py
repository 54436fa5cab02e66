"""Every detector detkit builds exports to both formats and runs from the file.

Freshly initialised detectors decode wild boxes, many clipped to nothing at the image's edge,
and rank near-equal scores; which of them NMS keeps is then float noise, and ONNX's kernels
differ from PyTorch's in the last bits. So here the ONNX files are held to detections in the
image, TorchScript (PyTorch's own kernels) to every detection exactly; trained detectors are
held to every detection in both formats (tests/tools/test_export.py)."""

import pytest
import torch

from detkit.deploy.deployed import deployable
from detkit.deploy.parity import check_parity, compare_detections
from detkit.deploy.runtime import ExportedModel
from detkit.deploy.writers import FORMATS, write_model
from detkit.models.detectors import DETECTORS, build_detector
from detkit.models.families import family_named
from detkit.models.inference import detect
from detkit.models.weight_transfer import class_tensors


def decisive(detector: torch.nn.Module) -> torch.nn.Module:
    """``detector`` with class scores that vary: freshly initialised, sigmoid detectors score
    every anchor at their prior (0.01) and detect nothing to compare."""
    state = detector.state_dict()
    for key in class_tensors(detector):
        if "bbox_pred" not in key:
            state[key].normal_(0.0, 1.0 if key.endswith("weight") else 2.0)
    return detector


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "options"),
    [*((name, {}) for name in DETECTORS), ("cspdet_n", {"backbone": "test_resnet"})],  # and on a timm backbone
    ids=[*DETECTORS, "cspdet_n-timm"],
)
def test_every_detector_exports_to_both_formats_with_eager_detections(name, options, tmp_path):
    torch.manual_seed(0)
    size = family_named(name).smallest_input.get(name, 128)
    detector = decisive(build_detector(name, num_classes=3, image_size=size, options=options).eval())
    images = [torch.rand(3, 96, 128), torch.rand(3, 128, 80)]
    with torch.inference_mode():
        eager = [detect(detector, [image])[0] for image in images]
    assert all(len(d["scores"]) for d in eager), "detections to compare"
    model = deployable(detector)
    threshold = float(getattr(detector, "roi_heads", detector).score_thresh)
    for format, suffix in FORMATS.items():
        file_name = f"model{suffix}"
        card = {"format": format, "classes": ["a", "b", "c"]}
        write_model(model, format, images[0][None], tmp_path / file_name)
        exported = ExportedModel.load(tmp_path / file_name, card)
        found = [exported.detect(image.numpy()) for image in images]
        for detections, image in zip(found, images):
            boxes = detections["boxes"]
            assert len(detections["scores"]) > 0 and boxes.shape == (len(detections["labels"]), 4)
            assert (boxes[:, 2:] >= boxes[:, :2]).all() and (boxes[:, 2:] <= [image.shape[2], image.shape[1]]).all()
        if format == "torchscript":  # PyTorch's own kernels: exactly the same detections
            check_parity(compare_detections([0, 1], eager, found, threshold, 0.0), 0.0, 0.0, f"{name} as {format}")
