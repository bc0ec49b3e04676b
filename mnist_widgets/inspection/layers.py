"""Every layer's output for a batch of digits, from one sub-model built once per model.

Layers that pass their input through unchanged at inference (input, dropout, noise) or only
reshape it (flatten, reshape) are left out: their output is the previous layer's. What stays
is described by ``LayerInfo``: feature maps (height, width, channels), units, or the classes.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from .digits import input_shape_of, model_batch

PASS_THROUGH = frozenset(
    {
        "InputLayer",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "ActivityRegularization",
        "Flatten",
        "Reshape",
    }
)
MAPS, UNITS, CLASSES = "maps", "units", "classes"

_built: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class LayerInfo:
    """One shown layer: its name, Keras class, kind (maps, units, classes) and output shape."""

    name: str
    class_name: str
    kind: str
    shape: tuple[int, ...]
    position: int  # index in ``model.layers``

    @property
    def channels(self) -> int:
        """Feature maps (last axis) for maps, units otherwise."""
        return self.shape[-1]

    def describe(self) -> str:
        dims = "x".join(str(d) for d in self.shape)
        return f"{self.name} ({self.class_name}, {dims})"


def _kind(shape: tuple[int, ...], last: bool) -> str:
    if len(shape) == 3:
        return MAPS
    return CLASSES if last and shape == (10,) else UNITS


class LayerOutputs:
    """The outputs of every shown layer of ``model`` for digits, through one compiled call.

    Build with ``LayerOutputs.of(model)`` to share one per model. ``outputs(digits)`` returns
    a list with one array per entry of ``layers``, each (N, *shape).
    """

    def __init__(self, model) -> None:
        import keras
        import tensorflow as tf

        self.input_shape = input_shape_of(model)
        layers = model.layers
        shown = [
            (i, layer)
            for i, layer in enumerate(layers)
            if type(layer).__name__ not in PASS_THROUGH and len(layer.output.shape) in (2, 4)
        ]
        self.layers = [
            LayerInfo(
                layer.name,
                type(layer).__name__,
                _kind(tuple(int(d) for d in layer.output.shape[1:]), i == len(layers) - 1),
                tuple(int(d) for d in layer.output.shape[1:]),
                i,
            )
            for i, layer in shown
        ]
        self.model_ref = weakref.ref(model)
        self.submodel = keras.Model(model.inputs[0], [layer.output for _, layer in shown])
        spec = tf.TensorSpec((None, *self.input_shape), tf.float32)
        self._call = tf.function(lambda x: self.submodel(x, training=False), input_signature=[spec])
        self._means = tf.function(self._channel_means, input_signature=[spec])

    @classmethod
    def of(cls, model) -> LayerOutputs:
        """The one ``LayerOutputs`` of ``model`` (built on first use, dropped with the model)."""
        found = _built.get(model)
        if found is None:
            found = _built[model] = cls(model)
        return found

    def index(self, name: str) -> int:
        """Position in ``layers`` of the layer called ``name``."""
        for i, info in enumerate(self.layers):
            if info.name == name:
                return i
        raise KeyError(f"no shown layer called {name!r}")

    def outputs(self, digits: np.ndarray) -> list[np.ndarray]:
        """float32 outputs of every shown layer for uint8 or float (N, 28, 28) digits."""
        model = self.model_ref()
        x = model_batch(model, digits) if model is not None else np.asarray(digits, np.float32)
        results = self._call(x)
        return [np.asarray(r) for r in results]

    def one(self, digit: np.ndarray) -> list[np.ndarray]:
        """Every shown layer's output for one float32 (28, 28) digit, without the batch axis."""
        return [r[0] for r in self.outputs(np.asarray(digit)[None])]

    @property
    def map_layers(self) -> list[int]:
        """Positions in ``layers`` of the layers with feature maps."""
        return [i for i, info in enumerate(self.layers) if info.kind == MAPS]

    def channel_means(self, digits: np.ndarray, batch_size: int = 256) -> dict[int, np.ndarray]:
        """For each feature-map layer (by position), float32 (N, channels): each map's mean."""
        model = self.model_ref()
        parts: dict[int, list[np.ndarray]] = {i: [] for i in self.map_layers}
        for start in range(0, len(digits), batch_size):
            x = model_batch(model, digits[start : start + batch_size])
            for part, means in zip(parts.values(), self._means(x), strict=True):
                part.append(np.asarray(means))
        return {
            i: np.concatenate(p) if p else np.zeros((0, self.layers[i].channels), np.float32)
            for i, p in parts.items()
        }

    def _channel_means(self, x):
        import tensorflow as tf

        outputs = self.submodel(x, training=False)
        return [tf.reduce_mean(outputs[i], axis=[1, 2]) for i in self.map_layers]
