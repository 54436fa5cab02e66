"""Train, evaluate and log a detector:  python tools/train.py [overrides...]

Examples:  python tools/train.py trainer.max_epochs=3
           python tools/train.py experiment=shapes_fasterrcnn
           python tools/train.py trainer=ddp_cpu
           python tools/train.py resume=outputs/quickstart/<date_time> trainer.max_epochs=12
           python tools/train.py -m seed=0,1,2          # one run per seed, same data and splits
           python tools/train.py -m hparams_search=optuna   # an Optuna search of the dev metric
"""

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from detkit.evaluation.summary import format_metrics_table
from detkit.runs.command_line import check_run_dir_arguments
from detkit.training.objective import objective_value
from detkit.training.run import resumed_config, train
from detkit.workflows.cli import run_hydra_tool

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> float:
    """Train; return the run's ``objective`` (a sweeper's value to optimise)."""
    cfg = resumed_config(cfg, HydraConfig.get().overrides.task)
    run = train(cfg)
    report(run.metrics, run.run_dir)
    return objective_value(run.metrics, cfg.objective)


@rank_zero_only
def report(metrics: dict, run_dir: Path) -> None:
    print(format_metrics_table(metrics))
    print(f"run directory: {run_dir}")
    print(f"compare runs:  tensorboard --logdir {run_dir.parent}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "train", check_run_dir_arguments)
