"""Which pixels pushed the model toward a class: integrated gradients (Sundararajan et al. 2017).

Integrated gradients, not gradient x input: a confident ReLU/softmax network is saturated
around the digit it sees, so its gradient there is close to zero and gradient x input shows
little; integrated gradients average the gradient along the straight path from a baseline
(here the black image, MNIST's background) to the digit, and the attributions add up to the
change of the output along that path (completeness), which is checkable. Its cost, a few
dozen gradients in one batch, is small for one selected digit.

The output attributed is the class's model output (the probability for a softmax model). With
a black baseline an unlit pixel gets no attribution: the picture says which strokes counted,
not where missing ink would have helped.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .digits import input_shape_of

CHUNK = 128  # path images per gradient call
_gradients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Attribution:
    """Per-pixel attributions of one digit toward each of ``targets``.

    ``values`` is float32 (targets, 28, 28); ``at_digit`` and ``at_baseline`` are each target's
    output at the digit and at the baseline; ``steps`` the number of path intervals used.
    """

    targets: tuple[int, ...]
    values: np.ndarray
    at_digit: np.ndarray
    at_baseline: np.ndarray
    steps: int

    @property
    def totals(self) -> np.ndarray:
        """Sum of the attributions per target (equals the output change, up to the rule's error)."""
        return self.values.reshape(len(self.targets), -1).sum(axis=1)

    @property
    def completeness_error(self) -> np.ndarray:
        """Per target, |sum of attributions - output change| / |output change|."""
        change = self.at_digit - self.at_baseline
        return np.abs(self.totals - change) / np.maximum(np.abs(change), 1e-12)


def _gradient_function(model):
    """A compiled (images, one-hot targets) -> (outputs, gradients of the targeted outputs).

    Kept per model while the model lives: the function holds the model only weakly (a value
    of a ``WeakKeyDictionary`` that held its key would keep it alive for good).
    """
    found = _gradients.get(model)
    if found is not None:
        return found
    import tensorflow as tf

    shape = input_shape_of(model)
    model_ref = weakref.ref(model)

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, *shape), tf.float32),
            tf.TensorSpec((None, None), tf.float32),
        ]
    )
    def gradients(x, onehot):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = model_ref()(x, training=False)
            chosen = tf.reduce_sum(outputs * onehot, axis=1)
        return outputs, tape.gradient(chosen, x)

    _gradients[model] = gradients
    return gradients


def integrated_gradients(
    model,
    digit: np.ndarray,
    targets,
    steps: int = 32,
    baseline: np.ndarray | None = None,
    tolerance: float | None = 0.01,
    max_steps: int = 512,
) -> Attribution:
    """Integrated gradients of ``model``'s outputs ``targets`` for a float (28, 28) digit.

    The path integral uses the trapezoidal rule on ``steps`` intervals. With a ``tolerance``,
    the steps double (up to ``max_steps``) until every target's completeness error is within
    it, or its output change is too small to measure (below 1e-4).
    """
    digit = np.asarray(digit, dtype=np.float32).reshape(28, 28)
    base = np.zeros_like(digit) if baseline is None else np.asarray(baseline, np.float32)
    targets = tuple(int(t) for t in targets)
    if not targets:
        raise DataError("integrated_gradients needs at least one target class")
    shape = input_shape_of(model)
    gradients = _gradient_function(model)
    while True:
        result = _integrate(gradients, shape, digit, base.reshape(28, 28), targets, steps)
        if tolerance is None or steps * 2 > max_steps:
            return result
        change = np.abs(result.at_digit - result.at_baseline)
        if ((result.completeness_error <= tolerance) | (change < 1e-4)).all():
            return result
        steps *= 2


def _integrate(gradients, shape, digit, base, targets, steps) -> Attribution:
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    path = base[None] + alphas[:, None, None] * (digit - base)[None]  # (steps + 1, 28, 28)
    count = len(targets)
    x = np.tile(path.reshape(steps + 1, *shape), (count,) + (1,) * len(shape))
    classes = np.repeat(np.asarray(targets), steps + 1)
    onehot = np.eye(10, dtype=np.float32)[classes]
    parts = [  # in chunks: the tape keeps every layer's activations of its batch
        gradients(x[i : i + CHUNK], onehot[i : i + CHUNK]) for i in range(0, len(x), CHUNK)
    ]
    outputs = np.concatenate([np.asarray(o) for o, _ in parts]).reshape(count, steps + 1, -1)
    grads = np.concatenate([np.asarray(g) for _, g in parts]).reshape(count, steps + 1, 28, 28)
    mean_gradient = (grads[:, :-1] + grads[:, 1:]).mean(axis=1) / 2.0
    index = np.arange(count)
    return Attribution(
        targets=targets,
        values=((digit - base)[None] * mean_gradient).astype(np.float32),
        at_digit=outputs[index, -1, list(targets)],
        at_baseline=outputs[index, 0, list(targets)],
        steps=steps,
    )
