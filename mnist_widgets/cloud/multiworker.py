"""A ``keras.Sequential`` that ``model.fit`` can train under ``MultiWorkerMirroredStrategy``.

Keras 3.15's TensorFlow trainer has two faults with two or more workers
(keras-team/keras#20585): it learns the shapes of the first batch by all-reducing the whole
``(images, labels)`` tuple, which ``MultiWorkerMirroredStrategy`` cannot do with a tuple;
and it averages each step's scalar logs "along axis 0", which scalars do not have. This
subclass works around both through Keras' own override points: the shape probe takes this
worker's first local batch (only shapes and dtypes matter there), and ``train_step`` /
``test_step`` give each log value a leading axis of length one, so Keras' average over axis
0 becomes the mean over all replicas. Gradients are all-reduced by TensorFlow as usual.
"""

from __future__ import annotations

import keras


def _with_replica_axis(logs: dict) -> dict:
    import tensorflow as tf

    return {name: tf.reshape(value, (1,)) for name, value in logs.items()}


class MultiWorkerSequential(keras.Sequential):
    """``keras.Sequential`` whose ``fit`` and ``evaluate`` work with several workers."""

    def train_step(self, data):
        return _with_replica_axis(super().train_step(data))

    def test_step(self, data):
        return _with_replica_axis(super().test_step(data))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        import tensorflow as tf

        strategy = self.distribute_strategy
        if iterator is not None and data_batch is None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda value: (
                        strategy.experimental_local_results(value)[0]
                        if isinstance(value, tf.distribute.DistributedValues)
                        else value
                    ),
                    next(batches),
                )
                break
        return super()._maybe_symbolic_build(data_batch=data_batch)


def plain_sequential(model) -> keras.Sequential:
    """A plain ``keras.Sequential`` sharing ``model``'s layers, for a portable ``.keras`` file."""
    return keras.Sequential(
        [keras.Input(shape=model.input_shape[1:]), *model.layers], name=model.name
    )
