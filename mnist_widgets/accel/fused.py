"""TensorFlow's fused kernels for the fast route: batch normalisation and the Adam update.

Batch normalisation: Keras 3 computes a training-mode ``BatchNormalization`` from separate
ops (two reductions for the moments, then the normalisation), and so does its gradient.
TensorFlow has one kernel for the whole forward pass and one for its gradient
(``FusedBatchNormV3``, oneDNN on CPUs, cuDNN on GPUs). ``fuse_batch_norm(model)`` makes the
model's eligible batch-norm layers use it while training: same layers, same weights, same
arithmetic (the moving variance is kept as Keras keeps it, without Bessel's correction), so
it is a change of how the model is computed, like XLA's fusion, not of the model. Inference
and every case the kernel does not cover (another backend, renorm, synchronised statistics,
masks, an axis other than the last, a compute dtype other than float32: on a GPU XLA fuses
those anyway) go through Keras' own code. ``unfuse_batch_norm`` puts the layers back.

Adam: Keras 3 updates each variable with about a dozen small ops (two moment updates, the bias
corrections, a square root, a division). ``fuse_adam(optimizer)`` makes an ``Adam`` (or
``AdamW``: its decay is applied before the update) do it with ``ResourceApplyAdam``, the one
kernel Keras 2 used: the same formula in the same order. Only rounding differs: the kernel
forms 1 - beta in float32, which moves 1 - 0.999 by 1.3e-5 of itself (float32's spacing).
``unfuse_adam`` undoes it. AMSGrad, gradients given as slices and updates under a
distribution strategy keep Keras' code.

Both replace methods on live Keras objects and read Keras' private attributes
(``_flatten_layers``, ``_get_variable_index``, ``_momentums``, ``_velocities``), so the fast
route uses them only on the Keras versions they are tested with (``TESTED_KERAS``):
``unavailable_reason()`` says why not elsewhere, and Keras' own code then trains.
"""

from __future__ import annotations

TESTED_KERAS = ((3, 14), (3, 15))  # the Keras minor versions tests/test_fused.py passed on

# The smallest epsilon the fused kernel accepts (TensorFlow raises it to this value).
_MIN_EPSILON = 1.001e-5


def unavailable_reason() -> str | None:
    """None when the fused kernels may be used here, else one line saying why not."""
    import keras

    version = keras.version()
    try:
        minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        minor = ()
    if minor not in TESTED_KERAS:
        tested = ", ".join(f"{major}.{minor}" for major, minor in TESTED_KERAS)
        return (
            f"fused kernels are tested with Keras {tested}, not {version}: "
            "training with Keras' own kernels"
        )
    if keras.backend.backend() != "tensorflow":
        return "fused kernels need the TensorFlow backend: training with Keras' own kernels"
    return None


def _batch_norm_layers(model) -> list:
    import keras

    flatten = getattr(model, "_flatten_layers", None)
    layers = flatten(include_self=False, recursive=True) if flatten else model.layers
    return [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]


def can_fuse(layer) -> bool:
    """True when ``layer``'s training pass can go through the fused kernel (its input's rank,
    2 or 4 with the channels last, is checked at each call)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    return (
        not layer.renorm
        and not getattr(layer, "synchronized", False)
        and layer.epsilon >= _MIN_EPSILON
        and layer.compute_dtype == "float32"
    )


def fuse_batch_norm(model) -> int:
    """Route each eligible batch-norm layer's training pass through the fused kernel;
    returns how many layers now use it."""
    count = 0
    for layer in _batch_norm_layers(model):
        if can_fuse(layer):
            layer.call = _fused_call.__get__(layer)
            count += 1
    return count


def unfuse_batch_norm(model) -> None:
    """Undo ``fuse_batch_norm``: the layers compute with Keras' own code again."""
    for layer in _batch_norm_layers(model):
        if "call" in vars(layer):
            del layer.call


def _fused_call(self, inputs, training=None, mask=None):
    """``BatchNormalization.call`` with the training pass in one fused kernel."""
    import tensorflow as tf

    keras_call = type(self).call
    rank = len(inputs.shape)
    if (
        not (training and self.trainable)
        or mask is not None
        or rank not in (2, 4)
        or self.axis not in (-1, rank - 1)
    ):
        return keras_call(self, inputs, training=training, mask=mask)
    channels = inputs.shape[-1]
    x = inputs if rank == 4 else tf.reshape(inputs, (-1, 1, 1, channels))
    gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones((channels,), tf.float32)
    beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros((channels,), tf.float32)
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
        x, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
    )
    # The kernel returns the unbiased variance; Keras' moving variance uses the biased one.
    count = tf.cast(tf.size(x) // channels, tf.float32)
    variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
    momentum = self.momentum
    self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
    self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
    if rank != 4:
        y = tf.reshape(y, tf.shape(inputs))
    return tf.cast(y, self.compute_dtype)


def can_fuse_adam(optimizer) -> bool:
    """True when ``optimizer``'s update can go through ``ResourceApplyAdam``."""
    import keras

    return (
        keras.backend.backend() == "tensorflow"
        and isinstance(optimizer, keras.optimizers.Adam)
        and not optimizer.amsgrad
    )


def fuse_adam(optimizer) -> bool:
    """Route ``optimizer``'s per-variable update through the fused kernel; True if it now does."""
    if not can_fuse_adam(optimizer):
        return False
    optimizer.update_step = _fused_adam_step.__get__(optimizer)
    return True


def unfuse_adam(optimizer) -> None:
    """Undo ``fuse_adam``: the optimizer updates with Keras' own code again."""
    if "update_step" in vars(optimizer):
        del optimizer.update_step


def _fused_adam_step(self, gradient, variable, learning_rate):
    """``Adam.update_step`` in one kernel: m, v and the variable updated in place."""
    import tensorflow as tf

    if isinstance(gradient, tf.IndexedSlices) or tf.distribute.has_strategy():
        # slices, and mirrored variables under a strategy: Keras' own update
        return type(self).update_step(self, gradient, variable, learning_rate)
    dtype = variable.dtype
    step = tf.cast(self.iterations + 1, dtype)
    beta_1 = tf.cast(self.beta_1, dtype)
    beta_2 = tf.cast(self.beta_2, dtype)
    index = self._get_variable_index(variable)
    tf.raw_ops.ResourceApplyAdam(
        var=variable.handle,
        m=self._momentums[index].handle,
        v=self._velocities[index].handle,
        beta1_power=tf.pow(beta_1, step),
        beta2_power=tf.pow(beta_2, step),
        lr=tf.cast(learning_rate, dtype),
        beta1=beta_1,
        beta2=beta_2,
        epsilon=tf.cast(self.epsilon, dtype),
        grad=tf.cast(gradient, dtype),
    )
