"""Export a trained detector:  python tools/export.py run=<run dir> format=onnx|torchscript

Writes <out>/model.onnx (or model.torchscript) and <file>.json beside it (classes, input,
normalisation, thresholds); <out> is <run>/export unless given. Before the file is kept, it is
run on the run's dev images and must give eager PyTorch's detections (boxes within 0.01 px,
scores within 1e-4), else nothing is written and the tool exits with code 2.
"""

from pathlib import Path

from omegaconf import DictConfig

from detkit.exceptions import ConfigError
from detkit.workflows.cli import run_hydra_tool
from detkit.workflows.options import typed

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    if not cfg.run:
        raise ConfigError("give run=<a run directory made by tools/train.py> and format=onnx or torchscript")
    from detkit.workflows.export import ExportOptions, export_run  # after the check: torch takes seconds to import

    exported = export_run(typed(ExportOptions, cfg))
    parity = exported.parity
    print(
        f"{exported.card['detector']} exported to {exported.path} (and {exported.path.name}.json)\n"
        f"parity with eager PyTorch on {parity.images} {cfg.parity.split} images ({parity.detections} detections): "
        f"boxes within {parity.max_box_difference:.2g} px, scores within {parity.max_score_difference:.2g}, "
        f"{parity.unpaired} unpaired ({parity.unpaired_at_cut} at the score cut)\n"
        f"predict with it:  python tools/predict.py model={exported.path} images=<folder>"
    )


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "export")
