"""torchvision detectors built by name; plain PyTorch (no Lightning)."""

from detkit.models.detectors import DETECTORS, build_detector, replace_classifier

__all__ = ["DETECTORS", "build_detector", "replace_classifier"]
