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


def test_fit_on_pixels_tensor_trains_exactly_as_on_numpy(small_mnist):
    """The assignments' setup hands students tensors: the same weights as numpy arrays give,
    and the numpy habits they need (slices, boolean masks) still work."""
    import keras
    import tensorflow as tf

    (x, y), _ = small_mnist
    x, y = x[:640], y[:640]

    def trained_weights(images):
        keras.utils.set_random_seed(3)
        model = keras.Sequential(
            [keras.Input((784,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10)]
        )
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(images, y, batch_size=64, epochs=2, verbose=0)
        return model.get_weights()

    tensor = pixels_tensor(x, (784,))
    assert isinstance(tensor, tf.Tensor)
    numpy_weights = trained_weights(scale_images(x, (784,)))
    for ours, theirs in zip(trained_weights(tensor), numpy_weights, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    threes = tensor[y == 3]
    assert threes.shape == (int(np.sum(y == 3)), 784)
    np.testing.assert_array_equal(tensor[:5].numpy(), scale_images(x[:5], (784,)))


def test_every_assignment_setup_makes_pixels_tensors():
    """One float32 copy of the images in a student's kernel (bench/notebook_memory.py)."""
    import json
    from pathlib import Path

    notebooks = sorted(Path(__file__).parents[1].glob("assignments/source/*/*.ipynb"))
    assert len(notebooks) == 6
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in cells]
        setup = cells[ids.index("setup")]
        source = "".join(setup["source"])
        assert "x_train = pixels_tensor(x_train," in source, path.name
        assert "x_test = pixels_tensor(x_test," in source, path.name
        assert ".astype(" not in source, path.name


# -- widgets: shared pixels, release, close, a re-run cell's replacement ----------------------


def untrained_classifier():
    """An untrained softmax classifier: predictions are all the gallery needs."""
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])


@pytest.fixture
def tiny_model():
    return untrained_classifier()


@pytest.fixture
def test_digits(mnist):
    x_test, y_test = mnist[1]
    return x_test[:200], y_test[:200]


@pytest.fixture
def cell(monkeypatch):
    """Pretend to run notebook cells: ``cell.run("a")`` makes the next widgets in a new run of
    cell "a"."""
    from mnist_widgets.widgets import lifetime

    class Cells:
        runs = 0

        def run(self, cell_id: str) -> None:
            self.runs += 1
            where = (cell_id, f"run-{self.runs}")
            monkeypatch.setattr(lifetime, "running_cell", lambda: where)

    monkeypatch.setattr(lifetime, "_made", {})
    return Cells()


def test_the_gallery_shares_the_test_pixels(tiny_model, mnist):
    from mnist_widgets.widgets.gallery import PredictionGallery

    x_test = mnist[1][0]
    gallery = PredictionGallery(tiny_model, mnist, draw=False)
    try:
        assert gallery.predictions.images.dtype == np.uint8
        assert np.shares_memory(gallery.predictions.images, x_test)
        assert gallery.predictions.probabilities.nbytes == len(x_test) * 10 * 4
    finally:
        gallery.close()


def test_a_released_gallery_drops_model_and_predictions(test_digits):
    import gc
    import weakref

    from mnist_widgets.errors import DataError
    from mnist_widgets.widgets.gallery import PredictionGallery

    tiny_model = untrained_classifier()
    gallery = PredictionGallery(tiny_model, test_digits)
    gallery.selected_index = 3  # attributions computed
    held = [weakref.ref(a) for a in (gallery.predictions, gallery.predictions.probabilities)]
    held.append(weakref.ref(gallery.saliency.attribution))
    model = weakref.ref(tiny_model)
    del tiny_model
    gallery.release()
    gc.collect()
    assert gallery.released and [ref() for ref in held] == [None, None, None]
    assert model() is None  # nothing in the gallery (pad, saliency) holds the model
    with pytest.raises(DataError, match="released"):
        gallery.render_page()
    assert gallery.next_button.disabled and gallery.comm is not None  # still shown
    gallery.close()


def test_closing_a_gallery_closes_its_parts_not_the_stylesheet(tiny_model, test_digits):
    from mnist_widgets.widgets.gallery import PredictionGallery
    from mnist_widgets.widgets.styles import stylesheet

    gallery = PredictionGallery(tiny_model, test_digits)
    parts = [gallery.sprite, gallery.heatmap, gallery.confusion_figure, gallery.pad.canvas]
    parts += [gallery.sprite_clicks, gallery.saliency.image, gallery.tabs]
    assert all(part.comm is not None for part in parts)
    gallery.close()
    assert gallery.comm is None and all(part.comm is None for part in parts)
    assert gallery.released and stylesheet().comm is not None


def test_a_rerun_cell_replaces_its_gallery(cell, tiny_model, test_digits):
    from mnist_widgets.widgets.gallery import PredictionGallery

    cell.run("a")
    first = PredictionGallery(tiny_model, test_digits, draw=False)
    twin = PredictionGallery(tiny_model, test_digits, draw=False)  # same run: both stay
    cell.run("b")
    other = PredictionGallery(tiny_model, test_digits, draw=False)
    assert not (first.released or twin.released or other.released)
    cell.run("a")  # cell "a" again
    newer = PredictionGallery(tiny_model, test_digits, draw=False)
    assert first.released and twin.released and first.comm is None and twin.comm is None
    assert not newer.released and not other.released and other.comm is not None
    for gallery in (newer, other):
        gallery.close()


def untrained_cnn():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def test_a_closed_explorer_lets_the_model_go(test_digits):
    import gc
    import weakref

    from mnist_widgets.widgets.explorer import LayerExplorer
    from mnist_widgets.widgets.gallery import PredictionGallery

    model = untrained_cnn()
    gallery = PredictionGallery(model, test_digits)
    explorer = LayerExplorer(model, test_digits)
    explorer.follow(gallery)
    gallery.selected_index = 5  # the explorer shows it, the gallery computes attributions
    explorer.select(0, 2)  # top-digit scores computed
    assert explorer.digit_index == 5 and explorer.scores.nbytes > 0
    gone = weakref.ref(model)
    del model
    explorer.close()
    gallery.close()
    gc.collect()
    assert gone() is None  # no cache keyed by the model keeps it


def test_a_rerun_cell_replaces_its_explorer_only(cell, test_digits):
    from mnist_widgets.widgets.explorer import LayerExplorer
    from mnist_widgets.widgets.gallery import PredictionGallery

    model = untrained_cnn()
    cell.run("a")
    explorer = LayerExplorer(model, test_digits)
    gallery = PredictionGallery(model, test_digits, draw=False)
    explorer.follow(gallery)
    explorer.show(0)
    explorer.select(0, 1)
    assert explorer.scores.nbytes == len(test_digits[0]) * 4 * 4  # 4 channels, float32
    cell.run("a")
    newer = LayerExplorer(model, test_digits)
    assert explorer.comm is None and explorer.model is None and explorer.activations is None
    assert explorer.scores.nbytes == 0 and explorer.scores.outputs is None
    assert not explorer._followed
    assert not gallery.released  # another class: not replaced by an explorer
    newer.close()
    gallery.close()


def test_running_cell_reads_the_execute_request(monkeypatch):
    import IPython

    from mnist_widgets.widgets.lifetime import running_cell

    parent = {
        "header": {"msg_type": "execute_request", "msg_id": "m1"},
        "metadata": {"cellId": "c9"},
    }

    class Kernel:
        def get_parent(self, channel=None):
            return parent

    class Shell:
        kernel = Kernel()

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    assert running_cell() == ("c9", "m1")
    parent["metadata"] = {}  # a front end that sends no cell id: nothing is replaced
    assert running_cell() is None
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert running_cell() is None


FREED_TENSOR = """
import gc, os, sys
import psutil
if sys.argv[1] == "kit":
    import mnist_widgets  # noqa: F401
import tensorflow as tf

process = psutil.Process()
tf.zeros((4,)).numpy()  # TensorFlow's first allocations
before = process.memory_info().rss
tensor = tf.cast(tf.ones((60000, 784), tf.uint8), tf.float32)  # 188 MB made by TensorFlow
held = process.memory_info().rss
del tensor
gc.collect()
left = process.memory_info().rss - before
print(os.environ.get("TF_ONEDNN_USE_SYSTEM_ALLOCATOR"), held - before, left)
"""


def test_importing_the_kit_lets_tensorflow_give_freed_memory_back():
    import os
    import subprocess
    import sys

    def run(which: str) -> tuple[str, int, int]:
        out = subprocess.run(
            [sys.executable, "-c", FREED_TENSOR, which],
            capture_output=True,
            text=True,
            check=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("TF_ONEDNN")},
        ).stdout.split()
        return out[0], int(out[1]), int(out[2])

    setting, held, left = run("kit")
    assert setting == "1" and held > 150e6  # the tensor was resident
    assert left < 30e6  # and its memory went back to the system
