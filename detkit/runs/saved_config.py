"""A run folder's ``config.yaml`` read as data: it may come from anyone (a shared or downloaded
run), so before anything it names is built, every ``_target_`` in it must be one of the classes
and functions detkit's own config groups build. A name outside that list (``os.system``,
``subprocess.run``, ``builtins.open``) is refused with one message naming its key: Hydra's
``instantiate`` would import and call it.

The YAML itself is read with `detkit.data.formats.documents.read_yaml_document` (no aliases
beyond a bounded expansion, bounded size and depth)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from detkit.data.formats.documents import read_yaml_document
from detkit.exceptions import ConfigError, DatasetError
from detkit.runs.schema import check_run_config

# What configs/ instantiates (tests/runs/test_saved_config.py checks every _target_ there
# is listed), and the optimisers and schedulers a user may name on the command line.
BUILT_FROM_CONFIG = frozenset(
    {
        "detkit.data.formats.load_export",
        "detkit.data.shapes.load_shapes",
        "detkit.models.build_detector",
        "detkit.models.finetune.Finetune",
        "detkit.training.callbacks.DevImageLogger",
        "detkit.training.datamodule.DetectionDataModule",
        "detkit.training.module.DetectionModule",
        "detkit.training.phase_times.PhaseTimes",
        "detkit.training.schedules.warmup_cosine",
        "lightning.Trainer",
        "lightning.pytorch.Trainer",
        "lightning.pytorch.callbacks.EarlyStopping",
        "lightning.pytorch.callbacks.LearningRateMonitor",
        "lightning.pytorch.loggers.CSVLogger",
        "lightning.pytorch.loggers.MLFlowLogger",
    }
)
OPTIMISER_MODULES = ("torch.optim.", "torch.optim.lr_scheduler.")


def load_saved_config(path: Path) -> DictConfig:
    """The config a run saved, its ``_target_``s checked (`check_targets`) and its keys
    (`check_run_config`). A file that is not such a config is a `ConfigError` naming it."""
    try:
        data = read_yaml_document(path)
    except DatasetError as error:
        raise ConfigError(f"{error}; a run's {path.name} is written by tools/train.py") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a run's config (a YAML mapping); pass a run directory made by tools/train.py")
    try:
        config = OmegaConf.create(data)
    except Exception as error:  # omegaconf refuses keys and values it cannot hold
        raise ConfigError(
            f"{path}: not a config detkit can read ({error}); pass a run made by tools/train.py"
        ) from None
    check_targets(data, path)
    check_run_config(data, path)
    return config


def check_targets(node: Any, source: Path, key: str = "") -> None:
    """Refuse any ``_target_`` under ``node`` (plain dicts and lists) that detkit does not build."""
    if isinstance(node, dict):
        for name, value in node.items():
            where = f"{key}.{name}" if key else str(name)
            if name == "_target_" and not is_allowed_target(value):
                raise ConfigError(
                    f"{source}: {where}={value!r} is not a class detkit builds from a saved config, so it is not "
                    "called (a run folder is data, never code); use a run made by tools/train.py, or train again"
                )
            check_targets(value, source, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            check_targets(value, source, f"{key}[{index}]")


def is_allowed_target(target: Any) -> bool:
    """Whether ``target`` names what detkit's configs build, or a torch optimiser or learning-rate
    scheduler class (looked up on the imported ``torch.optim``, never imported by name)."""
    if not isinstance(target, str):
        return False
    if target in BUILT_FROM_CONFIG:
        return True
    module = next((m for m in reversed(OPTIMISER_MODULES) if target.startswith(m)), None)
    name = target[len(module) :] if module else ""
    if not name.isidentifier():
        return False
    import torch.optim

    namespace = torch.optim.lr_scheduler if module == "torch.optim.lr_scheduler." else torch.optim
    found = getattr(namespace, name, None)
    bases = (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler)
    return isinstance(found, type) and issubclass(found, bases)
