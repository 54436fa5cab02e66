"""Convert a dataset between COCO, Pascal VOC and YOLO (images are copied; inputs untouched).

python tools/convert.py from=voc src=VOCdevkit/VOC2012 to=coco dst=data/voc_as_coco
python tools/convert.py from=coco src=data/shapes to=yolo dst=data/shapes_yolo
"""

from pathlib import Path

from omegaconf import DictConfig

from detkit.data.formats import convert_dataset
from detkit.training.cli import run_hydra_tool

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    dataset = convert_dataset(cfg["from"], cfg.src, cfg.to, cfg.dst)
    boxes = sum(len(r.boxes) for r in dataset.records)
    print(f"converted {len(dataset)} images, {boxes} boxes, {dataset.num_classes} classes: {cfg.dst}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "convert")
