"""Any timm model as CSPDet's backbone (``model.options.backbone=<timm name>``): its stride 8, 16
and 32 features through timm's ``features_only``, with ImageNet weights by name (downloaded from
the Hugging Face hub) or from a file, as ``model.weights_backbone`` says."""

from pathlib import Path

from torch import Tensor, nn

from detkit.exceptions import ConfigError
from detkit.models.cspdet.network import IMAGENET_MEAN, IMAGENET_STD, STRIDES

DEFAULT_WEIGHTS = "DEFAULT"  # the model's default pretrained tag (timm's first)
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


class TimmBackbone(nn.Module):
    """A timm feature extractor; returns its features at ``STRIDES`` (``out_channels`` each)."""

    def __init__(self, body: nn.Module, indices: list[int], out_channels: list[int]) -> None:
        super().__init__()
        self.body = body
        self.indices = indices
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> list[Tensor]:
        features: list[Tensor] = self.body(x)
        return [features[i] for i in self.indices]


def timm_backbone(name: str, weights: str | None = None) -> tuple[TimmBackbone, list[float], list[float]]:
    """timm's ``name`` as a `TimmBackbone`, with the mean and std its weights expect. ``weights``:
    None (random), ``DEFAULT`` or a pretrained tag (``in1k``, ...) fetched by timm, or a weights
    file (``.safetensors``, ``.pth``: the classification model's state dict, read as tensors only)."""
    import timm  # here: only this option needs it, and it takes about a second to import

    pretrained, model_name, overlay = weights is not None, name, None
    if weights is not None and (Path(weights).suffix in WEIGHT_SUFFIXES or Path(weights).exists()):
        if not Path(weights).is_file():
            raise ConfigError(f"model.weights_backbone={weights!r}: no such file")
        overlay = {"file": str(Path(weights).resolve())}
    elif weights is not None and weights != DEFAULT_WEIGHTS:
        model_name = f"{name}.{weights}"
    try:
        body = timm.create_model(model_name, features_only=True, pretrained=pretrained, pretrained_cfg_overlay=overlay)
    except RuntimeError as error:
        if "Unknown model" in str(error) or "Invalid pretrained tag" in str(error):
            raise ConfigError(
                f"model.options.backbone={name!r} (weights {weights!r}): {error}; timm.list_models('<pattern>') "
                "lists the names, timm.list_pretrained('<name>*') the tags"
            ) from None
        first_lines = " ".join(str(error).splitlines()[:2])  # torch lists every mismatched tensor
        raise ConfigError(f"model.weights_backbone={weights!r} does not fit {name}: {first_lines}") from None
    except OSError as error:  # no network (the hub's files cannot be fetched), an unreadable file
        hub = timm.models.get_pretrained_cfg(model_name)
        raise ConfigError(
            f"could not load the weights of {model_name} ({error}). On a machine with internet, download "
            f"model.safetensors from https://huggingface.co/{hub.hf_hub_id if hub else 'timm'} and give the file: "
            "model.weights_backbone=<path>; or train without them: model.weights_backbone=null"
        ) from None
    reductions = body.feature_info.reduction()
    if not all(stride in reductions for stride in STRIDES):
        raise ConfigError(
            f"model.options.backbone={name!r} gives features at strides {reductions}; CSPDet needs {list(STRIDES)} "
            "(a convolutional network: a ResNet, EfficientNet, MobileNet, ConvNeXt, ...)"
        )
    indices = [reductions.index(stride) for stride in STRIDES]
    channels = body.feature_info.channels()
    config = body.pretrained_cfg
    backbone = TimmBackbone(body, indices, [channels[i] for i in indices])
    return backbone, list(config.get("mean", IMAGENET_MEAN)), list(config.get("std", IMAGENET_STD))
