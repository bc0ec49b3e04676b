"""The codelab's tf.data pipeline: cache, shuffle 5000, batch, prefetch."""

from __future__ import annotations

import numpy as np

SHUFFLE_BUFFER = 5000


FLAT = (784,)
IMAGE = (28, 28, 1)


def scale_images(images: np.ndarray, shape: tuple[int, ...] = IMAGE) -> np.ndarray:
    """Images -> float32 shaped (N, *shape): (784,) flat or (28, 28, 1).

    Integer images (uint8, 0-255) are scaled to [0, 1]; float images are taken as scaled.
    """
    images = np.asarray(images)
    x = images.astype(np.float32)
    if np.issubdtype(images.dtype, np.integer):
        x /= 255.0
    return x.reshape((len(x), *shape))


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    training: bool,
    flat: bool = False,
    shape: tuple[int, ...] | None = None,
    seed: int | None = None,
    shift: int = 0,
):
    """A ``tf.data.Dataset`` of (image, label) batches.

    Training data is cached, shuffled with a 5000-image buffer (reshuffled each epoch),
    batched and prefetched, as the codelab does; evaluation data is batched and prefetched.
    Images are shaped ``shape`` when given, else flat (784,) or (28, 28, 1) by ``flat``.
    ``shift`` > 0 moves each training image by up to that many pixels (``augment.py``).
    """
    import tensorflow as tf

    shape = shape or (FLAT if flat else IMAGE)
    x = scale_images(images, shape)
    y = np.asarray(labels, dtype=np.int64)
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        dataset = dataset.cache().shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training and shift:
        from .augment import shift_images

        def move(batch, label):
            moved = shift_images(tf.reshape(batch, (-1, *IMAGE)), shift)
            return tf.reshape(moved, (-1, *shape)), label

        dataset = dataset.map(move, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
