"""Fine-tuned vs from scratch:  python tools/compare_transfer.py init.checkpoint=<run> [overrides...]

Trains the configured detector twice on the same data, epochs and seed: from init.checkpoint
(with the configured finetune.* settings) and from scratch, and writes
outputs/<name>/comparison.{json,md,png}; the dev mAP curves side by side:
tensorboard --logdir outputs/<name>.
"""

from pathlib import Path

from omegaconf import DictConfig

from detkit.workflows.cli import check_run_dir_can_be_made, print_comparison, run_hydra_tool
from detkit.workflows.compare_transfer import compare_transfer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    compare_transfer(cfg)
    print_comparison(Path(cfg.paths.output_dir), "curves side by side")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "compare_transfer", check_run_dir_can_be_made)
