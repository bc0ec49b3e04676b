"""Grading: a saved model measured (in the kernel, in a fresh process), the checks, the replay."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mnist_widgets.errors import DataError, GradingError
from mnist_widgets.grading import checks, replay
from mnist_widgets.grading.evaluate import ModelReport, check_archive, evaluate_file, main


def _report(**changes) -> ModelReport:
    fields = dict(
        path="/x/model.keras",
        sha256="0" * 64,
        accuracy=0.9123,
        correct=9123,
        total=10000,
        layers=("Conv2D", "Conv2D", "BatchNormalization", "Flatten", "Dense"),
        params=12345,
        input_shape=(28, 28, 1),
    )
    fields.update(changes)
    return ModelReport(**fields)


@pytest.fixture(scope="module")
def softmax_file(tmp_path_factory, small_mnist):
    """A single-layer softmax model trained one epoch on 6,000 images, saved, and its
    accuracy on the test set computed here, in the test process."""
    import keras

    (x_train, y_train), (x_test, y_test) = small_mnist
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    flat = x_train.reshape(-1, 784).astype("float32") / 255
    model.fit(flat, y_train, epochs=1, batch_size=100, verbose=0)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    predicted = model.predict(x_test.reshape(-1, 784).astype("float32") / 255, verbose=0)
    accuracy = float(np.mean(np.argmax(predicted, axis=1) == y_test))
    return path, accuracy


@pytest.fixture(autouse=True)
def _forget_measurements():
    checks._memo.clear()
    yield
    checks._memo.clear()


@pytest.fixture
def in_fresh_process():
    """Measure as the grader's unsandboxed replay does: a fresh, isolated interpreter."""
    checks.measure_with(checks.evaluate_in_fresh_process)
    yield
    checks.measure_with(checks.evaluate_here)


def test_a_students_kernel_measures_in_itself_what_the_fresh_process_measures(
    softmax_file, monkeypatch
):
    path, accuracy = softmax_file
    fresh = checks.evaluate_in_fresh_process(path, checks.EVALUATE_TIMEOUT_S)
    import subprocess

    def no_process(*args, **kwargs):
        raise AssertionError("a student's check started a process: a second TensorFlow")

    monkeypatch.setattr(subprocess, "run", no_process)
    monkeypatch.setattr(subprocess, "Popen", no_process)
    here = checks.saved_model(path)
    assert here.accuracy == fresh.accuracy == pytest.approx(accuracy, abs=2e-4)
    assert (here.correct, here.layers, here.params, here.sha256) == (
        fresh.correct,
        fresh.layers,
        fresh.params,
        fresh.sha256,
    )


def test_fresh_process_measures_the_saved_model(softmax_file, in_fresh_process):
    path, accuracy = softmax_file
    report = checks.saved_model(path)
    assert 0.70 < report.accuracy < 0.95
    assert report.accuracy == pytest.approx(accuracy, abs=2e-4)
    assert report.correct == round(report.accuracy * 10000)
    assert report.layers == ("Dense",)
    assert report.params == 7850
    assert report.input_shape == (784,)
    # the same file is measured once; a changed file would be measured again
    assert checks.saved_model(path) is report
    assert list(checks._memo) == [(str(path.resolve()), report.sha256)]


def test_patches_in_the_calling_process_and_its_folder_do_not_reach_the_measurement(
    softmax_file, tmp_path, monkeypatch, in_fresh_process
):
    path, accuracy = softmax_file
    import keras

    # What a student's kernel could do: patch libraries, plant modules, point env vars away.
    monkeypatch.setattr(np, "argmax", lambda *a, **k: np.zeros(10000, dtype=int))
    monkeypatch.setattr(keras.Model, "predict", lambda *a, **k: np.eye(10)[np.zeros(10000, int)])
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "planted-code-ran"
    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    for name in ("sitecustomize.py", "usercustomize.py", "numpy.py", "keras.py"):
        (planted / name).write_text(code)
    monkeypatch.setenv("PYTHONPATH", str(planted))
    monkeypatch.setenv("PYTHONSTARTUP", str(planted / "sitecustomize.py"))
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.chdir(planted)
    report = checks.saved_model(path)
    assert report.accuracy == pytest.approx(accuracy, abs=2e-4)
    assert not marker.exists()


def test_tampered_test_data_is_refused(softmax_file, tmp_path, monkeypatch):
    path, _ = softmax_file
    source = Path(os.environ["MNIST_WIDGETS_DATA"]) / "mnist"
    fake = tmp_path / "mnist"
    fake.mkdir()
    for gz in source.glob("*.gz"):
        shutil.copy(gz, fake / gz.name)
    labels = fake / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[8:] = bytes(len(raw) - 8)  # every test label now says 0
    labels.write_bytes(gzip.compress(bytes(raw)))
    monkeypatch.setenv("MNIST_WIDGETS_DATA", str(tmp_path))
    with pytest.raises(DataError, match="checksum mismatch"):
        evaluate_file(path)  # what the fresh process runs, here in-process to save time


def test_a_model_carrying_code_is_refused_before_any_of_it_runs(tmp_path):
    import keras

    marker = tmp_path / "lambda-ran"

    def payload(x):
        open(marker, "w").write("ran")  # noqa: SIM115 - what a cheat would hide in a layer
        return x

    model = keras.Sequential(
        [keras.Input((784,)), keras.layers.Lambda(payload), keras.layers.Dense(10)]
    )
    path = tmp_path / "model.keras"
    model.save(path)
    marker.unlink(missing_ok=True)
    with pytest.raises(GradingError, match="Lambda"):
        check_archive(path)
    with pytest.raises(GradingError, match="Lambda"):
        checks.saved_model(path)
    assert not marker.exists()


def test_the_command_prints_one_json_line(softmax_file, capsys):
    path, accuracy = softmax_file
    assert main([str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == pytest.approx(accuracy, abs=2e-4)
    assert report["layers"] == ["Dense"] and report["params"] == 7850
    assert main([str(path.with_name("nothing.keras"))]) == 2
    assert "no such file" in json.loads(capsys.readouterr().out)["error"]


def test_files_that_are_not_models_are_refused_with_a_sentence(tmp_path):
    with pytest.raises(GradingError, match="run the cell that saves"):
        checks.saved_model(tmp_path / "missing.keras")
    text = tmp_path / "model.keras"
    text.write_text('{"accuracy": 0.99}')
    with pytest.raises(GradingError, match="not a .keras file"):
        checks.saved_model(text)


def test_a_model_of_the_wrong_shape_is_refused(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten()])
    model.add(keras.layers.Dense(10, activation="softmax"))
    path = tmp_path / "model.keras"
    model.save(path)
    with pytest.raises(GradingError, match=r"shape \(32, 32, 3\)"):
        evaluate_file(path)


def test_layer_and_size_checks():
    report = _report()
    checks.require_layer(report, "Conv2D", at_least=2)
    checks.require_layer(report, "BatchNormalization")
    with pytest.raises(GradingError, match="at least 1 Dropout"):
        checks.require_layer(report, "Dropout")
    with pytest.raises(GradingError, match="at most 1 Conv2D"):
        checks.require_layer(report, "Conv2D", at_most=1)
    checks.allow_only(report, ["Conv2D", "BatchNormalization", "Flatten", "Dense"])
    with pytest.raises(GradingError, match="also has BatchNormalization, Conv2D"):
        checks.allow_only(report, ["Dense", "Flatten"])
    checks.require_params(report, at_most=12345)
    with pytest.raises(GradingError, match="12,345 parameters"):
        checks.require_params(report, at_most=10000)


def test_accuracy_check_prints_the_measurement(capsys):
    checks.require_accuracy(_report(accuracy=0.9123), 0.90)
    assert "0.9123" in capsys.readouterr().out
    with pytest.raises(GradingError, match="0.9123 is below 0.9500"):
        checks.require_accuracy(_report(accuracy=0.9123), 0.95)


def test_replay_runs_each_cell_apart_and_keeps_what_it_printed():
    first, second, third = replay.replay(["x = 2\nprint('hi')\nx * 3", "x", "assert False, 'no'"])
    assert first == {"stdout": "hi\n", "result": "6", "error": None}
    assert second["error"]["ename"] == "NameError"  # cells do not share a namespace
    assert third["error"]["ename"] == "AssertionError" and third["error"]["evalue"] == "no"


def _grade_cell(source: str, outputs: list) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "points": 2,
        "grade_id": "t",
        "schema_version": 3,
    }
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in outputs]
    return cell


def test_replay_preprocessor_replaces_what_the_kernel_claimed(tmp_path, monkeypatch):
    from nbgrader.utils import determine_grade

    from mnist_widgets.grading.preprocessors import ReplayTestsInFreshProcess

    (tmp_path / "model.keras").write_text("not a model")
    honest = "import mnist_widgets.grading.checks as c\nprint('two')"
    test = "from mnist_widgets.grading.checks import saved_model\nsaved_model('model.keras')"
    untouched = "print('kernel state')"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _grade_cell(honest, ["forged"]),
        _grade_cell(test, ["all tests passed"]),
        _grade_cell(untouched, ["kernel said"]),
    ]
    assert determine_grade(nb.cells[1]) == (2, 2)  # what a patched kernel could show
    # nbgrader's autograde sets this: the kernel defers, the replay measures
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(GradingError, match="measured after the notebook has run"):
        checks.saved_model(tmp_path / "model.keras")
    ReplayTestsInFreshProcess().preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert nb.cells[0].outputs[0].text.endswith("two\n")
    assert determine_grade(nb.cells[0]) == (2, 2)
    error = nb.cells[1].outputs[-1]
    assert error.output_type == "error" and error.ename == "GradingError"
    assert "not a .keras file" in error.evalue
    assert determine_grade(nb.cells[1]) == (0, 2)
    assert nb.cells[2].outputs[0].text == "kernel said"


def test_truncate_outputs_caps_one_huge_line():
    from mnist_widgets.grading.preprocessors import TruncateOutputs

    cell = _grade_cell("print('x' * 10**6)", ["x" * 10**6])
    cell.outputs.append(nbformat.v4.new_output("display_data", data={"image/png": "A" * 3_000_000}))
    TruncateOutputs(max_chars=1000).preprocess_cell(cell, {}, 0)
    assert len(cell.outputs[0].text) < 1100 and "truncated" in cell.outputs[0].text
    assert "dropped" in cell.outputs[1].text
    assert json.dumps(cell.outputs).__len__() < 5000
