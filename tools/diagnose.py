"""Bias / variance / data mismatch of a trained run:  python tools/diagnose.py run=<run dir> [overrides]

Scores the run's checkpoint on train (a sample the size of train_dev), train_dev, dev and test,
sets human level beside them (human.error=0.04, or human.annotations=<a second annotator's
labels>) and writes diagnosis.{json,md,png} to the run directory (and its TensorBoard);
learning_curve=[0.1,0.25,0.5,1.0] also retrains on nested shares of train.
"""

from pathlib import Path

from omegaconf import DictConfig

from detkit.exceptions import ConfigError
from detkit.runs import layout
from detkit.workflows.cli import run_hydra_tool
from detkit.workflows.diagnose import DiagnoseOptions, diagnose_run
from detkit.workflows.options import typed

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    if not cfg.run:
        raise ConfigError("give run=<a run directory made by tools/train.py> (or a checkpoint inside one)")
    diagnosis = diagnose_run(typed(DiagnoseOptions, cfg))
    out = Path(cfg.out or diagnosis["run"])
    print(layout.report_file(out, "diagnosis", ".md").read_text(encoding="utf-8"))
    print(f"diagnosis written to {layout.report_file(out, 'diagnosis', '')}.{{md,json,png}}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "diagnose")
