"""A tool's options: command-line values of the defaults' types, and the typed dataclass a
workflow takes (`typed`)."""

from __future__ import annotations

from dataclasses import is_dataclass
from typing import Any, TypeVar, get_type_hints

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from detkit.data.formats.fields import is_number, is_whole
from detkit.exceptions import ConfigError

T = TypeVar("T")
RUNNER_OPTIONS = ("progress",)  # every tool's, read by the tool runner (detkit.workflows.cli)


def check_value_types(cfg: DictConfig, config_name: str) -> None:
    """Refuse a command-line value of another type than the default it replaces (``seed=abc``,
    ``model.image_size=1.5``, ``data.module.augment.hflip=yes``) before a library meets it deep
    in a traceback: the defaults, with the same config groups chosen, are the schema. A whole
    number's default takes whole numbers, a float's any finite number, a boolean's true / false;
    ``null`` is left to the code that reads the key. Lightning's ``trainer.*`` keys take several
    types each (``devices=auto``, ``precision=16-mixed``) and are checked by Lightning."""
    hydra_cfg = HydraConfig.get()
    groups = hydra_cfg.runtime.choices
    overrides = OverridesParser.create().parse_overrides(list(hydra_cfg.overrides.task))
    values = [
        o.key_or_group
        for o in overrides
        if o.key_or_group not in groups and not o.is_delete() and not o.key_or_group.startswith(("hydra.", "trainer."))
    ]
    if not values:
        return
    defaults = hydra.compose(config_name, overrides=[o.input_line for o in overrides if o.key_or_group in groups])
    for key in values:
        default = OmegaConf.select(defaults, key, throw_on_resolution_failure=False)
        value = OmegaConf.select(cfg, key, throw_on_resolution_failure=False)
        wanted = _wanted_type(default, value)
        if wanted and value is not None:
            raise ConfigError(f"{key} must be {wanted} (its default is {default!r}), got {value!r}")


def _wanted_type(default: Any, value: Any) -> str | None:
    """What ``value`` must be to replace ``default``, if it is not that."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if is_whole(value) else "a whole number"
    if isinstance(default, float):
        return None if is_number(value) else "a finite number"
    return None


def typed(options: type[T], cfg: DictConfig | dict[str, Any]) -> T:
    """A workflow's typed options (a dataclass whose fields mirror the tool's config, a nested
    dataclass a nested group) from the composed config: the config states each default, the
    dataclass each type. `RUNNER_OPTIONS` are the tool runner's, not the workflow's."""
    values = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)
    types = get_type_hints(options)
    values = {k: v for k, v in values.items() if k not in RUNNER_OPTIONS}
    return options(**{k: typed(types[k], v) if is_dataclass(types.get(k)) else v for k, v in values.items()})
