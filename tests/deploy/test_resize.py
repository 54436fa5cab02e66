import io

import numpy as np
import onnxruntime
import pytest
import torch
from torch import nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from detkit.deploy.resize import EagerResize

SIZES = [(240, 400), (480, 300), (333, 517), (3024, 4032), (320, 320)]


class Resized(nn.Module):
    """The transform's resized (unpadded) image of one ``[1, 3, H, W]`` input."""

    def __init__(self, transform: GeneralizedRCNNTransform) -> None:
        super().__init__()
        self.transform = transform

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.transform.resize(images[0])[0]


def _transform() -> GeneralizedRCNNTransform:
    return GeneralizedRCNNTransform(320, 320, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).eval()


def test_torchvisions_scripted_resize_is_a_pixel_short_where_eager_is_not():
    """Why `EagerResize` exists: float32 division under scripting (pytorch/vision#3654)."""
    image = torch.rand(1, 3, 240, 400)
    assert Resized(_transform())(image).shape[-2:] == (192, 320)
    assert torch.jit.script(Resized(_transform()))(image).shape[-2:] == (191, 319)


@pytest.mark.parametrize("size", SIZES)
def test_eager_resize_gives_eager_pixels_eagerly_scripted_and_in_onnx(size):
    image = torch.rand(1, 3, *size)
    eager = Resized(_transform())(image)
    ours = Resized(EagerResize.like(_transform())).eval()
    torch.testing.assert_close(ours(image), eager, rtol=0, atol=0)
    torch.testing.assert_close(torch.jit.script(ours)(image), eager, rtol=0, atol=0)
    buffer = io.BytesIO()
    example = torch.rand(1, 3, 64, 96)  # traced at another size: height and width stay free
    free = {"images": {2: "h", 3: "w"}}
    torch.onnx.export(ours, (example,), buffer, dynamo=False, input_names=["images"], dynamic_axes=free)
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    onnx = session.run(None, {"images": image.numpy()})[0]
    assert onnx.shape == tuple(eager.shape)
    np.testing.assert_allclose(onnx, eager.numpy(), atol=5e-3)  # onnxruntime's bilinear sampling: float noise
