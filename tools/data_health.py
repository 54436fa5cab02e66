"""Is the data sound?  python tools/data_health.py data=auto data.root=<export> [out=<folder>]

Per split: images, boxes, classes, box sizes (also at the model's input), image sizes; copies
of one image within and across splits (exact, near, an exporter's copy names); how far dev and
test look from train (a two-sample test per image statistic, a domain classifier's AUC).
Writes health.{md,json}, distributions.png and leaks.png (the copies that span splits).
  python tools/data_health.py run=<run dir>       the run's splits, and its dev metric without the leaks
  ... moved_splits=<new folder>                   manifests with each cluster of copies in one split
"""

from dataclasses import fields
from pathlib import Path

from omegaconf import DictConfig

from detkit.runs import layout
from detkit.workflows.cli import run_hydra_tool
from detkit.workflows.options import typed
from detkit.workflows.outputs import output_folder

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    from detkit.models.families import keeps_aspect_ratio
    from detkit.runs.run_dir import RunDir
    from detkit.training.datamodule import configured_data
    from detkit.workflows.data_health import HealthOptions, ModelInput, report_data_health

    options = typed(HealthOptions, {field.name: cfg[field.name] for field in fields(HealthOptions)})
    if options.run:
        run = RunDir.open(options.run, options.checkpoint)
        data, model = run.data, run.config.model
        out = output_folder(cfg, run.data_health_dir)
    else:
        data, model = configured_data(cfg.data.module), cfg.model
        out = output_folder(cfg, Path(cfg.paths.output_dir) / cfg.data.name)
    model_input = ModelInput(int(model.image_size), keeps_aspect_ratio(model.name, model.get("keep_aspect_ratio")))
    report = report_data_health(data, options, model_input, out)
    for name, split in report["splits"].items():
        print(f"{name:10s} {split['images']:6d} images {split['boxes']:7d} boxes {split['empty_images']:5d} empty")
    for finding in report["findings"] or ["no problem found"]:
        print(finding)
    if "leak_worth" in report:
        print(f"what the leaks are worth: {report['leak_worth']}")
    print(f"report written to {layout.report_file(out, 'health', '.md')}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "data_health")
