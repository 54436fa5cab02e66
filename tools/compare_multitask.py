"""Joint vs per-class detectors:  python tools/compare_multitask.py [name=...] [overrides...]

Trains one detector over all classes and one per class (same model, data, augmentation,
epochs and seed) and writes outputs/<name>/comparison.{json,md,png}; compare the runs with
tensorboard --logdir outputs/<name>.
"""

from pathlib import Path

from omegaconf import DictConfig

from detkit.workflows.cli import check_run_dir_can_be_made, print_comparison, run_hydra_tool
from detkit.workflows.compare_multitask import compare_multitask

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    compare_multitask(cfg)
    print_comparison(Path(cfg.paths.output_dir), "runs side by side")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "compare_multitask", check_run_dir_can_be_made)
