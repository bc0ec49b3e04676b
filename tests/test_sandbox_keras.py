"""Malicious ``.keras`` files: refused with a clear message, and none of their code runs.

Each archive is written by hand (no TensorFlow): a ``Lambda`` whose marshalled function
writes a marker file, a layer class from a module of the attacker's, and a standard layer
whose activation names a function of such a module. Importing that module writes the
marker too, so a marker on disk would prove code ran. They are measured in-process (the
loader's own refusal) and through the sandboxed measurement.
"""

from __future__ import annotations

import base64
import json
import marshal
import sys
import zipfile
from pathlib import Path

import pytest

from mnist_widgets.errors import GradingError
from mnist_widgets.grading import measure, sandbox
from mnist_widgets.grading.evaluate import evaluate_file

REASON = sandbox.unavailable_reason()
needs_sandbox = pytest.mark.skipif(REASON is not None, reason=f"no sandbox here: {REASON}")
EVIL_MODULE = "evil_layers_for_the_grader"


def _layer(class_name: str, module: str, config: dict, registered: str | None = None) -> dict:
    return {
        "module": module,
        "class_name": class_name,
        "config": {"name": class_name.lower(), "trainable": True, "dtype": "float32", **config},
        "registered_name": registered,
    }


def _archive(path: Path, layers: list[dict]) -> Path:
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                _layer("InputLayer", "keras.layers", {"batch_shape": [None, 784]}),
                *layers,
            ],
        },
        "registered_name": None,
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("model.weights.h5", b"")
    return path


def _payload_code(marker: Path) -> str:
    source = f"def payload(x):\n    open({str(marker)!r}, 'w').write('ran')\n    return x\n"
    namespace: dict = {}
    exec(compile(source, "<payload>", "exec"), namespace)
    return base64.b64encode(marshal.dumps(namespace["payload"].__code__)).decode()


@pytest.fixture
def attacker(tmp_path, monkeypatch):
    """The marker path, and an importable module that writes it when imported."""
    marker = tmp_path / "code-ran"
    (tmp_path / f"{EVIL_MODULE}.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n"
        "def payload(x):\n    return x\n"
        "class Evil:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop(EVIL_MODULE, None)


def _malicious(tmp_path: Path, marker: Path) -> dict[str, tuple[Path, str]]:
    """{kind: (archive, what the refusal names)}."""
    function = {"class_name": "__lambda__", "config": {"code": _payload_code(marker)}}
    lambda_layer = _layer("Lambda", "keras.layers", {"function": function})
    custom = _layer("Evil", EVIL_MODULE, {}, registered=f"{EVIL_MODULE}>Evil")
    activation = {
        "module": EVIL_MODULE,
        "class_name": "function",
        "config": "payload",
        "registered_name": "function",
    }
    dense = _layer("Dense", "keras.layers", {"units": 10, "activation": activation})
    return {
        "lambda": (_archive(tmp_path / "lambda.keras", [lambda_layer]), "Lambda"),
        "custom module": (_archive(tmp_path / "custom.keras", [custom]), EVIL_MODULE),
        "arbitrary function": (_archive(tmp_path / "function.keras", [dense]), EVIL_MODULE),
    }


@pytest.mark.parametrize("kind", ["lambda", "custom module", "arbitrary function"])
def test_the_loader_refuses_before_any_code_runs(tmp_path, attacker, kind):
    path, named = _malicious(tmp_path, attacker)[kind]
    with pytest.raises(GradingError, match="may run code when loaded") as refused:
        evaluate_file(path)
    assert named in str(refused.value)
    assert "use Keras' built-in layers only" in str(refused.value)
    assert not attacker.exists()
    assert EVIL_MODULE not in sys.modules


@needs_sandbox
@pytest.mark.parametrize("kind", ["lambda", "custom module", "arbitrary function"])
def test_the_sealed_measurement_refuses_with_a_clear_message(tmp_path, attacker, kind):
    path, named = _malicious(tmp_path, attacker)[kind]
    with pytest.raises(GradingError, match="may run code when loaded") as refused:
        measure.measure_sealed(path)
    assert named in str(refused.value)
    assert not attacker.exists()
