"""Where a tool writes, kept apart from what it reads: the one check every tool's output
folder goes through (`output_folder` for a folder a workflow chooses, `check_outputs` for the
output keys of a command line), so that no command writes over, into or around its inputs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from detkit.exceptions import ConfigError
from detkit.runs import layout

# What a command reads, by key: files and folders no output may be, lie inside or hold.
INPUT_KEYS = (
    "data.root",
    "data.images",
    "data.module.splits_dir",
    "images",
    "annotations",
    "predictions",
    "human.annotations",
    "model",
    "checkpoint",
    "init.checkpoint",
    "pool",
)
# Run folders a command reads: outputs may go inside one (that is where tools write by default),
# never over it, around it, or into what it was trained from (its checkpoints, splits, config).
RUN_KEYS = ("run", "resume", "runs", "sweep")
OUTPUT_KEYS = ("out", "dst", "moved_splits", "paths.output_dir")
PATH_KEYS = (*INPUT_KEYS, *RUN_KEYS, *OUTPUT_KEYS)  # what `check_outputs` reads of a command line
# The output folders this command chose that did not exist before it: a command that fails
# removes them (`remove_new_outputs`), so that nothing half-made is left behind.
_new_outputs: list[Path] = []


def check_outputs(cfg: dict[str, Any]) -> None:
    """Refuse any output key of a command line (``cfg``: `PATH_KEYS`' values, dotted keys) that
    overlaps an input of the command."""
    for key in OUTPUT_KEYS:
        out = _value(cfg, key)
        if isinstance(out, str) and out:
            check_apart(out, cfg, f"{key}={out}")
            _note(Path(out))


def output_folder(options: Any, default: str | Path, key: str = "out") -> Path:
    """The folder a workflow writes to: ``options.<key>`` when given, else ``default``; refused
    (`check_apart`) when it overlaps an input of ``options``."""
    given = _value(options, key)
    out = Path(given) if given else Path(default)
    check_apart(out, options, f"{key}={given}" if given else f"the default output folder {out} (or {key}=)")
    _note(out)
    return out


def forget_new_outputs() -> None:
    """Start a command's count of the output folders it makes (one process may run several)."""
    _new_outputs.clear()


def remove_new_outputs() -> None:
    """Remove the output folders this command made (none existed before it): called when it
    fails, so that a failed command leaves no partial output."""
    for folder in _new_outputs:
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
    _new_outputs.clear()


def _note(out: Path) -> None:
    if not os.path.lexists(out):
        _new_outputs.append(out)


def check_apart(out: str | Path, options: Any, named: str | None = None) -> None:
    """Refuse ``out`` when it is, lies inside or holds an input of ``options`` (links resolved).
    It may be, or lie inside, a run folder it reads, apart from the run's checkpoints, splits
    and config. ``named`` is how the message names ``out`` (default ``out=<out>``)."""
    target = _real(out)
    for input_key, given in _inputs(options):
        inputs = [(f"{input_key}={given}", Path(given))]
        is_run = input_key in RUN_KEYS and Path(given).is_dir()
        if is_run and target.is_relative_to(source := _real(given)):
            if target == source:
                continue
            parts = (layout.checkpoints_dir(given), layout.splits_dir(given), layout.config_file(given))
            inputs = [(f"{part} (of {input_key}={given})", part) for part in parts]
        for what, path in inputs:
            relation = _overlap(target, _real(path))
            if relation:
                raise ConfigError(
                    f"{named or f'out={out}'} {relation} {what}, which this command reads; outputs never go over, "
                    "among or around inputs: choose a folder apart from it"
                )


def _real(path: str | Path) -> Path:
    """``path`` with its links resolved, as far as they lead (a loop ends where it loops:
    ``Path.resolve`` raises there)."""
    return Path(os.path.realpath(path))


def _overlap(target: Path, source: Path) -> str | None:
    """How ``target`` overlaps ``source``, in words, or None."""
    if target == source:
        return "is"
    if target.is_relative_to(source):
        return "lies inside"
    if source.is_relative_to(target):
        return "holds"
    return None


def _inputs(options: Any) -> Iterator[tuple[str, str]]:
    """``(key, path)`` of every input path ``options`` names that exists."""
    for key in (*INPUT_KEYS, *RUN_KEYS):
        value = _value(options, key)
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        for one in values:
            if isinstance(one, str) and one and Path(one).exists():
                yield key, one


def _value(options: Any, key: str) -> Any:
    """``key`` (dotted) of a dict holding it as such, or of nested dicts, a config or a typed
    options dataclass (read by attribute), or None."""
    if isinstance(options, dict) and key in options:
        return options[key]
    for part in key.split("."):
        options = options.get(part) if isinstance(options, dict) else getattr(options, part, None)
        if options is None:
            return None
    return options
