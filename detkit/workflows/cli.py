"""Running a Hydra-configured tool: user errors become one message and exit code 2."""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from detkit.exceptions import DetkitError, TrainingInterrupted, user_error_behind
from detkit.progress import set_progress
from detkit.runs import layout
from detkit.runs.command_line import check_run_dir_can_be_made
from detkit.training.launch import register_resolvers
from detkit.training.quiet import silence_known_noise
from detkit.workflows.options import check_value_types
from detkit.workflows.outputs import PATH_KEYS, check_outputs, forget_new_outputs, remove_new_outputs

USAGE_ERROR = 2


def run_comparison_tool(compare: Callable[[DictConfig], Any], config_dir: Path, config_name: str, curves: str) -> None:
    """A comparison's tool (`run_hydra_tool`): ``compare`` trains its runs into the run
    directory, then its ``comparison.md`` is printed with where the TensorBoard ``curves`` are."""

    def task(cfg: DictConfig) -> None:
        compare(cfg)
        out = Path(cfg.paths.output_dir)
        print(layout.report_file(out, "comparison", ".md").read_text(encoding="utf-8"))
        print(f"comparison written to {out}; {curves}: tensorboard --logdir {out}")

    run_hydra_tool(task, config_dir, config_name, check_run_dir_can_be_made)


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
        forget_new_outputs()
        try:
            check_value_types(cfg, config_name)
            check_outputs(_path_values(cfg))
            with open_dict(cfg):  # the runner's option (RUNNER_OPTIONS): a run's saved config holds no display choice
                set_progress(bool(cfg.pop("progress", True)))
            return task(cfg)
        except Exception as error:
            user_error = user_error_behind(error) or _unwritable(error) or timed_out_waiting(error, cfg)
            if user_error is None:
                raise
            if not isinstance(user_error, TrainingInterrupted):
                remove_new_outputs()
                remove_failed_start()
            print(f"error: {user_error}", file=sys.stderr)
            sys.exit(getattr(user_error, "exit_code", USAGE_ERROR))

    try:
        main()
    except SystemExit as exit_:
        if exit_.code == 1 and not started:  # Hydra has printed why the config did not compose
            sys.exit(USAGE_ERROR)
        raise


def _path_values(cfg: DictConfig) -> dict[str, Any]:
    """The command line's paths `check_outputs` looks at, by dotted key, as plain values."""
    values = {key: OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False) for key in PATH_KEYS}
    return {key: list(value) if isinstance(value, ListConfig) else value for key, value in values.items()}


def remove_failed_start() -> None:
    """Leave no folder that looks like a run after a start that failed before its run began
    (a config or data error): the run directory Hydra made is removed when it holds only what
    Hydra and the data check wrote there (no config.yaml: the run never started)."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.output_subdir is None:  # a tool that writes no run directory
        return
    folder = Path(hydra_cfg.runtime.output_dir)
    started_only = {hydra_cfg.output_subdir, f"{hydra_cfg.job.name}.log", layout.LAYOUT.data_health}
    if (
        folder.is_dir()
        and not layout.config_file(folder).exists()
        and {p.name for p in folder.iterdir()} <= started_only
    ):
        shutil.rmtree(folder, ignore_errors=True)


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
