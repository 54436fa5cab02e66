"""The partial-label loss: torchvision's loss when all is labelled; no signal for unknown classes."""

import pytest
import torch
import torchvision

from detkit.models import build_detector
from detkit.models.detectors import to_model_target
from detkit.models.families import family_of, partial_label_detectors
from detkit.models.partial_labels import masked_focal_loss

SIZE = 96
NUM_CLASSES = 3  # detkit classes 0..2; the model has 4 outputs with background


def _batch(annotated_first: list[bool] | None = None, gate: float | None = None):
    """Two images: the first with a box of class 0, the second with a box of class 2."""
    torch.manual_seed(0)
    images = [torch.rand(3, SIZE, SIZE), torch.rand(3, SIZE, SIZE)]
    targets = [
        {"boxes": torch.tensor([[8.0, 10.0, 60.0, 70.0]]), "labels": torch.tensor([0])},
        {"boxes": torch.tensor([[30.0, 20.0, 90.0, 80.0]]), "labels": torch.tensor([2])},
    ]
    for target, annotated in zip(targets, [annotated_first, None]):
        if annotated is not None:
            target["annotated"] = torch.tensor(annotated)
    return images, [to_model_target(t, gate=gate) for t in targets]


def _class_logits(model: torch.nn.Module) -> list[torch.Tensor]:
    """The class logits ``[B, cells, classes]`` of the next forward pass, kept with their gradient:
    the classification head's output (torchvision's), or the first output of a head that has none
    apart (CSPDet's)."""
    kept = []

    def keep(_module, _inputs, output):
        logits = output[0] if isinstance(output, tuple) else output
        logits.retain_grad()
        kept.append(logits)

    getattr(model.head, "classification_head", model.head).register_forward_hook(keep)
    return kept


@pytest.mark.parametrize("name", ["retinanet_resnet50_fpn_v2", "fcos_resnet50_fpn"])  # torchvision builds these
def test_loss_equals_torchvision_when_every_class_is_labelled(name):
    ours = build_detector(name, NUM_CLASSES, SIZE).train()
    kwargs = {"num_classes": NUM_CLASSES + 1, "weights_backbone": None, "min_size": SIZE, "max_size": SIZE}
    stock = torchvision.models.get_model(name, **kwargs).train()
    stock.load_state_dict(ours.state_dict())
    images, targets = _batch(annotated_first=[True, True, True])
    expected = stock(images, targets)
    for given in (targets, [{k: v for k, v in t.items() if k != "annotated"} for t in targets]):
        losses = ours(images, given)
        assert losses.keys() == expected.keys()
        for key in expected:
            torch.testing.assert_close(losses[key], expected[key], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", partial_label_detectors())
def test_no_gradient_for_a_class_where_it_is_not_labelled(name):
    model = build_detector(name, NUM_CLASSES, SIZE).train()
    logits = _class_logits(model)
    images, targets = _batch(annotated_first=[True, False, True])  # class 1 unknown in image 0
    sum(model(images, targets).values()).backward()
    grad = logits[0].grad  # [images, anchors, background + classes]
    assert torch.count_nonzero(grad[0, :, 2]) == 0, "class 1 gives no signal where it is not labelled"
    assert torch.count_nonzero(grad[1, :, 2]) > 0, "but still does where it is labelled (negatives)"
    assert torch.count_nonzero(grad[0, :, 1]) > 0 and torch.count_nonzero(grad[0, :, 3]) > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", partial_label_detectors())
def test_the_gate_reaches_the_detector_loss(name):
    """Fresh heads score every class near their 0.01 prior: a gate of 0.5 keeps every negative of
    the unlabelled class, a gate below the prior leaves them all out."""
    for gate, expect_signal in ((0.5, True), (1e-4, False)):
        model = build_detector(name, NUM_CLASSES, SIZE).train()
        logits = _class_logits(model)
        images, targets = _batch(annotated_first=[True, False, True], gate=gate)
        sum(model(images, targets).values()).backward()
        assert (torch.count_nonzero(logits[0].grad[0, :, 2]) > 0) == expect_signal, gate


def test_boxes_of_a_not_exhaustively_labelled_class_stay_positives():
    """LVIS's not-exhaustive classes: their boxes train, their absence elsewhere does not."""
    logits = torch.zeros(4, 3, requires_grad=True)
    anchor_labels = torch.tensor([1, -1, -1, 0])
    masked_focal_loss(logits, anchor_labels, torch.tensor([True, False, True])).backward()
    assert logits.grad[0, 1] < 0, "the positive anchor of class 1 is pushed up"
    assert torch.count_nonzero(logits.grad[1:, 1]) == 0, "its negatives are left out"
    assert torch.count_nonzero(logits.grad[:, [0, 2]]) == 4 * 2


def test_gated_loss_keeps_background_negatives_and_drops_likely_unlabelled_objects():
    """A gate: an unlabelled class keeps its negatives where the model scores it below the gate."""
    logits = torch.tensor([[0.0, 3.0, 0.0], [0.0, -3.0, 0.0], [0.0, -0.1, 0.0], [2.0, 2.0, -2.0]], requires_grad=True)
    anchor_labels = torch.tensor([-1, -1, -1, 0])
    unlabelled = torch.tensor([True, False, True])
    masked_focal_loss(logits, anchor_labels, unlabelled, gate=torch.tensor(0.5)).backward()
    assert logits.grad[0, 1] == 0, "scored 0.95: a likely unlabelled object, left out"
    assert logits.grad[1, 1] > 0 and logits.grad[2, 1] > 0, "scored 0.05 and 0.48: below the gate, background kept"
    plain = logits.detach().clone().requires_grad_(True)
    masked_focal_loss(plain, anchor_labels, None).backward()
    assert torch.equal(logits.grad[:, [0, 2]], plain.grad[:, [0, 2]]), "labelled classes as without a gate"
    everything = logits.detach().clone().requires_grad_(True)
    masked_focal_loss(everything, anchor_labels, unlabelled, gate=torch.tensor(1e-6)).backward()
    assert torch.count_nonzero(everything.grad[:, 1]) == 0, "a gate of ~0 is the plain mask"


def test_only_sigmoid_detectors_support_partial_labels():
    supported = set(partial_label_detectors())
    assert supported == {
        "fcos_mobilenet_v3_large_fpn",
        "retinanet_resnet50_fpn_v2",
        "fcos_resnet50_fpn",
        "cspdet_n",
        "cspdet_s",
    }
    for name in ("ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn", *supported):
        assert family_of(build_detector(name, NUM_CLASSES, SIZE)).partial_labels == (name in supported)
