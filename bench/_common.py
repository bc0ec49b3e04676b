"""What the bench scripts share: the machine's description, the codelab's reference pipeline,
and a clock that evaluates on the full test set without counting the evaluation time."""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
if not os.environ.get("MNIST_WIDGETS_DATA") and (REPO.parent / "shared" / "data").is_dir():
    os.environ["MNIST_WIDGETS_DATA"] = str(REPO.parent / "shared" / "data")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def machine() -> str:
    """One line: date, cores, CPU, TensorFlow and Keras versions, GPU, load average."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC | nproc {os.cpu_count()} | "
        f"{cpu_model()} | TensorFlow {tf.__version__}, Keras {keras.__version__} | "
        f"GPU: {', '.join(g.name for g in gpus) if gpus else 'none'} | "
        f"load average {load_average()}"
    )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(slow: float | None, fast: float | None) -> str:
    if slow is None or fast is None or fast <= 0:
        return "n/a"
    return f"{slow / fast:.1f}x"


def seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f} s"


# -- the codelab's way ---------------------------------------------------------------------------
def codelab_dataset(images, labels, batch_size: int = 64):
    """The codelab's training pipeline: scale, cache, shuffle 5000, batch, prefetch."""
    import tensorflow as tf

    x = images.reshape(-1, 28, 28, 1).astype("float32") / 255.0
    dataset = tf.data.Dataset.from_tensor_slices((x, labels.astype("int64")))
    dataset = dataset.cache().shuffle(5000, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def codelab_schedule(epoch: int) -> float:
    return 0.01 * 0.666**epoch


def codelab_model(seed: int):
    """The cnn-batchnorm preset, compiled the codelab's way (Adam, plain model.compile)."""
    import keras

    from mnist_widgets.models.presets import get_preset
    from mnist_widgets.models.spec import build

    keras.utils.set_random_seed(seed)
    model = build(get_preset("cnn-batchnorm").layers, name="codelab")
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# -- evaluation on the clock ---------------------------------------------------------------------
class TestAccuracy:
    """Accuracy on a whole test set, by one compiled function shared by every contestant."""

    def __init__(self, images, labels, batch_size: int = 2000) -> None:
        import tensorflow as tf

        x = images.reshape(-1, 28, 28, 1).astype("float32") / 255.0
        self.batches = [
            (tf.constant(x[i : i + batch_size]), tf.constant(labels[i : i + batch_size]))
            for i in range(0, len(x), batch_size)
        ]
        self.count = len(x)
        self._fn = None

    def __call__(self, model) -> float:
        import tensorflow as tf

        if self._fn is None or self._fn[0] is not model:

            @tf.function(reduce_retracing=True)
            def correct(x, y):
                x = tf.reshape(x, (-1, *model.input_shape[1:]))
                guess = tf.argmax(model(x, training=False), axis=-1)
                return tf.reduce_sum(tf.cast(tf.equal(guess, tf.cast(y, guess.dtype)), tf.int32))

            self._fn = (model, correct)
        fn = self._fn[1]
        return sum(int(fn(x, y)) for x, y in self.batches) / self.count


@dataclass
class Point:
    seconds: float  # training time so far, evaluations excluded
    images: int
    accuracy: float


@dataclass
class Record:
    name: str
    seed: int
    points: list[Point] = field(default_factory=list)
    stopped: str = ""

    def first(self, threshold: float) -> float | None:
        """Training seconds at the first evaluation at or above ``threshold``."""
        return next((p.seconds for p in self.points if p.accuracy >= threshold), None)

    @property
    def final(self) -> float | None:
        return self.points[-1].accuracy if self.points else None

    @property
    def train_seconds(self) -> float:
        return self.points[-1].seconds if self.points else 0.0

    def pauses(self, factor: float = 3.0) -> list[tuple[Point, Point, float]]:
        """Intervals between evaluations that took over ``factor`` times the median time per
        training image: (before, after, extra seconds beyond the median rate).

        On a shared machine a run sometimes stops for seconds at a time; these lines say where,
        so a ratio can be read with and without them.
        """
        steps = [
            (a, b, (b.seconds - a.seconds) / (b.images - a.images))
            for a, b in zip(self.points, self.points[1:], strict=False)
            if b.images > a.images
        ]
        if len(steps) < 3:
            return []
        typical = median([rate for _, _, rate in steps])
        return [
            (a, b, (rate - typical) * (b.images - a.images))
            for a, b, rate in steps
            if rate > factor * typical
        ]


def accuracy_clock(
    evaluate: TestAccuracy,
    record: Record,
    batch_size: int,
    every: int,
    stop_at: float | None = None,
    max_seconds: float | None = None,
    say=print,
):
    """A Keras callback: every ``every`` training images (and at the end) it stops the clock,
    evaluates on the whole test set, records the point and starts the clock again.

    Steps are counted from the optimizer, so it works with steps_per_execution too. It stops
    training at ``stop_at`` accuracy or after ``max_seconds`` of training.
    """
    import keras

    class AccuracyClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.begin = time.perf_counter()
            self.excluded = 0.0
            self.next = every
            self.seen = 0

        def _measure(self, images: int) -> None:
            paused = time.perf_counter()
            trained = paused - self.begin - self.excluded
            accuracy = evaluate(self.model)
            record.points.append(Point(trained, images, accuracy))
            say(
                f"  {record.name} seed {record.seed}: {images / 60000:5.2f} epochs "
                f"{trained:7.1f} s  test accuracy {accuracy:.4f}"
            )
            if stop_at is not None and accuracy >= stop_at:
                record.stopped = f"reached {stop_at:.1%}"
                self.model.stop_training = True
            if max_seconds is not None and trained >= max_seconds:
                record.stopped = f"time cap {max_seconds / 60:g} min"
                self.model.stop_training = True
            self.excluded += time.perf_counter() - paused

        def on_train_batch_end(self, batch, logs=None):
            images = int(self.model.optimizer.iterations) * batch_size
            if images >= self.next:
                self.seen = images
                self.next = (images // every + 1) * every
                self._measure(images)

        def on_train_end(self, logs=None):
            images = int(self.model.optimizer.iterations) * batch_size
            if images > self.seen:
                self._measure(images)

    return AccuracyClock()
