"""Looking inside a trained model: every layer's output for a digit, the kernels behind a
feature map, the test digits that excite a channel most, and per-pixel attributions.

Plain numpy and Keras, no widgets: the layer explorer and the gallery show what this computes.
"""

from __future__ import annotations

from .attribution import integrated_gradients
from .channels import ChannelScores, kernels_of
from .digits import as_digit, model_batch
from .layers import LayerInfo, LayerOutputs

__all__ = [
    "ChannelScores",
    "LayerInfo",
    "LayerOutputs",
    "as_digit",
    "integrated_gradients",
    "kernels_of",
    "model_batch",
]
