"""The model's fit to the training objects' sizes, settled when the data has loaded: the detector
``model=auto`` becomes, SSD's default boxes under ``model.anchor_size_range=auto``, and the one
start-up line that says how large the objects are and what follows from it."""

from __future__ import annotations

import logging

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from detkit.data.health.object_sizes import ObjectSizes
from detkit.data.records import DetectionDataset
from detkit.models.families import family_named, keeps_aspect_ratio
from detkit.models.families.ssd import SSD_BOX_RANGE, box_range_for
from detkit.runs.run_dir import init_run

log = logging.getLogger(__name__)

AUTO = "auto"  # model=auto (configs/model/auto.yaml): model.choices.default or .small_objects
SMALL_OBJECT_MODEL = "model=cspdet_n"
SMALL_OBJECT_NOTE = "detkit's one-stage detector with a stride-8 level: ahead of a tuned YOLO11n on three such exports"


def settle_object_sizes(cfg: DictConfig, train_set: DetectionDataset) -> None:
    """One line: how large the training objects are at the model's input (`ObjectSizes`) and
    what follows. ``model=auto`` becomes its ``choices.small_objects`` when the smallest objects
    are too small for SSD's default boxes (`ssd_box_range` is not torchvision's), its ``choices.default``
    otherwise; for SSD, ``model.anchor_size_range=auto`` becomes the range that fits them
    (`box_range_for`). Both are recorded in ``cfg``, so that the saved config rebuilds the same
    model; with torchvision's range, the line names the fixes when the objects are too small."""
    auto = cfg.model.name == AUTO
    measured_as = cfg.model.choices.default.name if auto else cfg.model.name
    keeps_shape = keeps_aspect_ratio(measured_as, cfg.model.get("keep_aspect_ratio"))
    sizes = ObjectSizes.of(train_set, cfg.model.image_size, keeps_shape)
    fitting = ssd_box_range(sizes)
    small = fitting != list(SSD_BOX_RANGE)  # the smallest under half SSD's smallest box: never learnt
    line = sizes.describe()
    if small and (auto or family_named(measured_as).fixed_input):
        line += f"; the smallest are under half SSDlite's smallest default box ({SSD_BOX_RANGE[0]} of the input)"
    if auto:
        line += choose_model(cfg, small)
    elif "choices" in cfg.model:  # model.name=<detector> over model=auto: that detector, the rest as set
        cfg.model = without_choices(cfg.model)
    if family_named(cfg.model.name).fixed_input:
        line += fit_default_boxes(cfg, fitting, small)
    if rank_zero_only.rank == 0:
        log.info(line)


def ssd_box_range(sizes: ObjectSizes) -> list[float]:
    """SSD's default-box range that fits the training objects (`box_range_for` their 5th
    percentile): torchvision's, unless the smallest are under half its smallest box, where no box
    overlaps them enough to learn them."""
    if not len(sizes.sides):
        return list(SSD_BOX_RANGE)
    return box_range_for(sizes.percentiles()[0], sizes.image_size)


def choose_model(cfg: DictConfig, small: bool) -> str:
    """``cfg.model`` (``model=auto``) replaced by its choice; what the start-up line adds. The
    detector of ``init.checkpoint`` when there is one (its weights fit no other); SSDlite
    (``choices.default``) where its own values are asked for: sized default boxes
    (``model.anchor_size_range``) or torchvision's weights (``model.weights``, which the other
    has none of); else ``choices.small_objects`` when the objects are small."""
    checkpoint = OmegaConf.select(cfg, "init.checkpoint", default=None)
    default = cfg.model.choices.default.name
    if checkpoint:
        chosen, said = checkpoint_model(checkpoint), "the detector of init.checkpoint"
    else:
        ssd_asked = cfg.model.get("anchor_size_range") is not None or cfg.model.get("weights") is not None
        choice = "small_objects" if small and not ssd_asked else "default"
        chosen, said = OmegaConf.merge(without_choices(cfg.model), cfg.model.choices[choice]), ""
    with open_dict(cfg):
        cfg.model = chosen
    if chosen.name == default or said:
        return f"; model=auto: {chosen.name}" + (f", {said}" if said else "")
    return (
        f": model=auto trains {chosen.name} ({SMALL_OBJECT_NOTE}); model={default} keeps SSDlite"
        " (model.anchor_size_range=auto starts its boxes at them)"
    )


def without_choices(model: DictConfig) -> DictConfig:
    """``model=auto``'s values but its ``choices``: the config a detector is built from."""
    return OmegaConf.masked_copy(model, [k for k in model if k != "choices"])


def checkpoint_model(checkpoint: str) -> DictConfig:
    """The detector of the run ``checkpoint`` belongs to (`detector_of`), without torchvision's
    weights (the checkpoint's replace them)."""
    model = detector_of(init_run(checkpoint).config)
    with open_dict(model):
        model.weights = model.weights_backbone = None
    return model


def detector_of(run_config: DictConfig) -> DictConfig:
    """The model config a run trained with, for another run's data (its classes): what the runs
    of a comparison share, so that ``model=auto`` chooses once for all of them."""
    model = run_config.model.copy()
    with open_dict(model):
        model.num_classes = "${data.num_classes}"
    return model


def fit_default_boxes(cfg: DictConfig, fitting: list[float], small: bool) -> str:
    """``model.anchor_size_range=auto`` settled to ``fitting``, the range that fits the objects;
    with torchvision's range and objects too ``small`` for it, the fixes named. What the line adds."""
    if cfg.model.get("anchor_size_range") == AUTO:
        with open_dict(cfg):
            cfg.model.anchor_size_range = fitting
        return f"; default boxes from {fitting[0]} of the input (model.anchor_size_range={fitting})"
    if cfg.model.get("anchor_size_range") is None and small:
        return (
            f": model.anchor_size_range=auto starts the boxes at them ({fitting}),"
            f" or {SMALL_OBJECT_MODEL} ({SMALL_OBJECT_NOTE})"
        )
    return ""
