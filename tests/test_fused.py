"""The fused kernels compute what Keras' own BatchNormalization and Adam compute."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from mnist_widgets.accel.fused import (  # noqa: E402
    can_fuse,
    fuse_adam,
    fuse_batch_norm,
    unfuse_adam,
    unfuse_batch_norm,
)


def _model(seed: int, **bn):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(5, 3, use_bias=False),
            keras.layers.BatchNormalization(momentum=0.8, **bn),
            keras.layers.Activation("relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(7, use_bias=False),
            keras.layers.BatchNormalization(**bn),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def _step(model, x, y):
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(y, out)
    grads = tape.gradient(loss, model.trainable_variables)
    moving = [v.numpy() for v in model.non_trainable_variables]
    return out.numpy(), [g.numpy() for g in grads], moving


def _fused_ops(model, x) -> int:
    graph = tf.function(lambda t: model(t, training=True)).get_concrete_function(x).graph
    return sum(op.type == "FusedBatchNormV3" for op in graph.get_operations())


@pytest.mark.parametrize("bn", [{}, {"center": False}, {"scale": False}])
def test_fused_training_step_matches_keras(bn):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2.0, 3.0, (16, 8, 8, 3)).astype("float32"))
    y = tf.constant(rng.integers(0, 3, 16))
    plain, fused = _model(1, **bn), _model(1, **bn)
    assert fuse_batch_norm(fused) == 2
    for a, b in zip(plain.get_weights(), fused.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    out_a, grads_a, moving_a = _step(plain, x, y)
    out_b, grads_b, moving_b = _step(fused, x, y)
    np.testing.assert_allclose(out_a, out_b, rtol=1e-4, atol=1e-5)
    for a, b in zip(grads_a, grads_b, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    for a, b in zip(moving_a, moving_b, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert _fused_ops(fused, x) == 2 and _fused_ops(plain, x) == 0
    # inference uses Keras' own code path either way
    np.testing.assert_allclose(plain(x).numpy(), fused(x).numpy(), rtol=1e-4, atol=1e-5)


def test_fused_layers_save_and_unfuse_like_plain_ones(tmp_path):
    model = _model(2)
    fuse_batch_norm(model)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    unfuse_batch_norm(model)
    assert not any("call" in vars(layer) for layer in model.layers)


def test_layers_the_kernel_cannot_take_keep_keras_code():
    assert not can_fuse(keras.layers.BatchNormalization(renorm=True))
    assert not can_fuse(keras.layers.BatchNormalization(epsilon=1e-6))
    assert not can_fuse(keras.layers.BatchNormalization(dtype="mixed_bfloat16"))
    assert can_fuse(keras.layers.BatchNormalization())


def test_channels_first_falls_back_to_keras_code():
    x = tf.constant(np.random.default_rng(2).normal(size=(6, 3, 5, 5)).astype("float32"))
    plain = keras.Sequential([keras.Input((3, 5, 5)), keras.layers.BatchNormalization(axis=1)])
    fused = keras.Sequential([keras.Input((3, 5, 5)), keras.layers.BatchNormalization(axis=1)])
    assert fuse_batch_norm(fused) == 1
    np.testing.assert_allclose(plain(x, training=True), fused(x, training=True), atol=1e-5)
    np.testing.assert_allclose(plain.layers[0].moving_mean, fused.layers[0].moving_mean)


def _train(optimizer, fuse: bool, steps: int = 5) -> list[np.ndarray]:
    """``steps`` updates of three variables under ``optimizer`` with the same random gradients
    each run: the variables, then the optimizer's own (step count, moments)."""
    rng = np.random.default_rng(4)
    variables = [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in SHAPES]
    if fuse:
        assert fuse_adam(optimizer)
    apply = tf.function(lambda grads: optimizer.apply_gradients(zip(grads, variables, strict=True)))
    for _ in range(steps):
        apply([tf.constant(rng.normal(size=shape).astype("float32")) for shape in SHAPES])
    return [v.numpy() for v in variables] + [v.numpy() for v in optimizer.variables]


SHAPES = ((3, 3, 2, 4), (4,), (5, 3))


def _update_ops(optimizer) -> list[str]:
    """The op types of one traced ``apply_gradients`` over two variables."""
    variables = [keras.Variable(np.ones((3, 2), "float32")), keras.Variable(np.zeros(2, "float32"))]
    optimizer.build(variables)
    grads = [tf.ones_like(v) for v in variables]
    apply = tf.function(lambda: optimizer.apply_gradients(zip(grads, variables, strict=True)))
    return [op.type for op in apply.get_concrete_function().graph.get_operations()]


@pytest.mark.parametrize(
    "make",
    [
        lambda: keras.optimizers.Adam(0.01, beta_1=0.7, beta_2=0.9),
        lambda: keras.optimizers.AdamW(0.01, weight_decay=0.05),
    ],
)
def test_fused_adam_updates_like_keras_adam(make):
    plain, fused = _train(make(), fuse=False), _train(make(), fuse=True)
    assert len(plain) == len(fused) == 3 + 2 + 2 * 3  # iterations, rate, m and v
    # The kernel forms 1 - beta in float32 (Keras in Python floats): 1 - 0.999 then differs
    # by 1.3e-5 relative, float32's spacing near 1. A wrong formula misses by far more.
    for a, b in zip(plain, fused, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    assert not np.allclose(plain[0], _train(make(), fuse=True, steps=4)[0], rtol=1e-4)


def test_fused_adam_is_one_kernel_per_variable_and_undoes():
    optimizer = keras.optimizers.Adam(0.01)
    assert fuse_adam(optimizer)
    assert _update_ops(optimizer).count("ResourceApplyAdam") == 2
    unfuse_adam(optimizer)
    assert "update_step" not in vars(optimizer)
    assert "ResourceApplyAdam" not in _update_ops(keras.optimizers.Adam(0.01))


def test_optimizers_the_kernel_cannot_take_keep_keras_code():
    for optimizer in (
        keras.optimizers.Adam(amsgrad=True),
        keras.optimizers.Nadam(),
        keras.optimizers.SGD(momentum=0.9),
    ):
        assert not fuse_adam(optimizer)
        assert "update_step" not in vars(optimizer)


def test_fused_adam_leaves_updates_under_a_strategy_to_keras():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        optimizer = keras.optimizers.Adam(0.01)
        variables = [keras.Variable(np.ones((3, 2), "float32"))]
        optimizer.build(variables)
    assert fuse_adam(optimizer)

    @tf.function
    def step():
        strategy.run(lambda: optimizer.apply_gradients([(tf.ones((3, 2)), variables[0])]))

    ops = [op.type for op in step.get_concrete_function().graph.get_operations()]
    step()
    assert "ResourceApplyAdam" not in ops
    np.testing.assert_allclose(variables[0].numpy(), 1 - 0.01, rtol=1e-5)


def test_fused_and_plain_fast_routes_train_to_the_same_numbers(small_mnist):
    """Eight steps of cnn-fast through the fast route with the fused kernels and without
    give the same losses within 1e-3 relative, and test probabilities within 0.05 each and
    0.01 on average, while the steps move them by more than 0.2.

    The kernels round in another order (the step-by-step tests above hold them to 1e-4);
    Adam's first steps are nearly ``rate * sign(gradient)``, so a gradient within rounding
    of 0 may step either way, and single weights are compared through what they compute.
    """
    from mnist_widgets.accel.route import FastRoute
    from mnist_widgets.models import build_model, get_preset
    from mnist_widgets.training.engine import Trainer
    from mnist_widgets.training.evaluate import predict_probabilities

    (x, y), (xt, yt) = small_mnist
    runs = []
    for fuse in (True, False):
        keras.utils.set_random_seed(3)
        model = build_model("cnn-fast", compiled=False)
        start = predict_probabilities(model, xt[:500])
        route = FastRoute(fuse_batch_norm=fuse, fuse_optimizer=fuse, steps_per_execution=2)
        result = Trainer(
            model,
            get_preset("cnn-fast").recipe,
            data=((x[:2048], y[:2048]), (xt, yt)),
            epochs=1,
            seed=3,
            validate=False,
            evaluate=False,
            fast=route,
        ).run()
        runs.append((result.history["loss"], predict_probabilities(model, xt[:500])))
    (loss_fused, fused), (loss_plain, plain) = runs
    np.testing.assert_allclose(loss_fused, loss_plain, rtol=1e-3)
    assert np.abs(fused - start).max() > 0.2  # the steps changed what the model computes
    difference = np.abs(fused - plain)
    assert difference.max() < 0.05 and difference.mean() < 0.01
