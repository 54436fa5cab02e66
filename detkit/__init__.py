"""detkit: object detection practice as tools, on PyTorch Lightning, torchvision and Hydra."""

__version__ = "0.3.0"  # CHANGELOG.md
