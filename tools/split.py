"""Carve train / train_dev / dev / test manifests and a split report.

  python tools/split.py out=splits/shapes
  python tools/split.py data=auto data.root=<export> out=splits/mine    # on the export's own splits
  python tools/split.py data=coco data.root=<coco folder or json> out=splits/mine data.splits=resplit \
      data.module.split.dev_test_from=phone "data.module.split.group_regex='^(cam\\d+)_'"
Then train on them:  python tools/train.py data.module.splits_dir=splits/shapes
"""

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from detkit.data.splits.report import write_splits
from detkit.workflows.cli import run_hydra_tool

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    dataset = instantiate(cfg.data.module.source)()
    split = OmegaConf.to_container(cfg.data.module.split, resolve=True)
    mode = cfg.data.module.get("splits", "auto")
    summary = write_splits(dataset, cfg.out, split, cfg.seed, cfg.min_instances, mode)
    print(f"splits: {summary['mode']}")
    for name, counts in summary["splits"].items():
        print(f"{name:10s} {counts['images']:6d} images {counts['boxes']:7d} boxes {counts['groups']:5d} groups")
    warnings = summary["warnings"]
    if warnings:
        more = f" (and {len(warnings) - 1} more like it, listed in report.md)" if len(warnings) > 1 else ""
        print(f"warning: {warnings[0]}{more}")
    print(f"manifests and report.md written to {cfg.out}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "split")
