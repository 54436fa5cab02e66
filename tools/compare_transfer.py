"""Fine-tuned vs from scratch:  python tools/compare_transfer.py init.checkpoint=<run> [overrides...]

Trains the configured detector twice on the same data, epochs and seed: from init.checkpoint
(with the configured finetune.* settings) and from scratch, and writes
outputs/<name>/comparison.{json,md,png}; the dev mAP curves side by side:
tensorboard --logdir outputs/<name>.
"""

from pathlib import Path

from detkit.workflows.cli import run_comparison_tool
from detkit.workflows.compare_transfer import compare_transfer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

if __name__ == "__main__":
    run_comparison_tool(compare_transfer, CONFIGS, "compare_transfer", "curves side by side")
