"""Error analysis of a trained run:  python tools/errors.py run=<run dir> [split=dev] [overrides]

Splits the missing AP50 into TIDE's kinds (classification, localisation, both, duplicate,
background, missed) with what fixing each is worth, and writes errors.{json,md,csv}, the
confusion matrix, precision-recall curves and a gallery of the worst images to
<run>/errors/<split> (and the run's TensorBoard); with label_issues=true, also the labels most
likely wrong (label_issues.{csv,md,json,html}). After tagging errors.csv by hand:
  python tools/errors.py run=<run dir> tags=<run dir>/errors/dev/errors.csv
Any system's detections, without a model (images only for the gallery):
  python tools/errors.py annotations=instances.json predictions=results.json [images=<folder>]
"""

import json
from pathlib import Path

from omegaconf import DictConfig

from detkit.analysis.error_report import render_error_summary
from detkit.analysis.label_issue_report import render_label_issue_summary
from detkit.exceptions import ConfigError
from detkit.runs import layout
from detkit.workflows.cli import run_hydra_tool
from detkit.workflows.error_outputs import ErrorOptions
from detkit.workflows.file_errors import analyse_file_errors
from detkit.workflows.options import typed

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    options = typed(ErrorOptions, cfg)
    if cfg.annotations and cfg.predictions:  # files only: no torch or Lightning to import (seconds)
        out = analyse_file_errors(options)
    elif cfg.run:
        from detkit.workflows.error_analysis import analyse_run_errors

        out = analyse_run_errors(options)
    else:
        raise ConfigError(
            "give run=<a run directory made by tools/train.py> (or a checkpoint inside one), "
            "or annotations=<COCO json> predictions=<COCO results json>"
        )
    if out is None:  # a rank other than 0 under DDP: rank 0 writes the report
        return
    if cfg.tags:
        print(layout.report_file(out, "tags", ".md").read_text(encoding="utf-8"))
    else:
        print(render_error_summary(json.loads(layout.report_file(out, "errors", ".json").read_text(encoding="utf-8"))))
        print(
            f"per class, by size, the confusions and the worst images: {layout.report_file(out, 'errors', '.md').name}"
        )
        if cfg.label_issues:
            print(
                render_label_issue_summary(
                    json.loads(layout.report_file(out, "label_issues", ".json").read_text(encoding="utf-8"))
                )
            )
    print(f"written to {out}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "errors")
