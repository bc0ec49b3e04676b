"""Cross-entropy on integer labels with label smoothing, which Keras offers only for one-hot
labels (``CategoricalCrossentropy(label_smoothing=...)``)."""

from __future__ import annotations

_LOSS_CLASS = None


def smoothed_sparse_crossentropy(label_smoothing: float):
    """A Keras loss: integer labels, made one-hot and smoothed by ``label_smoothing``."""
    if not 0.0 <= float(label_smoothing) < 1.0:
        raise ValueError("label_smoothing must be in [0, 1)")
    return _loss_class()(label_smoothing=float(label_smoothing))


def _loss_class():
    """The Keras class, made on first use so that importing this module stays light."""
    global _LOSS_CLASS
    if _LOSS_CLASS is not None:
        return _LOSS_CLASS
    import keras

    @keras.saving.register_keras_serializable(package="mnist_widgets")
    class SmoothedSparseCrossentropy(keras.losses.Loss):
        """Categorical cross-entropy of integer labels with label smoothing."""

        def __init__(self, label_smoothing=0.1, name="smoothed_sparse_crossentropy", **kwargs):
            super().__init__(name=name, **kwargs)
            self.label_smoothing = float(label_smoothing)

        def call(self, y_true, y_pred):
            ops = keras.ops
            labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
            return keras.losses.categorical_crossentropy(
                one_hot, y_pred, label_smoothing=self.label_smoothing
            )

        def get_config(self):
            return {**super().get_config(), "label_smoothing": self.label_smoothing}

    _LOSS_CLASS = SmoothedSparseCrossentropy
    return _LOSS_CLASS
