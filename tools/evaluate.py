"""Evaluate a trained detector, or score a results file against annotations.

  python tools/evaluate.py run=outputs/quickstart/<date_time> [split=dev] [checkpoint=...]
  python tools/evaluate.py annotations=instances.json predictions=results.json
Both write <out>/metrics.json and print the metrics.
"""

from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from detkit.errors import ConfigError
from detkit.evaluation.coco import score_files
from detkit.evaluation.summary import format_metrics_table
from detkit.files import write_json_atomic
from detkit.training.cli import run_hydra_tool
from detkit.training.evaluate import evaluate_run

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    if cfg.annotations and cfg.predictions:
        metrics = score_files(cfg.annotations, cfg.predictions, cfg.backend, cfg.partial_labels)
        out, name = Path(cfg.out or Path(cfg.predictions).parent), "predictions"
    elif cfg.run:
        metrics = evaluate_run(cfg.run, cfg.split, cfg.trainer, cfg.checkpoint)
        out, name = Path(cfg.out or Path(cfg.run) / "eval" / cfg.split), cfg.split
    else:
        raise ConfigError("give run=<run dir>, or annotations=<COCO json> predictions=<COCO results json>")
    report(metrics, name, out)


@rank_zero_only
def report(metrics: dict, name: str, out: Path) -> None:
    write_json_atomic(out / "metrics.json", {name: metrics})
    print(format_metrics_table({name: metrics}))
    print(f"metrics written to {out / 'metrics.json'}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "evaluate")
