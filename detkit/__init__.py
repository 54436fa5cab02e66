"""detkit: object detection practice as tools, on PyTorch Lightning, torchvision and Hydra."""

__version__ = "0.3.1"  # CHANGELOG.md
