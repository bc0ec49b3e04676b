"""Weight and gradient histograms and dead ReLU units (#15 part 3), headless.

The probe (a Keras callback) against gradients taken directly with a GradientTape, its
bins, its timing within an epoch, with plain ``model.fit`` and the engine; the dashboard's
histogram panel updated in place; and a dashboard without histograms left as it was.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_widgets.data.pipeline import scale_images
from mnist_widgets.errors import TrainingError
from mnist_widgets.models import build, get_preset
from mnist_widgets.training import Trainer
from mnist_widgets.training.events import HistogramEvent
from mnist_widgets.training.probes import FixedBins, WeightProbe, probed_layers, round_up
from mnist_widgets.widgets.dashboard import TrainingDashboard
from mnist_widgets.widgets.dashboard.histograms import DEAD_HIGH_CLASS, NO_RELU_CLASS
from mnist_widgets.widgets.styles import stylesheet

PROBE_IMAGES = 64


def small_model(seed: int = 0):
    """conv (relu) -> batch norm -> dense -> relu layer -> dropout -> dense (softmax)."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(6, 5, strides=2, activation="relu", name="conv"),
            keras.layers.BatchNormalization(name="norm"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(24, name="hidden"),
            keras.layers.Activation("relu", name="hidden_relu"),
            keras.layers.Dropout(0.5, name="drop"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def images(small_mnist):
    """600 training images (scaled, 28x28x1) and the uint8 test set."""
    (x, y), (x_test, y_test) = small_mnist
    return scale_images(x[:600], (28, 28, 1)), y[:600], x_test, y_test


def probe_for(model, x_test, y_test, **kwargs) -> WeightProbe:
    probe = WeightProbe(x_test, y_test, images=PROBE_IMAGES, **kwargs)
    probe.set_model(model)
    return probe


def tape_gradients(model, x_test, y_test) -> dict[str, np.ndarray]:
    """The gradients of the mean cross-entropy on the probe batch, in inference mode,
    taken directly, for every kernel."""
    x = tf.constant(scale_images(x_test[:PROBE_IMAGES], (28, 28, 1)))
    y = tf.constant(y_test[:PROBE_IMAGES].astype(np.int64))
    layers = [layer for layer in model.layers if hasattr(layer, "kernel")]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(y, model(x, training=False))
        )
    grads = tape.gradient(loss, [layer.kernel for layer in layers])
    return {layer.name: np.asarray(g) for layer, g in zip(layers, grads, strict=True)}


def counts_in(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    half = edges[-1]
    return np.histogram(
        np.clip(values.ravel(), -half, half), bins=len(edges) - 1, range=(-half, half)
    )[0]


def test_bins_stay_fixed_while_the_values_fit_and_count_every_value():
    assert [round_up(v) for v in (0.3, 1.0, 1.01, 2.5, 7e-4, 9.0)] == [
        0.3,
        1.0,
        1.5,
        3.0,
        8e-4,
        10.0,
    ]
    rng = np.random.default_rng(0)
    bins = FixedBins(31)
    first = bins.histogram(rng.normal(0, 0.1, 5000))
    assert len(first.edges) == 32 and first.edges[0] == -first.edges[-1]
    assert 0.3 < first.edges[-1] <= 0.6  # the values fill most of the bins
    assert first.total == 5000
    # a little drift, and a few far outliers: same edges, outliers in the outer bins
    drifted = rng.normal(0.01, 0.11, 5000)
    drifted[:3] = [50.0, -50.0, 80.0]
    second = bins.histogram(drifted)
    assert second.edges is first.edges and second.total == 5000
    assert second.counts[-1] >= 2 and second.counts[0] >= 1
    # values that outgrow the edges, or shrink far inside them, get new edges
    grown = bins.histogram(rng.normal(0, 1.0, 5000))
    assert grown.edges[-1] > first.edges[-1] and grown.total == 5000
    shrunk = bins.histogram(rng.normal(0, 0.001, 5000))
    assert shrunk.edges[-1] < first.edges[-1] / 10
    # non-finite values are left out, zeros alone keep the edges
    assert bins.histogram(np.array([np.nan, np.inf, 0.0])).total == 1
    with pytest.raises(TrainingError, match="bins"):
        FixedBins(1)


def test_bad_settings_are_refused():
    with pytest.raises(TrainingError, match="every"):
        WeightProbe(every=0)
    with pytest.raises(TrainingError, match="both"):
        WeightProbe(np.zeros((3, 28, 28), np.uint8))


def test_each_layer_with_a_kernel_is_probed_and_paired_with_its_relu():
    model = small_model()
    pairs = [(layer.name, relu.name if relu else None) for layer, relu in probed_layers(model)]
    # the conv's own activation; the hidden layer's Activation layer; no ReLU after "out"
    assert pairs == [("conv", "conv"), ("hidden", "hidden_relu"), ("out", None)]


def test_histograms_match_the_kernels_and_the_gradients_of_a_gradient_tape(images):
    _, _, x_test, y_test = images
    model = small_model()
    probe = probe_for(model, x_test, y_test)
    before = [np.array(w) for w in model.get_weights()]  # batch norm's moving statistics too
    event = probe.probe()
    # inference mode: the probe changes no weight and no moving statistic
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert isinstance(event, HistogramEvent) and event.probe_images == PROBE_IMAGES
    assert [layer.name for layer in event.layers] == ["conv", "hidden", "out"]
    direct = tape_gradients(model, x_test, y_test)
    for layer in event.layers:
        kernel = np.asarray(model.get_layer(layer.name).kernel)
        assert layer.shape == kernel.shape
        assert layer.weights.total == kernel.size == layer.gradients.total
        np.testing.assert_array_equal(layer.weights.counts, counts_in(kernel, layer.weights.edges))
        expected = counts_in(direct[layer.name], layer.gradients.edges)
        # the same arithmetic, compiled or eager: at most a value or two across an edge
        assert np.abs(layer.gradients.counts - expected).sum() <= 2 + kernel.size // 1000
        assert layer.gradients.edges[-1] >= np.abs(direct[layer.name]).max() / 4


def test_units_forced_dead_report_all_dead_and_healthy_ones_less(images):
    _, _, x_test, y_test = images
    model = small_model()
    probe = probe_for(model, x_test, y_test)
    healthy = {layer.name: layer for layer in probe.probe().layers}
    assert healthy["conv"].units == 6 and healthy["hidden"].units == 24
    assert healthy["hidden"].dead_share < 1.0 and healthy["conv"].dead_share < 1.0
    assert healthy["out"].dead_share is None
    hidden = model.get_layer("hidden")
    hidden.bias.assign(np.full(24, -1e4, np.float32))  # every unit below zero for any digit
    dead = {layer.name: layer for layer in probe.probe().layers}
    assert dead["hidden"].dead == 24 and dead["hidden"].dead_share == 1.0
    assert dead["conv"].dead_share < 1.0
    # dead units pass no gradient back: every gradient of their kernel is 0 (the middle bin)
    middle = len(dead["hidden"].gradients.counts) // 2
    assert dead["hidden"].gradients.counts[middle] == int(np.prod(hidden.kernel.shape))
    assert not np.any(tape_gradients(model, x_test, y_test)["conv"])


def test_probes_come_after_the_first_batch_every_n_batches_and_at_each_epoch_end(images):
    x, y, x_test, y_test = images
    model = small_model()
    probe = WeightProbe(x_test, y_test, every=4, images=PROBE_IMAGES)
    events: list[HistogramEvent] = []
    probe.listeners.append(events.append)
    model.fit(x[:500], y[:500], batch_size=50, epochs=2, callbacks=[probe], verbose=0)
    seen = [(e.epoch, e.batch, e.at_epoch_end) for e in events]
    # 10 batches an epoch: batches done 1, 4, 8, then (12 due on the last batch) epoch end;
    # epoch 2: 12 (batch 1), 16 (batch 5), 20 is its last batch: the epoch end
    assert seen == [
        (0, 0, False),
        (0, 3, False),
        (0, 7, False),
        (0, 9, True),
        (1, 1, False),
        (1, 5, False),
        (1, 9, True),
    ]
    assert all(e.seconds > 0 for e in events)
    assert probe.last is events[-1]


def test_the_engine_with_batch_norm_on_its_fast_route(small_mnist):
    preset = get_preset("cnn-batchnorm")
    keras.utils.set_random_seed(1)
    model = build(preset.layers)
    (x, y), (x_test, y_test) = small_mnist
    probe = WeightProbe(x_test, y_test, every=4, images=PROBE_IMAGES)
    events: list[HistogramEvent] = []
    probe.listeners.append(events.append)
    trainer = Trainer(
        model,
        preset.recipe,
        data=((x[:1024], y[:1024]), (x_test[:500], y_test[:500])),
        epochs=1,
        callbacks=[probe],
        validate=False,
        evaluate=False,
        fast=True,
    )
    trainer.run()
    assert events and events[-1].at_epoch_end
    kernels = [layer for layer in model.layers if hasattr(layer, "kernel")]
    last = events[-1].layers
    assert [layer.name for layer in last] == [layer.name for layer in kernels]
    for layer, probed in zip(kernels, last, strict=True):
        assert probed.weights.total == np.prod(layer.kernel.shape) == probed.gradients.total
    # each convolution feeds a ReLU through batch norm: one unit per channel
    assert [p.units for p in last] == [12, 24, 32, 200, 0]
    assert np.isfinite(events[-1].seconds)


def test_the_dashboard_updates_its_histogram_marks_in_place(images):
    x, y, x_test, y_test = images
    model = small_model()
    probe = WeightProbe(x_test, y_test, every=5, images=PROBE_IMAGES)
    dashboard = TrainingDashboard(histograms=probe)
    panel = dashboard.histogram_panel
    assert dashboard.probe is probe and panel in dashboard.children
    model.fit(x[:300], y[:300], batch_size=50, epochs=1, callbacks=[dashboard], verbose=0)
    assert list(panel.rows) == ["conv", "hidden", "out"]
    marks, rows = panel.marks, list(panel.rows.values())
    first = probe.last
    model.fit(x[300:], y[300:], batch_size=50, epochs=1, callbacks=[dashboard], verbose=0)
    second = probe.last
    assert second is not first
    assert panel.marks == marks and all(a is b for a, b in zip(panel.marks, marks, strict=True))
    assert list(panel.rows.values()) == rows
    for row, layer in zip(rows, second.layers, strict=True):
        np.testing.assert_array_equal(row.weight_bars.y, layer.weights.counts)
        np.testing.assert_array_equal(row.weight_bars.x, layer.weights.centers)
        np.testing.assert_array_equal(row.gradient_bars.y, layer.gradients.counts)
        assert row.weight_scale.min == layer.weights.edges[0]
        assert row.gradient_scale.max == layer.gradients.edges[-1]
    badges = {name: row.badge for name, row in panel.rows.items()}
    assert (
        "dead ReLU" in badges["hidden"].value
        and DEAD_HIGH_CLASS not in badges["hidden"]._dom_classes
    )
    assert badges["out"].value == "no ReLU" and NO_RELU_CLASS in badges["out"]._dom_classes
    assert "end of epoch 1" in panel.caption.value
    # kill the hidden layer's units: its badge warns, in place
    model.get_layer("hidden").bias.assign(np.full(24, -1e4, np.float32))
    probe.probe()
    assert "24/24 (100%)" in badges["hidden"].value
    assert DEAD_HIGH_CLASS in badges["hidden"]._dom_classes
    assert panel.rows["hidden"].badge is badges["hidden"]


def test_attached_to_a_trainer_the_probe_joins_its_callbacks_once(small_mnist):
    (x, y), (x_test, y_test) = small_mnist
    preset = get_preset("dense")
    data = ((x[:300], y[:300]), (x_test[:200], y_test[:200]))
    trainer = Trainer(build(preset.layers), preset.recipe, data=data, epochs=1, evaluate=False)
    dashboard = TrainingDashboard(histograms=True)
    dashboard.attach(trainer)
    dashboard.attach(trainer)
    assert trainer.callbacks == [dashboard.probe]
    # the rows are laid out from the model before training, on the trainer's test images
    kernels = [layer.name for layer in trainer.model.layers if hasattr(layer, "kernel")]
    assert list(dashboard.histogram_panel.rows) == kernels
    np.testing.assert_array_equal(dashboard.probe._test[0], x_test[:128])
    trainer.run()
    assert dashboard.probe.last.at_epoch_end
    assert dashboard.state == "finished"


def test_without_histograms_nothing_is_added(small_mnist):
    (x, y), (x_test, y_test) = small_mnist
    preset = get_preset("dense")
    trainer = Trainer(
        build(preset.layers), preset.recipe, data=((x[:100], y[:100]), (x_test, y_test))
    )
    dashboard = TrainingDashboard()
    dashboard.attach(trainer)
    assert trainer.callbacks == []
    assert dashboard.probe is None and dashboard.fit_probe is None
    assert dashboard.histogram_panel is None
    assert dashboard.children == (stylesheet(), dashboard.controls, dashboard.charts)
    assert dashboard._fit_callbacks() == [dashboard.fit_emitter]
