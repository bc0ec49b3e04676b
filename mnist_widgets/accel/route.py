"""The engine's fast route: data held in memory as tensors, fewer host round trips, per-step
schedules, light augmentation, and the device's best precision and compiler.

``Trainer(..., fast=True)`` uses ``FastRoute.for_device()``; pass a ``FastRoute`` to choose.
``bench/engine_vs_fit.py`` and ``bench/time_to_accuracy.py`` time it. What it does:

- Training images are scaled once and kept as one tensor; each epoch is a fresh permutation
  of indices, gathered a batch at a time (no per-image tf.data work, no shuffle buffer).
- ``steps_per_execution`` runs several steps per call into TensorFlow, so Python and the
  callbacks run once per group: batch hooks (stop, pause, the dashboard) then fire every
  N steps instead of every step.
- XLA (``jit_compile``) on a GPU only: on CPUs XLA's convolutions are several times slower
  than oneDNN's, which is also why Keras' own ``jit_compile="auto"`` leaves it off there.
- Mixed precision on a GPU (float16); on a CPU only when asked (bfloat16 needs AMX to pay).
- Batch normalisation trains through TensorFlow's fused kernel, and Adam updates each
  variable with one (``fused.py``): the same layers and arithmetic in one op instead of a
  dozen. Only on the Keras versions they are tested with; elsewhere a one-line
  ``RuntimeWarning`` says so and Keras' own kernels train.

``release`` undoes everything ``compile`` changed once a run ends.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..data.augment import shift_images
from ..data.pipeline import pixels_tensor, scale_images
from ..errors import TrainingError
from ..models.build import make_loss, make_optimizer
from ..models.recipe import TrainingRecipe
from ..training.device import has_gpu
from .fused import (
    fuse_adam,
    fuse_batch_norm,
    unavailable_reason,
    unfuse_adam,
    unfuse_batch_norm,
)


@dataclass(frozen=True)
class FastRoute:
    """How the fast route feeds and compiles; ``for_device()`` picks the defaults."""

    steps_per_execution: int | None = None  # None: about images_per_execution per group
    images_per_execution: int = 2048
    jit_compile: bool = False
    precision: str = "float32"  # or "mixed_bfloat16" / "mixed_float16"
    shift: int = 0  # random shifts of up to this many pixels; 0: the recipe's own
    eval_batch_size: int = 2000
    fuse_batch_norm: bool = True  # train batch norm through the fused kernel (fused.py)
    fuse_optimizer: bool = True  # Adam's update in one kernel per variable (fused.py)
    # what compile changed, per model (by id), for release to undo
    _undo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (
            (self.steps_per_execution is not None and self.steps_per_execution < 1)
            or self.images_per_execution < 1
            or self.shift < 0
            or self.eval_batch_size < 1
        ):
            raise TrainingError(
                "steps_per_execution, images_per_execution and eval_batch_size >= 1, shift >= 0"
            )

    @classmethod
    def for_device(cls, **changes) -> FastRoute:
        """XLA, float16 and longer executions on a GPU; oneDNN in float32 on a CPU."""
        if has_gpu():
            route = cls(images_per_execution=8192, jit_compile=True, precision="mixed_float16")
        else:
            route = cls()
        return dataclasses.replace(route, **changes)

    # -- sizes --------------------------------------------------------------------------------
    def plan(self, samples: int, batch_size: int) -> tuple[int, int, int]:
        """(batch size, steps per epoch, steps per execution) for ``samples`` images.

        Epochs are whole groups of whole batches: Keras runs a full group even past the end
        of an epoch, so the few images left over are left out, a different few each epoch.
        Without a fixed ``steps_per_execution`` a group is about ``images_per_execution``
        images, so the callbacks (stop, pause, the dashboard) hear from a run equally often
        whatever the batch size: 32 steps of 64, 8 of 256.
        """
        size = min(samples, batch_size)
        whole = max(1, samples // size)
        steps = self.steps_per_execution or max(1, self.images_per_execution // size)
        group = min(steps, whole)
        return size, whole // group * group, group

    def steps_per_epoch(self, samples: int, batch_size: int) -> int:
        return self.plan(samples, batch_size)[1]

    # -- data -----------------------------------------------------------------------------------
    def train_dataset(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        shape: tuple[int, ...],
        seed: int | None = None,
    ):
        """An endless dataset of shuffled, optionally shifted batches; pass steps_per_epoch."""
        import tensorflow as tf

        if len(images) < 1:
            raise TrainingError("no training images")
        x = pixels_tensor(images, (28, 28, 1))  # one float32 copy, made by TensorFlow
        y = tf.constant(np.asarray(labels, dtype=np.int64))
        samples = len(images)
        size, steps, group = self.plan(samples, batch_size)
        base = tf.constant(0 if seed is None else int(seed), tf.int64)
        shift = self.shift

        def one_epoch(epoch):
            order = tf.random.experimental.stateless_shuffle(
                tf.range(samples, dtype=tf.int64), seed=tf.stack([base, epoch])
            )
            return tf.data.Dataset.from_tensor_slices(tf.reshape(order[: steps * size], (-1, size)))

        def take(index):
            batch = tf.gather(x, index)
            if shift:
                batch = shift_images(batch, shift)
            return tf.reshape(batch, (-1, *shape)), tf.gather(y, index)

        dataset = tf.data.Dataset.counter().flat_map(one_epoch)
        # a whole group of batches ready ahead: each call into TensorFlow takes ``group``
        dataset = dataset.map(take, num_parallel_calls=1).prefetch(max(2, group))
        return dataset.with_options(fixed_pipeline_options())

    def test_dataset(self, images: np.ndarray, labels: np.ndarray, shape: tuple[int, ...]):
        import tensorflow as tf

        x = scale_images(images, shape)
        y = np.asarray(labels, dtype=np.int64)
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(self.eval_batch_size)
        return dataset.prefetch(2).with_options(fixed_pipeline_options())

    # -- model ----------------------------------------------------------------------------------
    def compile(
        self, model, recipe: TrainingRecipe, epochs: int, samples: int, batch_size: int
    ) -> None:
        """Compile ``model`` afresh for this route, the rate following ``recipe``'s schedule
        per step over ``epochs``; ``release`` undoes every change this makes."""
        _, steps_per_epoch, group = self.plan(samples, batch_size)
        undo = self._undo.setdefault(id(model), [])
        if self.precision != "float32":
            undo.append(apply_precision(model, self.precision))
        fuse = self.fuse_batch_norm or self.fuse_optimizer
        reason = unavailable_reason() if fuse else None
        if reason:
            warnings.warn(reason, RuntimeWarning, stacklevel=2)
        if self.fuse_batch_norm and not reason:
            fuse_batch_norm(model)
            undo.append(lambda: unfuse_batch_norm(model))
        optimizer = make_optimizer(recipe, steps_per_epoch, epochs)
        if self.fuse_optimizer and not reason and fuse_adam(optimizer):
            undo.append(lambda: unfuse_adam(optimizer))
        loss = make_loss(recipe)
        scaled = optimizer
        if self.precision == "mixed_float16":  # float16 gradients need loss scaling
            import keras

            scaled = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(
            optimizer=scaled,
            loss=loss,
            metrics=["accuracy"],
            jit_compile=self.jit_compile,
            steps_per_execution=group,
        )
        # the run's optimizer (its state and step count) stays, compiled as plain Keras does
        undo.append(lambda: model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"]))

    def release(self, model) -> None:
        """Undo what ``compile`` changed, latest first: the model is compiled with the run's
        optimizer without loss scaling, XLA or grouped steps, its layers compute in the
        precision they had, and the fused kernels are gone."""
        for step in reversed(self._undo.pop(id(model), [])):
            step()


def fixed_pipeline_options():
    """tf.data options for a pipeline whose parallelism and buffers are all fixed: no
    autotuning. It has nothing to tune there, and its background thread can make deleting
    the iterator, when ``fit`` returns, wait for the thread's next wake-up."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def apply_precision(model, policy: str):
    """Compute in ``policy`` (weights stay float32); the last layer keeps float32 so that the
    softmax and the loss are exact. Returns a function that puts the old policies back."""
    before = [(layer, layer.dtype_policy) for layer in model.layers[:-1]]
    for layer, _ in before:
        layer.dtype_policy = policy

    def restore() -> None:
        for layer, old in before:
            layer.dtype_policy = old

    return restore
