"""Joint vs per-class detectors:  python tools/compare_multitask.py [name=...] [overrides...]

Trains one detector over all classes and one per class (same model, data, augmentation,
epochs and seed) and writes outputs/<name>/comparison.{json,md,png}; compare the runs with
tensorboard --logdir outputs/<name>.
"""

from pathlib import Path

from detkit.workflows.cli import run_comparison_tool
from detkit.workflows.compare_multitask import compare_multitask

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

if __name__ == "__main__":
    run_comparison_tool(compare_multitask, CONFIGS, "compare_multitask", "runs side by side")
