"""Running a Hydra-configured tool: user errors become one message and exit code 2."""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from detkit.data.formats.fields import is_number, is_whole
from detkit.exceptions import ConfigError, DetkitError, user_error_behind
from detkit.training.launch import run_stamp
from detkit.training.layout import (
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    METRICS_FILE,
    NEWEST_RUN,
    newest_run,
    resumable,
)
from detkit.training.quiet import silence_known_noise
from detkit.training.run_lock import check_unlocked
from detkit.training.saved_config import load_saved_config

USAGE_ERROR = 2
T = TypeVar("T")


def register_resolvers() -> None:
    """``${detkit.run_dir:${resume},default}``: a resumed run writes into its own directory;
    ``${detkit.run_stamp:}``: a new run's time, one for every process of a launch (`run_stamp`)."""
    if not OmegaConf.has_resolver("detkit.run_dir"):
        OmegaConf.register_new_resolver("detkit.run_dir", run_dir)
    if not OmegaConf.has_resolver("detkit.run_stamp"):
        OmegaConf.register_new_resolver("detkit.run_stamp", run_stamp)


def run_dir(resume: str | None, default: str) -> str:
    """The run directory: ``default`` for a new run, ``resume``'s for a resumed one, and for
    ``resume=last`` the run beside ``default`` (same name) whose last.ckpt was written last
    (``default`` when there is none: `detkit.training.run.resumed_config` then says so)."""
    if resume != NEWEST_RUN:
        return resume or default
    return str(newest_run(default) or default)


def check_run_dir_arguments(arguments: list[str]) -> None:
    """Refuse, before Hydra starts (it would first write ``.hydra/`` and ``train.log`` there, and
    print a traceback for a folder it cannot make), ``resume=<folder>`` that is not a run,
    ``hydra.run.dir=<folder>`` holding files but no run, and a run directory that cannot be made."""
    resume = _last_value(arguments, "resume")
    resumes_a_folder = resume not in (None, "", "null", NEWEST_RUN)
    if resumes_a_folder:
        check_resumable(Path(resume))
        load_saved_config(Path(resume) / CONFIG_FILE)  # a config naming code is refused before Hydra writes there
        check_unlocked(resume)  # a run another process is writing
    run_dir = _last_value(arguments, "hydra.run.dir")
    if run_dir and Path(run_dir).is_dir() and any(Path(run_dir).iterdir()) and not (Path(run_dir) / ".hydra").is_dir():
        raise ConfigError(f"hydra.run.dir={run_dir} holds files of something else; choose a new or empty folder")
    if run_dir and "${" not in run_dir:
        check_unlocked(run_dir)
    if run_dir and not resumes_a_folder and (Path(run_dir) / CHECKPOINTS_DIR).is_dir():
        raise ConfigError(
            f"hydra.run.dir={run_dir} holds a run already, which a new one would overwrite; continue it with "
            f"resume={run_dir}, or choose a new folder"
        )
    if run_dir or not resumes_a_folder:  # else the run directory is resume's, checked above
        check_run_dir_can_be_made(arguments)


def check_resumable(run: Path) -> None:
    """Refuse ``resume=<run>`` of a folder that is no run, or of a finished run that has no
    ``last.ckpt`` to continue from (``fast_dev_run``: starting it again would overwrite it). A
    run interrupted before its first epoch ended (a config, no checkpoint) starts again."""
    if resumable(run) is not None:
        return
    if not (run / CONFIG_FILE).is_file():
        raise ConfigError(f"resume={run}: no checkpoints/last.ckpt there; pass a detkit run directory")
    if (run / METRICS_FILE).is_file():
        raise ConfigError(f"resume={run}: a finished run without checkpoints/last.ckpt; train a new run instead")


def check_run_dir_can_be_made(arguments: list[str]) -> None:
    """Refuse, before Hydra tries (its error is a traceback), a run directory that cannot be
    made: ``hydra.run.dir=`` (``hydra.sweep.dir=`` for a ``-m`` sweep) or, by default, one
    under ``outputs/``."""
    key = "hydra.sweep.dir" if {"-m", "--multirun"} & set(arguments) else "hydra.run.dir"
    run_dir = _last_value(arguments, key)
    problem = _cannot_make(Path(run_dir.split("${", 1)[0] or ".") if run_dir else Path("outputs"))
    if problem:
        where = f"{key}={run_dir}" if run_dir else f"the run directory under {Path.cwd()}"
        raise ConfigError(f"{where}: cannot be made ({problem}); pass {key}=<a folder you can write>")


def _cannot_make(folder: Path) -> str | None:
    """Why ``folder`` could not be created, found by making (and removing) a scratch folder in
    its nearest existing parent: the only test that holds for root, read-only mounts and /sys."""
    folder = folder.absolute()
    existing = next(p for p in (folder, *folder.parents) if os.path.lexists(p))
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".detkit-probe-", dir=existing))
    except OSError as error:
        return f"{existing}: {error.strerror}"
    return None


def _last_value(arguments: list[str], key: str) -> str | None:
    values = [a.split("=", 1)[1] for a in arguments if a.lstrip("+").startswith(f"{key}=")]
    return values[-1] if values else None


def run_hydra_tool(
    task: Callable[[DictConfig], Any],
    config_dir: Path,
    config_name: str,
    check_arguments: Callable[[list[str]], None] | None = None,
) -> None:
    """Compose ``config_name`` from ``config_dir`` with the command line and call ``task``
    (``check_arguments`` first looks at the command line, before Hydra writes anything).

    A `DetkitError` from the task, or a config Hydra cannot compose (unknown group option,
    bad override), ends the process with one message and exit code 2. What ``task`` returns goes
    to Hydra (a sweeper such as Optuna's optimises it).
    """
    register_resolvers()
    silence_known_noise()
    if check_arguments is not None:
        try:
            check_arguments(sys.argv[1:])
        except DetkitError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(USAGE_ERROR)
    started = False

    @hydra.main(version_base="1.3", config_path=str(config_dir.resolve()), config_name=config_name)
    def main(cfg: DictConfig) -> Any:
        nonlocal started
        started = True
        try:
            check_value_types(cfg, config_name)
            check_output_apart_from_inputs(cfg)
            return task(cfg)
        except Exception as error:
            user_error = user_error_behind(error) or _unwritable(error) or timed_out_waiting(error, cfg)
            if user_error is None:
                raise
            print(f"error: {user_error}", file=sys.stderr)
            sys.exit(getattr(user_error, "exit_code", USAGE_ERROR))

    try:
        main()
    except SystemExit as exit_:
        if exit_.code == 1 and not started:  # Hydra has printed why the config did not compose
            sys.exit(USAGE_ERROR)
        raise


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


INPUT_KEYS = ("data.root", "data.images", "images", "annotations", "predictions", "human.annotations", "model")


def check_output_apart_from_inputs(cfg: DictConfig) -> None:
    """Refuse ``out=`` that is an input file, or a folder the command reads data from or one
    inside it (``data.root``, ``images``, ...): a tool's outputs would land among, or over, its inputs."""
    out = OmegaConf.select(cfg, "out", default=None)
    if not isinstance(out, str) or not out:
        return
    target = Path(out).resolve()
    for key in INPUT_KEYS:
        given = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        if not isinstance(given, str) or not given or not os.path.exists(given):
            continue
        source = Path(given).resolve()
        if target == source or (source.is_dir() and target.is_relative_to(source)):
            raise ConfigError(
                f"out={out} is {'the' if target == source else 'inside the'} {key}={given} this command reads; "
                "outputs never go among or over inputs: choose a folder outside it"
            )


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
    dataclass each type."""
    values = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)
    types = get_type_hints(options)
    return options(**{k: typed(types[k], v) if is_dataclass(types.get(k)) else v for k, v in values.items()})


def print_comparison(out: Path, curves: str) -> None:
    """Print ``<out>/comparison.md`` and where the comparison and its TensorBoard runs are."""
    print((out / "comparison.md").read_text(encoding="utf-8"))
    print(f"comparison written to {out}; {curves}: tensorboard --logdir {out}")


def _unwritable(error: BaseException) -> str | None:
    """The message for an output the file system refuses (no permission, read-only, full)."""
    if isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC):
        return f"cannot write {error.filename or 'an output'} ({error.strerror}); choose another output folder"
    return None


def timed_out_waiting(error: BaseException, cfg: DictConfig) -> str | None:
    """The message for a DDP process that waited ``trainer.ddp_timeout_s`` for the others in
    vain (torch's store or gloo timing out): another node failed, or never started."""
    distributed = sys.modules.get("torch.distributed")  # not imported by the tools that score files
    cause: BaseException | None = error
    while cause is not None and distributed is not None:
        if isinstance(cause, distributed.DistError) and "timed out" in str(cause).lower():
            env = os.environ
            rank = env.get("RANK", env.get("SLURM_PROCID", "?"))
            size = env.get("WORLD_SIZE", env.get("SLURM_NTASKS", "?"))
            waited = OmegaConf.select(cfg, "trainer.ddp_timeout_s")
            return (
                f"process {rank} of {size} waited trainer.ddp_timeout_s={waited} s for the other processes of this "
                "launch in vain: another node failed or never started (see its log); if nodes start slowly, "
                "raise trainer.ddp_timeout_s"
            )
        cause = cause.__cause__ or cause.__context__
    return None
