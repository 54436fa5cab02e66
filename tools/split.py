"""Carve train / train_dev / dev / test manifests and a split report.

  python tools/split.py out=splits/shapes
  python tools/split.py data=coco data.root=<coco folder or json> out=splits/mine \
      data.module.split.dev_test_from=phone "data.module.split.group_regex='^(cam\\d+)_'"
Then train on them:  python tools/train.py data.module.splits_dir=splits/shapes
"""

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from detkit.data.split_report import write_splits
from detkit.training.cli import run_hydra_tool

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    dataset = instantiate(cfg.data.module.source)()
    split = OmegaConf.to_container(cfg.data.module.split, resolve=True)
    summary = write_splits(dataset, cfg.out, split, cfg.seed, cfg.min_instances)
    for name, counts in summary["splits"].items():
        print(f"{name:10s} {counts['images']:6d} images {counts['boxes']:7d} boxes {counts['groups']:5d} groups")
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    print(f"manifests and report.md written to {cfg.out}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "split")
