from functools import partial
from pathlib import Path

import pytest
import torch
import torchvision
from omegaconf import OmegaConf

from detkit.exceptions import ConfigError
from detkit.models import DETECTORS, build_detector, replace_classifier
from detkit.models.families import family_named
from detkit.models.families.ssd import box_range_for
from detkit.models.weight_transfer import class_tensors

ROOT = Path(__file__).resolve().parents[2]

LIGHT = ["ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn"]
# ResNet-50 and VGG-16 detectors take a second or more to build: slow, kept out of the quick loop
HEAVY = ("resnet50", "vgg16")
BY_WEIGHT = [pytest.param(n, marks=pytest.mark.slow) if any(h in n for h in HEAVY) else n for n in DETECTORS]


@pytest.mark.parametrize("name", BY_WEIGHT)
def test_every_detector_builds_for_the_data_and_predicts(name):
    size = family_named(name).smallest_input.get(name, 128)
    model = build_detector(name, num_classes=3, image_size=size).eval()
    with torch.no_grad():
        (out,) = model([torch.rand(3, 100, 120)])
    assert out["boxes"].shape[1] == 4 and len(out["labels"]) == len(out["scores"])
    assert (out["labels"] <= 3).all(), "C foreground classes + background"


@pytest.mark.parametrize("name", LIGHT)
def test_training_mode_returns_losses_for_empty_and_full_images(name):
    model = build_detector(name, num_classes=2, image_size=128).train()
    targets = [
        {"boxes": torch.tensor([[10.0, 10.0, 60.0, 70.0]]), "labels": torch.tensor([2])},
        {"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64)},
    ]
    losses = model([torch.rand(3, 128, 128), torch.rand(3, 128, 128)], targets)
    assert all(torch.isfinite(v) for v in losses.values()) and len(losses) >= 2


@pytest.mark.parametrize("name", BY_WEIGHT)
def test_classifier_of_a_91_class_model_is_replaced(name):
    """What happens after loading COCO weights: the head is refitted to the data's classes."""
    builder = family_named(name).detectors[name] or partial(torchvision.models.get_model, name)
    model = builder(weights=None, weights_backbone=None, num_classes=91).eval()
    replace_classifier(model, 4)
    with torch.no_grad():
        (out,) = model([torch.rand(3, 128, 128)])
    assert (out["labels"] < 4).all()
    assert _class_outputs(model) == 4


def _class_outputs(model):
    """The outputs of the class layers, as the family's class tensors say: the fewest rows a class
    tensor has per block (Faster R-CNN's box regression has four a class)."""
    state = model.state_dict()
    return min(state[key].shape[0] // blocks for key, blocks in class_tensors(model).items())


def test_ssd_takes_other_sizes_and_options():
    model = build_detector(
        "ssdlite320_mobilenet_v3_large", 2, 256, batch_norm_momentum=0.1, options={"score_thresh": 0.2}
    )
    assert model.transform.fixed_size == (256, 256) and model.score_thresh == 0.2
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.1 for m in norms)


def test_ssd_anchor_sizes_follow_the_range_and_the_heads_keep_their_shape():
    default = build_detector("ssdlite320_mobilenet_v3_large", 2, 320)
    smaller = build_detector("ssdlite320_mobilenet_v3_large", 2, 320, anchor_size_range=[0.1, 0.8])
    for model, (smallest, largest) in ((default, (0.2, 0.95)), (smaller, (0.1, 0.8))):
        scales = model.anchor_generator.scales
        assert scales[0] == pytest.approx(smallest) and scales[-2] == pytest.approx(largest)
        assert model.anchor_generator.num_anchors_per_location() == default.anchor_generator.num_anchors_per_location()
    with pytest.raises(ConfigError, match="settled from the training objects"):
        build_detector("ssdlite320_mobilenet_v3_large", 2, 320, anchor_size_range="auto")
    with pytest.raises(ConfigError, match="smallest < largest"):
        build_detector("ssdlite320_mobilenet_v3_large", 2, 320, anchor_size_range=[0.5, 0.2])
    with pytest.raises(ConfigError, match="for SSD detectors"):
        build_detector("fasterrcnn_mobilenet_v3_large_320_fpn", 2, 320, anchor_size_range=[0.1, 0.8])


def test_ssd_keeping_the_aspect_ratio_fits_images_in_the_square_and_finds_boxes_in_their_pixels():
    torch.manual_seed(0)
    model = build_detector("ssdlite320_mobilenet_v3_large", 2, 320, keep_aspect_ratio=True).eval()
    stretched = build_detector("ssdlite320_mobilenet_v3_large", 2, 320).eval()
    photo, portrait = torch.rand(3, 480, 640), torch.rand(3, 500, 250)
    batch, _ = model.transform([photo, portrait])
    assert batch.image_sizes == [(240, 320), (320, 160)]  # longer side to 320, shape kept
    assert tuple(batch.tensors.shape[-2:]) == (320, 320)  # the batch padded to its largest
    assert stretched.transform([photo])[0].image_sizes == [(320, 320)]
    model.score_thresh = 0.0
    with torch.no_grad():
        (found, _) = model([photo, portrait])
    boxes = found["boxes"]
    assert len(boxes) and boxes[:, 2].max() <= 640 and boxes[:, 3].max() <= 480  # in the photo's own pixels
    with pytest.raises(ConfigError, match="always keeps it"):
        build_detector("fasterrcnn_mobilenet_v3_large_320_fpn", 2, 320, keep_aspect_ratio=False)


@pytest.mark.parametrize(
    ("smallest_object", "expected"),
    [(25.0, [0.078, 0.95]), (31.9, [0.1, 0.95]), (32.0, [0.2, 0.95]), (112.0, [0.2, 0.95]), (2.0, [0.02, 0.95])],
    ids=["platelets", "just-under-half", "half-the-smallest-box", "raccoons", "specks"],
)
def test_default_boxes_start_at_the_smallest_objects_within_bounds(smallest_object, expected):
    assert box_range_for(smallest_object, 320) == expected


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("ssdlite320_mobilenet_v3_large", {}),
        ("fcos_mobilenet_v3_large_fpn", {"smallest_stride": 8, "score_thresh": 0.0}),  # untrained: scores < 0.2
    ],
)
def test_channels_last_weights_give_the_same_detections(name, options):
    torch.manual_seed(0)
    model = build_detector(name, 2, 128, options=options).eval()
    torch.manual_seed(0)
    stored = build_detector(name, 2, 128, channels_last=True, options=options).eval()
    conv = next(m for m in stored.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    image = torch.rand(3, 128, 128)
    with torch.no_grad():
        (a,), (b,) = model([image]), stored([image])
    assert len(a["scores"]) >= 20
    torch.testing.assert_close(a["scores"][:20], b["scores"][:20], atol=1e-4, rtol=1e-4)


def test_bad_names_and_values_are_config_errors():
    with pytest.raises(ConfigError, match="not a known detector"):
        build_detector("yolov99", 3, 320)
    with pytest.raises(ConfigError, match="num_classes"):
        build_detector("ssdlite320_mobilenet_v3_large", 0, 320)
    with pytest.raises(ConfigError, match="not an option"):
        build_detector("ssdlite320_mobilenet_v3_large", 2, 320, options={"anchors": 3})


def test_mobile_fcos_has_no_detector_weights_to_load():
    with pytest.raises(ConfigError, match="weights_backbone=DEFAULT"):
        build_detector("fcos_mobilenet_v3_large_fpn", 3, 320, weights="DEFAULT")


@pytest.mark.parametrize(("smallest_stride", "sides"), [(16, [20, 10, 5, 3]), (8, [40, 20, 10, 5, 3])])
def test_mobile_fcos_starts_its_levels_at_the_smallest_stride(smallest_stride, sides):
    model = build_detector("fcos_mobilenet_v3_large_fpn", 2, 320, options={"smallest_stride": smallest_stride})
    levels = model.backbone(torch.rand(1, 3, 320, 320))
    assert [level.shape[-1] for level in levels.values()] == sides
    assert model.anchor_generator.sizes[0] == (smallest_stride,), "FCOS's points: one per cell of each level"
    model.train()
    target = {"boxes": torch.tensor([[100.0, 100.0, 112.0, 112.0]]), "labels": torch.tensor([1])}
    losses = model([torch.rand(3, 320, 320)], [target])
    assert all(torch.isfinite(loss) for loss in losses.values())


def test_mobile_fcos_refuses_another_smallest_stride():
    with pytest.raises(ConfigError, match="smallest_stride=4: 8 or 16"):
        build_detector("fcos_mobilenet_v3_large_fpn", 2, 320, options={"smallest_stride": 4})
    with pytest.raises(ConfigError, match="distance_activation='exp'"):
        build_detector("fcos_mobilenet_v3_large_fpn", 2, 320, options={"distance_activation": "exp"})


def _regression_after_a_dead_side(distance_activation: str, side: int, steps: int) -> tuple[float, float]:
    """A mobile FCOS whose box-regression output for ``side`` is negative at every location (bias
    -5: what a large early step can leave), trained ``steps`` steps on one box: that side's
    regression weights' gradient norm at the first step, and its mean distance at the end."""
    torch.manual_seed(0)
    options = {"smallest_stride": 16, "distance_activation": distance_activation}
    model = build_detector("fcos_mobilenet_v3_large_fpn", 1, 128, options=options).train()
    bbox_reg = model.head.regression_head.bbox_reg
    with torch.no_grad():
        bbox_reg.bias[side] = -5.0
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.003)
    image, target = (
        torch.rand(3, 128, 128),
        {"boxes": torch.tensor([[20.0, 30.0, 100.0, 110.0]]), "labels": torch.tensor([1])},
    )
    gradient = 0.0
    for step in range(steps):
        optimizer.zero_grad()
        sum(model([image], [target]).values()).backward()
        if step == 0:
            gradient = float(bbox_reg.weight.grad[side].norm()) + abs(float(bbox_reg.bias.grad[side]))
        optimizer.step()
    model.eval()
    with torch.no_grad():
        features = list(model.backbone(model.transform([image])[0].tensors).values())
        distances = model.head(features)["bbox_regression"]
    return gradient, float(distances[..., side].mean())


@pytest.mark.parametrize("side", [0, 2])
def test_a_box_side_that_turns_negative_everywhere_recovers_with_softplus_and_dies_with_relu(side):
    dead_gradient, dead_distance = _regression_after_a_dead_side("relu", side, steps=5)
    assert dead_gradient == 0.0 and dead_distance == 0.0, "torchvision's ReLU alone: no gradient, the side stays 0"
    gradient, distance = _regression_after_a_dead_side("softplus", side, steps=5)
    assert gradient > 0.0, "softplus passes a gradient where the ReLU passed none"
    assert distance > 0.0, "so the side's distances are learnt again"


def _configured_fcos_options() -> list:
    """The mobile FCOS's options as its config sets them."""
    return [OmegaConf.load(ROOT / "configs" / "model" / "fcos_mobilenet_v3_large_fpn.yaml").options]


def test_mobile_fcos_defaults_to_softplus_distances_and_rebuilds_older_runs_with_relu():
    model = build_detector("fcos_mobilenet_v3_large_fpn", 2, 320)  # no option: what runs saved before it had
    assert type(model.head.regression_head.bbox_reg) is torch.nn.Conv2d
    assert [options.distance_activation for options in _configured_fcos_options()] == ["softplus"]


def _levels_learning(level_scale: float | str, boxes: list[list[float]]) -> tuple[list[list[int]], list[int]]:
    """For ``boxes`` on a 320 px image, the levels (0 = P3) where the mobile FCOS learns each (its
    positive locations), and how many positive locations each has."""
    model = build_detector(
        "fcos_mobilenet_v3_large_fpn", 1, 320, options={"smallest_stride": 8, "level_scale": level_scale}
    ).train()
    matched: list[torch.Tensor] = []
    compute_loss = model.head.compute_loss

    def recording(targets, head_outputs, anchors, matched_idxs):
        matched.extend(matched_idxs)
        return compute_loss(targets, head_outputs, anchors, matched_idxs)

    model.head.compute_loss = recording
    target = {"boxes": torch.tensor(boxes), "labels": torch.ones(len(boxes), dtype=torch.int64)}
    model([torch.rand(3, 320, 320)], [target])
    level_of = torch.repeat_interleave(torch.arange(5), torch.tensor([40 * 40, 20 * 20, 10 * 10, 5 * 5, 3 * 3]))
    (matched_idx,) = matched
    levels = [sorted(set(level_of[matched_idx == i].tolist())) for i in range(len(boxes))]
    return levels, [int((matched_idx == i).sum()) for i in range(len(boxes))]


def test_mobile_fcos_level_ranges_follow_the_input_size():
    boxes = [[10.0, 10.0, 26.0, 26.0], [20.0, 200.0, 90.0, 270.0], [150.0, 100.0, 300.0, 250.0]]  # 16, 70, 150 px
    paper_levels, paper_positives = _levels_learning(1.0, boxes)
    assert paper_levels == [[0], [0], [1]], "FCOS's ranges are for 800 px images: at 320 px nearly all on P3"
    levels, positives = _levels_learning("auto", boxes)
    assert [min(found) for found in levels] == [0, 1, 2], "auto (0.4 at 320): from P3, P4, P5"
    assert positives[0] == paper_positives[0] > 0, "the centre-sampling radius stays 1.5 strides in pixels"
    assert _levels_learning(0.4, boxes)[0] == levels, "auto is the input over 800"


def test_mobile_fcos_level_scale_keeps_torchvision_ranges_unless_asked():
    model = build_detector("fcos_mobilenet_v3_large_fpn", 2, 320, options={"smallest_stride": 8})
    assert [size for (size,) in model.anchor_generator.sizes] == [8, 16, 32, 64, 128], "no option: torchvision's"
    assert model.center_sampling_radius == 1.5
    configured = [options.level_scale for options in _configured_fcos_options()]
    assert configured == [1.0], "auto lost on the road signs (docs/training.md)"
    for bad in (0, -1.0, "small", True):
        with pytest.raises(ConfigError, match="level_scale"):
            build_detector("fcos_mobilenet_v3_large_fpn", 2, 320, options={"level_scale": bad})
