"""The engine's fast route: one-cycle schedule, in-memory batches, shifts, and the Trainer
with ``fast=`` (events and stop still work when steps run in groups)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from mnist_widgets.accel.route import FastRoute
from mnist_widgets.data.augment import shift_images
from mnist_widgets.models.presets import PRESETS, build_model, get_preset
from mnist_widgets.models.schedules import OneCycle
from mnist_widgets.training.engine import Trainer


def test_one_cycle_rises_to_its_peak_then_falls_to_its_floor():
    cycle = OneCycle(peak=0.02, epochs=4, warmup=0.25, start_div=10, final_div=100)
    assert cycle(0) == pytest.approx(0.002)
    assert cycle(1) == pytest.approx(0.02)  # the end of the warm-up
    assert cycle(4) == pytest.approx(0.0002)
    values = [cycle(e / 10) for e in range(41)]
    top = values.index(max(values))
    assert all(a < b for a, b in zip(values[:top], values[1 : top + 1], strict=True))
    assert all(a > b for a, b in zip(values[top:-1], values[top + 1 :], strict=True))


@pytest.mark.parametrize("opening", [0.0, 1.0])
def test_keras_schedule_gives_the_same_rates_per_step(opening):
    cycle = OneCycle(peak=0.01, epochs=3, opening=opening)
    schedule = cycle.keras_schedule(steps_per_epoch=50)
    for step in (0, 20, 37, 49, 50, 51, 75, 100, 149, 150):
        assert float(schedule(step)) == pytest.approx(cycle(step / 50), rel=1e-5)


@pytest.mark.parametrize("opening", [0.0, 1.5])
def test_one_cycle_code_is_a_working_per_epoch_lambda(opening):
    cycle = OneCycle(peak=0.01, epochs=5, opening=opening)
    rate = eval(cycle.to_code(), {"math": math})  # noqa: S307 - our own generated code
    for epoch in (0, 0.5, 1, 1.4, 1.5, 2, 3, 4, 5):
        assert rate(epoch) == pytest.approx(cycle(epoch))


def test_an_opening_cycle_ends_low_then_the_main_cycle_restarts():
    cycle = OneCycle(peak=0.01, epochs=6, warmup=0.2, start_div=25, final_div=100, opening=1)
    assert cycle(0) == pytest.approx(0.0004)
    assert cycle(0.2) == pytest.approx(0.01)  # the opening's peak
    assert cycle(0.999) == pytest.approx(0.0001, rel=1e-3)  # it ends low: accurate early
    assert cycle(1) == pytest.approx(0.0004)  # the restart
    assert cycle(2) == pytest.approx(0.01)  # the main peak, a fifth into its 5 epochs
    assert cycle(6) == pytest.approx(0.0001)
    assert "opening" in cycle.describe()
    with pytest.raises(ValueError):
        OneCycle(epochs=2, opening=2)


def test_fast_preset_is_found_but_not_on_the_codelab_ladder():
    assert "cnn-fast" not in PRESETS
    preset = get_preset("cnn-fast")
    assert preset.recipe.batch_size == 256 and isinstance(preset.recipe.schedule, OneCycle)
    assert build_model("cnn-fast").output_shape == (None, 10)


def test_epochs_are_whole_groups_of_whole_batches():
    route = FastRoute(steps_per_execution=8)
    assert route.plan(60000, 256) == (256, 232, 8)
    assert route.plan(60000, 64) == (64, 936, 8)
    assert route.plan(1000, 256) == (256, 3, 3)
    assert route.plan(100, 256) == (100, 1, 1)
    auto = FastRoute()  # about 2048 images per group, whatever the batch size
    assert auto.plan(60000, 64) == (64, 928, 32)
    assert auto.plan(60000, 256) == (256, 232, 8)
    assert auto.plan(60000, 4096) == (4096, 14, 1)


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


@pytest.mark.slow  # trains for about 10 s
def test_fast_trainer_learns_and_counts_images_per_group(small_mnist, tmp_path):
    import keras

    model = build_model("cnn-fast")
    events, steps_run, grouped = [], [], []

    class CountSteps(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            grouped.append(self.model.steps_per_execution)

        def on_train_end(self, logs=None):
            steps_run.append(int(self.model.optimizer.iterations))

    trainer = Trainer(
        model,
        get_preset("cnn-fast").recipe,
        data=small_mnist,
        epochs=2,
        seed=1,
        listeners=[events.append],
        callbacks=[CountSteps()],
        fast=FastRoute(steps_per_execution=4, shift=1),
    )
    result = trainer.run()
    assert grouped == [4] and model.steps_per_execution == 1  # released after the run
    assert result.test_accuracy > 0.9 and result.epochs_run == 2
    batches = [e for e in events if e.kind == "batch_end" and e.epoch == 0]
    assert [e.batch for e in batches][:3] == [3, 7, 11]  # hooks fire once per group
    steps = 20  # 23 whole batches, cut to whole groups of 4
    assert batches[-1].batch == steps - 1
    assert steps_run == [2 * steps]  # no step past an epoch's end
    # images per second counts every image of the group, not one batch per call
    assert batches[-1].images_per_second * batches[-1].elapsed > 256 * (steps - 1) * 0.5
    rates = result.learning_rates
    assert rates[0] == pytest.approx(0.0004, rel=1e-3) and rates[1] > rates[0]  # per step
    # left compiled with Keras' own loss and rate: the saved file loads without the kit
    assert model.loss == "sparse_categorical_crossentropy"
    assert not any("call" in vars(layer) for layer in model.layers)  # batch norm unfused
    path = tmp_path / "fast.keras"
    model.save(path)
    script = (
        "import sys, keras, numpy as np; m = keras.models.load_model(sys.argv[1]); "
        "assert m.compiled and not any(k.startswith('mnist_widgets') for k in sys.modules); "
        "np.save(sys.argv[2], m.predict(np.load(sys.argv[3]), verbose=0))"
    )
    images = small_mnist[1][0][:16].astype("float32")[..., None] / 255.0
    np.save(tmp_path / "x.npy", images)
    subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            script,
            str(path),
            str(tmp_path / "p.npy"),
            str(tmp_path / "x.npy"),
        ],
        check=True,
        cwd=tmp_path,
    )
    np.testing.assert_allclose(
        np.load(tmp_path / "p.npy"), model.predict(images, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_fast_trainer_stops_from_a_listener(small_mnist):
    model = build_model("cnn-fast")
    holder = {}

    def stop_after_two_groups(event):
        if event.kind == "batch_end" and event.batch >= 7:
            holder["trainer"].stop()

    trainer = Trainer(
        model,
        get_preset("cnn-fast").recipe,
        data=small_mnist,
        epochs=5,
        listeners=[stop_after_two_groups],
        fast=FastRoute(steps_per_execution=4),
        evaluate=False,
    )
    holder["trainer"] = trainer
    result = trainer.run()
    assert result.stop_reason == "user" and result.epochs_run == 1


def test_smoothed_loss_matches_keras_one_hot_loss_and_saves(tmp_path):
    import keras

    from mnist_widgets.errors import ModelSpecError
    from mnist_widgets.models import TrainingRecipe, compile_model
    from mnist_widgets.models.losses import smoothed_sparse_crossentropy

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10), size=8).astype("float32")
    labels = rng.integers(0, 10, 8)
    ours = float(smoothed_sparse_crossentropy(0.1)(labels, probs))
    keras_one_hot = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    assert ours == pytest.approx(float(keras_one_hot(np.eye(10)[labels], probs)), rel=1e-5)
    assert ours != pytest.approx(float(smoothed_sparse_crossentropy(0.0)(labels, probs)))
    model = build_model("dense", compiled=False)
    compile_model(model, TrainingRecipe(label_smoothing=0.1))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.loss.label_smoothing == pytest.approx(0.1)
    with pytest.raises(ModelSpecError):
        TrainingRecipe(label_smoothing=1.0)


def test_codelab_pipeline_shifts_training_images_when_asked(mnist):
    from mnist_widgets.data.pipeline import make_dataset

    (x, y), _ = mnist
    digit = np.repeat(x[:1], 64, axis=0)
    batch, labels = next(iter(make_dataset(digit, y[:64], 64, training=True, shift=2, seed=1)))
    batch = batch.numpy()
    original = digit[0].astype("float32") / 255.0
    assert batch.shape == (64, 28, 28, 1) and sorted(labels.numpy()) == sorted(y[:64])
    # every copy keeps all its ink (MNIST digits have a 4-pixel margin), most have moved
    np.testing.assert_allclose(batch.sum(axis=(1, 2, 3)), original.sum(), rtol=1e-5)
    moved = sum(not np.array_equal(b[..., 0], original) for b in batch)
    assert moved > 48
    plain = next(iter(make_dataset(digit, y[:64], 64, training=True, seed=1)))[0].numpy()
    assert all(np.array_equal(b[..., 0], original) for b in plain)


def test_fast_route_takes_the_shift_from_the_recipe(mnist, monkeypatch):
    from mnist_widgets.models import TrainingRecipe

    seen = []
    real = FastRoute.train_dataset

    def spy(route, *args, **kwargs):
        seen.append(route.shift)
        return real(route, *args, **kwargs)

    monkeypatch.setattr(FastRoute, "train_dataset", spy)
    (x, y), test = mnist
    spec = TrainingRecipe("adam", 0.001, None, 64, 1, shift=1)
    for route, expected in ((FastRoute(), 1), (FastRoute(shift=2), 2)):
        Trainer(
            build_model("dense", compiled=False),
            spec,
            data=((x[:256], y[:256]), test),
            validate=False,
            evaluate=False,
            fast=route,
        ).run()
        assert seen.pop() == expected


def test_recipe_passes_adam_betas_and_refuses_them_elsewhere():
    from mnist_widgets.errors import ModelSpecError
    from mnist_widgets.models import TrainingRecipe, to_code
    from mnist_widgets.models.build import make_optimizer

    spec = TrainingRecipe("adam", 0.01, betas=(0.7, 0.9))
    optimizer = make_optimizer(spec)
    assert (optimizer.beta_1, optimizer.beta_2) == (0.7, 0.9)
    assert "beta_1=0.7, beta_2=0.9" in to_code(get_preset("dense").layers, spec)
    assert make_optimizer(TrainingRecipe("adam", 0.01)).beta_1 == 0.9  # Keras' default
    with pytest.raises(ModelSpecError, match="betas are for"):
        TrainingRecipe("sgd", 0.01, betas=(0.7, 0.9))
    with pytest.raises(ModelSpecError):
        TrainingRecipe("adam", 0.01, betas=(0.7, 1.0))


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("prebuilt", [True, False])
def test_the_train_step_is_traced_once_when_built_before_tracing(
    small_mnist, monkeypatch, fast, prebuilt
):
    import mnist_widgets.training.engine as engine

    if not prebuilt:  # what Keras does alone: its first trace creates variables, so twice
        monkeypatch.setattr(engine, "build_before_tracing", lambda model, dataset: None)
    name = "cnn-fast" if fast else "dense"
    model = build_model(name)
    traces = []
    keras_step = model.train_step

    def counted_step(data):
        traces.append(1)
        return keras_step(data)

    model.train_step = counted_step
    (x, y), (xt, yt) = small_mnist
    data = ((x[:1024], y[:1024]), (xt[:256], yt[:256]))
    preset = get_preset(name)
    result = Trainer(
        model, preset.recipe, data=data, epochs=1, seed=2, validate=False, fast=fast
    ).run()
    assert result.epochs_run == 1 and np.isfinite(result.history["loss"][0])
    assert len(traces) == (1 if prebuilt else 2)


def test_fast_route_updates_with_the_fused_adam_and_releases_it(small_mnist, monkeypatch):
    import tensorflow as tf

    kernels = []
    fused_kernel = tf.raw_ops.ResourceApplyAdam

    def counted(**kwargs):
        kernels.append(kwargs["var"])
        return fused_kernel(**kwargs)

    monkeypatch.setattr(tf.raw_ops, "ResourceApplyAdam", counted)
    import mnist_widgets.accel.route as fast

    optimizers = []
    fuse = fast.fuse_adam
    monkeypatch.setattr(fast, "fuse_adam", lambda opt: optimizers.append(opt) or fuse(opt))
    (x, y), test = small_mnist
    model = build_model("cnn-fast")
    Trainer(
        model,
        get_preset("cnn-fast").recipe,
        data=((x[:1024], y[:1024]), test),
        epochs=1,
        validate=False,
        evaluate=False,
        fast=True,
    ).run()
    assert len(kernels) == len(model.trainable_variables)  # traced once, one per variable
    assert len(optimizers) == 1 and "update_step" not in vars(optimizers[0])  # released


def test_fast_pipelines_run_without_autotuning(small_mnist):
    # nothing in them to tune; its thread made fit's return wait seconds for it
    (x, y), (xt, yt) = small_mnist
    route = FastRoute()
    train = route.train_dataset(x[:512], y[:512], 64, (28, 28, 1), seed=1)
    test = route.test_dataset(xt[:100], yt[:100], (28, 28, 1))
    for dataset in (train, test):
        assert dataset.options().autotune.enabled is False
    images, labels = next(iter(train))
    assert images.shape == (64, 28, 28, 1) and labels.shape == (64,)


def test_release_undoes_every_change_of_the_gpu_route():
    """The GPU route's changes (float16 layers, loss scaling, XLA, grouped steps, fused
    kernels) are all undone by ``release``; compiling needs no GPU."""
    import keras

    model = build_model("cnn-fast", compiled=False)
    before = [layer.dtype_policy.name for layer in model.layers]
    route = FastRoute(jit_compile=True, precision="mixed_float16", steps_per_execution=4)
    route.compile(model, get_preset("cnn-fast").recipe, 5, 2048, 256)
    assert model.layers[0].dtype_policy.name == "mixed_float16"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.jit_compile and model.steps_per_execution == 4
    adam = model.optimizer.inner_optimizer
    assert "update_step" in vars(adam)
    route.release(model)
    assert [layer.dtype_policy.name for layer in model.layers] == before
    assert model.optimizer is adam and "update_step" not in vars(adam)
    assert not model.jit_compile and model.steps_per_execution == 1
    route.release(model)  # twice is harmless
    cpu = FastRoute()  # float32: the batch-norm layers train through the fused kernel
    cpu.compile(model, get_preset("cnn-fast").recipe, 5, 2048, 256)
    assert sum("call" in vars(layer) for layer in model.layers) == 4
    cpu.release(model)
    assert not any("call" in vars(layer) for layer in model.layers)


def test_untested_keras_trains_with_its_own_kernels_and_says_so(small_mnist, monkeypatch):
    import keras

    import mnist_widgets.accel.fused as fused

    monkeypatch.setattr(keras, "version", lambda: "3.99.0")
    assert "not 3.99.0" in fused.unavailable_reason()
    model = build_model("cnn-fast", compiled=False)
    with pytest.warns(RuntimeWarning, match="fused kernels are tested with Keras 3.14, 3.15"):
        FastRoute().compile(model, get_preset("cnn-fast").recipe, 1, 1024, 256)
    assert not any("call" in vars(layer) for layer in model.layers)
    assert "update_step" not in vars(model.optimizer)
