"""The layer explorer driven headless: what each view holds for a small known CNN.

One small CNN (12 filters of 3x3, batch norm, a strided convolution, dense 16, softmax),
trained for two epochs on 600 images, serves every test; the explorer's data is 300 test
digits so the top-digit search is quick.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mnist_widgets.errors import DataError
from mnist_widgets.inspection import LayerOutputs, kernels_of
from mnist_widgets.widgets.drawing import DrawingPad
from mnist_widgets.widgets.explorer import LayerExplorer
from mnist_widgets.widgets.explorer.maps import FeatureMapGrid
from mnist_widgets.widgets.gallery import PredictionGallery
from mnist_widgets.widgets.pictures import grid_layout


def small_cnn():
    import keras

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(12, 3, padding="same", use_bias=False, name="conv12"),
            keras.layers.BatchNormalization(scale=False, name="norm12"),
            keras.layers.Activation("relu", name="relu12"),
            keras.layers.Conv2D(8, 4, strides=2, padding="same", activation="relu", name="conv8"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dropout(0.2, name="drop"),
            keras.layers.Dense(16, activation="relu", name="dense16"),
            keras.layers.Dense(10, activation="softmax", name="classes"),
        ]
    )


@pytest.fixture(scope="module")
def model(mnist):
    import keras

    keras.utils.set_random_seed(0)
    (x_train, y_train), _ = mnist
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train[:600, ..., None] / 255.0, y_train[:600], epochs=2, batch_size=50, verbose=0)
    return model


@pytest.fixture(scope="module")
def data(mnist):
    x_test, y_test = mnist[1]
    return x_test[:300], y_test[:300]


@pytest.fixture
def explorer(model, data):
    explorer = LayerExplorer(model, data)
    yield explorer
    explorer.close()


def sub_model_output(model, name: str, images: np.ndarray) -> np.ndarray:
    """The output of layer ``name``, from a Keras sub-model built here, apart from the explorer."""
    import keras

    sub = keras.Model(model.inputs[0], model.get_layer(name).output)
    return np.asarray(sub(images[..., None].astype(np.float32) / 255.0, training=False))


def png_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def view_of(explorer: LayerExplorer, name: str):
    return explorer.views[explorer.outputs.index(name)]


def test_a_convolution_with_12_filters_gives_12_maps_equal_to_a_sub_model(explorer, model, data):
    explorer.show(3)
    view = view_of(explorer, "conv12")
    assert isinstance(view, FeatureMapGrid)
    assert view.maps.shape == (28, 28, 12)
    expected = sub_model_output(model, "conv12", data[0][3:4])[0]
    np.testing.assert_allclose(view.maps, expected, rtol=1e-5, atol=1e-5)
    assert png_size(view.image.value) == grid_layout(12, 28, 28).size
    strided = view_of(explorer, "conv8")
    assert strided.maps.shape == (14, 14, 8)
    np.testing.assert_allclose(
        strided.maps, sub_model_output(model, "conv8", data[0][3:4])[0], rtol=1e-5, atol=1e-5
    )


def test_dense_layers_are_bars_and_the_softmax_is_ten_bars(explorer, model, data):
    probabilities = explorer.show(5)
    names = [info.name for info in explorer.layers]
    assert names == ["conv12", "norm12", "relu12", "conv8", "dense16", "classes"]  # no flat, drop
    dense = view_of(explorer, "dense16")
    np.testing.assert_allclose(
        dense.bars.y, sub_model_output(model, "dense16", data[0][5:6])[0], rtol=1e-5, atol=1e-6
    )
    classes = view_of(explorer, "classes")
    expected = model.predict(data[0][5:6, ..., None] / 255.0, verbose=0)[0]
    np.testing.assert_allclose(classes.bars.y, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)
    assert explorer.prediction == int(expected.argmax())
    assert classes.bars.colors[explorer.prediction] != classes.bars.colors[explorer.prediction - 1]


def test_show_index_and_show_array_agree(explorer, data):
    explorer.show(11)
    by_index = [a.copy() for a in explorer.activations]
    assert explorer.digit_index == 11
    for picture in (data[0][11], data[0][11].astype(np.float32) / 255.0):
        explorer.show(picture)
        assert explorer.digit_index is None
        for a, b in zip(by_index, explorer.activations, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert "test digit" not in explorer.caption.value


def test_a_new_digit_replaces_the_old_arrays(explorer):
    explorer.show(1)
    first = explorer.activations
    explorer.show(2)
    assert explorer.activations is not first
    assert not np.allclose(first[0], explorer.activations[0])


def test_clicking_a_feature_map_fills_kernels_and_nine_top_digits(explorer, model, data):
    explorer.show(0)
    view = view_of(explorer, "conv12")
    x, y = view.grid.origin(5)
    view._on_click({"type": "click", "dataX": x + 2, "dataY": y + 2})  # what ipyevents sends
    assert explorer.selected == ("conv12", 5)
    assert view.selected_channel == 5
    kernel = np.asarray(model.get_layer("conv12").kernel)[..., 5].transpose(2, 0, 1)
    np.testing.assert_allclose(explorer.detail.kernels, kernel)
    top = explorer.detail.top_indices
    assert len(top) == 9
    means = sub_model_output(model, "conv12", data[0]).mean(axis=(1, 2))[:, 5]
    np.testing.assert_allclose(np.sort(means[top])[::-1], np.sort(means)[::-1][:9], rtol=1e-4)
    assert png_size(explorer.detail.digits_image.value)[0] > 0
    assert "mnist-hidden" not in explorer.detail.kernel_image._dom_classes


def test_a_map_after_batch_norm_shows_the_kernels_of_the_convolution_before(explorer, model):
    explorer.show(0)
    view_of(explorer, "relu12").click(*view_of(explorer, "relu12").grid.origin(2))
    assert explorer.selected == ("relu12", 2)
    assert view_of(explorer, "conv12").selected_channel is None
    kernel = np.asarray(model.get_layer("conv12").kernel)[..., 2].transpose(2, 0, 1)
    np.testing.assert_allclose(explorer.detail.kernels, kernel)
    second = np.asarray(model.get_layer("conv8").kernel)[..., 7].transpose(2, 0, 1)
    explorer.select("conv8", 7)
    assert explorer.detail.kernels.shape == (12, 4, 4)
    np.testing.assert_allclose(explorer.detail.kernels, second)
    assert kernels_of(model, "dense16", 0) is None


def test_a_click_between_maps_selects_nothing_and_bad_selections_are_refused(explorer):
    view = view_of(explorer, "conv12")
    assert view.click(0, 0) is None  # the gap at the corner
    assert explorer.selected is None
    with pytest.raises(DataError):
        explorer.select("dense16", 0)
    with pytest.raises(DataError):
        explorer.select("conv12", 12)
    with pytest.raises(DataError):
        explorer.scores.scores(explorer.outputs.index("dense16"))  # scores: feature maps only
    with pytest.raises(DataError):
        explorer.show(10_000)
    with pytest.raises(DataError):
        explorer.show(np.zeros((20, 20)))


def test_the_explorer_follows_a_gallery_selection(explorer, model, data):
    gallery = PredictionGallery(model, data, draw=False)
    explorer.follow(gallery)
    gallery.selected_index = 42
    assert explorer.digit_index == 42
    np.testing.assert_allclose(explorer.digit, data[0][42] / 255.0, atol=1e-6)
    position = 3
    x0, y0, _, _ = gallery.layout_of_page.digit_box(position)
    assert gallery.select_at(x0 + 5, y0 + 5) == gallery.shown_indices[position]
    assert explorer.digit_index == gallery.shown_indices[position]
    explorer.unfollow()
    gallery.selected_index = 7
    assert explorer.digit_index != 7
    gallery.close()


def test_the_explorer_follows_the_pen_after_each_finished_stroke(explorer, model):
    pad = DrawingPad(model)
    explorer.follow(pad)
    explorer.show(0)
    pad.on_mouse_down(140, 40)
    pad.on_mouse_move(140, 140)
    assert explorer.digit_index == 0  # mid-stroke: the explorer waits for the pen to lift
    pad.on_mouse_move(140, 240)
    pad.on_mouse_up(0, 0)
    assert explorer.digit_index is None
    np.testing.assert_allclose(explorer.digit, pad.preprocessed)
    assert explorer.prediction == pad.prediction
    pad.clear()
    assert explorer.prediction is None and not explorer.digit.any()
    pad.close()


def test_release_and_close_drop_the_large_arrays(model, data):
    explorer = LayerExplorer(model, data)
    explorer.show(4)
    explorer.select("conv12", 1)
    assert explorer.scores.nbytes > 0 and explorer.activations is not None
    explorer.close()
    assert explorer.scores.nbytes == 0 and explorer.activations is None
    assert explorer.detail.kernels is None
    assert all(getattr(v, "maps", None) is None for v in explorer.views)
    assert explorer.comm is None


def test_layer_outputs_are_built_once_per_model(model):
    assert LayerOutputs.of(model) is LayerOutputs.of(model)


def test_a_dense_model_has_bars_only():
    import keras

    model = keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(20, activation="relu"), keras.layers.Dense(10)]
    )
    explorer = LayerExplorer(model, (np.zeros((5, 28, 28), np.uint8), np.zeros(5, np.int64)))
    explorer.show(np.eye(28, dtype=np.float32))
    assert [v.info.kind for v in explorer.views] == ["units", "classes"]
    assert explorer.views[0].values.shape == (20,)
    explorer.close()
