"""Light augmentation for digits: random shifts of a few pixels."""

from __future__ import annotations


def shift_images(batch, pixels: int):
    """Move each image of a (B, 28, 28, 1) batch by its own random offset of up to ``pixels``
    in each direction, filling with zeros (black)."""
    import tensorflow as tf

    count = tf.shape(batch)[0]
    height, width = batch.shape[1], batch.shape[2]
    padded = tf.pad(batch, [[0, 0], [pixels, pixels], [pixels, pixels], [0, 0]])
    rows = tf.random.uniform((count, 1), 0, 2 * pixels + 1, tf.int32) + tf.range(height)[None]
    cols = tf.random.uniform((count, 1), 0, 2 * pixels + 1, tf.int32) + tf.range(width)[None]
    padded = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(padded, cols, axis=2, batch_dims=1)
