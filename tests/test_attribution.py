"""Integrated gradients and the gallery's saliency view, for small known models."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mnist_widgets.errors import DataError
from mnist_widgets.inspection import as_digit, integrated_gradients
from mnist_widgets.widgets.gallery import PredictionGallery
from mnist_widgets.widgets.pictures import POSITIVE, render_saliency


@pytest.fixture(scope="module")
def cnn(mnist):
    import keras

    keras.utils.set_random_seed(1)
    (x_train, y_train), _ = mnist
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Conv2D(8, 4, strides=2, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train[:600, ..., None] / 255.0, y_train[:600], epochs=2, batch_size=50, verbose=0)
    return model


@pytest.fixture(scope="module")
def test_digits(mnist):
    x_test, y_test = mnist[1]
    return x_test[:200], y_test[:200]


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_attributions_add_up_to_the_change_of_the_output(cnn, test_digits, index):
    digit = as_digit(index, test_digits[0])
    other = (int(test_digits[1][index]) + 3) % 10
    probabilities = cnn.predict(digit[None, ..., None], verbose=0)[0]
    predicted = int(probabilities.argmax())
    result = integrated_gradients(cnn, digit, (predicted, other))
    assert result.values.shape == (2, 28, 28)
    at_black = cnn.predict(np.zeros((1, 28, 28, 1), np.float32), verbose=0)[0]
    np.testing.assert_allclose(result.at_digit, probabilities[[predicted, other]], atol=1e-5)
    np.testing.assert_allclose(result.at_baseline, at_black[[predicted, other]], atol=1e-5)
    change = probabilities[[predicted, other]] - at_black[[predicted, other]]
    for total, expected in zip(result.totals, change, strict=True):
        if abs(expected) > 1e-4:  # a change too small to measure has no relative error
            assert abs(total - expected) <= 0.01 * abs(expected)


def test_for_a_linear_model_the_attributions_are_weight_times_pixel():
    import keras

    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
    rng = np.random.default_rng(0)
    digit = rng.random((28, 28), dtype=np.float32)
    result = integrated_gradients(model, digit, (4,), steps=4)
    weights = np.asarray(model.layers[-1].kernel)[:, 4].reshape(28, 28)
    np.testing.assert_allclose(result.values[0], digit * weights, rtol=1e-4, atol=1e-6)
    assert result.completeness_error[0] < 1e-4


def test_the_steps_double_until_the_attributions_add_up(cnn, test_digits):
    digit = as_digit(0, test_digits[0])
    coarse = integrated_gradients(cnn, digit, (7,), steps=2, tolerance=None)
    fine = integrated_gradients(cnn, digit, (7,), steps=2, tolerance=0.001, max_steps=1024)
    assert coarse.steps == 2
    assert fine.steps > 2
    assert fine.completeness_error[0] <= max(0.001, coarse.completeness_error[0])


def test_attribution_needs_a_target(cnn):
    with pytest.raises(DataError):
        integrated_gradients(cnn, np.zeros((28, 28)), ())


def test_the_saliency_picture_is_red_where_a_pixel_pushed_toward_the_class():
    digit = np.zeros((28, 28), np.float32)
    values = np.zeros((2, 28, 28), np.float32)
    values[0, 10, 10] = 1.0
    values[1, 10, 10] = -1.0
    picture = render_saliency(digit, values, scale=5)
    assert picture.shape == (4 + 28 * 5 + 4, 4 + 2 * (28 * 5 + 4), 3)
    left = picture[4 + 50 + 2, 4 + 50 + 2].astype(float)
    right = picture[4 + 50 + 2, 4 + 28 * 5 + 4 + 50 + 2].astype(float)
    np.testing.assert_allclose(left, POSITIVE, atol=1)
    assert right[2] > right[0]  # blue, not red


def test_selecting_a_digit_shows_its_saliency_in_the_gallery(cnn, test_digits):
    gallery = PredictionGallery(cnn, test_digits, draw=False)
    p = gallery.predictions
    wrong = int(np.flatnonzero(~p.correct)[0])
    right = int(np.flatnonzero(p.correct)[0])
    assert "mnist-hidden" in gallery.saliency._dom_classes
    gallery.selected_index = wrong
    attribution = gallery.saliency.attribution
    assert attribution.values.shape == (2, 28, 28)  # the digit's shape, per class
    assert attribution.targets == (int(p.predicted[wrong]), int(p.labels[wrong]))
    assert (
        attribution.completeness_error.max() <= 0.01
        or np.abs(attribution.at_digit - attribution.at_baseline).min() < 1e-4
    )
    width, height = Image.open(io.BytesIO(gallery.saliency.image.value)).size
    assert (width, height) == (4 + 2 * (28 * 5 + 4), 4 + 28 * 5 + 4)
    assert "mnist-hidden" not in gallery.saliency._dom_classes
    assert f"toward {p.labels[wrong]} (true class)" in gallery.saliency.caption.value
    gallery.selected_index = right
    assert gallery.saliency.attribution.values.shape == (1, 28, 28)
    gallery.selected_index = None
    assert gallery.saliency.attribution is None
    assert "mnist-hidden" in gallery.saliency._dom_classes
    with pytest.raises(DataError):
        gallery.selected_index = len(p)
    gallery.close()
