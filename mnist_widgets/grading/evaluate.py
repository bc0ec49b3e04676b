"""A saved model -> its accuracy on the held-out test set, measured by this module alone.

Run it in a fresh interpreter, so nothing a student's kernel patched (numpy, keras, the
test data, builtins) can reach the measurement::

    python -I -m mnist_widgets.grading.evaluate model.keras

It loads the test images itself through ``load_data`` (checksums verified), refuses model
files that carry code (Lambda layers, custom classes; Keras' ``safe_mode`` stays on), and
prints one JSON line: accuracy, layer class names, parameter count. On failure the line
holds ``{"error": ...}`` and the exit status is 2. ``checks.saved_model`` is the caller.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import GradingError, MnistWidgetsError

MODEL_SUFFIX = ".keras"
# Shapes of one image the grader knows how to feed: flat, 2-D, 2-D with a channel.
INPUT_SHAPES = ((784,), (28, 28), (28, 28, 1))
# Layers whose config holds code, whatever module they claim to come from.
CODE_LAYERS = frozenset({"Lambda", "TFSMLayer"})


@dataclass(frozen=True)
class ModelReport:
    """What the grader measured of one saved model."""

    path: str
    sha256: str
    accuracy: float
    correct: int
    total: int
    layers: tuple[str, ...]
    params: int
    input_shape: tuple[int, ...]
    dataset: str = "mnist"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelReport:
        fields = dict(data)
        fields["layers"] = tuple(fields["layers"])
        fields["input_shape"] = tuple(fields["input_shape"])
        return cls(**fields)

    def count(self, kind: str) -> int:
        """How many layers of the Keras class ``kind`` the model has."""
        return self.layers.count(kind)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _config_objects(node: Any):
    """Every serialized object (a dict with ``class_name``) in a Keras config, depth first."""
    if isinstance(node, dict):
        if "class_name" in node:
            yield node
        for value in node.values():
            yield from _config_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _config_objects(value)


def check_archive(path: Path) -> None:
    """Refuse, before Keras sees it, a file that is not a ``.keras`` archive of Keras classes."""
    if not path.is_file():
        raise GradingError(f"{path.name}: no such file; run the cell that saves the model")
    if path.suffix != MODEL_SUFFIX or not zipfile.is_zipfile(path):
        raise GradingError(f"{path.name}: not a .keras file; save it with model.save(...)")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise GradingError(f"{path.name}: unreadable model archive ({exc})") from None
    for obj in _config_objects(config):
        module = str(obj.get("module") or "")
        name = str(obj.get("class_name"))
        if name in CODE_LAYERS or not (module == "keras" or module.startswith("keras.")):
            where = module or obj.get("registered_name") or "custom code"
            raise GradingError(
                f"{path.name}: layer {name} ({where}) may run code when loaded; "
                "use Keras' built-in layers only"
            )


def load_safely(path: Path):
    """The model in ``path``, loaded without running any code stored in it."""
    check_archive(path)
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # any failure means: not gradable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GradingError(f"{path.name}: cannot be loaded safely ({first[:200]})") from None
    for layer in _all_layers(model):
        cls = type(layer)
        if cls.__name__ in CODE_LAYERS or not cls.__module__.startswith("keras."):
            raise GradingError(f"{path.name}: layer {cls.__name__} is not a built-in Keras layer")
    return model


def _all_layers(model) -> list:
    """Layers of a model, nested models opened up, the model itself left out."""
    found = []
    for layer in model.layers:
        if hasattr(layer, "layers"):
            found += _all_layers(layer)
        else:
            found.append(layer)
    return found


def _input_shape(model) -> tuple[int, ...]:
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else ()
    if shape not in INPUT_SHAPES:
        known = ", ".join(str(s) for s in INPUT_SHAPES)
        raise GradingError(f"the model takes inputs of shape {shape}; the grader feeds {known}")
    return tuple(int(d) for d in shape)


def evaluate_file(path: str | Path, dataset: str = "mnist", batch_size: int = 250) -> ModelReport:
    """Load ``path`` safely and measure its accuracy on the verified test set, in this process.

    Images are fed as float32 in [0, 1], shaped as the model's input asks.
    """
    import numpy as np

    from ..data.loading import load_test_data
    from ..data.pipeline import pixels_tensor

    path = Path(path).resolve()
    digest = file_sha256(path) if path.is_file() else ""
    model = load_safely(path)
    shape = _input_shape(model)
    x_test, y_test = load_test_data(dataset, verify=True)
    images = pixels_tensor(x_test, shape)  # no numpy copy for Keras to convert
    probabilities = np.asarray(model.predict(images, batch_size=batch_size, verbose=0))
    if probabilities.shape != (len(y_test), 10):
        raise GradingError(
            f"the model outputs shape {probabilities.shape[1:]} per image; a digit classifier "
            "outputs 10 values"
        )
    correct = int(np.sum(np.argmax(probabilities, axis=1) == y_test))
    return ModelReport(
        path=str(path),
        sha256=digest,
        accuracy=correct / len(y_test),
        correct=correct,
        total=int(len(y_test)),
        layers=tuple(type(layer).__name__ for layer in _all_layers(model)),
        params=int(model.count_params()),
        input_shape=shape,
        dataset=dataset,
    )


def report_from_output(name: str, returncode: int, stdout: str, stderr: str) -> ModelReport:
    """The report that ``main`` printed as its last line, or ``GradingError`` with its reason."""
    lines = stdout.strip().splitlines()
    try:
        data = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        raise GradingError(
            f"the grader could not evaluate {name} (exit {returncode}: {tail[0][:200]})"
        ) from None
    if "error" in data:
        raise GradingError(str(data["error"]))
    return ModelReport.from_dict(data)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(json.dumps({"error": "usage: python -m mnist_widgets.grading.evaluate MODEL.keras"}))
        return 2
    try:
        report = evaluate_file(args[0])
    except MnistWidgetsError as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    print(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
