"""What the kit keeps in memory: uint8 pixels shared, not copied; float32 only per batch; the
arrays of a replaced or released widget dropped. Headless, and nothing is timed."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_widgets.data.pipeline import (
    SHUFFLE_BUFFER,
    make_dataset,
    pixels_for_pipeline,
    pixels_tensor,
    scale_images,
)


def codelab_float_pipeline(images, labels, batch_size, shape, seed):
    """The pipeline as it was: the whole set scaled to float32 first, then cached."""
    import tensorflow as tf

    x = scale_images(images, shape)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.asarray(labels, np.int64)))
    dataset = dataset.cache().shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def test_loaded_images_are_uint8(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.dtype == np.uint8 and x_test.dtype == np.uint8
    assert x_train.nbytes == 60000 * 784 and x_test.nbytes == 10000 * 784
    assert not np.shares_memory(x_train, x_test)


def test_pipeline_input_shares_the_uint8_pixels(small_mnist):
    (x, _), _ = small_mnist
    pixels, scale_later = pixels_for_pipeline(x, (784,))
    assert scale_later and pixels.dtype == np.uint8 and pixels.shape == (len(x), 784)
    assert np.shares_memory(pixels, x)  # a view: no copy of the images
    floats, scale_later = pixels_for_pipeline(x[:5] / 255.0, (28, 28, 1))
    assert not scale_later and floats.dtype == np.float32 and floats.max() <= 1.0


@pytest.mark.parametrize("shape", [(784,), (28, 28, 1)])
def test_pipeline_yields_the_same_float_batches_as_before(small_mnist, shape):
    (x, y), _ = small_mnist
    x, y = x[:1500], y[:1500]
    new = make_dataset(x, y, 128, training=True, shape=shape, seed=7)
    old = codelab_float_pipeline(x, y, 128, shape, seed=7)
    for _epoch in range(2):  # reshuffled alike each epoch
        batches = list(zip(new, old, strict=True))
        assert len(batches) == -(-len(x) // 128)
        for (images, labels), (old_images, old_labels) in batches:
            assert images.dtype.name == "float32" and images.shape[1:] == shape
            assert 0.0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 1.0
            np.testing.assert_array_equal(labels.numpy(), old_labels.numpy())
            np.testing.assert_array_equal(images.numpy(), old_images.numpy())


def test_evaluation_pipeline_scales_in_order(small_mnist):
    _, (x, y) = small_mnist
    images, labels = next(iter(make_dataset(x[:300], y[:300], 300, training=False)))
    np.testing.assert_array_equal(images.numpy(), scale_images(x[:300]))
    np.testing.assert_array_equal(labels.numpy(), y[:300])


def test_pixels_tensor_equals_scale_images(small_mnist):
    (x, _), _ = small_mnist
    tensor = pixels_tensor(x[:100], (28, 28, 1))
    assert tensor.dtype.name == "float32"
    np.testing.assert_array_equal(tensor.numpy(), scale_images(x[:100], (28, 28, 1)))
    floats = pixels_tensor(x[:3] / 255.0, (784,))
    np.testing.assert_allclose(floats.numpy(), scale_images(x[:3], (784,)), rtol=1e-6)
