"""The engine's fast route: one-cycle schedule, in-memory batches, shifts, and the Trainer
with ``fast=`` (events and stop still work when steps run in groups)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mnist_widgets.models.presets import PRESETS, build_model, get_preset
from mnist_widgets.models.schedules import OneCycle
from mnist_widgets.training.engine import Trainer
from mnist_widgets.training.fast import FastRoute, shift_images


def test_one_cycle_rises_to_its_peak_then_falls_to_its_floor():
    cycle = OneCycle(peak=0.02, epochs=4, warmup=0.25, start_div=10, final_div=100)
    assert cycle(0) == pytest.approx(0.002)
    assert cycle(1) == pytest.approx(0.02)  # the end of the warm-up
    assert cycle(4) == pytest.approx(0.0002)
    values = [cycle(e / 10) for e in range(41)]
    top = values.index(max(values))
    assert all(a < b for a, b in zip(values[:top], values[1 : top + 1], strict=True))
    assert all(a > b for a, b in zip(values[top:-1], values[top + 1 :], strict=True))


def test_keras_schedule_gives_the_same_rates_per_step():
    cycle = OneCycle(peak=0.01, epochs=3)
    schedule = cycle.keras_schedule(steps_per_epoch=50)
    for step in (0, 20, 37, 75, 100, 149, 150):
        assert float(schedule(step)) == pytest.approx(cycle(step / 50), rel=1e-5)


def test_one_cycle_code_is_a_working_per_epoch_lambda():
    cycle = OneCycle(peak=0.01, epochs=5)
    rate = eval(cycle.code(), {"math": math})  # noqa: S307 - our own generated code
    for epoch in range(5):
        assert rate(epoch) == pytest.approx(cycle(epoch))


def test_fast_preset_is_found_but_not_on_the_codelab_ladder():
    assert "cnn-fast" not in PRESETS
    preset = get_preset("cnn-fast")
    assert preset.compile.batch_size == 256 and preset.compile.schedule.per_step
    assert build_model("cnn-fast").output_shape == (None, 10)


def test_epochs_are_whole_groups_of_whole_batches():
    route = FastRoute(steps_per_execution=8)
    assert route.plan(60000, 256) == (256, 232, 8)
    assert route.plan(60000, 64) == (64, 936, 8)
    assert route.plan(1000, 256) == (256, 3, 3)
    assert route.plan(100, 256) == (100, 1, 1)


def test_each_epoch_is_a_fresh_permutation_of_whole_batches(mnist):
    (x, _), _ = mnist
    images, ids = x[:1000], np.arange(1000)  # the "labels" say which image each is
    route = FastRoute(steps_per_execution=1)
    dataset = route.train_dataset(images, ids, 300, (28, 28, 1), seed=3)
    steps = route.steps_per_epoch(1000, 300)
    batches = list(dataset.take(2 * steps).as_numpy_iterator())
    assert steps == 3 and all(b[0].shape == (300, 28, 28, 1) for b in batches)
    assert batches[0][0].dtype == np.float32 and batches[0][0].max() <= 1.0
    for pictures, which in batches:  # each image travels with its own label
        assert np.allclose(pictures[..., 0], images[which] / 255.0)
    first = np.concatenate([b[1] for b in batches[:steps]])
    second = np.concatenate([b[1] for b in batches[steps:]])
    assert len(set(first)) == 900 and len(set(second)) == 900  # no image twice in an epoch
    assert not np.array_equal(first, second)  # reshuffled
    again = next(iter(route.train_dataset(images, ids, 300, (28, 28, 1), seed=3)))
    assert np.array_equal(again[1].numpy(), batches[0][1])  # the seed repeats it


def test_shifts_move_each_image_by_at_most_the_given_pixels():
    import tensorflow as tf

    batch = np.zeros((64, 28, 28, 1), np.float32)
    batch[:, 14, 14, 0] = 1.0
    moved = shift_images(tf.constant(batch), 2).numpy()
    where = [np.argwhere(m[..., 0] == 1.0) for m in moved]
    assert all(len(w) == 1 for w in where)  # nothing lost, nothing duplicated
    offsets = np.array([w[0] - 14 for w in where])
    assert np.abs(offsets).max() <= 2 and len({tuple(o) for o in offsets}) > 5


def test_fast_trainer_learns_and_counts_images_per_group(small_mnist):
    model = build_model("cnn-fast")
    events = []
    trainer = Trainer(
        model,
        get_preset("cnn-fast").compile,
        data=small_mnist,
        epochs=2,
        seed=1,
        listeners=[events.append],
        fast=FastRoute(steps_per_execution=4, shift=1),
    )
    result = trainer.run()
    assert model.steps_per_execution == 4 and not model.jit_compile
    assert result.test_accuracy > 0.9 and result.epochs_run == 2
    batches = [e for e in events if e.kind == "batch_end" and e.epoch == 0]
    assert [e.batch for e in batches][:3] == [3, 7, 11]  # hooks fire once per group
    steps = 20  # 23 whole batches, cut to whole groups of 4
    assert batches[-1].batch == steps - 1
    assert int(model.optimizer.iterations) == 2 * steps  # no step past an epoch's end
    # images per second counts every image of the group, not one batch per call
    assert batches[-1].images_per_second * batches[-1].elapsed > 256 * (steps - 1) * 0.5
    rates = result.learning_rates
    assert rates[0] == pytest.approx(0.001, rel=1e-3) and rates[1] > rates[0]  # per step


def test_fast_trainer_stops_from_a_listener(small_mnist):
    model = build_model("cnn-fast")
    holder = {}

    def stop_after_two_groups(event):
        if event.kind == "batch_end" and event.batch >= 7:
            holder["trainer"].stop()

    trainer = Trainer(
        model,
        get_preset("cnn-fast").compile,
        data=small_mnist,
        epochs=5,
        listeners=[stop_after_two_groups],
        fast=FastRoute(steps_per_execution=4),
        evaluate=False,
    )
    holder["trainer"] = trainer
    result = trainer.run()
    assert result.stop_reason == "user" and result.epochs_run == 1
