"""The fused batch-norm kernel computes what Keras' own BatchNormalization computes."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from mnist_widgets.training.fused import can_fuse, fuse_batch_norm, unfuse_batch_norm  # noqa: E402


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
