"""Convert a dataset between COCO, Pascal VOC and YOLO (images and the export's own splits are
copied; inputs untouched). The source takes the data options training does (data.root, data.format,
data.images, data.splits=resplit to leave its splits behind).

python tools/convert.py data.root=VOCdevkit/VOC2012 to=coco dst=data/voc_as_coco
python tools/convert.py data=coco data.root=data/shapes to=yolo dst=data/shapes_yolo
"""

from pathlib import Path

from omegaconf import DictConfig

from detkit.data.formats import convert_dataset
from detkit.workflows.cli import run_hydra_tool

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    # the reader's options exactly as training passes them (configs/data/_files.yaml)
    options = {k: v for k, v in cfg.data.module.source.items() if not k.startswith("_")}
    source_format, src = options.pop("format"), options.pop("root")
    dataset = convert_dataset(source_format, src, cfg.to, cfg.dst, splits=cfg.data.splits, **options)
    boxes = sum(len(r.boxes) for r in dataset.records)
    print(f"converted {len(dataset)} images, {boxes} boxes, {dataset.num_classes} classes: {cfg.dst}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "convert")
