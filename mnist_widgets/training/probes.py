"""Weight and gradient histograms and dead ReLU units, a few times per epoch while a model trains.

Keras callbacks see weights but no gradients, so ``WeightProbe`` runs one extra forward and
backward pass of its own on a fixed probe batch of test images. Like Keras' ``TensorBoard``
callback it histograms each layer's kernel; unlike it, it keeps each series' bin edges fixed
while the values fit them (``FixedBins``), so a view updates counts in place, and it emits a
plain ``HistogramEvent`` instead of writing a log.

    probe = WeightProbe(x_test, y_test, every=300)
    probe.listeners.append(print)
    model.fit(..., callbacks=[probe])        # or Trainer(..., callbacks=[probe])
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from ..data.pipeline import scale_images
from ..errors import TrainingError
from .events import Histogram, HistogramEvent, HistogramListener, LayerProbe

DEFAULT_EVERY = 500  # batches between two probes (cnn-batchnorm at batch 64: ~2 an epoch)
DEFAULT_IMAGES = 128  # images in the probe batch
DEFAULT_BINS = 31  # an odd count: 0 is the middle bin's centre
MARGIN = 1.2  # new edges span at least this many times the values' spread
REBIN_BELOW = 4.0  # new edges once the spread shrinks below 1/REBIN_BELOW of them
WEIGHT_BULK = 0.999  # the spread of weights: the magnitude this share of them stays within
GRADIENT_BULK = 0.99  # gradients have longer tails: their few largest go to the outer bins
ROUND_STEPS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
SPREAD_SAMPLE = 16384  # the spread is read from about this many evenly spaced values


def round_up(value: float) -> float:
    """The least round number (1, 1.5, 2, 3, 4, 5, 6 or 8 times a power of ten) at least
    ``value`` (> 0)."""
    exponent = math.floor(math.log10(value))
    for step in ROUND_STEPS:
        rounded = float(f"{step:g}e{exponent}")  # 0.3, not 3 * 0.1
        if rounded >= value * (1 - 1e-12):
            return rounded
    return float(f"1e{exponent + 1}")


def spread(values: np.ndarray, bulk: float = WEIGHT_BULK) -> float:
    """How far from 0 the bulk of ``values`` reaches: the magnitude that a share ``bulk`` of
    them stays within, so that a few far values do not squeeze the rest into a bin or two.
    Large arrays are read at about ``SPREAD_SAMPLE`` evenly spaced values."""
    if values.size == 0:
        return 0.0
    magnitudes = np.abs(values[:: max(1, values.size // SPREAD_SAMPLE)])
    k = min(magnitudes.size - 1, math.ceil(bulk * magnitudes.size) - 1)
    return float(np.partition(magnitudes, k)[k])


class FixedBins:
    """Bin edges for one series (a layer's weights, or their gradients), kept while it fits.

    ``count`` equal bins over ``-half..half``, ``half`` a round number at least ``MARGIN`` times
    the values' ``spread`` (the reach of a share ``bulk`` of them). The edges change only when
    the spread outgrows ``half`` or shrinks below ``half / REBIN_BELOW``: most updates keep
    them, and values beyond them are counted in the outer bins. Non-finite values are not
    counted.
    """

    def __init__(self, count: int = DEFAULT_BINS, bulk: float = WEIGHT_BULK) -> None:
        if count < 2:
            raise TrainingError("a histogram needs at least 2 bins")
        self.count = count
        self.bulk = bulk
        self.half = 0.0
        self.edges: np.ndarray | None = None

    def histogram(self, values) -> Histogram:
        v = np.asarray(values, dtype=np.float32).ravel()
        finite = np.isfinite(v)
        if not finite.all():
            v = v[finite]
        reach = spread(v, self.bulk)
        if self.edges is None or reach > self.half or 0 < reach < self.half / REBIN_BELOW:
            self.half = round_up(MARGIN * reach) if reach > 0 else (self.half or 1.0)
            self.edges = np.linspace(-self.half, self.half, self.count + 1)
        counts, _ = np.histogram(
            np.clip(v, -self.half, self.half), bins=self.count, range=(-self.half, self.half)
        )
        return Histogram(self.edges, counts)


def is_relu(layer) -> bool:
    """True for a ``ReLU`` layer without slope or threshold, or any layer whose
    ``activation`` is ReLU (``Activation("relu")``, ``Dense(..., activation="relu")``)."""
    if isinstance(layer, keras.layers.ReLU):
        return not getattr(layer, "negative_slope", 0) and not getattr(layer, "threshold", 0)
    return getattr(layer, "activation", None) is keras.activations.relu


def kernel_of(layer):
    """The layer's kernel variable (Dense, convolutions), or None."""
    try:
        return getattr(layer, "kernel", None)
    except (AttributeError, ValueError):  # not built
        return None


def probed_layers(model) -> list[tuple[keras.layers.Layer, keras.layers.Layer | None]]:
    """Each layer of ``model`` with a kernel, in order, with the ReLU layer it feeds: itself
    when its own activation is ReLU, else the first ReLU after it and before the next layer
    with a kernel (through batch norm, dropout, pooling...), else None."""
    pairs: list[list] = []
    for layer in model.layers:
        if kernel_of(layer) is not None:
            pairs.append([layer, layer if is_relu(layer) else None])
        elif pairs and pairs[-1][1] is None and is_relu(layer):
            pairs[-1][1] = layer
    return [(layer, relu) for layer, relu in pairs]


def loss_function(model):
    """The model's compiled loss as a callable (sparse cross-entropy when it has none)."""
    loss = getattr(model, "loss", None) or "sparse_categorical_crossentropy"
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if not callable(loss):
        raise TrainingError("the weight probe needs a model compiled with one loss function")
    return loss


class WeightProbe(keras.callbacks.Callback):
    """A Keras callback: per layer with a kernel, histograms of its weights and of the
    gradients of the loss on a fixed probe batch, and the share of dead ReLU units.

    It probes after the run's first batch, every ``every`` batches, and at each epoch's end
    (a probe due on an epoch's last batch waits for the epoch-end one), and sends each
    ``HistogramEvent`` to ``listeners``. With ``steps_per_execution`` > 1 Keras calls batch
    hooks once per group of steps, so a probe comes at the end of the group that reaches it.

    The probe batch is the first ``images`` of ``test_images`` (uint8 0-255, scaled as the
    engine scales them, or floats taken as scaled), shaped for the model; without test images
    it loads ``dataset``'s test set when training begins. One ``tf.function``, traced once per
    run (at its first probe, after the engine has compiled the model for the run), runs the
    model on it and takes the gradients with a ``tf.GradientTape``: the loss is the model's
    compiled loss, plus its regularization terms. All of this, tracing included, runs inside
    the training hooks, so its time counts in the run's.

    The pass runs in inference mode (``training=False``): batch normalization normalizes with
    its moving statistics and dropout keeps every unit. In training mode batch normalization
    would update its moving mean and variance from the probe batch, changing the model being
    trained, and dropout would make the dead-unit count random. So the probe sees the network
    that evaluation and prediction use, and its gradients leave out what flows through the
    batch statistics in training.

    A ReLU unit (a convolution's is one channel) is dead when its output is 0 at every
    position of every probe image.
    """

    def __init__(
        self,
        test_images: np.ndarray | None = None,
        test_labels: np.ndarray | None = None,
        *,
        dataset: str = "mnist",
        every: int = DEFAULT_EVERY,
        images: int = DEFAULT_IMAGES,
        bins: int = DEFAULT_BINS,
        listeners: list[HistogramListener] | None = None,
    ) -> None:
        super().__init__()
        if every < 1 or images < 1:
            raise TrainingError("the probe needs every >= 1 batch and at least 1 image")
        if (test_images is None) != (test_labels is None):
            raise TrainingError("give the probe both test images and test labels, or neither")
        self.every = int(every)
        self.images = int(images)
        self.bins = int(bins)
        FixedBins(self.bins)  # refuses a bad count now
        self.dataset = dataset
        self.listeners: list[HistogramListener] = list(listeners or [])
        self.given_data = test_images is not None
        self._test: tuple[np.ndarray, np.ndarray] | None = None
        if test_images is not None:
            self.set_test_images(test_images, test_labels)
        self.last: HistogramEvent | None = None
        self._pass = None

    def set_test_images(self, images: np.ndarray, labels: np.ndarray) -> None:
        """Probe on the first ``self.images`` of these (a copy of that many is kept)."""
        if len(images) < 1 or len(images) != len(labels):
            raise TrainingError("the probe needs test images and as many labels")
        self._test = (np.array(images[: self.images]), np.array(labels[: self.images]))

    def use_dataset(self, dataset: str) -> None:
        """Probe on the first test images of ``dataset``, loaded when training begins."""
        self.dataset = dataset
        self._test = None

    # -- Keras hooks ----------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._prepare()
        self._epoch = 0
        self._done = self._epoch_start = 0
        self._next = 1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = self._done

    def on_train_batch_end(self, batch, logs=None):
        self._done = self._epoch_start + batch + 1
        if self._done < self._next:
            return
        self._next = (self._done // self.every + 1) * self.every
        steps = self.params.get("steps") if self.params else None
        if steps and batch + 1 >= steps:
            return  # the epoch-end probe follows
        self.probe(batch)

    def on_epoch_end(self, epoch, logs=None):
        steps = self.params.get("steps") if self.params else None
        batch = (steps or (self._done - self._epoch_start)) - 1
        self.probe(batch, at_epoch_end=True)

    # -- the probe --------------------------------------------------------------------------
    def _prepare(self) -> None:
        """The probe batch and the compiled pass for ``self.model`` as it is now compiled."""
        import tensorflow as tf

        model = self.model
        if self._test is None:
            from ..data.loading import load_data

            self.set_test_images(*load_data(self.dataset)[1])
        images, labels = self._test
        shape = tuple(int(d) for d in model.input_shape[1:])
        try:
            x = scale_images(images, shape)
        except ValueError:
            raise TrainingError(
                f"the probe's images cannot take the model's input shape {shape}"
            ) from None
        y = np.asarray(labels)
        if np.issubdtype(y.dtype, np.integer):
            y = y.astype(np.int64)
        self._x, self._y = tf.constant(x), tf.constant(y)
        pairs = probed_layers(model)
        self._layers = [layer for layer, _ in pairs]
        relus = [relu for _, relu in pairs]
        shown = [relu for relu in dict.fromkeys(relus) if relu is not None]
        try:
            network = keras.Model(model.inputs, [model.outputs[0], *(r.output for r in shown)])
        except (AttributeError, ValueError, TypeError):  # no graph of layers (a subclassed model)
            network, shown = model, []
        self._relus = [r if r in shown else None for r in relus]
        self._relu_index = {id(r): i for i, r in enumerate(shown)}
        self._units = {id(r): int(r.output.shape[-1]) for r in shown}
        kernels = [kernel_of(layer) for layer in self._layers]
        self._kernels = kernels
        self._weight_bins = [FixedBins(self.bins) for _ in kernels]
        self._gradient_bins = [FixedBins(self.bins, GRADIENT_BULK) for _ in kernels]
        loss_of = loss_function(model)
        with_relus = network is not model

        def probe_pass(x, y):
            with tf.GradientTape() as tape:
                outputs = network(x, training=False)
                if with_relus:
                    prediction, activations = outputs[0], outputs[1:]
                else:
                    prediction, activations = outputs, []
                loss = tf.reduce_mean(tf.cast(loss_of(y, prediction), tf.float32))
                penalties = [tf.cast(p, tf.float32) for p in model.losses]
                if penalties:
                    loss += tf.add_n(penalties)
            gradients = tape.gradient(loss, kernels)
            gradients = [
                tf.zeros(k.shape, tf.float32) if g is None else tf.cast(g, tf.float32)
                for g, k in zip(gradients, kernels, strict=True)
            ]
            fired = [tf.reduce_any(a > 0, axis=list(range(len(a.shape) - 1))) for a in activations]
            return gradients, fired

        # no autograph: the pass has no Python control flow on tensors, and traces faster
        self._pass = tf.function(probe_pass, autograph=False)

    def probe(self, batch: int = 0, at_epoch_end: bool = False) -> HistogramEvent:
        """Probe now, send the event to the listeners and return it."""
        start = time.perf_counter()
        if self._pass is None:
            self._prepare()
        gradients, fired = self._pass(self._x, self._y)
        layers = []
        for i, layer in enumerate(self._layers):
            kernel = self._kernels[i]
            relu = self._relus[i]
            units = dead = 0
            if relu is not None:
                alive = np.asarray(fired[self._relu_index[id(relu)]])
                units, dead = int(alive.size), int(alive.size - alive.sum())
            layers.append(
                LayerProbe(
                    name=layer.name,
                    kind=type(layer).__name__,
                    shape=tuple(int(d) for d in kernel.shape),
                    weights=self._weight_bins[i].histogram(kernel.numpy()),
                    gradients=self._gradient_bins[i].histogram(np.asarray(gradients[i])),
                    relu=relu.name if relu is not None else None,
                    units=units,
                    dead=dead,
                )
            )
        event = HistogramEvent(
            epoch=getattr(self, "_epoch", 0),
            batch=batch,
            layers=layers,
            probe_images=int(self._x.shape[0]),
            seconds=time.perf_counter() - start,
            at_epoch_end=at_epoch_end,
        )
        self.last = event
        for listener in list(self.listeners):
            listener(event)
        return event
