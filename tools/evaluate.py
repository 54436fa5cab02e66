"""Evaluate a trained detector, or score a results file against annotations.

  python tools/evaluate.py run=outputs/quickstart/<date_time> [split=dev] [checkpoint=...]
  python tools/evaluate.py annotations=instances.json predictions=results.json
Both write <out>/metrics.json and print the metrics.
"""

from pathlib import Path

from omegaconf import DictConfig

from detkit.evaluation.coco import score_files
from detkit.evaluation.summary import format_metrics_table
from detkit.exceptions import ConfigError
from detkit.files import write_json_atomic
from detkit.runs.layout import LAYOUT, metrics_file
from detkit.workflows.cli import run_hydra_tool
from detkit.workflows.outputs import output_folder

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    if cfg.annotations and cfg.predictions:  # files only: no torch or Lightning to import (seconds)
        metrics = score_files(cfg.annotations, cfg.predictions, cfg.backend, cfg.partial_labels)
        report(metrics, "predictions", output_folder(cfg, Path(cfg.predictions).parent / LAYOUT.evaluations))
    elif cfg.run:
        from lightning.pytorch.utilities import rank_zero_only

        from detkit.runs.lock import writing_into
        from detkit.runs.run_dir import RunDir
        from detkit.workflows.evaluate import evaluate_run

        run = RunDir.open(cfg.run, cfg.checkpoint)
        out = output_folder(cfg, run.evaluation_dir(cfg.split))
        with writing_into(run.path, out):
            metrics = evaluate_run(run, cfg.split, cfg.trainer)
            rank_zero_only(report)(metrics, cfg.split, out)
    else:
        raise ConfigError("give run=<run dir>, or annotations=<COCO json> predictions=<COCO results json>")


def report(metrics: dict, name: str, out: Path) -> None:
    written = write_json_atomic(metrics_file(out), {name: metrics})
    print(format_metrics_table({name: metrics}))
    print(f"metrics written to {written}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "evaluate")
