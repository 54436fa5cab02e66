"""Is run B better than run A?  python tools/compare.py 'runs=[<run>,<run>,...]' [split=dev metric=mAP]
                               python tools/compare.py sweep=<folder of tools/train.py -m ...>

Scores every run's best checkpoint on the same images of the split (refused when the runs'
splits differ), and reports each run's metric with its bootstrap interval and each pair's
difference with a paired interval over the images: "beyond the noise" or "within the noise".
A sweep's runs are grouped into configs (runs that differ in seed alone are one), each config's
spread across seeds reported beside its image noise and added to the pairs' intervals.
Writes comparison.{md,json,png} to out= (and the report as TensorBoard text there).
"""

from pathlib import Path

from omegaconf import DictConfig

from detkit.runs import layout
from detkit.workflows.cli import run_hydra_tool
from detkit.workflows.compare_runs import CompareOptions, compare_runs
from detkit.workflows.options import typed

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    compare_runs(typed(CompareOptions, cfg))
    out = Path(cfg.out)
    print(layout.report_file(out, "comparison", ".md").read_text(encoding="utf-8"))
    print(f"comparison written to {layout.report_file(out, 'comparison', '')}.{{md,json,png}}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "compare")
