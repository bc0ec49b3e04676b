"""The live training dashboard, headless: an output of the engine's events.

True per-batch curves, one history store shared with the engine, marks updated in place and
throttled by time, one Stop/Pause pressed from the kernel while a worker thread trains, and
the NaN guard, with the engine and with plain ``model.fit``.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Future

import ipywidgets as widgets
import keras
import numpy as np
import pytest

from mnist_widgets.errors import TrainingError
from mnist_widgets.models import TrainingRecipe, build, get_preset
from mnist_widgets.training import Trainer
from mnist_widgets.widgets.dashboard import TrainingDashboard, downsample
from mnist_widgets.widgets.dashboard.controls import WARNING_CLASS


def flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), 784).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def tiny(small_mnist):
    """2,050 flat training images (the last batch of 100 holds 50) and 500 test images."""
    (x, y), (x_test, y_test) = small_mnist
    return (flat(x[:2050]), y[:2050]), (flat(x_test[:500]), y_test[:500])


def dense_model(optimizer="adam", loss="sparse_categorical_crossentropy", **compile_args):
    """The dense preset's layers, compiled (Adam at 0.001 unless told), from a fixed seed."""
    keras.utils.set_random_seed(0)
    model = build(get_preset("dense").layers)
    accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    model.compile(optimizer=optimizer, loss=loss, metrics=[accuracy], **compile_args)
    return model


class RecordingLoss:
    """Cross-entropy that records each training batch's own mean loss and accuracy.

    Needs ``run_eagerly=True``; a ``Phase`` callback turns recording off during validation.
    This is an account of the true per-batch values that owes nothing to Keras' running means.
    """

    __name__ = "recording_crossentropy"

    def __init__(self) -> None:
        self.training = True
        self.loss: list[float] = []
        self.accuracy: list[float] = []

    def __call__(self, y_true, y_pred):
        per_image = keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
        if self.training:
            labels = np.reshape(np.asarray(y_true), -1)
            self.loss.append(float(np.mean(np.asarray(per_image))))
            self.accuracy.append(float(np.mean(np.argmax(np.asarray(y_pred), -1) == labels)))
        return per_image


class Phase(keras.callbacks.Callback):
    def __init__(self, recorder: RecordingLoss) -> None:
        super().__init__()
        self.recorder = recorder

    def on_test_begin(self, logs=None):
        self.recorder.training = False

    def on_test_end(self, logs=None):
        self.recorder.training = True


class RawLogs(keras.callbacks.Callback):
    """What Keras itself hands to callbacks after each batch (running means)."""

    def __init__(self) -> None:
        super().__init__()
        self.loss: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.loss.append(float(logs["loss"]))


class Slow(keras.callbacks.Callback):
    """Makes each batch last a little, so another thread can act mid-run."""

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.03)


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.005)


def test_a_dashboard_is_a_keras_callback_and_a_widget():
    # the two bases must not share a name (Callback's `model`, `params`, hooks vs. traits)
    shared = set(dir(keras.callbacks.Callback)) & set(dir(widgets.VBox))
    assert {name for name in shared if not name.startswith("__")} == set()
    dashboard = TrainingDashboard()
    assert isinstance(dashboard, keras.callbacks.Callback)
    assert isinstance(dashboard, widgets.DOMWidget)
    bundle = dashboard._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert dashboard.state == "idle" and not dashboard.running
    # the zoom buttons drive the accuracy axis through a dlink
    zoom, scale = dashboard.charts.zoom, dashboard.charts.accuracy_scale
    zoom.value = 0.98
    assert scale.min == pytest.approx(0.98) and scale.max == pytest.approx(1.0)
    zoom.value = 0.0
    assert scale.min == 0.0
    # the state a view shows follows the dashboard's traits (dlinks, no hand-written echo)
    controls = dashboard.controls
    assert controls.pause_button.disabled and controls.stop_button.disabled
    dashboard.running, dashboard.paused = True, True
    assert not controls.pause_button.disabled and controls.stop_button.button_style == "danger"
    assert controls.pause_button.description == "Resume" and controls.pause_button.icon == "play"
    dashboard.state, dashboard.status = "nan", "the loss became nan"
    assert WARNING_CLASS in controls.status._dom_classes
    assert controls.status.value == "the loss became nan"
    dashboard.running, dashboard.paused, dashboard.state = False, False, "idle"
    assert controls.pause_button.disabled and controls.pause_button.description == "Pause"
    assert WARNING_CLASS not in controls.status._dom_classes
    # the dashboard's own traits stay in Python: the views read only its child widgets
    assert not {"status", "state", "running", "paused", "done"} & set(dashboard.keys)


def test_no_inline_styles_and_every_class_has_a_rule():
    import re
    from pathlib import Path

    from mnist_widgets.widgets import styles

    package = Path(styles.__file__).parent / "dashboard"
    source = "\n".join(p.read_text() for p in sorted(package.glob("*.py")))
    assert not re.search(r"\bstyle\s*=", source) and "Layout(" not in source
    rules = set(re.findall(r"\.(mnist-[\w-]+)", styles.css()))
    used = set(re.findall(r"[\"'](mnist-dashboard[\w-]*)[\"']", source))
    assert {"mnist-dashboard-warning", "mnist-dashboard-chart"} <= used
    assert not used - rules, f"classes without a rule: {sorted(used - rules)}"
    assert "/* dashboard */" in styles.css()
    dashboard = TrainingDashboard()
    assert dashboard.children[0] is styles.stylesheet()


def test_bad_settings_are_refused_with_a_clear_error():
    with pytest.raises(TrainingError, match="update_interval"):
        TrainingDashboard(update_interval=-1)
    with pytest.raises(TrainingError, match="max_points"):
        TrainingDashboard(max_points=3)
    with pytest.raises(TrainingError, match="batch_size"):
        TrainingDashboard(batch_size=0)
    dashboard = TrainingDashboard()
    with pytest.raises(TrainingError, match="max_points"):
        dashboard.max_points = 1
    with pytest.raises(TrainingError, match="Trainer or a function"):
        dashboard.train_in_background(42)


def test_downsample_averages_blocks_and_keeps_the_cap():
    x = np.arange(10, dtype=float)
    y = x * 2
    assert downsample(x, y, 10)[1] is y
    xs, ys = downsample(x, y, 4)  # blocks of 3: [0 1 2] [3 4 5] [6 7 8] [9]
    assert list(xs) == [1.0, 4.0, 7.0, 9.0] and list(ys) == [2.0, 8.0, 14.0, 18.0]
    for n in (2001, 4000, 36_001):
        assert len(downsample(np.zeros(n), np.zeros(n), 2000)[1]) <= 2000


def test_plain_fit_shows_the_true_value_of_every_batch(tiny):
    (x, y), validation = tiny
    recorder = RecordingLoss()
    model = dense_model(loss=recorder, run_eagerly=True)
    exact = TrainingDashboard(batch_size=100, samples=len(x), update_interval=0)
    unsized = TrainingDashboard()
    coarse = TrainingDashboard(batch_size=100, samples=len(x), max_points=15)
    marks = {board: list(board.charts.marks) for board in (exact, unsized, coarse)}
    figures = {board: list(board.charts.figures) for board in (exact, unsized, coarse)}
    raw = RawLogs()
    history = model.fit(
        x,
        y,
        batch_size=100,
        epochs=2,
        shuffle=False,
        validation_data=validation,
        callbacks=[Phase(recorder), raw, exact, unsized, coarse],
        verbose=0,
    )
    batches = 2 * 21
    assert len(recorder.loss) == batches

    series = exact.batch_series()
    assert series["loss"] == pytest.approx(recorder.loss, abs=2e-4)
    assert series["accuracy"] == pytest.approx(recorder.accuracy, abs=1e-4)
    # Keras' own batch logs are running means: plotting them would be wrong
    assert not np.allclose(raw.loss, recorder.loss, atol=1e-2)
    # the marks hold exactly what was recorded, at fractional epochs
    mark = exact.charts.loss_marks["train"]
    assert len(mark.y) == batches and np.allclose(mark.y, series["loss"])
    assert np.allclose(exact.charts.accuracy_marks["train"].y, series["accuracy"])
    assert mark.x[0] == pytest.approx(1 / 21) and mark.x[-1] == pytest.approx(2.0)

    # without sizes, batches are weighted equally: right except the short last batch
    guessed = unsized.batch_series()["loss"]
    assert guessed[:20] == pytest.approx(recorder.loss[:20], abs=2e-4)
    assert abs(guessed[20] - recorder.loss[20]) > 1e-3

    # more batches than max_points: block means of the true values (42 -> blocks of 3)
    coarse_mark = coarse.charts.loss_marks["train"]
    assert len(coarse_mark.y) == 14
    assert np.allclose(coarse_mark.y, np.reshape(recorder.loss, (14, 3)).mean(axis=1), atol=2e-4)

    # one validation point per epoch, equal to history; the rate each epoch began with
    for dashboard in (exact, coarse):
        lines = dashboard.charts
        assert list(lines.loss_marks["validation"].x) == [1.0, 2.0]
        assert np.allclose(lines.loss_marks["validation"].y, history.history["val_loss"])
        assert np.allclose(lines.accuracy_marks["validation"].y, history.history["val_accuracy"])
        assert list(lines.rate_marks["actual"].x) == [0.0, 1.0]
        assert np.allclose(lines.rate_marks["actual"].y, 0.001)
    # built once, updated in place: the same figures and marks as before the fit
    for board in (exact, unsized, coarse):
        assert all(a is b for a, b in zip(board.charts.marks, marks[board], strict=True))
        assert all(a is b for a, b in zip(board.charts.figures, figures[board], strict=True))
        assert board.charts.loss_chart.marks[0] is board.charts.loss_marks["train"]
    assert exact.state == "finished" and not exact.running
    assert (exact.epoch, exact.batch, exact.steps) == (2, 21, 21)
    assert exact.images_per_second > 0 and unsized.images_per_second is None
    assert "validation accuracy" in exact.status
    assert exact.controls.progress.value == pytest.approx(exact.controls.progress.max)
    assert exact.progress_text.startswith("epoch 2/2 · batch 21/21")


def test_grouped_steps_show_the_mean_of_each_group(tiny):
    """With steps_per_execution=5 Keras calls back after batches 5, 10, 15, 20 and 21."""
    (x, y), _ = tiny
    recorder = RecordingLoss()
    model = dense_model(loss=recorder, run_eagerly=True, steps_per_execution=5)
    dashboard = TrainingDashboard(batch_size=100, samples=len(x), update_interval=0)
    model.fit(x, y, batch_size=100, epochs=1, shuffle=False, callbacks=[dashboard], verbose=0)
    assert len(recorder.loss) == 21
    series = dashboard.batch_series()
    groups = [recorder.loss[i : i + 5] for i in range(0, 20, 5)] + [recorder.loss[20:]]
    assert series["loss"] == pytest.approx([np.mean(g) for g in groups], abs=2e-4)
    assert series["x"] == pytest.approx([5 / 21, 10 / 21, 15 / 21, 20 / 21, 1.0])
    assert (dashboard.epoch, dashboard.batch) == (1, 21)


def test_pushes_to_the_front_end_are_throttled_by_time(tiny):
    (x, y), _ = tiny
    model = dense_model()
    eager = TrainingDashboard(update_interval=0)
    lazy = TrainingDashboard(update_interval=1e6)
    pushes = {"eager": 0, "lazy": 0}

    def counter(name):
        def count(change):
            pushes[name] += 1

        return count

    eager.charts.loss_marks["train"].observe(counter("eager"), "y")
    lazy.charts.loss_marks["train"].observe(counter("lazy"), "y")
    model.fit(x[:2000], y[:2000], batch_size=50, epochs=2, callbacks=[eager, lazy], verbose=0)
    assert pushes["eager"] >= 80
    assert 1 <= pushes["lazy"] <= 3  # epoch ends and the end only
    # the lazy one still ends complete
    assert len(lazy.charts.loss_marks["train"].y) == 80
    assert np.allclose(lazy.charts.loss_marks["train"].y, eager.charts.loss_marks["train"].y)


@pytest.fixture
def engine_data(small_mnist):
    (x, y), (x_test, y_test) = small_mnist
    return (x[:2000], y[:2000]), (x_test[:500], y_test[:500])


def test_the_engine_feeds_the_dashboard_from_one_history(engine_data):
    preset = get_preset("dense-lr-decay")
    keras.utils.set_random_seed(0)
    trainer = Trainer(
        build(preset.layers),
        preset.recipe,
        data=engine_data,
        epochs=2,
        batch_size=100,
        evaluate=False,
        seed=0,
    )
    dashboard = TrainingDashboard()
    marks = list(dashboard.charts.marks)
    trainer.callbacks.append(dashboard)  # given as a callback too: it will listen instead
    dashboard.attach(trainer)
    assert dashboard.train_in_background(trainer) is trainer  # attaches again: no second ear
    assert len(trainer.emitter.listeners) == 1
    # an output of the engine's events, not a second engine in the fit's callbacks
    assert trainer.callbacks == [] and dashboard not in trainer.callbacks
    result = trainer.wait(120)
    # one history store: the engine's result, the trainer and the dashboard read one object
    assert dashboard.history is trainer.history
    assert dashboard.control is trainer.control
    series = trainer.history.batch_series()
    assert len(series["loss"]) == 40
    assert np.allclose(dashboard.charts.loss_marks["train"].y, series["loss"])
    assert result.stop_reason is None and result.epochs_run == 2
    assert np.all(np.isfinite(dashboard.charts.loss_marks["train"].y))
    assert result.history["val_loss"] == trainer.history.epoch_values("val_loss")
    assert np.allclose(dashboard.charts.loss_marks["validation"].y, result.history["val_loss"])
    assert result.learning_rates == trainer.history.learning_rates
    schedule = preset.recipe.schedule
    planned = [schedule.rate_at(epoch) for epoch in (0, 1)]
    assert np.allclose(result.learning_rates, planned)
    rate_marks = dashboard.charts.rate_marks
    assert np.allclose(rate_marks["actual"].y, result.learning_rates)
    assert list(rate_marks["actual"].x) == [0.0, 1.0]
    plan_x, plan_y = rate_marks["planned"].x, rate_marks["planned"].y
    assert plan_x[0] == 0.0 and plan_x[-1] == pytest.approx(2.0)
    assert np.allclose(np.interp([0.0, 1.0], plan_x, plan_y), planned)  # dots on the plan
    assert dashboard.charts.rate_scale.max == pytest.approx(1.1 * max(plan_y))  # none cut off
    assert dashboard.images_per_second > 0 and dashboard.state == "finished"
    assert all(a is b for a, b in zip(dashboard.charts.marks, marks, strict=True))


@pytest.mark.parametrize("name", ["cnn-fast", "cnn-batchnorm", "dense"])
def test_every_presets_planned_rate_draws(name):
    recipe = get_preset(name).recipe
    schedule = recipe.rate_schedule()
    dashboard = TrainingDashboard()
    dashboard.plan(schedule, recipe.epochs)
    x, y = dashboard.charts.rate_marks["planned"].x, dashboard.charts.rate_marks["planned"].y
    assert len(x) >= 2 and x[0] == 0.0 and x[-1] == pytest.approx(recipe.epochs)
    assert np.all(np.diff(x) > 0)
    assert np.all(np.isfinite(y)) and np.all(y > 0)
    assert np.allclose(y, [schedule.rate_at(float(e)) for e in x])  # the schedule's own curve
    if recipe.schedule is None:
        assert np.allclose(y, recipe.learning_rate)
    if name == "cnn-fast":  # a one-cycle: up, then down, drawn within each epoch
        peak = int(np.argmax(y))
        assert 0 < peak < len(y) - 1 and y[0] < y[peak] > y[-1]
    if name == "cnn-batchnorm":  # a staircase: one rate all through each epoch, then a step
        epoch = (x >= 1) & (x < 2)
        assert np.allclose(y[epoch], schedule.rate_at(1)) and schedule.rate_at(2) < y[epoch][-1]
    dashboard.plan(None, 0)
    assert len(dashboard.charts.rate_marks["planned"].y) == 0


def slow_run_in_background(model, data) -> tuple[Trainer, TrainingDashboard]:
    """A slowed 3-epoch engine run on a worker thread, with a dashboard pushing every batch."""
    trainer = Trainer(
        model,
        TrainingRecipe("adam", 0.001, None, 100, 3),
        data=data,
        callbacks=[Slow()],
        evaluate=False,
    )
    dashboard = TrainingDashboard(update_interval=0)
    dashboard.train_in_background(trainer)
    return trainer, dashboard


def test_pause_holds_training_and_stop_ends_it_keeping_the_weights(engine_data):
    keras.utils.set_random_seed(0)
    model = build(get_preset("dense").layers)
    trainer, dashboard = slow_run_in_background(model, engine_data)
    try:
        wait_for(lambda: dashboard.batch >= 3)
        dashboard.pause()
        assert trainer.control.paused  # the dashboard pressed the engine's own control
        wait_for(lambda: dashboard.state == "paused")
        epoch, held_at = dashboard.epoch, dashboard.batch  # epoch 1 unless this thread stalled
        done = (epoch - 1) * 20 + held_at
        weights = [w.copy() for w in model.get_weights()]
        time.sleep(0.6)
        assert (dashboard.epoch, dashboard.batch) == (epoch, held_at)
        assert len(dashboard.batch_series()["loss"]) == done
        assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))
        assert trainer.running and "paused" in dashboard.status
        # the rate of each epoch begun shows as it begins
        assert len(dashboard.charts.rate_marks["actual"].y) == epoch
    finally:
        dashboard.stop()
    result = trainer.wait(60)
    assert result.stop_reason == "user" and result.epochs_run == epoch < 3
    assert dashboard.state == "stopped" and not dashboard.running
    assert dashboard.status.startswith(f"stopped by you after epoch {epoch}, batch {held_at}")
    assert len(dashboard.batch_series()["loss"]) == done
    # the trained weights are kept and the model still predicts
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))
    predictions = model.predict(flat(engine_data[1][0][:5]), verbose=0)
    assert predictions.shape == (5, 10) and np.all(np.isfinite(predictions))


def test_a_stop_asked_of_the_trainer_shows_on_the_dashboard(engine_data):
    trainer, dashboard = slow_run_in_background(build(get_preset("dense").layers), engine_data)
    try:
        wait_for(lambda: dashboard.batch >= 2)
    finally:
        trainer.stop()
    assert trainer.wait(60).stop_reason == "user"
    assert dashboard.state == "stopped" and dashboard.status.startswith("stopped by you")


def test_pause_and_resume_with_plain_fit_on_a_worker_thread(tiny):
    (x, y), validation = tiny
    model = dense_model()
    dashboard = TrainingDashboard(update_interval=0)
    run = dashboard.train_in_background(
        lambda: model.fit(
            x[:2000],
            y[:2000],
            batch_size=100,
            epochs=2,
            validation_data=validation,
            callbacks=[Slow(), dashboard],
            verbose=0,
        )
    )
    assert isinstance(run, Future)
    try:
        wait_for(lambda: dashboard.batch >= 2)
        pause = dashboard.controls.pause_button
        pause.click()
        assert dashboard.paused and pause.description == "Resume"
        assert dashboard.control is dashboard.fit_emitter.control and dashboard.control.paused
        wait_for(lambda: dashboard.state == "paused")
        held_at = (dashboard.epoch, dashboard.batch)
        time.sleep(0.5)
        assert (dashboard.epoch, dashboard.batch) == held_at and not run.done()
        pause.click()
        assert not dashboard.paused and pause.description == "Pause"
    finally:
        dashboard.resume()
    history = run.result(60)
    assert len(history.history["loss"]) == 2
    assert dashboard.state == "finished" and (dashboard.epoch, dashboard.batch) == (2, 20)
    assert len(dashboard.charts.loss_marks["train"].y) == 40
    assert dashboard.history is dashboard.fit_emitter.history


def test_stop_button_during_plain_fit(tiny):
    (x, y), _ = tiny
    model = dense_model()
    dashboard = TrainingDashboard(update_interval=0)
    run = dashboard.train_in_background(
        lambda: model.fit(x, y, batch_size=100, epochs=3, callbacks=[Slow(), dashboard], verbose=0)
    )
    try:
        wait_for(lambda: dashboard.batch >= 3)
        dashboard.controls.stop_button.click()
    finally:
        dashboard.stop()
    history = run.result(60)
    epoch, batch = dashboard.epoch, dashboard.batch  # epoch 1 unless this thread stalled
    assert len(history.history["loss"]) == epoch < 3
    assert len(dashboard.batch_series()["loss"]) == (epoch - 1) * 21 + batch >= 3
    assert dashboard.status.startswith(f"stopped by you after epoch {epoch}, batch {batch}")


def test_nan_loss_warns_stops_plain_fit_and_restores_the_weights(tiny):
    (x, y), _ = tiny
    model = dense_model(optimizer=keras.optimizers.SGD(learning_rate=1e6))
    before = [w.copy() for w in model.get_weights()]
    dashboard = TrainingDashboard(update_interval=1e6)
    history = model.fit(
        x[:2000], y[:2000], batch_size=100, epochs=3, callbacks=[dashboard], verbose=0
    )
    assert len(history.history["loss"]) == 1
    done = len(dashboard.batch_series()["loss"])
    assert done < 20
    assert dashboard.state == "nan"
    assert f"nan at epoch 1, batch {done}" in dashboard.status
    assert "last good weights" in dashboard.status
    status = dashboard.controls.status
    assert WARNING_CLASS in status._dom_classes and status.value == dashboard.status
    assert not math.isfinite(dashboard.charts.loss_marks["train"].y[-1])
    assert np.all(np.isfinite(dashboard.charts.loss_marks["train"].y[:-1]))
    # the NaN guard put back the weights the fit began with (the first epoch blew up)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_nan_loss_with_the_engine(engine_data):
    keras.utils.set_random_seed(0)
    model = build(get_preset("dense").layers)
    trainer = Trainer(
        model, TrainingRecipe("sgd", 1e6, None, 100, 2), data=engine_data, evaluate=False
    )
    dashboard = TrainingDashboard()
    dashboard.train_in_background(trainer)
    result = trainer.wait(60)
    assert result.stop_reason == "nan" and result.epochs_run == 1
    assert dashboard.state == "nan" and WARNING_CLASS in dashboard.controls.status._dom_classes
    assert dashboard.status == result.message and "loss became nan" in dashboard.status
    assert len(dashboard.batch_series()["loss"]) < 20
