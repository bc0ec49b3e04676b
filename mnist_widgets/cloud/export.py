"""Export a trained model for serving, and load one back for prediction.

The SavedModel's ``serving_default`` signature takes ``images``, a float32 batch
``[None, 28, 28]`` scaled to [0, 1] (white digit on black, as MNIST), and returns
``probabilities`` ``[None, 10]`` and ``classes`` ``[None]`` (int64). The same model is also
saved as a ``.keras`` file for notebooks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import MnistWidgetsError

SIGNATURE = "serving_default"
SAVED_MODEL_FILE = "saved_model.pb"


def serving_module(model):
    """A ``tf.Module`` holding ``model`` and its serving function."""
    import tensorflow as tf

    from ..models.build import input_shape

    shape = input_shape(model)

    class Serving(tf.Module):
        def __init__(self, model) -> None:
            super().__init__(name="mnist_serving")
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name="images")])
        def serve(self, images):
            batch = tf.reshape(images, (-1, *shape))
            probabilities = self.model(batch, training=False)
            classes = tf.argmax(probabilities, axis=1, output_type=tf.int64)
            return {"probabilities": probabilities, "classes": classes}

    return Serving(model)


def save_saved_model(model, export_dir: str) -> str:
    """Write ``model`` as a TensorFlow SavedModel with the serving signature."""
    import tensorflow as tf

    module = serving_module(model)
    tf.saved_model.save(module, export_dir, signatures={SIGNATURE: module.serve})
    return export_dir


def save_keras(model, path: str) -> str:
    """Write ``model`` as a ``.keras`` file (through a local file, so ``gs://`` works too).

    The file holds a plain ``keras.Sequential`` with the same layers, compiled as the engine
    leaves a trained model (``models.build.portable_compile``), so loading it needs nothing
    of this package.
    """
    import tempfile

    import tensorflow as tf

    from ..models.build import portable_compile
    from .multiworker import plain_sequential

    plain = plain_sequential(model)
    portable_compile(model, plain)
    with tempfile.TemporaryDirectory() as tmp:
        local = str(Path(tmp) / "model.keras")
        plain.save(local)
        tf.io.gfile.copy(local, path, overwrite=True)
    return path


def load_predictor(path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """A function from images ``[N, 28, 28]`` in [0, 1] to probabilities ``[N, 10]``.

    ``path`` is a ``.keras`` file or a SavedModel folder (one with ``saved_model.pb``).
    """
    path = Path(path)
    if path.is_dir():
        if not (path / SAVED_MODEL_FILE).is_file():
            raise MnistWidgetsError(
                f"{path}: a folder without {SAVED_MODEL_FILE}, not a SavedModel"
            )
        return _saved_model_predictor(path)
    if path.suffix == ".keras" and path.is_file():
        return _keras_predictor(path)
    if not path.exists():
        raise MnistWidgetsError(f"{path}: no such model file or folder")
    raise MnistWidgetsError(f"{path}: not a .keras file or a SavedModel folder")


def _saved_model_predictor(path: Path):
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
        serve = loaded.signatures[SIGNATURE]
    except KeyError:
        raise MnistWidgetsError(f"{path}: the SavedModel has no {SIGNATURE!r} signature") from None
    except Exception as exc:
        raise MnistWidgetsError(
            f"{path}: cannot load the SavedModel ({_first_line(exc)})"
        ) from None

    def predict(images: np.ndarray) -> np.ndarray:
        outputs = serve(images=tf.constant(np.asarray(images, dtype=np.float32)))
        return outputs["probabilities"].numpy()

    predict.keep_alive = loaded  # the signature needs its SavedModel object alive
    return predict


def _keras_predictor(path: Path):
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise MnistWidgetsError(f"{path}: cannot load the model ({_first_line(exc)})") from None
    shape = tuple(int(d) for d in model.input_shape[1:])

    def predict(images: np.ndarray) -> np.ndarray:
        batch = np.asarray(images, dtype=np.float32).reshape((-1, *shape))
        return keras.ops.convert_to_numpy(model(batch, training=False))

    return predict


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
