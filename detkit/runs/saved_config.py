"""A run folder's ``config.yaml`` read as data: it may come from anyone (a shared or downloaded
run), so before anything it names is built, every ``_target_`` in it must be one of the classes
and functions detkit's own config groups build. A name outside that list (``os.system``,
``subprocess.run``, ``builtins.open``) is refused with one message naming its key: Hydra's
``instantiate`` would import and call it.

The YAML itself is read with `detkit.data.formats.documents.read_yaml_document` (no aliases
beyond a bounded expansion, bounded size and depth)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from detkit.data.formats.documents import read_yaml_document
from detkit.exceptions import ConfigError, DatasetError
from detkit.runs.schema import check_run_config

PROJECT_CONFIGS = Path(__file__).resolve().parents[2] / "configs"  # the config groups the tools compose
# Built beside configs/: Lightning's other name of its Trainer, and a callback named on the command
# line (``+callbacks.phase_times=...``, benchmarks/first_detector.py); the sweeper's sampler lives in
# Hydra's own node, never in a run's config.
ALSO_BUILT = frozenset({"lightning.pytorch.Trainer", "detkit.training.phase_times.PhaseTimes"})
NEVER_IN_A_RUN = frozenset({"optuna.samplers.TPESampler"})
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


def built_from_config(configs: Path | None = None) -> frozenset[str]:
    """Every ``_target_`` the yaml files of ``configs`` (detkit's, `PROJECT_CONFIGS`) name, read
    as data, with `ALSO_BUILT`: what a run's config may build. A logger, detector or callback
    added to configs/ is allowed by its yaml alone."""
    return _targets_in(configs or PROJECT_CONFIGS)


@functools.cache
def _targets_in(configs: Path) -> frozenset[str]:
    if not configs.is_dir():
        raise ConfigError(
            f"{configs}: detkit's configs are not there; install detkit from its checkout (pip install -e .)"
        )
    found = set(ALSO_BUILT)
    for path in sorted(configs.rglob("*.yaml")):
        found.update(_targets(yaml.safe_load(path.read_text(encoding="utf-8"))))
    return frozenset(found - NEVER_IN_A_RUN)


def _targets(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_target_" and isinstance(value, str):
                yield value
            yield from _targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from _targets(value)


def is_allowed_target(target: Any) -> bool:
    """Whether ``target`` names what detkit's configs build, or a torch optimiser or learning-rate
    scheduler class (looked up on the imported ``torch.optim``, never imported by name)."""
    if not isinstance(target, str):
        return False
    if target in built_from_config():
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


def moved_run_paths(cfg: DictConfig, was: str, now: str) -> DictConfig:
    """``cfg`` with every path inside the run's old folder ``was`` (its split manifests) moved
    into ``now``: a copied or moved run continues where it is, and never writes into the folder
    it was copied from."""
    if was == now:
        return cfg

    def moved(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: moved(value) for key, value in node.items()}
        if isinstance(node, list):
            return [moved(value) for value in node]
        if isinstance(node, str) and (node == was or node.startswith(f"{was}/")):
            return now + node[len(was) :]
        return node

    return OmegaConf.create(moved(OmegaConf.to_container(cfg)))
