"""The training engine: a real short run, stop and pause from another thread, NaN, seeds,
the one history store, the NaN guard and the command line's progress bar."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

import keras
import numpy as np
import pytest

from mnist_widgets.data.pipeline import SHUFFLE_BUFFER, make_dataset, scale_images
from mnist_widgets.errors import TrainingError
from mnist_widgets.models import TrainingRecipe, build_model, get_preset
from mnist_widgets.training import (
    BatchValues,
    History,
    NanGuard,
    Trainer,
    TrainingEvent,
    train_preset,
)
from mnist_widgets.training.progress import ProgressBar


def test_pipeline_shapes_and_ranges(small_mnist):
    (x, y), _ = small_mnist
    flat = make_dataset(x, y, 128, training=True, flat=True, seed=0)
    images, labels = next(iter(flat))
    assert images.shape == (128, 784) and labels.shape == (128,)
    assert float(images.numpy().min()) >= 0.0 and float(images.numpy().max()) <= 1.0
    cube = make_dataset(x, y, 100, training=False)
    images, _ = next(iter(cube))
    assert images.shape == (100, 28, 28, 1)
    assert np.allclose(images.numpy()[0, :, :, 0], x[0] / 255.0)
    assert SHUFFLE_BUFFER == 5000


def test_training_data_is_reshuffled_each_epoch(small_mnist):
    (x, y), _ = small_mnist
    dataset = make_dataset(x[:600], y[:600], 600, training=True, seed=3)
    first = next(iter(dataset))[1].numpy()
    second = next(iter(dataset))[1].numpy()
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)
    assert not np.array_equal(first, y[:600])


def test_scale_images_keeps_float_pictures():
    floats = np.full((2, 28, 28), 0.5, np.float32)
    assert scale_images(floats, (784,)).max() == pytest.approx(0.5)
    assert scale_images(np.full((1, 28, 28), 255, np.uint8)).max() == pytest.approx(1.0)


def test_batch_values_undo_the_running_means():
    values = BatchValues()
    true_losses, sizes = [2.0, 1.0, 0.4], [64, 64, 32]
    seen = total = 0.0
    recovered = []
    for loss, size in zip(true_losses, sizes, strict=True):
        seen += size
        total += loss * size
        recovered.append(values.update({"loss": total / seen}, size)["loss"])
    assert recovered == pytest.approx(true_losses)


def test_dense_reaches_90_percent_on_a_few_thousand_images(small_mnist):
    events: list[TrainingEvent] = []
    model, result = train_preset(
        "dense", epochs=2, limit=5000, data=small_mnist, seed=1, listeners=[events.append]
    )
    assert result.test_accuracy > 0.90
    assert result.epochs_run == 2 and result.stop_reason is None
    assert len(result.history["val_accuracy"]) == 2
    assert result.learning_rates == pytest.approx([0.001, 0.001])
    kinds = [e.kind for e in events]
    assert kinds[0] == "train_begin" and kinds[-1] == "train_end"
    assert kinds.count("epoch_end") == 2
    assert kinds.count("batch_end") == 2 * 40  # 5000 images / batch 128 -> 40 batches
    # the engine's reported accuracy is the model's real accuracy on the test set
    (x_test, y_test) = small_mnist[1]
    predicted = model.predict(scale_images(x_test, (784,)), verbose=0, batch_size=1000).argmax(1)
    assert np.mean(predicted == y_test) == pytest.approx(result.test_accuracy, abs=1e-4)


def test_schedule_sets_the_learning_rate_per_epoch(small_mnist):
    model, result = train_preset("dense-lr-decay", epochs=3, limit=1000, data=small_mnist, seed=0)
    assert result.learning_rates == pytest.approx([0.01, 0.006, 0.0036], rel=1e-5)


def test_same_seed_same_run_on_the_cpu(small_mnist):
    runs = [
        train_preset("dense", epochs=1, limit=2000, data=small_mnist, seed=7)[1] for _ in range(2)
    ]
    assert runs[0].history["loss"] == runs[1].history["loss"]
    assert runs[0].test_accuracy == runs[1].test_accuracy


def slow_data(small_mnist, n=3000):
    (x, y), test = small_mnist
    return (x[:n], y[:n]), (test[0][:1000], test[1][:1000])


def test_stop_from_another_thread_keeps_the_weights(small_mnist):
    model = build_model("dense")
    spec = get_preset("dense").recipe
    trainer = Trainer(model, spec, data=slow_data(small_mnist), epochs=200, batch_size=32)
    assert isinstance(trainer.start(), Future)
    try:
        while trainer.history.batches < 30:
            time.sleep(0.05)
        assert trainer.running
    finally:
        trainer.stop()
    result = trainer.wait(timeout=60)
    assert not trainer.running
    assert result.stop_reason == "user" and result.epochs_run < 200
    assert result.test_accuracy > 0.5  # the weights it learned are still there


def test_pause_holds_training_until_resumed(small_mnist):
    model = build_model("dense")
    batches: list[int] = []
    kinds: list[str] = []

    def listener(event: TrainingEvent) -> None:
        kinds.append(event.kind)
        if event.kind == "batch_end":
            batches.append(event.batch)

    trainer = Trainer(
        model,
        get_preset("dense").recipe,
        data=slow_data(small_mnist),
        epochs=50,
        batch_size=32,
        listeners=[listener],
        evaluate=False,
    )
    trainer.start()
    try:
        while len(batches) < 5:
            time.sleep(0.02)
        trainer.pause()
        while "pause" not in kinds:  # the training thread says when it holds
            time.sleep(0.02)
        count = len(batches)
        time.sleep(0.8)
        assert len(batches) == count == trainer.history.batches  # nothing moved while paused
        trainer.resume()
        while len(batches) == count:
            time.sleep(0.02)
        assert kinds.index("pause") < kinds.index("resume")
    finally:
        trainer.stop()
    assert trainer.wait(timeout=60).stop_reason == "user"


def test_nan_loss_stops_with_a_message_and_keeps_good_weights(small_mnist):
    (x, y), test = slow_data(small_mnist, 2000)
    model = build_model("dense", compiled=False)
    before = model.get_weights()
    # a learning rate far too large: the weights blow up and the loss turns NaN
    trainer = Trainer(model, TrainingRecipe("sgd", 1e6, None, 100, 3), data=((x, y), test), seed=0)
    result = trainer.run()
    assert result.stop_reason == "nan" and result.epochs_run == 1
    assert "loss became nan" in result.message and "last good weights" in result.message
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before, strict=True))
    assert np.isfinite(model.predict(x[:10].reshape(10, 784) / 255.0, verbose=0)).all()


def test_bad_settings_are_refused(small_mnist):
    with pytest.raises(TrainingError, match="at least 1"):
        Trainer(build_model("softmax"), epochs=0, data=small_mnist)
    with pytest.raises(TrainingError, match="limit"):
        Trainer(build_model("softmax"), limit=0, data=small_mnist)


def test_training_twice_at_once_is_refused(small_mnist):
    trainer = Trainer(
        build_model("dense"),
        data=slow_data(small_mnist),
        epochs=100,
        batch_size=32,
        evaluate=False,
    )
    trainer.start()
    try:
        with pytest.raises(TrainingError, match="already running"):
            trainer.start()
        with pytest.raises(TimeoutError):
            trainer.wait(timeout=0.01)  # a timeout is said, never returned as no result
    finally:
        trainer.stop()
    assert trainer.wait(60).stop_reason == "user" and not trainer.running
    names = [thread.name for thread in threading.enumerate()]
    assert not any(name.startswith("mnist-widgets-training") for name in names)


def test_the_history_store_keeps_every_batch_and_epoch():
    history = History()
    history.clear(steps=4)
    for step in range(2500):  # past the first capacity: the columns grow
        epoch, batch = divmod(step, 4)
        history.add_batch(epoch, batch, {"loss": float(step), "accuracy": 0.5})
    history.add_rate(0, 0.01)
    history.add_rate(1, None)  # an optimizer without a readable rate: nothing recorded
    history.add_epoch(0, 3, {"loss": 1.5, "val_loss": 2.0})
    history.add_epoch(1, 1, {"loss": 1.0})  # stopped after its second batch, no validation
    series = history.batch_series()
    assert history.batches == len(series["loss"]) == 2500
    assert series["loss"][-1] == 2499.0 and np.all(series["accuracy"] == 0.5)
    assert series["x"][:5] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.25])
    x, values = history.epoch_series("val_loss")
    assert list(x) == [1.0] and list(values) == [2.0]
    x, values = history.epoch_series("loss")
    assert list(x) == [1.0, 1.5] and history.epoch_values("loss") == [1.5, 1.0]
    assert (history.rate_epochs, history.learning_rates) == ([0], [0.01])
    history.clear()
    assert history.batches == 0 and len(history.batch_series()["x"]) == 0


def test_the_nan_guard_is_terminate_on_nan_that_puts_back_the_last_good_weights(small_mnist):
    (x, y), _ = small_mnist
    x = x[:1000].reshape(-1, 784) / 255.0
    model = build_model("dense", compiled=False)
    model.compile(keras.optimizers.SGD(), "sparse_categorical_crossentropy")

    class AfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.weights = [w.copy() for w in self.model.get_weights()]

    # a sane first epoch, then a rate far too large: the loss turns NaN in the second
    blow_up = keras.callbacks.LearningRateScheduler(lambda epoch: 0.01 if epoch == 0 else 1e6)
    first, guard = AfterFirstEpoch(), NanGuard()
    assert isinstance(guard, keras.callbacks.TerminateOnNaN)
    history = model.fit(x, y[:1000], batch_size=100, epochs=4, verbose=0,
                        callbacks=[blow_up, guard, first])  # fmt: skip
    assert len(history.history["loss"]) == 2
    assert guard.message.startswith("the loss became nan at epoch 2, batch ")
    assert "last good weights" in guard.message
    kept = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first.weights, kept, strict=True))


def test_the_progress_bar_is_keras_progbar_fed_by_events(capsys):
    bar = ProgressBar(verbose=2)  # as in a log: one line per epoch
    for epoch in range(2):
        bar(TrainingEvent("epoch_begin", epoch=epoch, epochs=2, steps=3))
        for batch in range(3):
            logs = {"loss": 1.0 - 0.1 * batch, "accuracy": 0.5}
            bar(TrainingEvent("batch_end", epoch=epoch, epochs=2, batch=batch, steps=3, logs=logs))
        logs = {"loss": 0.9, "accuracy": 0.5, "val_loss": 0.8, "val_accuracy": 0.75}
        bar(TrainingEvent("epoch_end", epoch=epoch, epochs=2, logs=logs, learning_rate=0.01))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "epoch 1/2" and out[2] == "epoch 2/2" and len(out) == 4
    for line in (out[1], out[3]):
        assert line.startswith("3/3 - ")
        assert "loss: 0.9000" in line and line.count(" - acc: 0.5000") == 1
        assert "val_loss: 0.8000" in line and "val_acc: 0.7500" in line and "lr: 0.0100" in line
