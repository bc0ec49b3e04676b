"""What one channel responds to: the kernels that make it and the digits that excite it most."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .layers import LayerOutputs

# layers that keep each channel apart: a feature map after them still comes from one kernel
CHANNEL_WISE = frozenset(
    {
        "BatchNormalization",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "ELU",
        "PReLU",
        "Softmax",
        "Dropout",
        "SpatialDropout2D",
        "GaussianNoise",
        "GaussianDropout",
        "MaxPooling2D",
        "AveragePooling2D",
    }
)


def kernels_of(model, layer_name: str, channel: int) -> np.ndarray | None:
    """float32 (input channels, height, width): the kernels that made ``channel`` of a layer.

    For a convolution, its own kernels; for a layer that keeps channels apart (batch norm,
    activation, pooling, dropout), the kernels of the convolution before it in the stack.
    None when no convolution made the channel (a dense layer, or the input).
    """
    layers = model.layers
    position = next(i for i, layer in enumerate(layers) if layer.name == layer_name)
    while position >= 0:
        layer = layers[position]
        kind = type(layer).__name__
        if kind == "Conv2D":
            kernel = np.asarray(layer.kernel)  # (height, width, in, out)
            return np.ascontiguousarray(kernel[..., int(channel)].transpose(2, 0, 1))
        if kind not in CHANNEL_WISE:
            return None
        position -= 1
    return None


class ChannelScores:
    """How strongly each digit of a set excites each feature map of every convolutional layer.

    A feature map's score is its mean over the image. Scores are computed on first use in one
    pass over ``images`` (float32, digits x channels per feature-map layer) and kept until
    ``release()``.
    """

    def __init__(self, outputs: LayerOutputs, images: np.ndarray, batch_size: int = 256) -> None:
        self.outputs = outputs
        self.images = images
        self.batch_size = int(batch_size)
        self._scores: dict[int, np.ndarray] | None = None

    @property
    def computed(self) -> bool:
        return self._scores is not None

    def scores(self, layer: int) -> np.ndarray:
        """float32 (digits, channels) for shown layer number ``layer`` (one with feature maps)."""
        if self._scores is None:
            self._scores = self.outputs.channel_means(self.images, self.batch_size)
        if layer not in self._scores:
            raise DataError(f"layer {self.outputs.layers[layer].name} has no feature maps")
        return self._scores[layer]

    def top(self, layer: int, channel: int, count: int = 9) -> np.ndarray:
        """Indices into ``images`` of the ``count`` digits scoring highest, highest first."""
        column = self.scores(layer)[:, int(channel)]
        count = min(int(count), len(column))
        best = np.argpartition(-column, count - 1)[:count] if count else np.zeros(0, np.intp)
        return best[np.argsort(-column[best], kind="stable")]

    def release(self) -> None:
        """Drop the scores (they are computed again when next asked for)."""
        self._scores = None

    def close(self) -> None:
        """Drop the scores, the layer outputs (and so the model's layers) and the images, for
        good: nothing can be computed any more."""
        self._scores = None
        self.outputs = self.images = None

    @property
    def nbytes(self) -> int:
        return 0 if self._scores is None else sum(s.nbytes for s in self._scores.values())
