"""A run's folder as ``tools/train.py`` leaves it, opened once: the config it saved, the
checkpoint asked for (``checkpoints/best.ckpt`` by default), its classes, its data on the split
manifests it saved (and loaders over them), and its detector with that checkpoint's weights."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from detkit.data.loaders import LoaderOptions
from detkit.data.splits.split_data import SplitData, SplitPlan
from detkit.exceptions import ConfigError
from detkit.models.weight_transfer import BACKGROUND, transfer_state
from detkit.runs import layout
from detkit.runs.checkpoints import build_architecture, read_checkpoint
from detkit.runs.saved_config import load_saved_config

RUN_FIX = "pass run=<run dir> or checkpoint=<path to a .ckpt>"


@dataclass(frozen=True)
class RunDir:
    """A finished (or interrupted) run: its folder and the checkpoint chosen in it."""

    path: Path
    checkpoint: Path

    @classmethod
    def open(
        cls, run: str | Path, checkpoint: str | Path | None = None, argument: str = "", fix: str = RUN_FIX
    ) -> RunDir:
        """The run ``run`` names (its folder, or a ``.ckpt`` inside its ``checkpoints/``) with
        ``checkpoint`` if given, else its best one; the checkpoint is read once here, so that a
        file detkit did not write gets one clear message (``argument``, e.g. ``"resume=x: "``,
        says where the path came from and ``fix`` what to pass instead)."""
        path = Path(run)
        if path.is_file() or layout.is_checkpoint(path):
            path, chosen = path.parent.parent, path
        else:
            chosen = Path(checkpoint) if checkpoint else layout.best_checkpoint(path)
        if not chosen.is_file():
            raise ConfigError(f"{argument or 'checkpoint '}{chosen} not found; {fix}")
        read_checkpoint(chosen)
        return cls(path, chosen)

    @classmethod
    def resumed(cls, run: str | Path) -> RunDir:
        """The run ``resume=<run>`` continues, at its last checkpoint."""
        fix = "pass resume=<a detkit run directory that has checkpoints/last.ckpt>"
        return cls.open(run, layout.last_checkpoint(run), f"resume={run}: ", fix)

    @cached_property
    def config(self) -> DictConfig:
        return saved_config(self.path)

    @property
    def splits_dir(self) -> Path:
        return layout.splits_dir(self.path)

    @property
    def tensorboard_dir(self) -> Path:
        return layout.tensorboard_dir(self.path)

    def evaluation_dir(self, split: str) -> Path:
        return layout.evaluation_dir(self.path, split)

    def errors_dir(self, split: str) -> Path:
        return layout.errors_dir(self.path, split)

    def predictions_file(self, split: str) -> Path:
        return layout.predictions_file(self.path, split)

    @property
    def predict_dir(self) -> Path:
        return layout.predict_dir(self.path)

    @property
    def export_dir(self) -> Path:
        return layout.export_dir(self.path)

    @property
    def data_health_dir(self) -> Path:
        return layout.data_health_dir(self.path)

    @property
    def class_names(self) -> list[str]:
        return list(self.config.data.class_names)

    @property
    def partial_labels(self) -> str:
        """How the run scores partially labelled images (runs made before partial labels: LVIS's way)."""
        return self.config.evaluation.get("partial_labels", "lvis")

    @cached_property
    def data(self) -> SplitData:
        """The run's data on the split manifests it saved (which already hold its share of train)."""
        module = self.config.data.module
        plan = SplitPlan.saved(self.splits_dir, module.get("single_class"), module.get("dedupe", "none"))
        return plan.settle(instantiate(module.source)())

    def loader(self, split: str, image_ids: list[int] | None = None) -> torch.utils.data.DataLoader:
        """A loader over the images of ``split`` (only ``image_ids`` of it, when given), not
        augmented, batched and read as the run evaluated them."""
        module = self.config.data.module
        batch_size = module.get("eval_batch_size") or module.batch_size  # runs before eval_batch_size: one size
        options = LoaderOptions(batch_size, batch_size, module.get("num_workers", 0), {}, 0, None)
        return options.loader(self.data.subset(split, image_ids))

    def weights(self) -> tuple[dict[str, Tensor], list[str]]:
        """The checkpoint's detector state and class names (from the config for checkpoints
        written before checkpoints recorded them)."""
        state, names = read_checkpoint(self.checkpoint)
        return state, names if names is not None else self.class_names

    def detector(self, image_size: int | None = None) -> nn.Module:
        """The run's detector with the checkpoint's weights, in eval mode on the CPU; with
        ``image_size``, resizing its inputs to that size instead of the run's."""
        model_cfg = self.config.model
        if image_size is not None:
            model_cfg = OmegaConf.merge(model_cfg, {"image_size": image_size})
        model = build_architecture(model_cfg)
        missing, unexpected = model.load_state_dict(self.weights()[0], strict=False)
        missing = [key for key in missing if not key.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise ConfigError(
                f"{self.checkpoint} does not fit the model of {self.path}: "
                f"missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        return model.eval()


def saved_config(run: str | Path) -> DictConfig:
    """The resolved config a run saved, read as data (`load_saved_config`: nothing it names is
    built unless detkit's own configs build it)."""
    path = layout.config_file(run)
    if not os.path.lexists(path):
        raise ConfigError(f"{run}: no {path.name} there; pass a run directory made by tools/train.py")
    return load_saved_config(path)


def init_run(checkpoint: str | Path) -> RunDir:
    """The run ``init.checkpoint`` names: a .ckpt, or a run directory (its best checkpoint)."""
    fix = "pass a detkit run directory or a .ckpt"
    return RunDir.open(checkpoint, argument=f"init.checkpoint={checkpoint}: ", fix=fix)


def initialise_from_checkpoint(
    model: nn.Module, checkpoint: str | Path, class_names: Sequence[str], class_map: Mapping[str, str] | None = None
) -> list[str]:
    """Fill ``model`` (built for ``class_names``) from a detkit ``checkpoint`` (or a run directory:
    its best checkpoint), re-initialising the classification rows of classes the checkpoint
    lacks; returns the classes whose rows were carried over (`detkit.models.weight_transfer`)."""
    state, source_names = init_run(checkpoint).weights()
    return transfer_state(model, state, [BACKGROUND, *source_names], [BACKGROUND, *class_names], class_map)
