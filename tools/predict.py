"""Detect objects in new images:  python tools/predict.py run=<run dir> images=<folder or glob>
                             or:  python tools/predict.py model=<exported model> images=...

Writes <out>/predictions.json (COCO results: image_id, category_id, bbox xywh, score),
<out>/images.json (the image ids and categories they refer to) and <out>/drawn/ (the images
with their detections); <out> is <run>/predict (or predict/ beside the exported model) unless
given. An exported model (tools/export.py) predicts without Lightning.
"""

from pathlib import Path

from omegaconf import DictConfig

from detkit.exceptions import ConfigError
from detkit.workflows.cli import run_hydra_tool
from detkit.workflows.options import typed
from detkit.workflows.predict import PredictOptions, predict_images

# A folder of its own: in configs/, model/ is a config group, and Hydra would read model=<file>
# as choosing one of its options instead of setting the key.
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "predict"


def main(cfg: DictConfig) -> None:
    if not (cfg.run or cfg.model) or not cfg.images:
        raise ConfigError(
            "give run=<a run directory made by tools/train.py> (or model=<a file tools/export.py wrote>) "
            "and images=<folder, glob or image>"
        )
    predicted = predict_images(typed(PredictOptions, cfg))
    print(f"{predicted.detections} detections on {predicted.images} images written to {predicted.out}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "predict")
