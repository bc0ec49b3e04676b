"""The codelab's tf.data pipeline: cache, shuffle 5000, batch, prefetch.

Pixels stay uint8 (0-255) until a batch is formed and are scaled to float32 in [0, 1] per
batch inside the pipeline, so neither numpy nor TensorFlow holds a float copy of a whole
data set (TensorFlow keeps two copies of an array it converts from numpy; a float32 copy of
the 60,000 training images is 188 MB, the uint8 pixels 47 MB).
"""

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


def pixels_for_pipeline(images: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """``(array, scale_later)``: integer pixels as uint8 shaped (N, *shape), sharing ``images``'
    memory when they are uint8 already, and True (to be scaled per batch); float images
    scaled now (``scale_images``) and False."""
    images = np.asarray(images)
    if np.issubdtype(images.dtype, np.integer):
        return images.reshape((len(images), *shape)).astype(np.uint8, copy=False), True
    return scale_images(images, shape), False


def to_unit_range(images, labels):
    """A batch of uint8 pixels -> float32 in [0, 1] (the same values as ``scale_images``)."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 255.0, labels


def pixels_tensor(images: np.ndarray, shape: tuple[int, ...] = IMAGE):
    """A float32 tensor (N, *shape) in [0, 1], scaled inside TensorFlow: one float copy,
    where ``tf.constant(scale_images(images))`` holds three while it is made (numpy's and
    the two TensorFlow keeps of a converted array).

    Its values equal ``scale_images``'; ``model.fit`` and ``model.predict`` take it with no
    conversion (a numpy array is converted, two more copies while Keras holds it). It
    indexes like an array (``x[:1000]``, ``x[labels == 3]``); ``x.numpy()`` gives numpy.
    """
    import tensorflow as tf

    pixels, scale = pixels_for_pipeline(images, shape)
    if not scale:
        return tf.identity(tf.constant(pixels))  # identity: the one copy an op returns
    return to_unit_range(tf.constant(pixels), None)[0]


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
    """A ``tf.data.Dataset`` of (image, label) batches: float32 images in [0, 1], int64 labels.

    Training data is cached, shuffled with a 5000-image buffer (reshuffled each epoch),
    batched and prefetched, as the codelab does; evaluation data is batched and prefetched.
    uint8 pixels are cached as they are and scaled per batch. Images are shaped ``shape``
    when given, else flat (784,) or (28, 28, 1) by ``flat``. ``shift`` > 0 moves each
    training image by up to that many pixels (``augment.py``).
    """
    import tensorflow as tf

    shape = shape or (FLAT if flat else IMAGE)
    x, scale = pixels_for_pipeline(images, shape)
    y = np.asarray(labels, dtype=np.int64)
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        dataset = dataset.cache().shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if scale:
        dataset = dataset.map(to_unit_range, num_parallel_calls=tf.data.AUTOTUNE)
    if training and shift:
        from .augment import shift_images

        def move(batch, label):
            moved = shift_images(tf.reshape(batch, (-1, *IMAGE)), shift)
            return tf.reshape(moved, (-1, *shape)), label

        dataset = dataset.map(move, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
